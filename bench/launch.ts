/**
 * Launch benchmark (real Chromium, the composed server with the sandbox EHR): from the EHR's launch URL
 * (`/app/launch?iss&launch`, what the EHR opens) to an interactive intake form (`data-form-ready`), with
 * where the time goes. Each run is a new browser profile:
 *
 *   - first launch: empty HTTP cache;
 *   - repeat launch: the same profile, a new tab, a new launch (what a clinician does for the next patient).
 *
 * The breakdown comes from the browser's own clocks (Navigation, Resource and User Timing, all relative to
 * the start of the launch navigation, redirects included) and from the `Server-Timing` headers of the
 * launch, callback and API responses (token exchange, EHR reads, `$populate`):
 *
 *   redirects    launch → EHR authorization → callback (token exchange inside) → the page, until its request
 *   page         the HTML of the app
 *   assets       first to last JS/CSS response (zero bytes on the network when served from the cache)
 *   lforms ready the page's HTML received → LHC-Forms defined (download, parse, run)
 *   api chain    first to last API answer of the launch (hand-off, context, intakes, Questionnaire, form)
 *   render       `addFormToPage` start → resolved
 *
 * `npx tsx bench/launch.ts` (LAUNCH_RUNS, default 10); `npm run bench` runs it after the `$apply` part and writes
 * its table into docs/benchmarks.md between the `bench:launch` markers.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type BrowserContext, type Page, type Request } from 'playwright-core';
import { startAppHarness, type AppHarness } from '../test/clinician-app/harness.js';
import { launchCdpBrowser } from './cdp-browser.js';
import { CHROMIUM_ARGS, CHROMIUM_PATH, sandboxLaunchUrl } from './launch-support.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const PATIENT = 'sandbox-patient-4';
/**
 * How the bench drives Chromium. `cdp` (the default): over the DevTools protocol without enabling the Runtime
 * domain in the measured page, as a clinician's browser runs it (bench/cdp-browser.ts says why that matters);
 * `playwright`: through playwright-core, as the figures before 2026-12-04 15:00 UTC were measured.
 */
const DRIVER = process.env.LAUNCH_DRIVER === 'playwright' ? 'playwright' : 'cdp'; // no intake yet: every launch opens the form, pre-filled by $populate

export interface LaunchSample {
  totalMs: number;
  redirectsMs: number;
  redirects: number;
  tokenMs: number;
  pageMs: number;
  assetsMs: number;
  lformsReadyMs: number;
  apiChainMs: number;
  ehrMs: number;
  populateMs: number;
  renderMs: number;
  assetRequests: number;
  assetsFromNetwork: number;
  assetBytes: number;
  /** Same method and URL requested more than once in this launch. */
  duplicates: string[];
}

interface TimingEntry {
  name: string;
  duration: number;
}
interface BrowserSide {
  nav: { redirectStart: number; redirectEnd: number; redirectCount: number; fetchStart: number; responseEnd: number };
  marks: Record<string, number>;
  resources: {
    name: string;
    path: string;
    startTime: number;
    responseEnd: number;
    transferSize: number;
    serverTiming: TimingEntry[];
  }[];
}

const isAsset = (p: string) => /^\/app\/(assets|lforms)\//.test(p);
const isApi = (p: string) => p.startsWith('/app/api/');
const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
/** Summed durations of `name`; NaN when the server sent none (a server without Server-Timing). */
const serverTime = (entries: TimingEntry[], name: string) => {
  const found = entries.filter((e) => e.name === name);
  return found.length ? sum(found.map((e) => e.duration)) : NaN;
};

/** `Server-Timing: a;dur=1.2, b;dur=3` → entries (as the browser parses it, for responses it cannot expose: redirects). */
function parseServerTiming(header: string | undefined): TimingEntry[] {
  if (!header) return [];
  return header.split(',').map((part) => {
    const [name, ...params] = part.trim().split(';');
    const dur = params.map((p) => /^\s*dur=([\d.]+)/.exec(p)).find(Boolean);
    return { name: name!.trim(), duration: dur ? Number(dur[1]) : 0 };
  });
}

