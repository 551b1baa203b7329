/**
 * `npm run bench -- replicas`: submissions per second through `$submit` (validate, `$apply`, `$extract`, one
 * transaction at the FHIR server; RF-01 responses, a clinician's token) in one run, against one FHIR server
 * (the sandbox EHR on its own), for
 *   (1) one replica with its state in SQLite (no DATABASE_URL),
 *   (2) one replica with its state in PostgreSQL,
 *   (3) three replicas on that PostgreSQL behind HAProxy (test/support/replicas.ts),
 * then the outbox on PostgreSQL alone: claims per second (`claimDue`, FOR UPDATE SKIP LOCKED, batches of 20)
 * and sends per second (the background sender draining entries queued beforehand, with the module's
 * credential; one sender, then three on separate pools as three replicas would).
 * Every process shares this machine's cores with the load generator, PostgreSQL, HAProxy and the EHR: the
 * machine, not the replica count, bounds the figures on 2 cores. The table goes to docs/benchmarks.md between
 * the `bench:replicas` markers, with the machine load sampled during the run.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadKnowledge } from '../src/knowledge/index.js';
import { openPostgres, type PostgresDatabase } from '../src/platform/postgres.js';
import { MODULE_CLIENT_ID, MODULE_SCOPES } from '../src/ehr/auth/backend-client.js';
import { openPostgresOutbox } from '../src/submission/outbox-postgres.js';
import { createSubmissionService } from '../src/submission/service.js';
import type { OutboxSender } from '../src/submission/sender.js';
import { createWritePath } from '../src/submission/write-path.js';
import {
  clinicianToken,
  freePort,
  REPLICA_SECRETS,
  spawnNode,
  startReplicaSet,
  type ProcessHandle,
  type ReplicaSet,
} from '../test/support/replicas.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const SUBMISSIONS = Number(process.env.BENCH_SUBMISSIONS ?? 300);
const WARMUP = 20;
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 12);
const OUTBOX_ENTRIES = Number(process.env.BENCH_OUTBOX ?? 300);

const loadSamples: number[] = [];
const quantile = (sorted: number[], q: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;
const response = JSON.parse(
  fs.readFileSync(path.join(ROOT, 'examples/RF-01/response.json'), 'utf8'),
) as fhir4.QuestionnaireResponse;

interface Rate {
  label: string;
  perSecond: number;
  p50Ms: number;
  p99Ms: number;
  statuses: Record<string, number>;
}

/** `count` submissions at `CONCURRENCY` through `baseUrl`, each with its own identifier. */
async function submissions(label: string, baseUrl: string, token: string, count: number, tag: string): Promise<Rate> {
  const times: number[] = [];
  const statuses: Record<string, number> = {};
  let next = 0;
  const began = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < count) {
        const n = next++;
        const body = JSON.stringify({
          ...response,
          identifier: { system: 'urn:bench:replicas', value: `${tag}-${n}-${process.pid}` },
          subject: { reference: 'Patient/sandbox-patient-6' },
        });
        const t0 = performance.now();
        const res = await fetch(`${baseUrl}/fhir/QuestionnaireResponse/$submit`, {
          method: 'POST',
          headers: { 'content-type': 'application/fhir+json', authorization: `Bearer ${token}` },
          body,
        }).catch(() => undefined);
        await res?.arrayBuffer();
        times.push(performance.now() - t0);
        const status = res ? String(res.status) : 'network error';
        statuses[status] = (statuses[status] ?? 0) + 1;
      }
    }),
  );
  const seconds = (performance.now() - began) / 1000;
  times.sort((a, b) => a - b);
  return { label, perSecond: count / seconds, p50Ms: quantile(times, 0.5), p99Ms: quantile(times, 0.99), statuses };
}

async function measure(label: string, baseUrl: string, token: string, tag: string): Promise<Rate> {
  console.log(`replicas bench: ${label} …`);
  await submissions(label, baseUrl, token, WARMUP, `${tag}-warmup`);
  const rate = await submissions(label, baseUrl, token, SUBMISSIONS, tag);
  console.log(
    `  ${rate.perSecond.toFixed(1)} submissions/s, p50 ${rate.p50Ms.toFixed(0)} ms, p99 ${rate.p99Ms.toFixed(0)} ms, ${JSON.stringify(rate.statuses)}`,
  );
  return rate;
}

