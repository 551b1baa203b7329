/**
 * What browsers and proxies may keep, per kind of answer, over real HTTP: files under a versioned URL for a year
 * (`immutable`), one ETag per compressed representation; pages, the launch, the API and the tablet's service
 * worker never as immutable; a changed file gets a new URL. The launch says where its time went (Server-Timing).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import { expect } from '../support/expect.js';
import { assetVersion } from '../../src/platform/lforms/assets.js';
import { startAppHarness, type AppHarness } from './harness.js';
import { apiLaunch } from './launch-support.js';

let h: AppHarness;
beforeAll(async () => {
  h = await startAppHarness();
});
afterAll(async () => {
  await h?.close();
});

const IMMUTABLE = 'public, max-age=31536000, immutable';
const get = (p: string, headers: Record<string, string> = {}) =>
  fetch(`${h.baseUrl}${p}`, { redirect: 'manual', headers });

/** Every same-origin script, style and module preload the page names. */
async function pageFiles(page: string): Promise<string[]> {
  const html = await (await get(page)).text();
  return [...html.matchAll(/<(?:script|link)\b[^>]*?\b(?:src|href)="(\/[^"]+)"/g)].map((m) => m[1]!);
}

describe('cache headers, per kind of answer', () => {
  it('versioned files (the app, the shared modules, LHC-Forms): a year, immutable, compressed, varying by encoding', async () => {
    const files = await pageFiles('/app/ui');
    const app = files.find((f) => /^\/app\/assets\/[0-9a-f]{12}\/app\.js$/.test(f));
    expect(app).toBeDefined();
    expect(files.some((f) => f.startsWith('/app/lforms/40.1.3/'))).toBe(true);
    for (const f of [...files, app!.replace('/app.js', '/shared/lforms-helpers.js')]) {
      expect(f, 'every file the page loads is under a versioned URL').toMatch(
        /^\/app\/(assets\/[0-9a-f]{12}|lforms\/\d+\.\d+\.\d+)\//,
      );
      const res = await get(f, { 'accept-encoding': 'gzip, deflate, br' });
      expect(res.status, f).toBe(200);
      expect(res.headers.get('cache-control'), f).toBe(IMMUTABLE);
      expect(res.headers.get('vary'), f).toMatch(/accept-encoding/i);
      expect(res.headers.get('content-encoding'), f).toBe('br');
    }
  });

  it('one ETag per representation: a revalidation never gets the bytes of another encoding', async () => {
    const [file] = (await pageFiles('/app/ui')).filter((f) => f.endsWith('/main.js'));
    const br = await get(file!, { 'accept-encoding': 'br' });
    const gzip = await get(file!, { 'accept-encoding': 'gzip' });
    const plain = await get(file!, { 'accept-encoding': 'identity' });
    expect(gzip.headers.get('content-encoding')).toBe('gzip');
    expect(plain.headers.get('content-encoding')).toBeNull();
    const tags = [br, gzip, plain].map((r) => r.headers.get('etag'));
    expect(new Set(tags).size).toBe(3);
    expect((await get(file!, { 'accept-encoding': 'br', 'if-none-match': tags[0]! })).status).toBe(304);
    expect((await get(file!, { 'accept-encoding': 'gzip', 'if-none-match': tags[0]! })).status).toBe(200);
  });

  it('pages, the launch, the callback, the API and errors: never stored', async () => {
    for (const page of ['/app/', '/app/ui', '/tablet/'])
      expect((await get(page)).headers.get('cache-control'), page).toBe('no-store');
    const iss = encodeURIComponent(h.ehr.fhirBaseUrl);
    expect((await get(`/app/login?iss=${iss}`)).headers.get('cache-control')).toBe('no-store');
    expect((await get('/app/callback?state=unknown&code=x')).headers.get('cache-control')).toBe('no-store');
    const { session } = await apiLaunch(h, 'sandbox-patient-4');
    for (const api of [
      '/app/api/context',
      '/app/api/questionnaire',
      '/app/api/form',
      '/app/api/patients/sandbox-patient-4/intakes',
    ]) {
      const res = await get(api, { 'x-session': session });
      expect(res.status, api).toBe(200);
      expect(res.headers.get('cache-control'), api).toBe('no-store');
    }
    expect((await get('/app/api/context')).headers.get('cache-control')).toBe('no-store'); // 401
  });

  it("the tablet: its versioned files as the app's; its service worker (same URL every release) revalidated, never immutable", async () => {
    const files = await pageFiles('/tablet/');
    expect(files.length).toBeGreaterThan(3);
    for (const f of files)
      expect((await get(f, { 'accept-encoding': 'br' })).headers.get('cache-control'), f).toBe(IMMUTABLE);
    const worker = await get('/tablet/sw.js');
    expect(worker.status).toBe(200);
    expect(worker.headers.get('cache-control')).toBe('no-cache');
  });

  it("the app's service worker: revalidated (same URL every release), and it caches exactly the files the page loads, nothing else", async () => {
    const worker = await get('/app/sw.js');
    expect(worker.status).toBe(200);
    expect(worker.headers.get('content-type')).toMatch(/^text\/javascript/);
    expect(worker.headers.get('cache-control')).toBe('no-cache');
    const etag = worker.headers.get('etag')!;
    expect((await get('/app/sw.js', { 'if-none-match': etag })).status).toBe(304);
    const release = JSON.parse(/^const RELEASE = (.*);$/m.exec(await worker.text())![1]!) as {
      cache: string;
      scope: string;
      files: string[];
    };
    expect(release.scope).toBe('/app/ui');
    expect(release.cache).toMatch(/^lforms-page-scripts-[0-9a-f]{12}$/);
    expect(release.files.sort()).toEqual([...new Set(await pageFiles('/app/ui'))].sort());
    for (const f of release.files)
      expect(f, 'only versioned files: never a page or an API answer').toMatch(
        /^\/app\/(assets\/[0-9a-f]{12}|lforms\/\d+\.\d+\.\d+)\//,
      );
  });

  it('a file of an earlier release (an unknown version) is a 404 that is not kept', async () => {
    const res = await get('/app/assets/000000000000/app.js');
    expect(res.status).toBe(404);
    expect(res.headers.get('cache-control') ?? '').not.toContain('immutable');
  });
});