/** What a launch needs of the browser: the two ways of driving it (see `LAUNCH_DRIVER` above). */
interface DrivenPage {
  goto(url: string): Promise<void>;
  waitForFormReady(): Promise<void>;
  evaluate<T>(fn: () => T): Promise<T>;
  /** Every request of the page, the navigation's redirect hops included. */
  requests(): { method: string; url: string }[];
  /** The `Server-Timing` header of the callback's redirect. */
  callbackServerTiming(): Promise<string | undefined>;
  close(): Promise<void>;
}
interface Driver {
  newPage(): Promise<DrivenPage>;
  close(): Promise<void>;
}

const FORM_READY = 'body[data-form-ready="1"]';

async function playwrightDriver(userDataDir: string): Promise<Driver> {
  const context: BrowserContext = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM_PATH,
    headless: true,
    viewport: { width: 1366, height: 768 },
    args: CHROMIUM_ARGS,
  });
  return {
    async newPage() {
      const page: Page = await context.newPage();
      const requests: Request[] = [];
      page.on('request', (r) => requests.push(r));
      return {
        goto: async (url) => void (await page.goto(url)),
        waitForFormReady: async () => void (await page.waitForSelector(FORM_READY, { timeout: 60_000 })),
        evaluate: (fn) => page.evaluate(fn) as never,
        requests: () => requests.map((r) => ({ method: r.method(), url: r.url() })),
        callbackServerTiming: async () =>
          (await requests.find((r) => new URL(r.url()).pathname === '/app/callback')?.response())?.headers()[
            'server-timing'
          ],
        close: () => page.close(),
      };
    },
    close: () => context.close(),
  };
}

async function cdpDriver(): Promise<Driver> {
  const browser = await launchCdpBrowser(CHROMIUM_ARGS);
  return {
    async newPage() {
      const page = await browser.newPage();
      return {
        goto: (url) => page.navigate(url),
        waitForFormReady: () => page.waitFor(`document.querySelector('${FORM_READY}')`, 60_000),
        evaluate: (fn) => page.evaluate(`(${fn.toString()})()`),
        requests: () => page.requests,
        callbackServerTiming: async () =>
          page.requests.find((r) => new URL(r.url).pathname === '/app/callback')?.redirectHeaders?.['server-timing'],
        close: () => page.close(),
      };
    },
    close: () => browser.close(),
  };
}

