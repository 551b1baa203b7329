/**
 * Where the browser's time goes in one launch (a first launch with an empty cache, then a repeat launch in the
 * same profile), from a Chrome trace: compile (and whether V8's code cache was used), top-level run of each
 * script, garbage collection, style and layout, and the functions that took the most self time while
 * LHC-Forms rendered the form (a CPU profile of `addFormToPage`).
 *
 * `npx tsx bench/launch-profile.ts` (PROFILE_REPEATS: how many repeat launches, default 2; TRACE_OUT: a folder
 * to keep the raw traces in, to open in the DevTools Performance panel).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium, type BrowserContext, type CDPSession } from 'playwright-core';
import { startAppHarness, type AppHarness } from '../test/clinician-app/harness.js';
import { CHROMIUM_ARGS, CHROMIUM_PATH, sandboxLaunchUrl } from './launch-support.js';

const PATIENT = 'sandbox-patient-4';
// TRACE_CATEGORIES=light: no devtools.timeline (its events carry JS stack traces, which make V8 collect source
// positions: hundreds of milliseconds that a launch without tracing does not spend).
const CATEGORIES =
  process.env.TRACE_CATEGORIES === 'light'
    ? ['v8', 'v8.execute', 'disabled-by-default-v8.compile', 'blink.user_timing', 'toplevel']
    : [
        'devtools.timeline',
        'v8',
        'v8.execute',
        'disabled-by-default-devtools.timeline',
        'disabled-by-default-v8.compile',
        'blink',
        'loading',
        'ServiceWorker',
        'blink.user_timing',
      ];

interface TraceEvent {
  name: string;
  ph: string;
  ts: number;
  dur?: number;
  pid: number;
  tid: number;
  args?: { data?: Record<string, unknown>; [k: string]: unknown };
}

async function traced(session: CDPSession, run: () => Promise<void>): Promise<TraceEvent[]> {
  const events: TraceEvent[] = [];
  session.on('Tracing.dataCollected', (e) => void events.push(...(e.value as unknown as TraceEvent[])));
  const done = new Promise<void>((resolve) => session.once('Tracing.tracingComplete', () => resolve()));
  await session.send('Tracing.start', {
    traceConfig: { includedCategories: CATEGORIES, recordMode: 'recordAsMuchAsPossible' },
    transferMode: 'ReportEvents',
  });
  await run();
  await session.send('Tracing.end');
  await done;
  return events;
}

const short = (url: unknown) =>
  typeof url === 'string' && url
    ? url.replace(/^https?:\/\/[^/]+/, '').replace(/\/(assets|lforms)\/[^/]+\//, '/$1/…/')
    : '(inline)';

function summarise(label: string, events: TraceEvent[], marks: Record<string, number>) {
  const complete = events.filter((e) => e.ph === 'X' && typeof e.dur === 'number');
  const byScript = new Map<
    string,
    { compile: number; cacheConsumed: number; cacheProduced: number; run: number; rejected: boolean; streamed: boolean }
  >();
  const row = (url: string) =>
    byScript.get(url) ??
    byScript
      .set(url, { compile: 0, cacheConsumed: 0, cacheProduced: 0, run: 0, rejected: false, streamed: false })
      .get(url)!;
  for (const e of complete) {
    const d = e.args?.data ?? {};
    const ms = e.dur! / 1000;
    if (e.name === 'v8.compile' || e.name === 'v8.compileModule') {
      const r = row(short(d.url ?? (e.args as Record<string, unknown>)?.fileName));
      r.compile += ms;
      if (typeof d.consumedCacheSize === 'number') r.cacheConsumed = d.consumedCacheSize;
      if (d.cacheRejected) r.rejected = true;
      if (d.streamed) r.streamed = true;
    } else if (e.name === 'v8.produceCache' || e.name === 'v8.produceModuleCache') {
      row(short(d.url ?? (e.args as Record<string, unknown>)?.fileName)).cacheProduced += ms;
    } else if (e.name === 'EvaluateScript' || e.name === 'v8.evaluateModule') {
      row(short(d.url ?? (e.args as Record<string, unknown>)?.fileName)).run += ms;
    }
  }
  // Main-thread CPU time (trace `tdur`), less sensitive than wall time to what else runs on the machine.
  const interactive = events.find((e) => e.name === 'periplan-form-interactive');
  if (interactive) {
    const main = { pid: interactive.pid, tid: interactive.tid };
    const at = (name: string) => events.find((e) => e.name === name)?.ts ?? NaN;
    const origin = interactive.ts - Number((interactive.args?.data as { startTime?: number })?.startTime ?? 0) * 1000;
    const cpu = (from: number, to: number) =>
      complete
        .filter((e) => e.pid === main.pid && e.tid === main.tid && e.name === 'RunTask' && e.ts >= from && e.ts <= to)
        .reduce((a, e) => a + ((e as { tdur?: number }).tdur ?? 0) / 1000, 0);
    console.log(
      `main-thread CPU: page → LHC-Forms ready ${cpu(origin, at('periplan-lforms-ready')).toFixed(0)} ms, render ${cpu(at('periplan-form-render-start'), at('periplan-form-rendered')).toFixed(0)} ms, page → interactive ${cpu(origin, interactive.ts).toFixed(0)} ms`,
    );
  }
  const total = (names: string[]) =>
    complete.filter((e) => names.includes(e.name)).reduce((a, e) => a + e.dur! / 1000, 0);
  console.log(
    `\n== ${label}: interactive at ${Math.round(marks['periplan-form-interactive'] ?? NaN)} ms; lforms ready ${Math.round(marks['periplan-lforms-ready'] ?? NaN)}; render ${Math.round((marks['periplan-form-rendered'] ?? NaN) - (marks['periplan-form-render-start'] ?? NaN))} ms`,
  );
  console.log('script'.padEnd(44), 'compile', ' cache in', 'produce', '   run');
  for (const [url, r] of [...byScript].sort((a, b) => b[1].compile + b[1].run - (a[1].compile + a[1].run))) {
    if (r.compile + r.run + r.cacheProduced < 1) continue;
    console.log(
      url.slice(-44).padEnd(44),
      r.compile.toFixed(0).padStart(7),
      `${(r.cacheConsumed / 1024).toFixed(0)}k${r.rejected ? '!' : ''}`.padStart(9),
      r.cacheProduced.toFixed(0).padStart(7),
      r.run.toFixed(0).padStart(6),
      r.streamed ? '(streamed)' : '',
    );
  }
  console.log(
    'GC',
    total(['MinorGC', 'MajorGC', 'V8.GC_SCAVENGER', 'BlinkGC.AtomicPhase']).toFixed(0),
    'ms; style',
    total(['UpdateLayoutTree']).toFixed(0),
    'ms; layout',
    total(['Layout']).toFixed(0),
    'ms; paint',
    total(['Paint']).toFixed(0),
    'ms; parse HTML',
    total(['ParseHTML']).toFixed(0),
    'ms; parse CSS',
    total(['ParseAuthorStyleSheet']).toFixed(0),
    'ms; FunctionCall',
    total(['FunctionCall']).toFixed(0),
    'ms',
  );
}

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}

function topFunctions(
  profile: { nodes: ProfileNode[]; samples: number[]; timeDeltas: number[]; startTime: number },
  fromMs: number,
  toMs: number,
  count = 25,
) {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<string, number>();
  let t = profile.startTime;
  for (let i = 0; i < profile.samples.length; i++) {
    t += profile.timeDeltas[i]!;
    const ms = t / 1000;
    if (ms < fromMs || ms > toMs) continue;
    const n = byId.get(profile.samples[i]!)!;
    const key = `${n.callFrame.functionName || '(anonymous)'} ${short(n.callFrame.url)}:${n.callFrame.lineNumber}`;
    self.set(key, (self.get(key) ?? 0) + (profile.timeDeltas[i + 1] ?? 0) / 1000);
  }
  const sorted = [...self].sort((a, b) => b[1] - a[1]);
  const sum = sorted.reduce((a, [, v]) => a + v, 0);
  console.log(
    `  self time between ${fromMs.toFixed(0)} and ${toMs.toFixed(0)} (profiler clock), ${sum.toFixed(0)} ms sampled:`,
  );
  for (const [k, v] of sorted.slice(0, count)) console.log(`  ${v.toFixed(1).padStart(7)} ms  ${k.slice(0, 110)}`);
}

async function launch(h: AppHarness, context: BrowserContext, label: string, traceDir?: string) {
  const page = await context.newPage();
  const session = await context.newCDPSession(page);
  // The CPU profiler makes V8 collect source positions of every function it deserialises from a code cache
  // (seconds for LHC-Forms): PROFILE_CPU=0 for compile and run times as they are without it.
  const cpu = process.env.PROFILE_CPU !== '0';
  if (cpu) {
    await session.send('Profiler.enable');
    await session.send('Profiler.setSamplingInterval', { interval: 200 });
    await session.send('Profiler.start');
  }
  const url = await sandboxLaunchUrl(h, PATIENT);
  const events = await traced(session, async () => {
    await page.goto(url);
    await page.waitForSelector('body[data-form-ready="1"]', { timeout: 60_000 });
  });
  const profile = cpu
    ? ((await session.send('Profiler.stop')) as { profile: Parameters<typeof topFunctions>[0] }).profile
    : undefined;
  const marks = (await page.evaluate(() =>
    Object.fromEntries(performance.getEntriesByType('mark').map((m) => [m.name, m.startTime])),
  )) as Record<string, number>;
  const timeOrigin = (await page.evaluate(() => performance.timeOrigin)) as number;
  if (traceDir) {
    fs.writeFileSync(path.join(traceDir, `${label}.json`), JSON.stringify({ traceEvents: events }));
    if (profile) fs.writeFileSync(path.join(traceDir, `${label}.cpuprofile`), JSON.stringify(profile));
  }
  summarise(label, events, marks);
  // The profiler's clock is the monotonic one of the trace; find the render's start from its trace mark.
  const markEvent = (name: string) => events.find((e) => e.name === name && e.ph !== 'e');
  const start = markEvent('periplan-form-render-start');
  const end = markEvent('periplan-form-rendered');
  if (profile && start && end) topFunctions(profile, start.ts / 1000, end.ts / 1000);
  const ready = markEvent('periplan-lforms-ready');
  const nav = events.find((e) => e.name === 'navigationStart' || e.name === 'fetchStart');
  if (profile && ready && nav) {
    console.log('  (boot: navigation → LHC-Forms ready)');
    topFunctions(profile, nav.ts / 1000, ready.ts / 1000, 15);
  }
  void timeOrigin;
  await page.close();
}

const h = await startAppHarness();
const traceDir = process.env.TRACE_OUT;
if (traceDir) fs.mkdirSync(traceDir, { recursive: true });
const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'launch-profile-'));
const context = await chromium.launchPersistentContext(userDataDir, {
  executablePath: CHROMIUM_PATH,
  headless: true,
  viewport: { width: 1366, height: 768 },
  args: CHROMIUM_ARGS,
});
if (process.env.INIT_SCRIPT) await context.addInitScript(process.env.INIT_SCRIPT);
try {
  console.log(
    'load average',
    os
      .loadavg()
      .map((x) => x.toFixed(2))
      .join(' '),
  );
  await launch(h, context, 'first', traceDir);
  for (let i = 1; i <= Number(process.env.PROFILE_REPEATS ?? 2); i++) await launch(h, context, `repeat-${i}`, traceDir);
  console.log(
    'load average',
    os
      .loadavg()
      .map((x) => x.toFixed(2))
      .join(' '),
  );
} finally {
  await context.close();
  fs.rmSync(userDataDir, { recursive: true, force: true });
  await h.close();
}
