/**
 * `npm run bench`: one run, three measurements, so ratios hold on a noisy machine.
 *  (a) `applyPlanDefinition(back-pain-follow-up)` in-process over 10,000 varied generated responses: median, p99;
 *  (b) `POST /fhir/PlanDefinition/back-pain-follow-up/$apply` over loopback HTTP: max req/s (wrk, a C load
 *      generator, when installed: scripts/setup-system.sh; else autocannon), and p50/p99 latency at a fixed
 *      200 req/s (`paced` below: evenly spaced requests, open loop; at that rate it needs little CPU);
 *  (c) the same for `POST /bare` (Express parses the same body and echoes it) in the same server process.
 * The server runs in a child process (bench/server.ts); `WORKERS=2 npm run bench` runs it as 2 cluster workers
 * (one process per core, see docs/benchmarks.md). Machine load (1-minute load average) is sampled during the
 * run and reported, since (c) only means something next to it. Results: printed, written to
 * bench/results/latest.raw.json, and the table in docs/benchmarks.md is replaced between its markers.
 * Targets: (a) median <= 1 ms; (b) >= 500 req/s on 2 cores, p99 <= 50 ms at 200 req/s.
 * Then the launch benchmark (bench/launch.ts: EHR launch → interactive form in Chromium, first and repeat
 * launch), into its own table between the `bench:launch` markers. `npm run bench -- launch` runs only that one;
 * `BENCH_LAUNCH=0` skips it. `npm run bench -- replicas` runs only bench/replicas.ts (submissions per second
 * with 1 replica on SQLite, 1 on PostgreSQL, 3 behind HAProxy; the PostgreSQL outbox's claim and send rates),
 * into the table between the `bench:replicas` markers.
 */
import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { loadKnowledge } from '../src/knowledge/index.js';
import { applyPlanDefinition } from '../src/rules/index.js';
import { validateResource } from '../src/validation/index.js';
import { applyParameters, patientFor, randomResponse, seededRandom } from '../test/api/support/random-intake.js';
import { launchBench, launchTable } from './launch.js';
import { replicasBench } from './replicas.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const IN_PROCESS_N = Number(process.env.BENCH_N ?? 10_000);
const HTTP_SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const FIXED_RATE = 200;
const WORKERS = Math.max(1, Math.floor(Number(process.env.WORKERS ?? 1)) || 1);
const MAX_CONNECTIONS = 16;
/**
 * The maximum-throughput load generator. autocannon runs in this Node process on the same 2 cores as the
 * server and needs about a core of its own at a few thousand requests per second, so it measured the
 * generator as much as the server; wrk (C, epoll, one thread) needs a fraction of that.
 * `BENCH_GENERATOR=autocannon` forces the old one for comparison.
 */
const WRK = '/usr/bin/wrk';
const GENERATOR = process.env.BENCH_GENERATOR === 'autocannon' || !existsSync(WRK) ? 'autocannon' : 'wrk';
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
    actions += (
      (carePlan.contained?.find((r) => r.resourceType === 'RequestGroup') as fhir4.RequestGroup | undefined)?.action ??
      []
    ).length;
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

/**
 * CPU time (ms) used so far by the server: its process and its direct children (the cluster workers), read
 * from /proc (Linux; undefined elsewhere). CPU per request is what the server costs whatever the machine's
 * load, unlike req/s, which also measures how much of the cores the server got.
 */
function serverCpuMs(pid: number | undefined): number | undefined {
  if (pid === undefined || !existsSync('/proc/self/stat')) return undefined;
  const ticksToMs = 10; // USER_HZ is 100 on Linux
  let total = 0;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue; // exited meanwhile
    }
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' '); // fields from 3 (state) on
    if (Number(entry) !== pid && Number(fields[1]) !== pid) continue; // fields[1] = ppid
    total += (Number(fields[11]) + Number(fields[12])) * ticksToMs; // utime + stime
  }
  return total;
}