async function launchOnce(h: AppHarness, driver: Driver): Promise<LaunchSample> {
  const url = await sandboxLaunchUrl(h, PATIENT);
  const page = await driver.newPage();
  await page.goto(url);
  await page.waitForFormReady();
  const side: BrowserSide = await page.evaluate(() => {
    const nav = performance.getEntriesByType('navigation')[0] as PerformanceNavigationTiming;
    return {
      nav: {
        redirectStart: nav.redirectStart,
        redirectEnd: nav.redirectEnd,
        redirectCount: nav.redirectCount,
        fetchStart: nav.fetchStart,
        responseEnd: nav.responseEnd,
      },
      marks: Object.fromEntries(performance.getEntriesByType('mark').map((m) => [m.name, m.startTime])),
      resources: (performance.getEntriesByType('resource') as PerformanceResourceTiming[]).map((r) => ({
        name: r.name,
        path: new URL(r.name).pathname,
        startTime: r.startTime,
        responseEnd: r.responseEnd,
        transferSize: r.transferSize,
        serverTiming: r.serverTiming.map((s) => ({ name: s.name, duration: s.duration })),
      })),
    };
  });
  // Minutes pass between two patients: let the page finish what it started in the background (the install of
  // its script-cache service worker) before the next launch, instead of timing that launch against it.
  await page.evaluate(() =>
    navigator.serviceWorker
      ?.getRegistration()
      .then((reg) =>
        reg?.installing || reg?.waiting
          ? Promise.race([navigator.serviceWorker.ready, new Promise((resolve) => setTimeout(resolve, 30_000))]).then(
              () => undefined,
            )
          : undefined,
      ),
  );
  // The redirect hops are not in Resource Timing: their Server-Timing comes from the network log.
  const callbackTiming = parseServerTiming(await page.callbackServerTiming());
  const requests = page.requests();
  const seen = new Map<string, number>();
  for (const r of requests) {
    const key = `${r.method} ${r.url}`;
    seen.set(key, (seen.get(key) ?? 0) + 1);
  }
  // The browser's own fetches (a favicon) are in Resource Timing but not in the page's network events.
  const fetched = new Map<string, number>();
  for (const r of side.resources) fetched.set(r.name, (fetched.get(r.name) ?? 0) + 1);
  for (const [name, n] of fetched) if (n > 1 && !requests.some((r) => r.url === name)) seen.set(`GET ${name}`, n);
  await page.close();

  const assets = side.resources.filter((r) => isAsset(r.path));
  const api = side.resources.filter((r) => isApi(r.path));
  const apiTiming = api.flatMap((r) => r.serverTiming);
  const mark = (name: string) => side.marks[name] ?? NaN;
  return {
    totalMs: mark('periplan-form-interactive'),
    redirectsMs: side.nav.redirectEnd - side.nav.redirectStart,
    redirects: side.nav.redirectCount,
    tokenMs: serverTime(callbackTiming, 'token'),
    pageMs: side.nav.responseEnd - side.nav.fetchStart,
    assetsMs: assets.length
      ? Math.max(...assets.map((a) => a.responseEnd)) - Math.min(...assets.map((a) => a.startTime))
      : 0,
    lformsReadyMs: mark('periplan-lforms-ready') - side.nav.responseEnd,
    apiChainMs: api.length ? Math.max(...api.map((a) => a.responseEnd)) - Math.min(...api.map((a) => a.startTime)) : 0,
    ehrMs: serverTime(apiTiming, 'ehr'),
    populateMs: serverTime(apiTiming, 'populate'),
    renderMs: mark('periplan-form-rendered') - mark('periplan-form-render-start'),
    assetRequests: assets.length,
    assetsFromNetwork: assets.filter((a) => a.transferSize > 0).length,
    assetBytes: sum(assets.map((a) => a.transferSize)),
    duplicates: [...seen].filter(([, n]) => n > 1).map(([k, n]) => `${k.replace(h.baseUrl, '')} ×${n}`),
  };
}

const quantile = (xs: number[], q: number) => {
  const s = xs.filter((x) => !Number.isNaN(x)).sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)]! : NaN;
};

export interface LaunchResult {
  date: string;
  runs: number;
  driver: 'cdp' | 'playwright';
  loadAverage: { min: number; max: number };
  first: LaunchSample[];
  repeat: LaunchSample[];
}

export async function launchBench(runs = Number(process.env.LAUNCH_RUNS ?? 10)): Promise<LaunchResult> {
  const h = await startAppHarness();
  const load: number[] = [os.loadavg()[0]!];
  const sampler = setInterval(() => load.push(os.loadavg()[0]!), 5000);
  const first: LaunchSample[] = [];
  const repeat: LaunchSample[] = [];
  try {
    // One launch to let the server discover the EHR and compile its paths: a clinic's server is long running.
    await runProfile(async (driver) => void (await launchOnce(h, driver)));
    for (let i = 0; i < runs; i++) {
      await runProfile(async (driver) => {
        first.push(await launchOnce(h, driver));
        repeat.push(await launchOnce(h, driver));
      });
      process.stdout.write(
        `launch ${i + 1}/${runs}: first ${Math.round(first.at(-1)!.totalMs)} ms, repeat ${Math.round(repeat.at(-1)!.totalMs)} ms\n`,
      );
    }
  } finally {
    clearInterval(sampler);
    await h.close();
  }
  load.push(os.loadavg()[0]!);
  return {
    date: new Date().toISOString(),
    runs,
    driver: DRIVER,
    loadAverage: { min: Math.min(...load), max: Math.max(...load) },
    first,
    repeat,
  };
}

