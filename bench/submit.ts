/**
 * Write-path benchmark: end-to-end submissions per second (validate + $apply + $extract + one transaction with
 * Provenance, over HTTP, with the module's token) against the embedded EHR, and the store's raw create rate in
 * the same run; then latency at a fixed 50 submissions/s.
 *
 *   npx tsx bench/submit.ts [--submissions 200] [--concurrency 8] [--rate 50] [--seconds 10] [--rounds 3] [--warmup 20]
 *
 * Like with like: the raw rate is single-resource creates (`POST /Observation`, validated, one fsync'd commit
 * each) over HTTP with the module's token and the same concurrency, measured in the same run, in rounds
 * alternating with the submissions. The ratio reported first is resources written per second by the submit
 * path ÷ raw creates per second; submissions per second are reported too. CPU time per operation of each
 * process is reported as well: unlike wall time it does not move with the load of this shared machine.
 *
 * The embedded EHR runs in a child process (this file with --serve-ehr), as a FHIR server does: the module
 * and the store then each have a core of this 2-core machine instead of sharing one event loop.
 * Results go to docs/write-path.md by hand (indicative: shared machine).
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import express from 'express';
import { Client } from 'fhir-kit-client';
import { createEmbeddedEhr } from '../src/ehr/index.js';
import { openFhirStore, processBundle } from '../src/ehr/store/index.js';
import { extractFromResponse, validateQuestionnaireResponse } from '../src/forms/index.js';
import { loadKnowledge } from '../src/knowledge/index.js';
import { applyPlanDefinition } from '../src/rules/index.js';
import {
  buildSubmissionBundle,
  ensureResponseIdentifier,
  submissionId,
  submissionKey,
} from '../src/submission/build-bundle.js';
import { clientCredentialsTokenSource } from '../src/submission/module-token.js';
import { FOLLOW_UP_PLAN } from '../src/submission/service.js';
import { createWritePath } from '../src/submission/write-path.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const arg = (name: string, fallback: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
};
const tmp = (p: string) => fs.mkdtempSync(path.join(os.tmpdir(), p));
const EXAMPLES = ['BMD-01', 'RF-01', 'RF-02', 'CS'];

const exampleFiles = new Map<string, string>();
function example(name: string, patientId: string, n: number) {
  // Read once: the module's CPU per submission should not include reading the bench's own input files.
  const text = (f: string) => {
    const file = path.join(root, 'examples', name, f);
    if (!exampleFiles.has(file)) exampleFiles.set(file, fs.readFileSync(file, 'utf8'));
    return exampleFiles.get(file)!;
  };
  const read = <T>(f: string) => JSON.parse(text(f)) as T;
  const patient = { ...read<fhir4.Patient>('patient.json'), id: patientId };
  const response: fhir4.QuestionnaireResponse = {
    ...read<fhir4.QuestionnaireResponse>('response.json'),
    identifier: { system: 'urn:bench:submission', value: `${patientId}-${n}-${process.pid}` },
    subject: { reference: `Patient/${patientId}` },
  };
  return { patient, response };
}

const pct = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
const fmt = (n: number, d = 1) => (Number.isFinite(n) ? n.toFixed(d) : 'n/a');

// ---------------------------------------------------------------------------------------------- EHR child
if (process.argv.includes('--serve-ehr')) {
  const dataDir = process.argv[process.argv.indexOf('--serve-ehr') + 1]!;
  const app = express();
  const server = app.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  const port = (server.address() as { port: number }).port;
  const ehr = await createEmbeddedEhr({ publicUrl: `http://127.0.0.1:${port}`, dataDir, seed: false });
  app.use('/ehr', ehr.router);
  // This process's CPU time so far (ms), so that the benchmark can charge the store its CPU per operation.
  app.get('/bench/cpu', (_req, res) => {
    const u = process.cpuUsage();
    res.json({ ms: (u.user + u.system) / 1000 });
  });
  // Seed patients in-process (set-up, not measured).
  for (let p = 0; p < 50; p++)
    ehr.store.update({
      resourceType: 'Patient',
      id: `bench-${p}`,
      gender: 'female',
      birthDate: '1975-01-01',
    } as fhir4.Patient);
  // The store's in-process create rate on a separate file (same settings: validated, fsync per commit).
  const side = openFhirStore({ dataDir: tmp('bench-side-') });
  const t0 = performance.now();
  for (let i = 0; i < 300; i++)
    side.create({
      resourceType: 'Observation',
      status: 'final',
      code: { text: 'bench' },
      subject: { reference: 'Patient/bench-0' },
    } as fhir4.Observation);
  const inProcess = 300 / ((performance.now() - t0) / 1000);
  side.close();
  process.stdout.write(
    `${JSON.stringify({ port, fhirBaseUrl: ehr.fhirBaseUrl, moduleCredentials: ehr.auth.moduleClient, inProcess })}\n`,
  );
  // Serve until killed (a clean exit on SIGTERM, so that --cpu-prof writes its profile); exit if the benchmark process is gone.
  process.once('SIGTERM', () => process.exit(0));
  const parent = process.ppid;
  setInterval(() => {
    if (process.ppid !== parent) process.exit(1);
  }, 1000);
  await new Promise(() => undefined);
}

// ---------------------------------------------------------------------------------------------- main
const submissions = arg('submissions', 200);
const concurrency = arg('concurrency', 8);
const rate = arg('rate', 50);
const seconds = arg('seconds', 10);
const rounds = arg('rounds', 3);
const warmup = arg('warmup', 20);

// The child runs with this process's Node flags (tsx's loader, and e.g. --cpu-prof when profiling both sides).
const nodeFlags = process.execArgv.some((a) => a.includes('tsx'))
  ? process.execArgv
  : ['--import', 'tsx', ...process.execArgv];
const child = spawn(
  process.execPath,
  [...nodeFlags, fileURLToPath(import.meta.url), '--serve-ehr', tmp('bench-ehr-')],
  { stdio: ['ignore', 'pipe', 'inherit'] },
);
const info = await new Promise<{
  port: number;
  fhirBaseUrl: string;
  moduleCredentials: { clientId: string; clientSecret: string; scopes: string[] };
  inProcess: number;
}>((resolve, reject) => {
  let buf = '';
  child.stdout.on('data', (c: Buffer) => {
    buf += c.toString();
    const line = buf.split('\n').find((l) => l.startsWith('{'));
    if (line) resolve(JSON.parse(line));
  });
  child.once('exit', (code) => reject(new Error(`EHR child exited (${code})`)));
});

try {
  const knowledge = await loadKnowledge(root);
  const tokens = clientCredentialsTokenSource({ fhirBaseUrl: info.fhirBaseUrl, ...info.moduleCredentials });
  const client = new Client({ baseUrl: info.fhirBaseUrl, bearerToken: await tokens.getToken() });

  const storeCpu = async () =>
    ((await (await fetch(`http://127.0.0.1:${info.port}/bench/cpu`)).json()) as { ms: number }).ms;
  const ownCpu = () => {
    const u = process.cpuUsage();
    return (u.user + u.system) / 1000;
  };

  // 1 + 3. Raw creates and submissions, closed loop with the same concurrency, in alternating rounds so that a
  // change in the machine's load (it is shared) hits both alike. Wall time gives the rates; CPU time of each
  // process (store: the EHR child; module: this process) gives a load-independent cost per operation.
  const writePath = createWritePath({
    knowledge,
    dataDir: tmp('bench-outbox-'),
    fhirBaseUrl: info.fhirBaseUrl,
    moduleCredentials: info.moduleCredentials,
    timeoutMs: 30_000,
    log: { info: () => undefined, warn: (m) => console.warn(m), error: (m) => console.error(m) },
  });
  await writePath.start();
  await writePath.target.getToken?.();
  // Warm-up, not measured: the first submissions pay for JIT compilation and lazily built validation schemas
  // (CarePlan, RequestGroup, …) in both processes; a server in service is warm.
  for (let i = 0; i < warmup; i++) {
    const { patient, response } = example(EXAMPLES[i % EXAMPLES.length]!, `bench-${i % 50}`, 2_000_000 + i);
    await writePath.submit({ response, data: [patient] });
    await client.create({
      resourceType: 'Observation',
      body: {
        resourceType: 'Observation',
        status: 'final',
        code: { text: 'warm-up' },
        subject: { reference: 'Patient/bench-0' },
      } as never,
    });
  }
  const rawN = 600;
  const raw = { n: 0, seconds: 0, storeCpu: 0 };
  const sub = { n: 0, seconds: 0, storeCpu: 0, moduleCpu: 0, sent: 0, latencies: [] as number[] };
  const closedLoop = async (count: number, one: (i: number) => Promise<void>) => {
    let next = 0;
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < count) await one(next++);
      }),
    );
  };
  for (let round = 0; round < rounds; round++) {
    const share = (total: number) => Math.floor((total * (round + 1)) / rounds) - Math.floor((total * round) / rounds);
    const rawCount = share(rawN);
    let c0 = await storeCpu();
    let t0 = performance.now();
    await closedLoop(rawCount, async () => {
      await client.create({
        resourceType: 'Observation',
        body: {
          resourceType: 'Observation',
          status: 'final',
          code: { text: 'bench' },
          subject: { reference: 'Patient/bench-0' },
        } as never,
      });
    });
    raw.seconds += (performance.now() - t0) / 1000;
    raw.storeCpu += (await storeCpu()) - c0;
    raw.n += rawCount;

    const subCount = share(submissions);
    const first = sub.n;
    c0 = await storeCpu();
    const m0 = ownCpu();
    t0 = performance.now();
    await closedLoop(subCount, async (k) => {
      const i = first + k;
      const { patient, response } = example(EXAMPLES[i % EXAMPLES.length]!, `bench-${i % 50}`, i);
      const t = performance.now();
      const result = await writePath.submit({ response, data: [patient] });
      sub.latencies.push(performance.now() - t);
      if (result.state === 'sent') sub.sent++;
    });
    sub.seconds += (performance.now() - t0) / 1000;
    sub.moduleCpu += ownCpu() - m0;
    sub.storeCpu += (await storeCpu()) - c0;
    sub.n += subCount;
  }
  const rawPerSec = raw.n / raw.seconds;
  const submitPerSec = sub.n / sub.seconds;
  const latencies = sub.latencies.sort((a, b) => a - b);

  // 2. Where the module's own time goes (in this process, one at a time).
  const plan = knowledge.resolve(FOLLOW_UP_PLAN, 'PlanDefinition')!;
  const phases = { validate: 0, apply: 0, extract: 0, build: 0 };
  let resourcesPerSubmission = 0;
  const samples = 40;
  for (let i = 0; i < samples; i++) {
    const { patient, response } = example(EXAMPLES[i % EXAMPLES.length]!, `bench-${i % 50}`, 100_000 + i);
    let t = ownCpu();
    validateQuestionnaireResponse(response, {
      resolveQuestionnaire: (c) => knowledge.resolve(c, 'Questionnaire'),
      errorsOnly: true,
    }); // as the write path does
    phases.validate += ownCpu() - t;
    t = ownCpu();
    const r = ensureResponseIdentifier(response);
    const withId = { ...r, id: submissionId(submissionKey(r)) };
    const carePlan = applyPlanDefinition(plan, { subject: r.subject!.reference!, data: [patient, withId], knowledge });
    phases.apply += ownCpu() - t;
    t = ownCpu();
    const extracted = await extractFromResponse(withId, knowledge.resolve(r.questionnaire!, 'Questionnaire')!);
    phases.extract += ownCpu() - t;
    t = ownCpu();
    const bundle = buildSubmissionBundle({
      response: withId,
      carePlan,
      author: r.subject!,
      now: new Date(),
      extracted,
    });
    phases.build += ownCpu() - t;
    resourcesPerSubmission += bundle.entry?.length ?? 0;
  }
  resourcesPerSubmission /= samples;

  // 2b. The embedded store's own cost for such a transaction, in-process, with and without its validation.
  const storeTx: Record<string, number> = {};
  for (const validate of [true, false]) {
    const store = openFhirStore({ dataDir: tmp('bench-tx-'), validate });
    const bundles: fhir4.Bundle[] = [];
    for (let i = 0; i < 24; i++) {
      const { patient, response } = example(EXAMPLES[i % EXAMPLES.length]!, `bench-${i % 50}`, 200_000 + i);
      const r = ensureResponseIdentifier(response);
      const withId = { ...r, id: submissionId(submissionKey(r)) };
      const carePlan = applyPlanDefinition(plan, {
        subject: r.subject!.reference!,
        data: [patient, withId],
        knowledge,
      });
      const extracted = await extractFromResponse(withId, knowledge.resolve(r.questionnaire!, 'Questionnaire')!);
      bundles.push(
        buildSubmissionBundle({ response: withId, carePlan, author: r.subject!, now: new Date(), extracted }),
      );
    }
    const t = performance.now();
    for (const b of bundles) processBundle(store, b, {});
    storeTx[validate ? 'validated' : 'unvalidated'] = (performance.now() - t) / bundles.length;
    store.close();
  }

  // 4. Open loop at a fixed rate: latency when `rate` submissions arrive per second.
  const total = rate * seconds;
  const open: number[] = [];
  let openSent = 0;
  const pending: Promise<void>[] = [];
  const o0 = performance.now();
  for (let i = 0; i < total; i++) {
    const due = o0 + (i * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    const { patient, response } = example(EXAMPLES[i % EXAMPLES.length]!, `bench-${i % 50}`, 1_000_000 + i);
    const t = performance.now();
    pending.push(
      writePath.submit({ response, data: [patient] }).then((result) => {
        open.push(performance.now() - t);
        if (result.state === 'sent') openSent++;
      }),
    );
  }
  await Promise.all(pending);
  const openSeconds = (performance.now() - o0) / 1000;
  open.sort((a, b) => a - b);
  await writePath.stop();

  const perSub = Object.values(phases).reduce((a, b) => a + b, 0) / samples;
  const lines = [
    `## Write-path benchmark (${new Date().toISOString()}, ${os.cpus().length} cores, Node ${process.version})`,
    '',
    `Command: \`npx tsx bench/submit.ts --submissions ${submissions} --concurrency ${concurrency} --rate ${rate} --seconds ${seconds} --rounds ${rounds} --warmup ${warmup}\``,
    '',
    '| measure | value |',
    '|---|---|',
    `| store raw create, in-process (\`store.create\`, validated, fsync per commit) | ${fmt(info.inProcess, 0)} creates/s |`,
    `| store raw create over HTTP (\`POST /Observation\`, ${concurrency} concurrent, ${raw.n} in ${rounds} rounds) | ${fmt(rawPerSec, 0)} creates/s |`,
    `| submit path, end to end (${sub.n} submissions in ${rounds} rounds alternating with the raw creates, ${concurrency} concurrent; ${fmt(resourcesPerSubmission, 1)} resources each) | ${fmt(submitPerSec, 1)} submissions/s = ${fmt(submitPerSec * resourcesPerSubmission, 0)} resources/s |`,
    `| **submit path resources/s ÷ raw HTTP creates/s** (target ≥ 50 %) | **${fmt((100 * submitPerSec * resourcesPerSubmission) / rawPerSec, 0)} %** |`,
    `| submit path submissions/s ÷ raw HTTP creates/s | ${fmt((100 * submitPerSec) / rawPerSec, 0)} % |`,
    `| store CPU per raw create / per submission (EHR process) | ${fmt(raw.storeCpu / raw.n, 2)} / ${fmt(sub.storeCpu / sub.n, 1)} ms → CPU-bound ratio ${fmt((100 * (raw.storeCpu / raw.n) * resourcesPerSubmission) / (sub.storeCpu / sub.n), 0)} % |`,
    `| module CPU per submission, end to end (this process: validate, $apply, $extract, build, outbox, HTTP) | ${fmt(sub.moduleCpu / sub.n, 1)} ms |`,
    `| closed-loop latency p50 / p95 / p99 | ${fmt(pct(latencies, 50), 0)} / ${fmt(pct(latencies, 95), 0)} / ${fmt(pct(latencies, 99), 0)} ms (${sub.sent}/${sub.n} sent on the first attempt) |`,
    `| at ${rate} submissions/s for ${seconds} s: latency p50 / p95 / p99 | ${fmt(pct(open, 50), 0)} / ${fmt(pct(open, 95), 0)} / ${fmt(pct(open, 99), 0)} ms (achieved ${fmt(total / openSeconds, 1)}/s; ${openSent}/${total} sent on the first attempt) |`,
    `| embedded store, one submission transaction in-process: validated (as served) / unvalidated | ${fmt(storeTx.validated!)} / ${fmt(storeTx.unvalidated!)} ms |`,
    `| module CPU per submission by phase (one at a time): validate / $apply / $extract / build | ${fmt(phases.validate / samples)} / ${fmt(phases.apply / samples)} / ${fmt(phases.extract / samples)} / ${fmt(phases.build / samples)} ms (Σ ${fmt(perSub)} ms) |`,
  ];
  console.log(lines.join('\n'));
} finally {
  child.kill('SIGTERM');
}