describe('preloading', () => {
  it("the page names every module of its import graph for preloading, and runs its own modules before LHC-Forms' scripts", async () => {
    const html = await (await get('/app/ui')).text();
    const preloaded = new Set([...html.matchAll(/<link rel="modulepreload" href="([^"]+)">/g)].map((m) => m[1]!));
    const entry = /<script type="module" src="([^"]+)"/.exec(html)![1]!;
    const graph = new Set<string>();
    const visit = async (url: string): Promise<void> => {
      if (graph.has(url)) return;
      graph.add(url);
      const source = await (await get(url)).text();
      for (const m of source.matchAll(/^\s*import\b[^'"]*['"](\.{1,2}\/[^'"]+)['"]/gm))
        await visit(new URL(m[1]!, `http://x${url}`).pathname);
    };
    await visit(entry);
    expect(graph.size).toBeGreaterThan(5);
    const missing = [...graph].filter((u) => u !== entry && !preloaded.has(u));
    expect(missing, 'modules the page imports without preloading them').toEqual([]);
    expect(html.indexOf(entry)).toBeLessThan(html.indexOf('/lforms/40.1.3/webcomponent/main.js'));
  });
});

describe('versioned URLs', () => {
  it('a changed file gets a new URL: the version is a hash of the files', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'asset-version-'));
    try {
      fs.writeFileSync(path.join(dir, 'app.js'), 'export const a = 1;\n');
      fs.writeFileSync(path.join(dir, 'app.css'), 'body { color: black }\n');
      const before = assetVersion(dir);
      expect(assetVersion(dir)).toBe(before);
      fs.writeFileSync(path.join(dir, 'app.css'), 'body { color: navy }\n');
      const after = assetVersion(dir);
      expect(after).toMatch(/^[0-9a-f]{12}$/);
      expect(after).not.toBe(before);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('Server-Timing', () => {
  it('the callback says how long the token exchange took; the form how long $populate and the EHR reads took', async () => {
    let callbackTiming: string | null = null;
    // The launch over plain HTTP, stopping at the callback to read its headers.
    const created = (await (
      await fetch(`${h.baseUrl}/ehr/launches`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ practitioner: 'sandbox-clinician', patient: 'sandbox-patient-4', app: 'periplan-app' }),
      })
    ).json()) as { url: string };
    const cookies: string[] = [];
    let next = created.url;
    for (let i = 0; i < 10; i++) {
      const res = await fetch(next, { redirect: 'manual', headers: { cookie: cookies.join('; ') } });
      for (const c of res.headers.getSetCookie()) cookies.push(c.split(';')[0]!);
      if (new URL(next).pathname === '/app/launch')
        expect(res.headers.get('server-timing')).toMatch(/\bdiscovery;dur=[\d.]+/);
      if (new URL(next).pathname === '/app/callback') {
        callbackTiming = res.headers.get('server-timing');
        break;
      }
      next = new URL(res.headers.get('location')!, next).href;
    }
    expect(callbackTiming).toMatch(/\btoken;dur=[\d.]+/);
    const { session } = await apiLaunch(h, 'sandbox-patient-4');
    const form = await get('/app/api/form?fresh=1', { 'x-session': session });
    expect(form.headers.get('server-timing')).toMatch(/\bpopulate;dur=[\d.]+/);
    expect(form.headers.get('server-timing')).toMatch(/\behr;dur=[\d.]+/);
    const context = await get('/app/api/context', { 'x-session': session });
    expect(context.headers.get('server-timing')).toMatch(/\behr;dur=[\d.]+/);
  });
});