async function runProfile(use: (driver: Driver) => Promise<void>): Promise<void> {
  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-launch-'));
  const driver = DRIVER === 'playwright' ? await playwrightDriver(userDataDir) : await cdpDriver();
  try {
    await use(driver);
  } finally {
    await driver.close();
    fs.rmSync(userDataDir, { recursive: true, force: true });
  }
}

const ms = (x: number) => (Number.isNaN(x) ? '—' : `${Math.round(x)}`);
const ROWS: [keyof LaunchSample, string][] = [
  ['totalMs', '**launch → interactive form**'],
  ['redirectsMs', 'redirects (launch, EHR authorization, callback)'],
  ['tokenMs', '… of which token exchange (server)'],
  ['pageMs', 'the page (HTML)'],
  ['assetsMs', 'JS + CSS, first request → last response'],
  ['lformsReadyMs', 'HTML received → LHC-Forms defined'],
  ['apiChainMs', 'API calls of the launch, first → last answer'],
  ['ehrMs', '… EHR reads (server, summed)'],
  ['populateMs', '… `$populate` (server)'],
  ['renderMs', 'LHC-Forms render (`addFormToPage`)'],
];

/** The markdown table: median / p90 of each part, first and repeat launch. */
export function launchTable(r: LaunchResult): string {
  const cell = (xs: LaunchSample[], k: keyof LaunchSample) => {
    const v = xs.map((s) => s[k] as number);
    return `${ms(quantile(v, 0.5))} / ${ms(quantile(v, 0.9))}`;
  };
  const bytes = (xs: LaunchSample[]) =>
    `${Math.round(
      quantile(
        xs.map((s) => s.assetBytes),
        0.5,
      ) / 1000,
    )} kB in ${quantile(
      xs.map((s) => s.assetsFromNetwork),
      0.5,
    )} of ${quantile(
      xs.map((s) => s.assetRequests),
      0.5,
    )} requests`;
  const dups = [...new Set([...r.first, ...r.repeat].flatMap((s) => s.duplicates))];
  return [
    `Measured by \`npx tsx bench/launch.ts\` (${r.runs} runs, each a new Chromium profile, driven ${r.driver === 'cdp' ? 'over the DevTools protocol without Runtime in the page' : 'by Playwright'}), ${r.date.slice(0, 16).replace('T', ' ')} UTC, ${os.cpus()[0]?.model ?? 'unknown CPU'}, ${os.availableParallelism()} cores; load average during the run ${r.loadAverage.min.toFixed(1)}–${r.loadAverage.max.toFixed(1)}. Milliseconds, median / p90.`,
    '',
    '| | first launch (empty cache) | repeat launch (same profile) |',
    '|---|---|---|',
    ...ROWS.map(([k, label]) => `| ${label} | ${cell(r.first, k)} | ${cell(r.repeat, k)} |`),
    `| JS + CSS over the network (median) | ${bytes(r.first)} | ${bytes(r.repeat)} |`,
    `| requests made twice in one launch | ${dups.length ? dups.join(', ') : 'none'} | |`,
  ].join('\n');
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const result = await launchBench();
  fs.mkdirSync(path.join(ROOT, 'bench', 'results'), { recursive: true });
  fs.writeFileSync(
    path.join(ROOT, 'bench', 'results', process.env.LAUNCH_OUT ?? 'launch.raw.json'),
    JSON.stringify(result, null, 2),
  );
  console.log(`\n${launchTable(result)}\n`);
}
