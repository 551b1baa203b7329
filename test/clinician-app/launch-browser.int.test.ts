/**
 * A launch in real Chromium, watched from the server: nothing the page needs is asked for twice, the EHR is
 * read at most once per resource and query, and a repeat launch in the same browser takes every static file
 * from the browser's cache (no request for them reaches the server): from the service worker's Cache Storage,
 * where Chromium keeps V8's compiled code of LHC-Forms from the first launch on.
 */
import type http from 'node:http';
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import { expect } from '../support/expect.js';
import type { Page } from 'playwright-core';
import { choose, launchFromEhr, openBrowser } from './browser-support.js';
import { startAppHarness, type AppHarness } from './harness.js';

let h: AppHarness;
let browser: Awaited<ReturnType<typeof openBrowser>>;
beforeAll(async () => {
  h = await startAppHarness();
  browser = await openBrowser();
}, 60_000);
afterAll(async () => {
  await browser?.close();
  await h?.close();
});

interface Seen {
  method: string;
  url: string;
}

/** Launch for the patient and wait for the interactive form, recording every request that reached the server meanwhile. */
async function watchedLaunch(patientName: string): Promise<{ page: Page; seen: Seen[] }> {
  const seen: Seen[] = [];
  const stop = h.onRequest((req: http.IncomingMessage) => seen.push({ method: req.method ?? '', url: req.url ?? '' }));
  try {
    const page = await launchFromEhr(browser.context, h.baseUrl, patientName);
    await page.waitForSelector('body[data-form-ready="1"]', { timeout: 60_000 });
    return { page, seen };
  } finally {
    stop();
  }
}

const repeated = (seen: Seen[]) => {
  const counts = new Map<string, number>();
  for (const s of seen) counts.set(`${s.method} ${s.url}`, (counts.get(`${s.method} ${s.url}`) ?? 0) + 1);
  return [...counts].filter(([, n]) => n > 1).map(([k, n]) => `${k} ×${n}`);
};
const isStatic = (url: string) => /^\/app\/(assets|lforms)\//.test(url) || url === '/favicon.ico';

