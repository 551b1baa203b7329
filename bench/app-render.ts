/**
 * Clinician app render benchmark (real Chromium), in one run:
 *
 *   1. launch -> interactive form: from navigating to the EHR launch URL (`/app/launch?iss&launch`, the
 *      redirect the EHR sends) until the LHC-Forms form is on screen and usable (`data-form-ready`);
 *      cold (empty cache) and warm;
 *   2. form render time in the app versus a bare page that renders the SAME Questionnaire and pre-filled
 *      response with LHC-Forms alone (same files, same server settings): `addFormToPage` start -> resolved,
 *      and page load -> form ready. Target: app / bare <= 1.2;
 *   3. bytes of JS and CSS shipped, compressed (brotli, as the browser receives them) and raw;
 *   4. the worklist API with FLAGS (default 3000) tagged Flags in the EHR: first page, a deep page, a filter.
 *
 *   npx tsx bench/app-render.ts            (RUNS=7 by default; writes bench/results/app-render.raw.json)
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { chromium, type Page } from 'playwright-core';
import { LFORMS_DIR, LFORMS_FILES, LFORMS_VERSION, staticFiles } from '../src/platform/lforms/assets.js';
import { FLAG_PRIORITY_SYSTEM, FLAG_SYSTEM } from '../src/clinician-app/worklist.js';
import { startAppHarness } from '../test/clinician-app/harness.js';
import { CHROMIUM_ARGS, CHROMIUM_PATH, sandboxLaunchUrl } from './launch-support.js';

const RUNS = Number(process.env.RUNS ?? 7);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const round = (x: number) => Math.round(x * 10) / 10;

const h = await startAppHarness();
const browser = await chromium.launch({
  executablePath: CHROMIUM_PATH,
  headless: true,
  args: CHROMIUM_ARGS,
});

const renderMs = (page: Page, start: string, end: string) =>
  page.evaluate(
    ([s, e]) => {
      const m = performance.getEntriesByName(s!)[0]!;
      const done = performance.getEntriesByName(e!)[0]!;
      return done.startTime - m.startTime;
    },
    [start, end],
  );

// ---- 1 + 2a: the app -------------------------------------------------------------------------------
const launchCold: number[] = [];
const launchWarm: number[] = [];
const appRender: number[] = [];
const appLoadToReady: number[] = [];
let questionnaire: unknown;
let prefilled: unknown;
let bytes: { url: string; encoded: number; decoded: number }[] = [];
let sessionHandle = '';
const warmContext = await browser.newContext();
for (let i = 0; i < RUNS; i++) {
  for (const cold of [true, false]) {
    const context = cold ? await browser.newContext() : warmContext;
    const page = await context.newPage();
    const url = await sandboxLaunchUrl(h, 'sandbox-patient-4');
    const t0 = Date.now();
    await page.goto(url);
    await page.waitForSelector('body[data-form-ready="1"]', { timeout: 30_000 });
    const elapsed = Date.now() - t0;
    (cold ? launchCold : launchWarm).push(elapsed);
    if (!cold) {
      appRender.push(await renderMs(page, 'periplan-form-render-start', 'periplan-form-rendered'));
      appLoadToReady.push(
        await page.evaluate(() => performance.getEntriesByName('periplan-form-interactive')[0]!.startTime),
      );
    }
    if (cold && i === 0) {
      bytes = await page.evaluate(() =>
        (performance.getEntriesByType('resource') as PerformanceResourceTiming[])
          .filter((r) => /\.(js|css)(\?|$)/.test(r.name))
          .map((r) => ({ url: new URL(r.name).pathname, encoded: r.encodedBodySize, decoded: r.decodedBodySize })),
      );
      const s = JSON.parse((await page.evaluate(() => sessionStorage.getItem('periplan.session')))!) as {
        session: string;
      };
      sessionHandle = s.session;
      questionnaire = await (
        await fetch(`${h.baseUrl}/app/api/questionnaire`, { headers: { 'x-session': s.session } })
      ).json();
      prefilled = (
        (await (await fetch(`${h.baseUrl}/app/api/form?fresh=1`, { headers: { 'x-session': s.session } })).json()) as {
          response: unknown;
        }
      ).response;
    }
    await page.close();
    if (cold) await context.close();
  }
}

// ---- 2b: the bare page (LHC-Forms alone, same files and compression) ----------------------------------
const bare = express();
const lforms = staticFiles(LFORMS_DIR);
bare.get(`/lforms/${LFORMS_VERSION}/*splat`, (req, res, next) =>
  lforms(req, res, ([] as string[]).concat(req.params.splat as string | string[]).join('/')) ? undefined : next(),
);
bare.get('/data.json', (_req, res) => res.json({ questionnaire, prefilled }));
bare.get('/bare.js', (_req, res) =>
  res.type('js').send(`(async () => {
  const { questionnaire, prefilled } = await (await fetch('/data.json')).json();
  while (!window.LForms?.Util?.addFormToPage) await new Promise((r) => setTimeout(r, 25));
  performance.mark('bare-render-start');
  await LForms.Util.addFormToPage(questionnaire, 'form', { fhirVersion: 'R4', questionnaireResponse: prefilled });
  performance.mark('bare-rendered');
  performance.mark('periplan-form-interactive');
  document.body.dataset.formReady = '1';
})();`),
);
bare.get('/', (_req, res) =>
  res.type('html').send(`<!doctype html><html lang="en"><head><meta charset="utf-8"><title>bare</title>
${LFORMS_FILES.css.map((f) => `<link rel="stylesheet" href="/lforms/${LFORMS_VERSION}/${f}">`).join('')}
${LFORMS_FILES.js.map((f) => `<script src="/lforms/${LFORMS_VERSION}/${f}" defer></script>`).join('')}
<script src="/bare.js" defer></script></head><body><div id="form"></div></body></html>`),
);
const bareServer = await new Promise<Server>((resolve) => {
  const s = bare.listen(0, '127.0.0.1', () => resolve(s));
});
const bareUrl = `http://127.0.0.1:${(bareServer.address() as AddressInfo).port}/`;
const bareRender: number[] = [];
const bareLoadToReady: number[] = [];
const bareContext = await browser.newContext();
for (let i = 0; i < RUNS + 1; i++) {
  const page = await bareContext.newPage();
  await page.goto(bareUrl);
  await page.waitForSelector('body[data-form-ready="1"]', { timeout: 30_000 });
  if (i > 0) {
    // first load only warms the cache, as for the app's warm runs
    bareRender.push(await renderMs(page, 'bare-render-start', 'bare-rendered'));
    bareLoadToReady.push(
      await page.evaluate(() => performance.getEntriesByName('periplan-form-interactive')[0]!.startTime),
    );
  }
  await page.close();
}

// ---- 4: worklist with thousands of flags ---------------------------------------------------------------
const FLAGS = Number(process.env.FLAGS ?? 3000);
const codes = ['emergency-assessment', 'imaging-follow-up', 'bone-density-scan'];
const tiers = ['PH', 'PM', 'PL'];
for (let i = 0; i < FLAGS; i++) {
  const code = codes[i % 3]!;
  h.ehr.store.create({
    resourceType: 'Flag',
    status: 'active',
    meta: {
      tag: [
        { system: FLAG_SYSTEM, code },
        { system: FLAG_PRIORITY_SYSTEM, code: tiers[(i >> 2) % 3]! },
      ],
    },
    code: { coding: [{ system: FLAG_SYSTEM, code }] },
    subject: { reference: `Patient/sandbox-patient-${1 + (i % 6)}` },
    period: { start: new Date(Date.UTC(2026, 0, 1) + i * 60_000).toISOString() },
  } as fhir4.Flag);
}
async function timeWorklist(query: string): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < 11; i++) {
    const t0 = performance.now();
    const res = await fetch(`${h.baseUrl}/app/api/worklist?${query}`, { headers: { 'x-session': sessionHandle } });
    await res.json();
    times.push(performance.now() - t0);
  }
  return round(median(times.slice(1)));
}
const worklistMs = {
  flags: FLAGS,
  tierFirstPage: await timeWorklist('sort=tier&page=1'),
  tierMiddlePage: await timeWorklist(`sort=tier&page=${Math.floor(FLAGS / 20 / 2)}`),
  dateFiltered: await timeWorklist('flag=bone-density-scan&sort=date&page=3'),
};

const totals = {
  encodedBytes: bytes.reduce((a, b) => a + b.encoded, 0),
  rawBytes: bytes.reduce((a, b) => a + b.decoded, 0),
};
const result = {
  date: new Date().toISOString(),
  runs: RUNS,
  launchToInteractiveFormMs: {
    coldMedian: median(launchCold),
    warmMedian: median(launchWarm),
    cold: launchCold,
    warm: launchWarm,
  },
  formRenderMs: {
    appMedian: round(median(appRender)),
    bareMedian: round(median(bareRender)),
    ratio: Math.round((median(appRender) / median(bareRender)) * 100) / 100,
    app: appRender.map(round),
    bare: bareRender.map(round),
  },
  pageLoadToFormReadyMs: { appMedian: round(median(appLoadToReady)), bareMedian: round(median(bareLoadToReady)) },
  jsCssBytes: { brotli: totals.encodedBytes, raw: totals.rawBytes, files: bytes },
  worklistApiMedianMs: worklistMs,
};
fs.mkdirSync(path.join(import.meta.dirname ?? 'bench', 'results'), { recursive: true });
fs.writeFileSync(
  path.join(import.meta.dirname ?? 'bench', 'results', 'app-render.raw.json'),
  JSON.stringify(result, null, 2),
);
console.log(JSON.stringify({ ...result, jsCssBytes: { brotli: totals.encodedBytes, raw: totals.rawBytes } }, null, 2));

await bareContext.close();
await warmContext.close();
await browser.close();
bareServer.close();
await h.close();
