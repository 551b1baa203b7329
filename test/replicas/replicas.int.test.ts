/**
 * The module as three replicas behind HAProxy (round robin, no session affinity), on one PostgreSQL and one
 * FHIR server (the sandbox EHR run on its own), every process real (test/support/replicas.ts). Every call goes
 * through the load balancer, as a browser's, a tablet's or an API client's would; `X-Served-By` names the
 * replica that answered, so each test shows that its steps crossed replicas:
 *
 * - an EHR launch begun on one replica completes on another; a draft saved through one resumes through another;
 * - a tablet hand-off code made through one replica is claimed through another, once;
 * - an emergency answer on a tablet served by one replica reaches the worklist alert streams held by the others;
 * - `kill -9` of a replica during 1,000 submissions: the balancer keeps serving, and every submission
 *   acknowledged (201/202, or 200/202 `duplicate` to a client's retry) is at the FHIR server exactly once.
 */
import fs from 'node:fs';
import os from 'node:os';
import pg from 'pg';
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import { expect } from '../support/expect.js';
import { submissionId } from '../../src/submission/build-bundle.js';
import { Browser } from '../ehr/auth/harness.js';
import { submissionFor } from '../submission/support/fixtures.js';
import { createTestDatabase } from '../support/postgres-database.js';
import { clinicianToken, startReplicaSet, type ReplicaSet } from '../support/replicas.js';

const YES = { valueCoding: { system: 'http://terminology.hl7.org/CodeSystem/v2-0136', code: 'Y' } };
/** Saddle numbness and new bladder or bowel trouble: RF-01, suspected cauda equina, an emergency. */
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
/** A lease short enough that a killed replica's claimed entries are retaken within the test. */
const OUTBOX_LEASE_MS = 8000;

let set: ReplicaSet;
let db: pg.Client;
const began = Date.now();

beforeAll(async () => {
  set = await startReplicaSet({
    databaseUrl: await createTestDatabase('replicas'),
    replicaEnv: { OUTBOX_LEASE_MS: String(OUTBOX_LEASE_MS) },
  });
  db = new pg.Client({ connectionString: set.databaseUrl });
  await db.connect();
  console.log(
    `replicas: PostgreSQL database, EHR, ${set.replicas.length} replicas and HAProxy ready in ${set.startMs} ms`,
  );
}, 240_000);

afterAll(async () => {
  await db?.end();
  await set?.stop();
  console.log(`replicas: whole file ${Date.now() - began} ms`);
}, 60_000);

interface Served {
  res: Response;
  by: string;
}

/** A request through the load balancer; `by` is the replica that served it. */
async function viaLb(
  pathname: string,
  init: RequestInit & { session?: { session: string; csrf?: string } } = {},
): Promise<Served> {
  const { session, ...rest } = init;
  const headers = new Headers(rest.headers);
  if (session) headers.set('x-session', session.session);
  if (session?.csrf) headers.set('x-csrf-token', session.csrf);
  if (rest.body !== undefined && !headers.has('content-type')) headers.set('content-type', 'application/json');
  const res = await fetch(`${set.lbUrl}${pathname}`, { redirect: 'manual', ...rest, headers });
  return { res, by: res.headers.get('x-served-by') ?? '(none)' };
}

const json = (body: unknown) => JSON.stringify(body);
/** What the replicas printed (warnings and errors), for a failure's message. */
const logs = () => set.replicas.map((r) => `--- ${r.name}:\n${r.output().slice(-2000)}`).join('\n');
const pathOf = (url: string) => {
  const u = new URL(url);
  return u.pathname + u.search;
};

/** An EHR launch of the clinician app through the balancer; returns its session and who served each step. */
async function launch(patient: string): Promise<{ session: string; csrf: string; steps: Record<string, string> }> {
  const created = await fetch(`${set.ehrUrl}/ehr/launches`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: json({ practitioner: 'sandbox-clinician', patient, app: 'periplan-app' }),
  });
  expect(created.status).toBe(201);
  const { url } = (await created.json()) as { url: string };
  expect(url.startsWith(`${set.lbUrl}/app/launch?`)).toBe(true);
  const started = await viaLb(pathOf(url));
  expect(started.res.status).toBe(303);
  // The EHR signs the clinician in (its own cookies) and sends the browser back to the app's callback.
  const { url: callback } = await new Browser().follow(
    started.res.headers.get('location')!,
    `${set.lbUrl}/app/callback`,
  );
  expect(callback.startsWith(`${set.lbUrl}/app/callback?`)).toBe(true);
  const completed = await viaLb(pathOf(callback));
  expect(completed.res.status).toBe(303);
  const code = new URL(completed.res.headers.get('location')!, set.lbUrl).searchParams.get('handoff');
  expect(code).toBeTruthy();
  const handed = await viaLb('/app/api/handoff', { method: 'POST', body: json({ code }) });
  expect(handed.res.status).toBe(200);
  const body = (await handed.res.json()) as { session: string; csrf: string };
  return { ...body, steps: { launch: started.by, callback: completed.by, handoff: handed.by } };
}