async function startServer(): Promise<{ port: number; pid: number | undefined; stop: () => void }> {
  // node with tsx's loader (not the tsx wrapper), so the server is this child and its workers are its children.
  const child = spawn(process.execPath, ['--import', 'tsx', 'bench/server.ts'], {
    cwd: ROOT,
    env: { ...process.env, CONTENT_DIR: ROOT, WORKERS: String(WORKERS) },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (b: Buffer) => {
      out += b.toString();
      const m = /port=(\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
    });
    child.on('exit', (code) => reject(new Error(`bench server exited with ${code}`)));
  });
  return { port, pid: child.pid, stop: () => child.kill('SIGTERM') };
}

interface HttpResult {
  maxReqPerSec: number;
  maxP99Ms: number;
  /** Server CPU (all its processes) per request during the maximum-throughput run, when /proc is there. */
  serverCpuMsPerRequest: number | undefined;
  fixedRate: number;
  fixedP50Ms: number;
  fixedP99Ms: number;
  non2xx: number;
  errors: number;
}

async function load(port: number, urlPath: string, bodies: string[]): Promise<autocannon.Result> {
  return autocannon({
    url: `http://127.0.0.1:${port}`,
    connections: MAX_CONNECTIONS,
    pipelining: 1,
    duration: HTTP_SECONDS,
    requests: bodies.map((body) => ({
      method: 'POST',
      path: urlPath,
      headers: { 'content-type': 'application/fhir+json' },
      body,
    })),
  });
}

/**
 * A fixed request rate, open loop: request i is sent at start + i/rate whatever the earlier ones are doing
 * (keep-alive connections, as many as needed up to 64), and its latency counts from that scheduled time, so
 * a slow server or a late client shows up in the figures instead of lowering the rate (no coordinated
 * omission). Replaces autocannon's `overallRate`, which splits the rate over its connections with aligned
 * timers: 20 connections fire together, and even the bare echo had a p99 of ≈ 56 ms on an idle machine.
 */
async function paced(
  port: number,
  urlPath: string,
  bodies: string[],
  rate: number,
): Promise<{ p50Ms: number; p99Ms: number; non2xx: number; errors: number }> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  const total = Math.round(rate * HTTP_SECONDS);
  const latencies: number[] = [];
  let non2xx = 0;
  let errors = 0;
  const start = performance.now() + 50;
  const send = (i: number) =>
    new Promise<void>((resolve) => {
      const due = start + (i * 1000) / rate;
      const req = http.request(
        {
          host: '127.0.0.1',
          port,
          path: urlPath,
          method: 'POST',
          agent,
          headers: { 'content-type': 'application/fhir+json' },
        },
        (res) => {
          res.resume();
          res.on('end', () => {
            if (res.statusCode === undefined || res.statusCode < 200 || res.statusCode >= 300) non2xx += 1;
            latencies.push(performance.now() - due);
            resolve();
          });
        },
      );
      req.on('error', () => {
        errors += 1;
        resolve();
      });
      req.end(bodies[i % bodies.length]);
    });
  const inFlight: Array<Promise<void>> = [];
  for (let i = 0; i < total; i++) {
    const wait = start + (i * 1000) / rate - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    inFlight.push(send(i));
  }
  await Promise.all(inFlight);
  agent.destroy();
  latencies.sort((a, b) => a - b);
  return { p50Ms: quantile(latencies, 0.5), p99Ms: quantile(latencies, 0.99), non2xx, errors };
}

/** Maximum throughput with wrk: one thread, the same connections, the same bodies in rotation (a Lua script). */
interface MaxResult {
  reqPerSec: number;
  requests: number;
  p99Ms: number;
  non2xx: number;
  errors: number;
}

