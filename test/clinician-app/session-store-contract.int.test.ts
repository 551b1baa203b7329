/**
 * The clinician app's session store contract, run over both adapters (SQLite, PostgreSQL). "Two instances" are
 * two stores on one database (two replicas): what one writes the other reads; a launch or hand-off code is
 * taken once, whichever replica is asked.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from '@jest/globals';
import {
  openSqliteSessionStore,
  type ClinicianSession,
  type SessionStore,
} from '../../src/clinician-app/session-store.js';
import { openPostgresSessionStore } from '../../src/clinician-app/session-store-postgres.js';
import { openPostgres, type PostgresDatabase } from '../../src/platform/postgres.js';
import { createTestDatabase } from '../support/postgres-database.js';

interface Database {
  open(): Promise<SessionStore>;
  close(): Promise<void>;
}

const adapters: [string, () => Promise<Database>][] = [
  [
    'sqlite',
    async () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sessions-contract-'));
      const open: SessionStore[] = [];
      return {
        async open() {
          const s = openSqliteSessionStore(dir);
          open.push(s);
          return s;
        },
        async close() {
          for (const s of open) await s.close();
          fs.rmSync(dir, { recursive: true, force: true });
        },
      };
    },
  ],
  [
    'postgres',
    async () => {
      const url = await createTestDatabase('sessions');
      const pools: PostgresDatabase[] = [];
      return {
        async open() {
          const db = await openPostgres({ url });
          pools.push(db);
          return openPostgresSessionStore(db);
        },
        async close() {
          await Promise.all(pools.map((p) => p.close()));
        },
      };
    },
  ],
];

const NOW = Date.now();
const session = (over: Partial<ClinicianSession> = {}): ClinicianSession => ({
  issuer: 'http://ehr.example/fhir',
  tokens: { access_token: 'at-1', refresh_token: 'rt-1', expiresAt: NOW + 60_000 },
  csrf: 'csrf-1',
  patient: 'p-1',
  fhirUser: 'Practitioner/dr-ü',
  needPatientBanner: true,
  createdAt: NOW,
  expiresAt: NOW + 3_600_000,
  ...over,
});
const draftResponse = (n: number): fhir4.QuestionnaireResponse => ({
  resourceType: 'QuestionnaireResponse',
  status: 'in-progress',
  item: [{ linkId: 'pain', answer: [{ valueInteger: n }] }],
});

describe.each(adapters)('session store contract: %s', (_name, makeDatabase) => {
  let database: Database | undefined;
  afterEach(async () => {
    await database?.close();
    database = undefined;
  });
  const twoReplicas = async () => {
    database = await makeDatabase();
    return Promise.all([database.open(), database.open()]);
  };

  it('a launch begun on one replica is taken once on another; an old one is refused', async () => {
    const [a, b] = await twoReplicas();
    await a.putLaunch({
      state: 'st-1',
      issuer: 'http://ehr.example/fhir',
      codeVerifier: 'v',
      nonce: 'n',
      launch: 'l',
      createdAt: NOW,
    });
    expect(await b.takeLaunch('st-1', 600_000)).toEqual({
      state: 'st-1',
      issuer: 'http://ehr.example/fhir',
      codeVerifier: 'v',
      nonce: 'n',
      launch: 'l',
      createdAt: NOW,
    });
    expect(await a.takeLaunch('st-1', 600_000)).toBeUndefined();
    await a.putLaunch({ state: 'st-old', issuer: 'i', codeVerifier: 'v', nonce: 'n', createdAt: NOW - 700_000 });
    expect(await b.takeLaunch('st-old', 600_000)).toBeUndefined();
    expect(await a.takeLaunch('st-old', Number.MAX_SAFE_INTEGER)).toBeUndefined(); // taken (and deleted) by the refused attempt
  });

  it('a hand-off code is single use across replicas, also when both take it at once', async () => {
    const [a, b] = await twoReplicas();
    await a.putHandoff('code-1', 'handle-1', NOW);
    const taken = await Promise.all([
      a.takeHandoff('code-1', 60_000, NOW + 1000),
      b.takeHandoff('code-1', 60_000, NOW + 1000),
    ]);
    expect(taken.filter((t) => t === 'handle-1')).toHaveLength(1);
    await a.putHandoff('code-2', 'handle-2', NOW);
    expect(await b.takeHandoff('code-2', 60_000, NOW + 60_001)).toBeUndefined();
  });

  it('sessions: put on one replica, read, token refresh and delete on another; expired ones are not returned', async () => {
    const [a, b] = await twoReplicas();
    await a.putSession('h-1', session());
    expect(await b.getSession('h-1', NOW)).toEqual(session());
    await b.updateTokens('h-1', { access_token: 'at-2', refresh_token: 'rt-2', expiresAt: NOW + 120_000 });
    expect(await a.getSession('h-1', NOW)).toEqual(
      session({ tokens: { access_token: 'at-2', refresh_token: 'rt-2', expiresAt: NOW + 120_000 } }),
    );
    await b.updateTokens('unknown', { access_token: 'x' });
    expect(await a.getSession('unknown', NOW)).toBeUndefined();
    expect(await a.getSession('h-1', NOW + 3_600_001)).toBeUndefined();
    await a.deleteSession('h-1');
    expect(await b.getSession('h-1', NOW)).toBeUndefined();
  });

  it('drafts: saved through one replica, resumed through another (the newest per issuer, patient and user), deleted', async () => {
    const [a, b] = await twoReplicas();
    await a.saveDraft({
      id: 'd-1',
      issuer: 'i',
      patient: 'p-1',
      user: 'Practitioner/x',
      response: draftResponse(1),
      updatedAt: '2026-03-01T08:00:00.000Z',
    });
    await a.saveDraft({
      id: 'd-2',
      issuer: 'i',
      patient: 'p-1',
      user: 'Practitioner/y',
      response: draftResponse(2),
      updatedAt: '2026-03-01T09:00:00.000Z',
    });
    expect(await b.findDraft('i', 'p-1', 'Practitioner/x')).toEqual({
      id: 'd-1',
      issuer: 'i',
      patient: 'p-1',
      user: 'Practitioner/x',
      response: draftResponse(1),
      updatedAt: '2026-03-01T08:00:00.000Z',
    });
    await b.saveDraft({
      id: 'd-1',
      issuer: 'i',
      patient: 'p-1',
      user: 'Practitioner/x',
      response: draftResponse(3),
      updatedAt: '2026-03-01T10:00:00.000Z',
    });
    expect((await a.findDraft('i', 'p-1', 'Practitioner/x'))?.response).toEqual(draftResponse(3));
    expect(await a.findDraft('i', 'p-2', 'Practitioner/x')).toBeUndefined();
    await a.deleteDraft('d-1');
    expect(await b.findDraft('i', 'p-1', 'Practitioner/x')).toBeUndefined();
    expect((await b.findDraft('i', 'p-1', 'Practitioner/y'))?.id).toBe('d-2');
  });
});