describe('three replicas behind HAProxy, one PostgreSQL, one FHIR server', () => {
  it('round robin without affinity: consecutive requests of one client reach every replica, each answer names its replica', async () => {
    const served = [];
    for (let i = 0; i < 6; i++) {
      const { res, by } = await viaLb('/fhir/metadata');
      expect(res.status).toBe(200);
      await res.arrayBuffer();
      served.push(by);
    }
    expect(new Set(served)).toEqual(new Set(set.replicas.map((r) => r.name)));
  });

  it('an EHR launch begun on one replica completes on another, and its session works on every replica', async () => {
    const { session, csrf, steps } = await launch('sandbox-patient-2');
    expect(steps.callback).not.toBe(steps.launch);
    const seen = new Set(Object.values(steps));
    for (let i = 0; i < 3; i++) {
      const context = await viaLb('/app/api/context', { session: { session, csrf } });
      expect(context.res.status).toBe(200);
      expect(((await context.res.json()) as { patient?: { id?: string } }).patient?.id).toBe('sandbox-patient-2');
      seen.add(context.by);
    }
    expect(seen.size).toBe(3);
  });

  it('a draft saved through one replica resumes through another', async () => {
    const who = await launch('sandbox-patient-4');
    const draft = {
      resourceType: 'QuestionnaireResponse',
      status: 'in-progress',
      item: [{ linkId: 'pain-intensity', answer: [{ valueInteger: 7 }] }],
    };
    const saved = await viaLb('/app/api/draft', { method: 'PUT', session: who, body: json({ response: draft }) });
    expect(saved.res.status).toBe(200);
    const resumed = await viaLb('/app/api/form', { session: who });
    expect(resumed.by).not.toBe(saved.by);
    expect(resumed.res.status).toBe(200);
    const form = (await resumed.res.json()) as { source: string; response: fhir4.QuestionnaireResponse };
    expect(form.source).toBe('draft');
    expect(JSON.stringify(form.response.item)).toContain('"valueInteger":7');
  });

  it('a tablet code made through one replica is claimed through another, once; the tablet goes on through any', async () => {
    const staff = await launch('sandbox-patient-3');
    const made = await viaLb('/app/api/tablet-handoff', { method: 'POST', session: staff, body: json({}) });
    expect(made.res.status).toBe(201);
    const { code } = (await made.res.json()) as { code: string };
    const claimed = await viaLb('/tablet/api/claim', { method: 'POST', body: json({ code, device: 'bay-1' }) });
    expect(claimed.by).not.toBe(made.by);
    expect(claimed.res.status).toBe(201);
    const { session } = (await claimed.res.json()) as { session: string };
    const again = await viaLb('/tablet/api/claim', { method: 'POST', body: json({ code, device: 'bay-2' }) });
    expect(again.res.status).toBe(404);
    const used = new Set([claimed.by]);
    for (let i = 0; i < 3; i++) {
      const form = await viaLb('/tablet/api/questionnaire', { headers: { 'x-tablet-session': session } });
      expect(form.res.status).toBe(200);
      await form.res.arrayBuffer();
      used.add(form.by);
    }
    expect(used.size).toBe(3);
  });

  it('an emergency answer on a tablet served by one replica reaches the worklist alert streams held by the others (latency measured)', async () => {
    const staff = await launch('sandbox-patient-1');
    // One worklist stream on each replica: whichever replica serves a tablet's check, two streams are elsewhere.
    const streams: {
      by: string;
      heard: Map<string, number>;
      reader: ReadableStreamDefaultReader<Uint8Array>;
      done: Promise<unknown>;
    }[] = [];
    for (let i = 0; i < 9 && streams.length < set.replicas.length; i++) {
      const opened = await viaLb('/app/api/alerts', { session: staff });
      expect(opened.res.status).toBe(200);
      expect(opened.res.headers.get('content-type')).toMatch(/text\/event-stream/);
      if (streams.some((s) => s.by === opened.by)) {
        await opened.res.body!.cancel();
        continue;
      }
      const heard = new Map<string, number>();
      const reader = opened.res.body!.getReader();
      streams.push({
        by: opened.by,
        heard,
        reader,
        done: readAlerts(reader, (device) => heard.set(device, performance.now())),
      });
    }
    expect(streams.map((s) => s.by).sort()).toEqual(set.replicas.map((r) => r.name).sort());

    const patients = [
      'sandbox-patient-1',
      'sandbox-patient-2',
      'sandbox-patient-3',
      'sandbox-patient-4',
      'sandbox-patient-5',
      'sandbox-patient-6',
    ];
    const elsewhere: number[] = [];
    const same: number[] = [];
    const checkedOn = new Set<string>();
    try {
      for (const [i, patientId] of patients.entries()) {
        const made = await viaLb('/app/api/tablet-handoff', {
          method: 'POST',
          session: staff,
          body: json({ patientId }),
        });
        expect(made.res.status, `${made.by}: ${made.res.status === 201 ? '' : await made.res.text()}\n${logs()}`).toBe(
          201,
        );
        const { code } = (await made.res.json()) as { code: string };
        const device = `alert-bay-${i}`;
        const claimed = await viaLb('/tablet/api/claim', { method: 'POST', body: json({ code, device }) });
        expect(claimed.res.status).toBe(201);
        const { session } = (await claimed.res.json()) as { session: string };
        // The tablet loads its form first (as its page does): four calls per patient, so the checks below
        // land on each replica in turn.
        const form = await viaLb('/tablet/api/questionnaire', { headers: { 'x-tablet-session': session } });
        expect(form.res.status).toBe(200);
        await form.res.arrayBuffer();
        const sent = performance.now();
        const check = await viaLb('/tablet/api/check', {
          method: 'POST',
          headers: { 'x-tablet-session': session },
          body: json({ response: RED_FLAGS }),
        });
        expect(await check.res.json()).toEqual({ tellStaff: true });
        checkedOn.add(check.by);
        // Generous bound: the figure is what is reported; the assertion is that it arrives on every replica.
        const end = performance.now() + 15_000;
        while (streams.some((s) => !s.heard.has(device)) && performance.now() < end)
          await new Promise((r) => setTimeout(r, 5));
        for (const stream of streams) {
          expect(
            stream.heard.has(device),
            `the alert of ${device} (checked on ${check.by}) reached the stream on ${stream.by}`,
          ).toBe(true);
          (stream.by === check.by ? same : elsewhere).push(stream.heard.get(device)! - sent);
        }
      }
    } finally {
      for (const s of streams) await s.reader.cancel().catch(() => undefined);
      await Promise.all(streams.map((s) => s.done));
    }
    // The checks were served by more than one replica, and each alert reached the two streams elsewhere.
    expect(checkedOn.size).toBeGreaterThan(1);
    expect(elsewhere).toHaveLength(patients.length * 2);
    const summary = (ms: number[]) => {
      const sorted = [...ms].sort((x, y) => x - y);
      return `median ${sorted[Math.floor(sorted.length / 2)]!.toFixed(0)} ms, max ${sorted.at(-1)!.toFixed(0)} ms (n=${sorted.length})`;
    };
    console.log(
      `replicas: alert latency, tablet check sent → event on a worklist stream: on another replica ${summary(elsewhere)}; on the replica that served the check ${summary(same)}`,
    );
  }, 60_000);

  it('kill -9 of a replica during 1,000 submissions: the balancer keeps serving; every acknowledged submission is at the FHIR server exactly once', async () => {
    const token = await clinicianToken(set, 'sandbox-patient-5');
    const TOTAL = 1000;
    const CONCURRENCY = 12;
    const KILL_AFTER = 250;
    const victim = set.replicas[1]!;
    const statuses = new Map<number | string, number>();
    const count = (key: number | string) => statuses.set(key, (statuses.get(key) ?? 0) + 1);
    const finals: { key: string; status: number; duplicate: boolean; attempts: number }[] = [];
    /** Answers by the replica that served them, before and after the kill. */
    const before = new Map<string, number>();
    const after = new Map<string, number>();
    let answered = 0;
    let killedAt = -1;
    let retries = 0;
    let next = 0;

    const submitOne = async (n: number) => {
      const { response } = submissionFor('RF-01', 'sandbox-patient-5', n);
      response.identifier = { system: 'urn:test:replicas-kill', value: `kill-${n}` };
      const body = JSON.stringify(response);
      // What a client must do: a failed request (no answer, 502/503/504) is sent again unchanged — the same
      // identifier is the same submission, and the module answers a repeat with the first one's state.
      for (let attempt = 1; ; attempt++) {
        let status: number | string;
        let result: { state?: string; duplicate?: boolean } = {};
        try {
          const res = await fetch(`${set.lbUrl}/fhir/QuestionnaireResponse/$submit`, {
            method: 'POST',
            headers: { 'content-type': 'application/fhir+json', authorization: `Bearer ${token}` },
            body,
          });
          status = res.status;
          const by = res.headers.get('x-served-by') ?? `${res.status} from the balancer`;
          (killedAt < 0 ? before : after).set(by, ((killedAt < 0 ? before : after).get(by) ?? 0) + 1);
          const parameters = (await res.json()) as fhir4.Parameters;
          result = {
            state: parameters.parameter?.find((p) => p.name === 'state')?.valueCode,
            duplicate: parameters.parameter?.find((p) => p.name === 'duplicate')?.valueBoolean ?? false,
          };
        } catch (err) {
          status = `network: ${(err as Error).message}`;
        }
        count(status);
        if (typeof status === 'number' && ![502, 503, 504].includes(status)) {
          finals.push({
            key: `urn:test:replicas-kill|kill-${n}`,
            status,
            duplicate: result.duplicate ?? false,
            attempts: attempt,
          });
          return;
        }
        if (attempt >= 10) throw new Error(`submission ${n} got no answer after ${attempt} attempts (last: ${status})`);
        retries++;
        await new Promise((r) => setTimeout(r, 200 * attempt));
      }
    };
    const victimCpu = new Map<number, number>();
    const cpuBefore = cpuSeconds();
    const startedAt = performance.now();
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (next < TOTAL) {
          const n = next++;
          await submitOne(n);
          answered++;
          if (answered === KILL_AFTER && killedAt < 0) {
            killedAt = answered;
            victimCpu.set(victim.child.pid!, cpuOf(victim.child.pid) ?? 0);
            victim.child.kill('SIGKILL');
          }
        }
      }),
    );
    const submitMs = performance.now() - startedAt;
    const cpuUsed = cpuSeconds(victimCpu) - cpuBefore;
    expect(await victim.exited).toBeNull(); // killed by the signal, no exit code

    // Every submission got a final answer, and every one of them says it is kept: sent (201, or 200 to a
    // repeat) or saved and sending (202).
    expect(finals).toHaveLength(TOTAL);
    expect(finals.filter((f) => ![200, 201, 202].includes(f.status))).toEqual([]);
    const served = finals.filter((f) => f.attempts > 1);

    // Recovery: the survivors retake what the killed replica held (its leases end) and send it.
    const drainStarted = performance.now();
    for (;;) {
      const { rows } = await db.query<{ status: string; n: string }>(
        "SELECT status, count(*) AS n FROM outbox WHERE key LIKE 'urn:test:replicas-kill|%' GROUP BY status",
      );
      const pending = rows.find((r) => r.status === 'pending');
      if (!pending) {
        expect(rows).toEqual([{ status: 'sent', n: String(TOTAL) }]);
        break;
      }
      if (performance.now() - drainStarted > 60_000) throw new Error(`outbox not drained: ${JSON.stringify(rows)}`);
      await new Promise((r) => setTimeout(r, 250));
    }
    const drainMs = performance.now() - drainStarted;

    // At the FHIR server: each response exactly once, each submission's Provenance exactly once.
    const responses = await everything<fhir4.QuestionnaireResponse>(
      token,
      'QuestionnaireResponse?subject=Patient/sandbox-patient-5',
    );
    const perKey = new Map<string, number>();
    for (const r of responses) {
      const key = `${r.identifier?.system}|${r.identifier?.value}`;
      if (key.startsWith('urn:test:replicas-kill|')) perKey.set(key, (perKey.get(key) ?? 0) + 1);
    }
    const provenances = await everything<fhir4.Provenance>(token, 'Provenance');
    const perSid = new Map<string, number>();
    for (const p of provenances)
      for (const tag of p.meta?.tag ?? [])
        if (tag.system === 'https://periplan.app/fhir/sid/submission' && tag.code)
          perSid.set(tag.code, (perSid.get(tag.code) ?? 0) + 1);
    const missing = finals.filter((f) => perKey.get(f.key) !== 1 || perSid.get(submissionId(f.key)) !== 1);
    const duplicates =
      [...perKey.values()].filter((c) => c > 1).length + [...perSid.values()].filter((c) => c > 1).length;
    expect(
      missing.map(
        (f) => `${f.key}: ${perKey.get(f.key) ?? 0} responses, ${perSid.get(submissionId(f.key)) ?? 0} provenances`,
      ),
    ).toEqual([]);
    expect(duplicates).toBe(0);
    expect(perKey.size).toBe(TOTAL);

    // The balancer kept serving after the kill: answers came from the two survivors only at the end.
    const survivors = [];
    for (let i = 0; i < 4; i++) {
      const { res, by } = await viaLb('/fhir/metadata');
      expect(res.status).toBe(200);
      await res.arrayBuffer();
      survivors.push(by);
    }
    expect(survivors).not.toContain(victim.name);
    expect(before.get(victim.name)).toBeGreaterThan(0);

    const byStatus = Object.fromEntries([...statuses].map(([k, v]) => [String(k), v]));
    console.log(
      `replicas: kill -9 ${victim.name} after ${killedAt} of ${TOTAL} answered; ${TOTAL} submissions in ${(submitMs / 1000).toFixed(1)} s ` +
        `(${(TOTAL / (submitMs / 1000)).toFixed(1)}/s, ${CONCURRENCY} clients; CPU of the EHR, replicas, HAProxy and this client ${cpuUsed.toFixed(0)} s, ` +
        `${((cpuUsed * 1000) / TOTAL).toFixed(0)} ms per submission; load average ${os.loadavg()[0]!.toFixed(1)}); every answer by status: ${JSON.stringify(byStatus)}; ` +
        `client retries ${retries} (${served.length} submissions retried; final answers ${JSON.stringify(countBy(finals.map((f) => `${f.status}${f.duplicate ? ' duplicate' : ''}`)))}); ` +
        `answers by replica before the kill ${JSON.stringify(Object.fromEntries(before))}, after ${JSON.stringify(Object.fromEntries(after))}; ` +
        `outbox drained ${drainMs.toFixed(0)} ms after the last answer; at the FHIR server ${perKey.size} responses, ${duplicates} duplicates`,
    );
  }, 240_000);
});

