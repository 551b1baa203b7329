/**
 * `npm run bench`: one run, three measurements, so ratios hold on a noisy machine.
 *  (a) `applyPlanDefinition(back-pain-follow-up)` in-process over 10,000 varied generated responses: median, p99;
 *  (b) `POST /fhir/PlanDefinition/back-pain-follow-up/$apply` over loopback HTTP with autocannon: max req/s,
 *      and p99 latency at a fixed 200 req/s;
 *  (c) the same for `POST /bare` (Express parses the same body and echoes it) in the same server process.
 * The server runs in a child process (bench/server.ts); `WORKERS=2 npm run bench` runs it as 2 cluster workers
 * (one process per core, see docs/benchmarks.md). Machine load (1-minute load average) is sampled during the
 * run and reported, since (c) only means something next to it. Results: printed, written to
 * bench/results/latest.raw.json, and the table in docs/benchmarks.md is replaced between its markers.
 * Targets: (a) median <= 1 ms; (b) >= 500 req/s on 2 cores, p99 <= 50 ms at 200 req/s.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { loadKnowledge } from '../src/knowledge/index.js';
import { applyPlanDefinition } from '../src/rules/index.js';
import { validateResource } from '../src/validation/index.js';
import { applyParameters, patientFor, randomResponse, seededRandom } from '../test/api/support/random-intake.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const IN_PROCESS_N = Number(process.env.BENCH_N ?? 10_000);
const HTTP_SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const FIXED_RATE = 200;
const WORKERS = Math.max(1, Math.floor(Number(process.env.WORKERS ?? 1)) || 1);
const loadSamples: number[] = [];
const now = new Date('2026-11-24T09:00:00Z');

const quantile = (sorted: number[], q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;

async function inProcess() {
  const knowledge = await loadKnowledge(ROOT);
  const pd = knowledge.read('PlanDefinition', 'back-pain-follow-up') as fhir4.PlanDefinition;
  const intake = knowledge.read('Questionnaire', 'back-pain-intake') as fhir4.Questionnaire;
  const rng = seededRandom(42);
  const inputs = Array.from({ length: IN_PROCESS_N }, (_, i) => {
    const qr = randomResponse(rng, intake, { subject: `Patient/b${i}`, answerRate: 0.3 + 0.7 * rng() });
    return { subject: `Patient/b${i}`, data: [patientFor(`b${i}`, qr), qr] as fhir4.FhirResource[] };
  });
  for (let i = 0; i < 500; i++) applyPlanDefinition(pd, { ...inputs[i % inputs.length]!, knowledge, now }); // JIT + compile caches
  const times: number[] = [];
  let actions = 0;
  for (const input of inputs) {
    const t0 = performance.now();
    const carePlan = applyPlanDefinition(pd, { ...input, knowledge, now });
    times.push(performance.now() - t0);
    actions += ((carePlan.contained?.find((r) => r.resourceType === 'RequestGroup') as fhir4.RequestGroup | undefined)?.action ?? []).length;
  }
  times.sort((a, b) => a - b);
  // What $apply over HTTP also pays per request: structural R4 validation of each data resource.
  const validation: number[] = [];
  for (const input of inputs.slice(0, 2000)) {
    const t0 = performance.now();
    for (const r of input.data) validateResource(r);
    validation.push(performance.now() - t0);
  }
  validation.sort((a, b) => a - b);
  return {
    n: times.length,
    medianMs: quantile(times, 0.5),
    p99Ms: quantile(times, 0.99),
    meanActions: actions / times.length,
    validationMedianMs: quantile(validation, 0.5),
    bodies: inputs.slice(0, 200),
  };
}

async function startServer(): Promise<{ port: number; stop: () => void }> {
  const child = spawn(path.join(ROOT, 'node_modules', '.bin', 'tsx'), ['bench/server.ts'], { cwd: ROOT, env: { ...process.env, CONTENT_DIR: ROOT, WORKERS: String(WORKERS) }, stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (b: Buffer) => {
      out += b.toString();
      const m = /port=(\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
    });
    child.on('exit', (code) => reject(new Error(`bench server exited with ${code}`)));
  });
  return { port, stop: () => child.kill('SIGTERM') };
}

interface HttpResult {
  maxReqPerSec: number;
  maxP99Ms: number;
  fixedRate: number;
  fixedP50Ms: number;
  fixedP99Ms: number;
  non2xx: number;
  errors: number;
}

async function load(port: number, urlPath: string, bodies: string[], rate?: number): Promise<autocannon.Result> {
  return autocannon({
    url: `http://127.0.0.1:${port}`,
    connections: rate ? 20 : 16,
    pipelining: 1,
    duration: HTTP_SECONDS,
    ...(rate ? { overallRate: rate } : {}),
    requests: bodies.map((body) => ({ method: 'POST', path: urlPath, headers: { 'content-type': 'application/fhir+json' }, body })),
  });
}

async function overHttp(port: number, urlPath: string, bodies: string[]): Promise<HttpResult> {
  await autocannon({ url: `http://127.0.0.1:${port}`, connections: 8, duration: 2, requests: bodies.slice(0, 20).map((body) => ({ method: 'POST', path: urlPath, headers: { 'content-type': 'application/fhir+json' }, body })) }); // warm-up
  const max = await load(port, urlPath, bodies);
  const fixed = await load(port, urlPath, bodies, FIXED_RATE);
  return {
    maxReqPerSec: max.requests.average,
    maxP99Ms: max.latency.p99,
    fixedRate: FIXED_RATE,
    fixedP50Ms: fixed.latency.p50,
    fixedP99Ms: fixed.latency.p99,
    non2xx: max.non2xx + fixed.non2xx,
    errors: max.errors + fixed.errors,
  };
}

const fmt = (n: number, digits = 2) => n.toFixed(digits);

const serverLabel = WORKERS > 1 ? `, ${WORKERS} worker processes` : ', 1 process';

function table(a: Awaited<ReturnType<typeof inProcess>>, apply: HttpResult, bare: HttpResult): string {
  return [
    '| measurement | result | target |',
    '|---|---|---|',
    `| (a) in-process \`applyPlanDefinition\`, ${a.n.toLocaleString('en')} varied responses (mean ${fmt(a.meanActions, 1)} actions) | median ${fmt(a.medianMs, 3)} ms, p99 ${fmt(a.p99Ms, 3)} ms | median ≤ 1 ms |`,
    `| (a') in-process \`validateResource\` of the same data (Patient + response), as \`$apply\` does per request | median ${fmt(a.validationMedianMs, 3)} ms | |`,
    `| (b) HTTP \`$apply\`, max throughput (16 connections, ${HTTP_SECONDS} s${serverLabel}) | ${fmt(apply.maxReqPerSec, 0)} req/s (p99 ${fmt(apply.maxP99Ms, 0)} ms) | ≥ 500 req/s |`,
    `| (b) HTTP \`$apply\` at ${FIXED_RATE} req/s | p50 ${fmt(apply.fixedP50Ms, 1)} ms, p99 ${fmt(apply.fixedP99Ms, 1)} ms | p99 ≤ 50 ms |`,
    `| (c) bare Express parse + echo, max throughput (same server) | ${fmt(bare.maxReqPerSec, 0)} req/s (p99 ${fmt(bare.maxP99Ms, 0)} ms) | (floor) |`,
    `| (c) bare Express at ${FIXED_RATE} req/s | p50 ${fmt(bare.fixedP50Ms, 1)} ms, p99 ${fmt(bare.fixedP99Ms, 1)} ms | (floor) |`,
    `| ratio \`$apply\` / bare throughput | ${fmt(apply.maxReqPerSec / bare.maxReqPerSec, 2)} | |`,
    `| non-2xx / errors during the HTTP runs | ${apply.non2xx + bare.non2xx} / ${apply.errors + bare.errors} | 0 / 0 |`,
  ].join('\n');
}

async function main() {
  const started = Date.now();
  loadSamples.push(os.loadavg()[0]!);
  const sampler = setInterval(() => loadSamples.push(os.loadavg()[0]!), 5000);
  sampler.unref();
  console.log(`(a) in-process: ${IN_PROCESS_N} applies ...`);
  const a = await inProcess();
  const bodies = a.bodies.map((d) => JSON.stringify(applyParameters(d.subject, d.data)));

  const server = await startServer();
  try {
    console.log(`(b) HTTP $apply on port ${server.port} ...`);
    const apply = await overHttp(server.port, '/fhir/PlanDefinition/back-pain-follow-up/$apply', bodies);
    console.log('(c) bare Express ...');
    const bare = await overHttp(server.port, '/bare', bodies);

    loadSamples.push(os.loadavg()[0]!);
    const machine = `${os.cpus()[0]?.model ?? 'unknown CPU'}, ${os.availableParallelism()} cores, Node ${process.version}, ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC`;
    const load = `machine load (1-min load average) during the run ${fmt(Math.min(...loadSamples), 1)}–${fmt(Math.max(...loadSamples), 1)} on ${os.availableParallelism()} cores`;
    const md = `Measured by \`${WORKERS > 1 ? `WORKERS=${WORKERS} ` : ''}npm run bench\` on ${machine}; run took ${Math.round((Date.now() - started) / 1000)} s; ${load}. Server log level \`warn\` (no per-request line); body size ≈ ${Math.round(bodies.reduce((s, b) => s + b.length, 0) / bodies.length / 1024)} KB.\n\n${table(a, apply, bare)}`;
    console.log(`\n${md}\n`);
    mkdirSync(path.join(ROOT, 'bench', 'results'), { recursive: true });
    writeFileSync(path.join(ROOT, 'bench', 'results', 'latest.raw.json'), JSON.stringify({ machine, workers: WORKERS, loadAverage: { min: Math.min(...loadSamples), max: Math.max(...loadSamples) }, inProcess: { n: a.n, medianMs: a.medianMs, p99Ms: a.p99Ms, validationMedianMs: a.validationMedianMs }, apply, bare }, null, 2));
    const docPath = path.join(ROOT, 'docs', 'benchmarks.md');
    try {
      const doc = readFileSync(docPath, 'utf8');
      const replaced = doc.replace(/<!-- bench:results:start -->[\s\S]*<!-- bench:results:end -->/, `<!-- bench:results:start -->\n${md}\n<!-- bench:results:end -->`);
      if (replaced !== doc) writeFileSync(docPath, replaced);
    } catch {
      // No doc to update: the printed table is the result.
    }
  } finally {
    server.stop();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