async function wrkMax(port: number, urlPath: string, bodies: string[]): Promise<MaxResult> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bench-wrk-'));
  try {
    const script = path.join(dir, 'bodies.lua');
    const quoted = bodies.map((b) => {
      if (b.includes(']==]')) throw new Error('a body contains the Lua string delimiter');
      return `[==[${b}]==]`;
    });
    writeFileSync(
      script,
      [
        `local bodies = {${quoted.join(',\n')}}`,
        'local i = 0',
        'request = function()',
        '  i = i % #bodies + 1',
        `  return wrk.format("POST", "${urlPath}", { ["Content-Type"] = "application/fhir+json" }, bodies[i])`,
        'end',
      ].join('\n'),
    );
    const out = await new Promise<string>((resolve, reject) => {
      execFile(
        WRK,
        ['-t1', `-c${MAX_CONNECTIONS}`, `-d${HTTP_SECONDS}s`, '--latency', '-s', script, `http://127.0.0.1:${port}`],
        { maxBuffer: 1 << 20 },
        (err, stdout) => (err ? reject(err) : resolve(stdout)),
      );
    });
    const num = (re: RegExp) => Number(re.exec(out)?.[1] ?? 0);
    const p99 = /99%\s+([\d.]+)(us|ms|s)\b/.exec(out);
    const p99Ms = p99 ? Number(p99[1]) * ({ us: 0.001, ms: 1, s: 1000 } as Record<string, number>)[p99[2]!]! : NaN;
    const socketErrors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
    return {
      reqPerSec: num(/Requests\/sec:\s+([\d.]+)/),
      requests: num(/(\d+) requests in /),
      p99Ms,
      non2xx: num(/Non-2xx or 3xx responses: (\d+)/),
      errors: socketErrors ? socketErrors.slice(1).reduce((sum, n) => sum + Number(n), 0) : 0,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function overHttp(
  server: { port: number; pid: number | undefined },
  urlPath: string,
  bodies: string[],
): Promise<HttpResult> {
  const { port } = server;
  await autocannon({
    url: `http://127.0.0.1:${port}`,
    connections: 8,
    duration: 2,
    requests: bodies
      .slice(0, 20)
      .map((body) => ({ method: 'POST', path: urlPath, headers: { 'content-type': 'application/fhir+json' }, body })),
  }); // warm-up
  const cpuBefore = serverCpuMs(server.pid);
  const max =
    GENERATOR === 'wrk'
      ? await wrkMax(port, urlPath, bodies)
      : await load(port, urlPath, bodies).then((r): MaxResult => ({
          reqPerSec: r.requests.average,
          requests: r.requests.total,
          p99Ms: r.latency.p99,
          non2xx: r.non2xx,
          errors: r.errors,
        }));
  const cpuAfter = serverCpuMs(server.pid);
  const fixed = await paced(port, urlPath, bodies, FIXED_RATE);
  return {
    maxReqPerSec: max.reqPerSec,
    maxP99Ms: max.p99Ms,
    serverCpuMsPerRequest:
      cpuBefore !== undefined && cpuAfter !== undefined && max.requests > 0
        ? (cpuAfter - cpuBefore) / max.requests
        : undefined,
    fixedRate: FIXED_RATE,
    fixedP50Ms: fixed.p50Ms,
    fixedP99Ms: fixed.p99Ms,
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
    `| (b) HTTP \`$apply\`, max throughput (${GENERATOR}, ${MAX_CONNECTIONS} connections, ${HTTP_SECONDS} s${serverLabel}) | ${fmt(apply.maxReqPerSec, 0)} req/s (p99 ${fmt(apply.maxP99Ms, 0)} ms) | ≥ 500 req/s |`,
    `| (b) HTTP \`$apply\` at ${FIXED_RATE} req/s (paced, open loop) | p50 ${fmt(apply.fixedP50Ms, 1)} ms, p99 ${fmt(apply.fixedP99Ms, 1)} ms | p99 ≤ 50 ms |`,
    `| (c) bare Express parse + echo, max throughput (${GENERATOR}, same server) | ${fmt(bare.maxReqPerSec, 0)} req/s (p99 ${fmt(bare.maxP99Ms, 0)} ms) | (floor) |`,
    `| (c) bare Express at ${FIXED_RATE} req/s (paced, open loop) | p50 ${fmt(bare.fixedP50Ms, 1)} ms, p99 ${fmt(bare.fixedP99Ms, 1)} ms | (floor) |`,
    `| ratio \`$apply\` / bare throughput | ${fmt(apply.maxReqPerSec / bare.maxReqPerSec, 2)} | |`,
    ...(apply.serverCpuMsPerRequest !== undefined && bare.serverCpuMsPerRequest !== undefined
      ? [
          `| server CPU per request during the max-throughput runs (from /proc): \`$apply\` / bare | ${fmt(apply.serverCpuMsPerRequest, 2)} ms / ${fmt(bare.serverCpuMsPerRequest, 2)} ms (≈ ${fmt(1000 / apply.serverCpuMsPerRequest, 0)} \`$apply\`/s per whole core) | |`,
        ]
      : []),
    `| non-2xx / errors during the HTTP runs | ${apply.non2xx + bare.non2xx} / ${apply.errors + bare.errors} | 0 / 0 |`,
  ].join('\n');
}

/** Put `md` between `<!-- bench:<name>:start -->` and its end marker in docs/benchmarks.md (when the doc has them). */
function writeDocTable(name: string, md: string): void {
  const docPath = path.join(ROOT, 'docs', 'benchmarks.md');
  try {
    const doc = readFileSync(docPath, 'utf8');
    const markers = new RegExp(`<!-- bench:${name}:start -->[\\s\\S]*<!-- bench:${name}:end -->`);
    const replaced = doc.replace(markers, () => `<!-- bench:${name}:start -->\n${md}\n<!-- bench:${name}:end -->`);
    if (replaced !== doc) writeFileSync(docPath, replaced);
  } catch {
    // No doc to update: the printed table is the result.
  }
}

async function launch() {
  console.log('launch: EHR launch → interactive form in Chromium ...');
  const result = await launchBench();
  mkdirSync(path.join(ROOT, 'bench', 'results'), { recursive: true });
  writeFileSync(path.join(ROOT, 'bench', 'results', 'launch.raw.json'), JSON.stringify(result, null, 2));
  const md = launchTable(result);
  console.log(`\n${md}\n`);
  writeDocTable('launch', md);
}

async function replicas() {
  const md = await replicasBench();
  console.log(`\n${md}\n`);
  writeDocTable('replicas', md);
}

async function main() {
  if (process.argv.includes('launch')) return launch();
  if (process.argv.includes('replicas')) return replicas();
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
    const apply = await overHttp(server, '/fhir/PlanDefinition/back-pain-follow-up/$apply', bodies);
    console.log('(c) bare Express ...');
    const bare = await overHttp(server, '/bare', bodies);

    loadSamples.push(os.loadavg()[0]!);
    const machine = `${os.cpus()[0]?.model ?? 'unknown CPU'}, ${os.availableParallelism()} cores, Node ${process.version}, ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC`;
    const load = `machine load (1-min load average) during the run ${fmt(Math.min(...loadSamples), 1)}–${fmt(Math.max(...loadSamples), 1)} on ${os.availableParallelism()} cores`;
    const md = `Measured by \`${WORKERS > 1 ? `WORKERS=${WORKERS} ` : ''}npm run bench\` on ${machine}; run took ${Math.round((Date.now() - started) / 1000)} s; ${load}. Server log level \`warn\` (no per-request line); body size ≈ ${Math.round(bodies.reduce((s, b) => s + b.length, 0) / bodies.length / 1024)} KB.\n\n${table(a, apply, bare)}`;
    console.log(`\n${md}\n`);
    mkdirSync(path.join(ROOT, 'bench', 'results'), { recursive: true });
    writeFileSync(
      path.join(ROOT, 'bench', 'results', 'latest.raw.json'),
      JSON.stringify(
        {
          machine,
          workers: WORKERS,
          generator: GENERATOR,
          loadAverage: { min: Math.min(...loadSamples), max: Math.max(...loadSamples) },
          inProcess: { n: a.n, medianMs: a.medianMs, p99Ms: a.p99Ms, validationMedianMs: a.validationMedianMs },
          apply,
          bare,
        },
        null,
        2,
      ),
    );
    writeDocTable('results', md);
  } finally {
    server.stop();
  }
  if (process.env.BENCH_LAUNCH !== '0') await launch();
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
