/**
 * The tablet store's contract, run over both adapters (SQLite, PostgreSQL). "Two replicas" are two stores on
 * one database (two connections, or two pools): what one writes the other reads, and a hand-off code is taken
 * once, whichever replica is asked, also when both are asked at the same moment.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from '@jest/globals';
import { openSqliteTabletStore, type Handoff, type TabletSession, type TabletStore } from '../../src/tablet/store.js';
import { openPostgresTabletStore } from '../../src/tablet/store-postgres.js';
import { openPostgres, type PostgresDatabase } from '../../src/platform/postgres.js';
import { createTestDatabase } from '../support/postgres-database.js';

interface Database {
  open(): Promise<TabletStore>;
  close(): Promise<void>;
}

const adapters: [string, () => Promise<Database>][] = [
  [
    'sqlite',
    async () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tablet-contract-'));
      const open: TabletStore[] = [];
      return {
        async open() {
          const s = openSqliteTabletStore(dir);
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
      const url = await createTestDatabase('tablet');
      const pools: PostgresDatabase[] = [];
      return {
        async open() {
          const db = await openPostgres({ url });
          pools.push(db);
          return openPostgresTabletStore(db);
        },
        async close() {
          await Promise.all(pools.map((p) => p.close()));
        },
      };
    },
  ],
];

const NOW = 1_780_000_000_000;
const STAFF = { reference: 'Practitioner/dr-ü', display: 'Dr Ü' };
const handoff = (patientId: string, over: Partial<Handoff> = {}): Handoff => ({
  patientId,
  patientName: 'Ana',
  staff: STAFF,
  createdAt: NOW,
  expiresAt: NOW + 600_000,
  handoffId: `h-${patientId}`,
  expectedAge: { low: 38, high: 40 },
  ...over,
});
const session = (patientId: string, over: Partial<TabletSession> = {}): TabletSession => ({
  patientId,
  staff: STAFF,
  device: 'bay-1',
  handoffId: `h-${patientId}`,
  claimedAt: NOW,
  lastSeenAt: NOW,
  expiresAt: NOW + 3_600_000,
  submitUntil: NOW + 3_600_000 + 86_400_000,
  ...over,
});

describe.each(adapters)('tablet store contract: %s', (_name, makeDatabase) => {
  let database: Database | undefined;
  afterEach(async () => {
    await database?.close();
    database = undefined;
  });
  const twoReplicas = async () => {
    database = await makeDatabase();
    return Promise.all([database.open(), database.open()]);
  };

  it('a code made on one replica is taken on another, once; an expired code is refused and gone', async () => {
    const [a, b] = await twoReplicas();
    expect(await a.putHandoff('ABCD2345', handoff('p-1'))).toBe(true);
    expect(await b.liveHandoffs(NOW)).toEqual([handoff('p-1')]);
    expect(await b.takeHandoff('ABCD2345', NOW + 1000)).toEqual(handoff('p-1'));
    expect(await a.takeHandoff('ABCD2345', NOW + 1000)).toBeUndefined();
    expect(await a.liveHandoffs(NOW)).toEqual([]);
    await a.putHandoff('EXPIRED9', handoff('p-2'));
    expect(await b.takeHandoff('EXPIRED9', NOW + 600_001)).toBeUndefined();
    expect(await a.takeHandoff('EXPIRED9', NOW)).toBeUndefined(); // the refused attempt took it
  });

  it('a code is claimed at most once when two replicas claim it at the same moment', async () => {
    const [a, b] = await twoReplicas();
    const codes = Array.from({ length: 25 }, (_, i) => `RACE${String(i).padStart(4, '0')}`);
    for (const [i, code] of codes.entries()) await a.putHandoff(code, handoff(`p-${i}`));
    const results = await Promise.all(
      codes.map((code) => Promise.all([a.takeHandoff(code, NOW), b.takeHandoff(code, NOW)])),
    );
    for (const [i, pair] of results.entries()) expect(pair.filter((h) => h?.patientId === `p-${i}`)).toHaveLength(1);
  });

  it('a code already waiting for a patient is never overwritten by a new hand-off (the caller draws again)', async () => {
    const [a, b] = await twoReplicas();
    expect(await a.putHandoff('SAME2345', handoff('p-1'))).toBe(true);
    expect(await b.putHandoff('SAME2345', handoff('p-2'))).toBe(false);
    expect(await a.takeHandoff('SAME2345', NOW)).toEqual(handoff('p-1'));
  });

  it('a code cancelled on one replica no longer works on the other', async () => {
    const [a, b] = await twoReplicas();
    await a.putHandoff('CANCEL23', handoff('p-1'));
    expect(await b.cancelHandoff('CANCEL23')).toBe(true);
    expect(await b.cancelHandoff('CANCEL23')).toBe(false);
    expect(await a.takeHandoff('CANCEL23', NOW)).toBeUndefined();
  });

  it('sessions: put on one replica, read, touched and ended on the other; staff see the live ones only', async () => {
    const [a, b] = await twoReplicas();
    await a.putSession('handle-1', session('p-1'));
    expect(await b.getSession('handle-1', NOW)).toEqual(session('p-1'));
    await b.touchSession('handle-1', NOW + 7000);
    expect((await a.getSession('handle-1', NOW))?.lastSeenAt).toBe(NOW + 7000);
    // Ended for every route but submit: the row lives on through the submit window, staff see it as unsent.
    expect(await a.getSession('handle-1', NOW + 3_600_001)).toEqual(session('p-1', { lastSeenAt: NOW + 7000 }));
    await a.putSession(
      'handle-2',
      session('p-2', { submittedKey: 'k|1', expiresAt: NOW + 60_000, submitUntil: NOW + 60_000 }),
    );
    expect((await b.liveSessions(NOW)).map((s) => s.patientId).sort()).toEqual(['p-1', 'p-2']);
    expect((await b.liveSessions(NOW + 3_600_001)).map((s) => s.patientId)).toEqual(['p-1']);
    expect(await b.getSession('handle-2', NOW + 60_001)).toBeUndefined();
    await b.deleteSession('handle-1');
    expect(await a.getSession('handle-1', NOW)).toBeUndefined();
    expect(await a.getSession('unknown', NOW)).toBeUndefined();
  });

  it('a touch never overwrites what another replica wrote into the session meanwhile', async () => {
    const [a, b] = await twoReplicas();
    await a.putSession('handle-1', session('p-1'));
    expect(await b.markAlerted('handle-1', ['RF-01'])).toEqual(['RF-01']);
    await a.touchSession('handle-1', NOW + 9000);
    expect(await b.getSession('handle-1', NOW)).toEqual(session('p-1', { alerted: ['RF-01'], lastSeenAt: NOW + 9000 }));
  });

  it('each EMERGENCY rule is raised once per session, also when two replicas check it at the same moment', async () => {
    const [a, b] = await twoReplicas();
    const handles = Array.from({ length: 10 }, (_, i) => `alert-${i}`);
    for (const h of handles) await a.putSession(h, session(h));
    const raised = await Promise.all(
      handles.map((h) => Promise.all([a.markAlerted(h, ['RF-01', 'RF-02']), b.markAlerted(h, ['RF-02', 'RF-01'])])),
    );
    for (const [first, second] of raised) expect([...first, ...second].sort()).toEqual(['RF-01', 'RF-02']);
    // A later rule is raised on its own; the earlier ones are not raised again.
    expect(await b.markAlerted('alert-0', ['RF-01', 'RF-07'])).toEqual(['RF-07']);
    expect((await a.getSession('alert-0', NOW))?.alerted?.sort()).toEqual(['RF-01', 'RF-02', 'RF-07']);
    expect(await a.markAlerted('unknown', ['RF-01'])).toEqual([]);
  });

  it('purging removes what has ended on every replica, and nothing live', async () => {
    const [a, b] = await twoReplicas();
    await a.putHandoff('OLD23456', handoff('p-1', { expiresAt: NOW - 1 }));
    await a.putHandoff('NEW23456', handoff('p-2'));
    await a.putSession('old', session('p-3', { expiresAt: NOW - 2, submitUntil: NOW - 1 }));
    await a.putSession('new', session('p-4'));
    await b.purgeExpired(NOW);
    expect(await a.takeHandoff('OLD23456', 0)).toBeUndefined();
    expect(await a.getSession('old', 0)).toBeUndefined();
    expect((await a.liveHandoffs(NOW)).map((h) => h.patientId)).toEqual(['p-2']);
    expect((await a.getSession('new', NOW))?.patientId).toBe('p-4');
  });
});