/** Reads an alert stream (server-sent events) and calls `onAlert` with each emergency's tablet name. */
async function readAlerts(
  reader: ReadableStreamDefaultReader<Uint8Array>,
  onAlert: (device: string) => void,
): Promise<void> {
  const decoder = new TextDecoder();
  let buffer = '';
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += decoder.decode(value, { stream: true });
      let end: number;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const event = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const data = /^data: (.*)$/m.exec(event)?.[1];
        if (/^event: emergency$/m.test(event) && data) onAlert((JSON.parse(data) as { device: string }).device);
      }
    }
  } catch {
    // Cancelled at the end of the test.
  }
}

/** CPU seconds a process has used (from /proc; USER_HZ is 100 on Linux), undefined once it is gone. */
function cpuOf(pid: number | undefined): number | undefined {
  try {
    const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return undefined;
  }
}

/**
 * CPU seconds used so far by the set's processes (the EHR, the replicas, HAProxy) and this test process: unlike
 * wall time, it does not depend on how busy the machine is. `gone`: what a killed process had used.
 */
function cpuSeconds(gone: Map<number, number> = new Map()): number {
  let total = (process.cpuUsage().user + process.cpuUsage().system) / 1e6;
  for (const pid of [set.ehr.child.pid, ...set.replicas.map((r) => r.child.pid), set.haproxy.child.pid])
    total += cpuOf(pid) ?? gone.get(pid!) ?? 0;
  return total;
}

function countBy(values: string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const v of values) out[v] = (out[v] ?? 0) + 1;
  return out;
}

/** Every resource a search finds at the FHIR server (pages of 1,000). */
async function everything<T extends fhir4.FhirResource>(token: string, search: string): Promise<T[]> {
  const found: T[] = [];
  let url: string | undefined = `${set.fhirBaseUrl}/${search}${search.includes('?') ? '&' : '?'}_count=1000`;
  while (url) {
    const res: Response = await fetch(url, {
      headers: { authorization: `Bearer ${token}`, accept: 'application/fhir+json' },
    });
    expect(res.status).toBe(200);
    const bundle = (await res.json()) as fhir4.Bundle;
    for (const e of bundle.entry ?? []) found.push(e.resource as T);
    url = bundle.link?.find((l) => l.relation === 'next')?.url;
  }
  return found;
}
