/**
 * Two replicas of the composed server (src/server.ts) on one PostgreSQL (DATABASE_URL), each with its own data
 * folder, behind no load balancer: the test plays it, sending each call to the replica it chooses. A code staff
 * made on one replica works on a tablet that reaches the other, once; the tablet's later calls may reach
 * either; staff on either see the tablet; an emergency alert raised through one replica reaches a worklist
 * connected to the other. Real PostgreSQL (the run's cluster), real HTTP.
 */
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { eventually } from '../support/poll.js';
import { createLogger } from '../../src/platform/log.js';
import { loadConfig } from '../../src/config/index.js';
import { loadKnowledge } from '../../src/knowledge/index.js';
import { createModuleServer, type ModuleServer } from '../../src/server.js';
import type { TabletAlert } from '../../src/tablet/contract.js';
import { createTestDatabase } from '../support/postgres-database.js';

const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');
const STAFF_TOKEN = 'tablet-replicas-staff-token-0123456789';
const STAFF = { reference: 'Practitioner/sandbox-clinician', display: 'Dr Sandbox' };
const YES = { valueCoding: { system: 'http://terminology.hl7.org/CodeSystem/v2-0136', code: 'Y' } };
const RED_FLAGS = {
  resourceType: 'QuestionnaireResponse',
  item: [
    {
      linkId: 'red-flags',
      item: [
        { linkId: 'rf-saddle-numbness', answer: [YES] },
        { linkId: 'rf-bladder-bowel', answer: [YES] },
      ],
    },
  ],
};

interface Replica {
  base: string;
  composed: ModuleServer;
  server: http.Server;
  dataDir: string;
}
const replicas: Replica[] = [];

async function startReplica(databaseUrl: string): Promise<Replica> {
  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tablet-replica-'));
  const config = loadConfig({
    PORT: String(port),
    DATA_DIR: dataDir,
    CONTENT_DIR: ROOT,
    LOG_LEVEL: 'silent',
    DATABASE_URL: databaseUrl,
    OUTBOX_STAFF_TOKEN: STAFF_TOKEN,
  });
  const composed = await createModuleServer(config, {
    knowledge: await loadKnowledge(ROOT),
    logger: createLogger('silent'),
  });
  server.on('request', composed.app);
  const replica = { base: `http://127.0.0.1:${port}`, composed, server, dataDir };
  replicas.push(replica);
  return replica;
}

let a: Replica;
let b: Replica;
beforeAll(async () => {
  const url = await createTestDatabase('tablet_replicas');
  a = await startReplica(url);
  b = await startReplica(url);
}, 120_000);
afterAll(async () => {
  for (const r of replicas) {
    r.server.closeAllConnections();
    await new Promise<void>((resolve) => r.server.close(() => resolve()));
    await r.composed.close();
    fs.rmSync(r.dataDir, { recursive: true, force: true });
  }
});