describe('a launch in Chromium', () => {
  it('first launch: every file once, every EHR read once; repeat launch: no static file from the network, still one read each', async () => {
    // Agnieszka has no intake in the sandbox: each launch opens the intake form, pre-filled by $populate.
    const first = await watchedLaunch('Agnieszka Nowak');
    const pageRequests = first.seen.filter((s) => s.url.startsWith('/app/') || s.url === '/favicon.ico');
    expect(pageRequests.filter((s) => isStatic(s.url)).length).toBeGreaterThan(5);
    expect(repeated(pageRequests), 'the page asked for these twice').toEqual([]);
    const ehrReads = first.seen.filter(
      (s) => s.method === 'GET' && s.url.startsWith('/ehr/fhir/') && !s.url.includes('/.well-known/'),
    );
    expect(ehrReads.some((s) => s.url === '/ehr/fhir/Patient/sandbox-patient-2')).toBe(true);
    expect(repeated(ehrReads), 'the EHR was read twice for the same thing').toEqual([]);
    const fromNetwork = await first.page.evaluate(
      () =>
        (performance.getEntriesByType('resource') as PerformanceResourceTiming[]).filter(
          (r) => /\/app\/(assets|lforms)\//.test(r.name) && r.transferSize > 0,
        ).length,
    );
    expect(fromNetwork).toBeGreaterThan(5);
    // One API round trip before the form: the hand-off brings what the first view would have asked for next.
    const apiCalls = first.seen.filter((s) => s.url.startsWith('/app/api/')).map((s) => `${s.method} ${s.url}`);
    expect(apiCalls, 'API calls of the launch').toContain('POST /app/api/handoff');
    expect(
      apiCalls.filter((c) => /^GET \/app\/api\/(context|questionnaire|form|patients\/[^/]+\/intakes)\b/.test(c)),
      'asked again of the server although the hand-off brought it',
    ).toEqual([]);
    await first.page.close();

    const repeat = await watchedLaunch('Agnieszka Nowak');
    expect(
      repeat.seen.filter((s) => isStatic(s.url)).map((s) => s.url),
      'static files asked of the server on a repeat launch',
    ).toEqual([]);
    const cached = await repeat.page.evaluate(() =>
      (performance.getEntriesByType('resource') as PerformanceResourceTiming[])
        .filter((r) => /\/app\/(assets|lforms)\//.test(r.name))
        .map((r) => r.transferSize),
    );
    expect(cached.length).toBeGreaterThan(5);
    expect(cached.every((size) => size === 0)).toBe(true);
    const repeatReads = repeat.seen.filter((s) => s.method === 'GET' && s.url.startsWith('/ehr/fhir/'));
    expect(repeated(repeatReads), 'the EHR was read twice for the same thing').toEqual([]);
    await repeat.page.close();
  }, 180_000);

  it('what the hand-off sent ahead serves the first view only: the form opened again asks the server afresh', async () => {
    const { page } = await watchedLaunch('Agnieszka Nowak');
    const again: Seen[] = [];
    const stop = h.onRequest((req: http.IncomingMessage) =>
      again.push({ method: req.method ?? '', url: req.url ?? '' }),
    );
    try {
      await page.evaluate(() => (location.hash = '#/worklist'));
      await page.waitForSelector('#wl-count', { timeout: 10_000 });
      await page.evaluate(() => (location.hash = '#/form'));
      await page.waitForSelector('#main .lforms-container[aria-busy="false"]', { timeout: 10_000 });
    } finally {
      stop();
    }
    expect(again.map((s) => `${s.method} ${s.url}`)).toContain('GET /app/api/form');
    await page.close();
  }, 120_000);
});

describe('the script cache (service worker)', () => {
  it("the first launch leaves a worker holding the page's files; the next launch takes every one of them from it, and nothing else", async () => {
    const fresh = await openBrowser(); // a browser that has never seen the app
    try {
      const first = await launchFromEhr(fresh.context, h.baseUrl, 'Agnieszka Nowak');
      await first.waitForSelector('body[data-form-ready="1"]', { timeout: 60_000 });
      const cached = await first.evaluate(async () => {
        // Bounded, so that a page without a worker fails here rather than at the test's time limit.
        await Promise.race([
          navigator.serviceWorker.ready,
          new Promise((_, reject) => setTimeout(() => reject(new Error('no service worker became active')), 30_000)),
        ]);
        const names = await caches.keys();
        const keys = (await Promise.all(names.map(async (n) => (await caches.open(n)).keys()))).flat();
        return keys.map((r) => new URL(r.url).pathname).sort();
      });
      const shell = await (await fetch(`${h.baseUrl}/app/ui`)).text();
      const pageFiles = [
        ...new Set(
          [...shell.matchAll(/<(?:script|link)\b[^>]*?\b(?:src|href)="(\/[^"]+\.(?:js|css))"/g)].map((m) => m[1]!),
        ),
      ].sort();
      expect(pageFiles.length).toBeGreaterThan(10);
      expect(cached, 'the worker caches exactly the files the page loads').toEqual(pageFiles);
      await first.close();

      const repeat = await launchFromEhr(fresh.context, h.baseUrl, 'Agnieszka Nowak');
      await repeat.waitForSelector('body[data-form-ready="1"]', { timeout: 60_000 });
      const served = await repeat.evaluate(() =>
        (performance.getEntriesByType('resource') as (PerformanceResourceTiming & { deliveryType: string })[]).map(
          (r) => ({ path: new URL(r.name).pathname, from: r.deliveryType }),
        ),
      );
      const statics = served.filter((r) => /^\/app\/(assets|lforms)\//.test(r.path));
      expect(statics.length).toBeGreaterThan(10);
      expect(
        statics.filter((r) => r.from !== 'cache-storage'),
        "files not taken from the worker's cache",
      ).toEqual([]);
      // The launch's own API call is the hand-off (a POST); one GET besides, as a later view would make.
      await repeat.evaluate(async () => {
        const s = JSON.parse(sessionStorage.getItem('periplan.session') ?? '{}') as { session?: string };
        await (await fetch('/app/api/context', { headers: { 'x-session': s.session ?? '' } })).text();
      });
      const afterwards = await repeat.evaluate(() =>
        (performance.getEntriesByType('resource') as (PerformanceResourceTiming & { deliveryType: string })[]).map(
          (r) => ({ path: new URL(r.name).pathname, from: r.deliveryType }),
        ),
      );
      const api = afterwards.filter((r) => r.path.startsWith('/app/api/'));
      expect(api.map((r) => r.path)).toEqual(expect.arrayContaining(['/app/api/handoff', '/app/api/context']));
      expect(
        api.filter((r) => r.from === 'cache-storage'),
        'API answers never come from a cache',
      ).toEqual([]);
      await repeat.close();
    } finally {
      await fresh.close();
    }
  }, 180_000);
});

describe("LHC-Forms' start", () => {
  it('zone.js leaves the on… properties alone, and Angular still follows every click and keystroke', async () => {
    const { page } = await watchedLaunch('Agnieszka Nowak');
    const zonePatches = await page.evaluate(() =>
      performance
        .getEntriesByType('mark')
        .map((m) => m.name)
        .filter((n) => n.startsWith('Zone:')),
    );
    expect(zonePatches, 'zone.js patched addEventListener').toContain('Zone:EventTarget');
    expect(zonePatches, 'zone.js redefined every on… property').not.toContain('Zone:on_property');

    // A click and typed digits reach LHC-Forms' model (what the app submits) and its view (what the user sees).
    await choose(page, 'rf-fever', 'Y');
    const weight = page.locator('[id="weight-kg/1/1"]');
    await weight.fill('');
    await weight.pressSequentially('61.5');
    await weight.press('Tab');
    const answers = await page.evaluate(() => {
      type Item = { linkId: string; answer?: Record<string, unknown>[]; item?: Item[] };
      const qr = (
        window as unknown as {
          LForms: { Util: { getFormFHIRData(t: string, v: string, el: Element): { item: Item[] } } };
        }
      ).LForms.Util.getFormFHIRData('QuestionnaireResponse', 'R4', document.getElementById('lforms-form')!);
      const found: Record<string, unknown> = {};
      const walk = (items: Item[] = []) =>
        items.forEach((i) => {
          if (i.answer) found[i.linkId] = i.answer[0];
          walk(i.item);
        });
      walk(qr.item);
      return found;
    });
    expect((answers['rf-fever'] as { valueCoding?: { code?: string } })?.valueCoding?.code).toBe('Y');
    expect((answers['weight-kg'] as { valueDecimal?: number })?.valueDecimal).toBe(61.5);
    expect(await page.locator('[id="rf-fever/1/1|http://terminology.hl7.org/CodeSystem/v2-0136|Y"]').isChecked()).toBe(
      true,
    );
    await page.close();
  }, 120_000);
});