async function startSingle(name: string, set: ReplicaSet, env: Record<string, string>): Promise<ProcessHandle> {
  const p = spawnNode(name, 'src/main.ts', await freePort(), {
    FHIR_SERVER_URL: set.fhirBaseUrl,
    ...REPLICA_SECRETS,
    LOG_LEVEL: 'warn',
    ...env,
  });
  const end = Date.now() + 180_000;
  for (;;) {
    const ok = await fetch(`${p.url}/readyz`).then(
      (r) => r.status === 200,
      () => false,
    );
    if (ok) return p;
    if (p.child.exitCode !== null || Date.now() > end) throw new Error(`${name} did not start:\n${p.output()}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function stopSingle(p: ProcessHandle): Promise<void> {
  p.child.kill('SIGTERM');
  await p.exited;
  fs.rmSync(p.dataDir, { recursive: true, force: true });
}

/** Queue `count` real submission bundles in the PostgreSQL outbox without sending them (due at once). */
async function queueEntries(db: PostgresDatabase, count: number, tag: string): Promise<void> {
  const knowledge = await loadKnowledge(ROOT);
  const outbox = await openPostgresOutbox(db);
  const idle = { sendEntry: async () => 'retry' as const } as unknown as OutboxSender;
  const service = createSubmissionService({ knowledge, outbox, sender: idle, firstAttemptLeaseMs: 0 });
  for (let n = 0; n < count; n++) {
    await service.submit({
      response: {
        ...response,
        identifier: { system: 'urn:bench:outbox', value: `${tag}-${n}-${process.pid}` },
        subject: { reference: 'Patient/sandbox-patient-6' },
      },
      data: [],
    });
  }
}

async function outboxRates(set: ReplicaSet): Promise<{ claimsPerSecond: number; sendOne: number; sendThree: number }> {
  console.log('replicas bench: the outbox on PostgreSQL …');
  // The replicas' own senders would take the entries queued here: stop them first (the set is done by now).
  for (const r of set.replicas) r.child.kill('SIGTERM');
  await Promise.all(set.replicas.map((r) => r.exited));
  const open = () => openPostgres({ url: set.databaseUrl, poolSize: 6, statementTimeoutMs: 10_000 });
  const db = await open();
  try {
    // Claims: take every due entry, 20 at a time, as a sender does; then make them due again.
    await queueEntries(db, OUTBOX_ENTRIES, 'claim');
    const outbox = await openPostgresOutbox(db);
    let claimed = 0;
    const began = performance.now();
    for (;;) {
      const batch = await outbox.claimDue(new Date(), 20, 60_000);
      if (!batch.length) break;
      claimed += batch.length;
    }
    const claimsPerSecond = claimed / ((performance.now() - began) / 1000);
    await db.query("UPDATE outbox SET status = 'sent' WHERE key LIKE 'urn:bench:outbox|claim-%'");
    console.log(`  ${claimed} claims at ${claimsPerSecond.toFixed(0)}/s`);

    // Sends: the sender drains entries queued while "the EHR was away", with the module's credential.
    const knowledge = await loadKnowledge(ROOT);
    const send = async (senders: number, tag: string) => {
      await queueEntries(db, OUTBOX_ENTRIES, tag);
      const dbs = await Promise.all(Array.from({ length: senders }, open));
      const paths = await Promise.all(
        dbs.map(async (d) =>
          createWritePath({
            knowledge,
            dataDir: os.tmpdir(),
            outbox: await openPostgresOutbox(d),
            fhirBaseUrl: set.fhirBaseUrl,
            moduleCredentials: {
              clientId: MODULE_CLIENT_ID,
              clientSecret: REPLICA_SECRETS.MODULE_CLIENT_SECRET,
              scopes: MODULE_SCOPES,
            },
            log: { info: () => undefined, warn: () => undefined, error: (m) => console.error(m) },
          }),
        ),
      );
      const t0 = performance.now();
      const sent = (await Promise.all(paths.map((p) => p.sender.drain()))).reduce((a, b) => a + b, 0);
      const perSecond = sent / ((performance.now() - t0) / 1000);
      const { rows } = await db.query<{ status: string; n: string }>(
        `SELECT status, count(*) AS n FROM outbox WHERE key LIKE 'urn:bench:outbox|${tag}-%' GROUP BY status`,
      );
      console.log(`  ${senders} sender(s): ${sent} attempts at ${perSecond.toFixed(1)}/s; ${JSON.stringify(rows)}`);
      for (const d of dbs) await d.close();
      return perSecond;
    };
    const sendOne = await send(1, 'send1');
    const sendThree = await send(3, 'send3');
    return { claimsPerSecond, sendOne, sendThree };
  } finally {
    await db.close();
  }
}

const fmt = (n: number, d = 1) => n.toFixed(d);

export async function replicasBench(): Promise<string> {
  const started = Date.now();
  loadSamples.push(os.loadavg()[0]!);
  const sampler = setInterval(() => loadSamples.push(os.loadavg()[0]!), 5000);
  sampler.unref();
  const set = await startReplicaSet({ replicas: 3 });
  const singles: ProcessHandle[] = [];
  try {
    const token = await clinicianToken(set, 'sandbox-patient-6');
    const rates: Rate[] = [];
    const sqlite = await startSingle('single-sqlite', set, {});
    singles.push(sqlite);
    rates.push(await measure('1 replica, state in SQLite', sqlite.url, token, 'sqlite'));
    await stopSingle(singles.pop()!);
    const postgres = await startSingle('single-postgres', set, { DATABASE_URL: set.databaseUrl });
    singles.push(postgres);
    rates.push(await measure('1 replica, state in PostgreSQL', postgres.url, token, 'postgres'));
    await stopSingle(singles.pop()!);
    rates.push(await measure('3 replicas on PostgreSQL behind HAProxy', set.lbUrl, token, 'lb'));
    const outbox = await outboxRates(set);
    loadSamples.push(os.loadavg()[0]!);
    const machine = `${os.cpus()[0]?.model ?? 'unknown CPU'}, ${os.availableParallelism()} cores, Node ${process.version}`;
    const when = new Date().toISOString().slice(0, 16).replace('T', ' ');
    const md = [
      `Measured by \`npm run bench -- replicas\` on ${machine}, ${when} UTC; run took ${Math.round((Date.now() - started) / 1000)} s; machine load (1-min load average) during the run ${fmt(Math.min(...loadSamples))}–${fmt(Math.max(...loadSamples))} on ${os.availableParallelism()} cores. ` +
        `${SUBMISSIONS} RF-01 submissions per configuration after ${WARMUP} of warm-up, ${CONCURRENCY} concurrent clients, one FHIR server (the sandbox EHR on its own, one process) for all. ` +
        'Every process (replicas, EHR, PostgreSQL, HAProxy, the load generator) shares the same 2 cores: the machine bounds these figures, not the replica count — three replicas cannot do more work than two cores, and the single EHR process validates and writes every transaction.',
      '',
      '| configuration | submissions/s | p50 | p99 | answers |',
      '|---|---|---|---|---|',
      ...rates.map(
        (r) =>
          `| ${r.label} | ${fmt(r.perSecond)} | ${fmt(r.p50Ms, 0)} ms | ${fmt(r.p99Ms, 0)} ms | ${Object.entries(
            r.statuses,
          )
            .map(([s, n]) => `${n} × ${s}`)
            .join(', ')} |`,
      ),
      '',
      '| outbox on PostgreSQL | rate |',
      '|---|---|',
      `| claims (\`claimDue\`, batches of 20, ${OUTBOX_ENTRIES} due entries) | ${fmt(outbox.claimsPerSecond, 0)} entries/s |`,
      `| sends by 1 sender (drain of ${OUTBOX_ENTRIES} queued submissions, 4 at a time, module credential) | ${fmt(outbox.sendOne)} entries/s |`,
      `| sends by 3 senders on separate pools (as 3 replicas; SKIP LOCKED shares the entries) | ${fmt(outbox.sendThree)} entries/s |`,
    ].join('\n');
    return md;
  } finally {
    for (const p of singles) await stopSingle(p).catch(() => undefined);
    await set.stop();
  }
}