async function tabletCall(replica: Replica, pathname: string, body: unknown, session?: string) {
  const res = await fetch(`${replica.base}/tablet/api/${pathname}`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', ...(session ? { 'X-Tablet-Session': session } : {}) },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : undefined };
}

describe('the tablet with two replicas on one PostgreSQL', () => {
  it('a code made on replica A is claimed through replica B, once; the tablet goes on through either; staff on both see it (patients interleaved)', async () => {
    const ana = await a.composed.tablet.createHandoff({
      patientId: 'sandbox-patient-1',
      patientName: 'Ana',
      staff: STAFF,
    });
    const bea = await b.composed.tablet.createHandoff({
      patientId: 'sandbox-patient-2',
      patientName: 'Bea',
      staff: STAFF,
    });
    // Staff on B see A's code waiting, and the other way round.
    expect(
      (await b.composed.tablet.sessions())
        .filter((s) => s.state === 'waiting-for-code')
        .map((s) => s.handoffId)
        .sort(),
    ).toEqual([ana.handoffId, bea.handoffId].sort());

    // A's code typed on a tablet whose calls reach B; then no longer usable through A.
    const anaOnB = await tabletCall(b, 'claim', { code: ana.code, device: 'bay-1' });
    expect(anaOnB.status).toBe(201);
    const anaSession = anaOnB.body!.session as string;
    expect((await tabletCall(a, 'claim', { code: ana.code, device: 'bay-9' })).status).toBe(404);
    // B's code asked of both replicas at the same moment: one tablet gets it.
    const beaClaims = await Promise.all([
      tabletCall(a, 'claim', { code: bea.code, device: 'bay-2' }),
      tabletCall(b, 'claim', { code: bea.code, device: 'bay-8' }),
    ]);
    expect(beaClaims.map((c) => c.status).sort()).toEqual([201, 404]);
    const beaSession = beaClaims.find((c) => c.status === 201)!.body!.session as string;

    // The session works on either replica.
    for (const replica of [a, b]) {
      for (const session of [anaSession, beaSession]) {
        expect(
          (await fetch(`${replica.base}/tablet/api/questionnaire`, { headers: { 'X-Tablet-Session': session } }))
            .status,
        ).toBe(200);
      }
    }
    for (const replica of [a, b]) {
      const rows = (await replica.composed.tablet.sessions()).filter(
        (s) => s.handoffId === ana.handoffId || s.handoffId === bea.handoffId,
      );
      expect(rows.map((s) => [s.patient.reference, s.state]).sort()).toEqual([
        ['Patient/sandbox-patient-1', 'in-progress'],
        ['Patient/sandbox-patient-2', 'in-progress'],
      ]);
    }
    // Ended through B, the session is over on A too.
    expect((await tabletCall(b, 'end', {}, anaSession)).status).toBe(204);
    expect(
      (await fetch(`${a.base}/tablet/api/questionnaire`, { headers: { 'X-Tablet-Session': anaSession } })).status,
    ).toBe(401);
    expect(
      (await fetch(`${a.base}/tablet/api/questionnaire`, { headers: { 'X-Tablet-Session': beaSession } })).status,
    ).toBe(200);
  });

  it('an emergency alert raised through replica A reaches a worklist connected to replica B, once, whichever replica checks', async () => {
    const heardOnB: TabletAlert[] = [];
    const off = b.composed.tablet.onAlert((x) => heardOnB.push(x));
    const feed = await fetch(`${b.base}/tablet/api/alerts`, { headers: { authorization: `Bearer ${STAFF_TOKEN}` } });
    expect(feed.status).toBe(200);
    const reader = feed.body!.getReader();
    try {
      const { code } = await a.composed.tablet.createHandoff({
        patientId: 'sandbox-patient-3',
        patientName: 'Carmen',
        staff: STAFF,
      });
      const session = (await tabletCall(a, 'claim', { code, device: 'bay-3' })).body!.session as string;
      // The same answers checked through both replicas at once: the rule is raised once.
      const checks = await Promise.all([
        tabletCall(a, 'check', { response: RED_FLAGS }, session),
        tabletCall(b, 'check', { response: RED_FLAGS }, session),
      ]);
      expect(checks.map((c) => c.body)).toEqual([{ tellStaff: true }, { tellStaff: true }]);

      let text = '';
      while (!text.includes('sandbox-patient-3')) text += new TextDecoder().decode((await reader.read()).value);
      expect(text).toContain('event: emergency');
      expect(text).toContain('RF-01');

      // Another patient's alert, raised through B afterwards: once it is heard, the first cannot still be coming.
      const other = await b.composed.tablet.createHandoff({ patientId: 'sandbox-patient-4', staff: STAFF });
      const otherSession = (await tabletCall(b, 'claim', { code: other.code, device: 'bay-4' })).body!
        .session as string;
      expect((await tabletCall(a, 'check', { response: RED_FLAGS }, otherSession)).body).toEqual({ tellStaff: true });
      await eventually(() => expect(heardOnB.map((x) => x.patient.reference)).toContain('Patient/sandbox-patient-4'), {
        timeout: 10_000,
      });
      expect(heardOnB.map((x) => x.patient.reference).filter((r) => r === 'Patient/sandbox-patient-3')).toHaveLength(1);
      expect(heardOnB.find((x) => x.patient.reference === 'Patient/sandbox-patient-3')).toMatchObject({
        device: 'bay-3',
        staff: STAFF,
      });
    } finally {
      off();
      await reader.cancel();
    }
  });
});
