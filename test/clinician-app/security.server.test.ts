/**
 * The app's launch and session rules over real HTTP (no browser): issuer allow-list, PKCE S256 and aud on
 * every authorization request, single-use state and hand-off codes, no session without the header, CSRF on
 * state-changing requests, no cross-origin calls, no tokens in any response, CSP, compressed long-cached assets.
 */
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startAppHarness, type AppHarness } from './harness.js';
import { apiLaunch } from './launch-support.js';

let h: AppHarness;
beforeAll(async () => {
  h = await startAppHarness();
});
afterAll(async () => {
  await h?.close();
});

const get = (path: string, headers: Record<string, string> = {}) =>
  fetch(`${h.baseUrl}${path}`, { redirect: 'manual', headers });
const launch = (patient?: string) => apiLaunch(h, patient);

describe('SMART launch', () => {
  it('refuses a launch without iss, or from an FHIR server it is not configured for', async () => {
    expect((await get('/app/launch?launch=x')).status).toBe(400);
    const res = await get(`/app/launch?iss=${encodeURIComponent('https://evil.example/fhir')}&launch=x`);
    expect(res.status).toBe(403);
    expect(await res.text()).toContain('not configured to work with');
  });

  it('always asks for PKCE S256, sends aud = iss, a state and a nonce; keeps tokens on the server', async () => {
    const { session, authorizeUrl } = await launch();
    const p = authorizeUrl.searchParams;
    expect(p.get('code_challenge_method')).toBe('S256');
    expect(p.get('code_challenge')).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(p.get('aud')).toBe(h.ehr.fhirBaseUrl);
    expect(p.get('state')!.length).toBeGreaterThanOrEqual(32);
    expect(p.get('nonce')).toBeTruthy();
    expect(p.get('scope')).toContain('launch');
    const ctx = await get('/app/api/context', { 'x-session': session });
    expect(ctx.status).toBe(200);
    const text = await ctx.text();
    expect(text).toContain('Agnieszka');
    const stored = (await h.app.store.getSession(session, Date.now()))!;
    expect(text).not.toContain(stored.tokens.access_token);
    expect(text).not.toMatch(/access_token|refresh_token|id_token/);
  });

  it('refuses a callback with an unknown or replayed state', async () => {
    const res = await get('/app/callback?code=abc&state=never-issued');
    expect(res.status).toBe(400);
    expect(await res.text()).toContain('unknown, used or expired');
  });
});

describe('sessions and CSRF', () => {
  it('needs the session header; a made-up handle is refused (no fixation: handles are only minted after a sign-in)', async () => {
    expect((await get('/app/api/context')).status).toBe(401);
    expect((await get('/app/api/context', { 'x-session': 'attacker-chosen-handle' })).status).toBe(401);
  });

  it('refuses state-changing requests without the CSRF token, or from another origin', async () => {
    const { session, csrf } = await launch();
    const body = JSON.stringify({ response: { resourceType: 'QuestionnaireResponse', status: 'in-progress' } });
    const noCsrf = await fetch(`${h.baseUrl}/app/api/draft`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json', 'x-session': session },
      body,
    });
    expect(noCsrf.status).toBe(403);
    const wrongCsrf = await fetch(`${h.baseUrl}/app/api/draft`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json', 'x-session': session, 'x-csrf-token': 'nope' },
      body,
    });
    expect(wrongCsrf.status).toBe(403);
    const crossOrigin = await fetch(`${h.baseUrl}/app/api/draft`, {
      method: 'PUT',
      headers: {
        'content-type': 'application/json',
        'x-session': session,
        'x-csrf-token': csrf,
        origin: 'https://evil.example',
      },
      body,
    });
    expect(crossOrigin.status).toBe(403);
    const ok = await fetch(`${h.baseUrl}/app/api/draft`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json', 'x-session': session, 'x-csrf-token': csrf },
      body,
    });
    expect(ok.status).toBe(200);
  });

  it('ends a session on logout', async () => {
    const { session, csrf } = await launch();
    expect(
      (
        await fetch(`${h.baseUrl}/app/api/logout`, {
          method: 'POST',
          headers: { 'x-session': session, 'x-csrf-token': csrf },
        })
      ).status,
    ).toBe(204);
    expect((await get('/app/api/context', { 'x-session': session })).status).toBe(401);
  });
});

describe('pages and assets', () => {
  it('sends a CSP without inline or eval scripts, framable only by the EHR origin', async () => {
    const res = await get('/app/');
    const csp = res.headers.get('content-security-policy')!;
    const scriptSrc = csp.split(';').find((d) => d.trim().startsWith('script-src'))!;
    expect(scriptSrc).not.toContain('unsafe-inline');
    expect(scriptSrc).not.toContain('unsafe-eval');
    expect(csp).toContain("frame-ancestors 'self'");
    expect(res.headers.get('x-frame-options')).toBeNull();
    expect(res.headers.get('cache-control')).toBe('no-store');
  });

  it("runs one inline script, zone.js's flags, first in the page and allowed by its hash alone (app and tablet)", async () => {
    for (const page of ['/app/', '/tablet/']) {
      const res = await get(page);
      const html = await res.text();
      const inline = [...html.matchAll(/<script>([^<]*)<\/script>/g)].map((m) => m[1]!);
      expect(inline).toEqual([expect.stringContaining('__Zone_disable_on_property = true')]);
      // Before every other script and style: zone.js reads the flag when it loads, and nothing blocks the parser first.
      expect(html.search(/<script\b/)).toBe(html.indexOf(`<script>${inline[0]}`));
      expect(html.search(/<script\b/)).toBeLessThan(html.search(/<link rel="stylesheet"/));
      const scriptSrc = res.headers
        .get('content-security-policy')!
        .split(';')
        .find((d) => d.trim().startsWith('script-src'))!;
      const hash = `'sha256-${createHash('sha256').update(inline[0]!).digest('base64')}'`;
      expect(scriptSrc.trim().split(/\s+/)).toEqual(['script-src', "'self'", hash]);
    }
  });

  it('serves LHC-Forms and its own files compressed and cached for a year', async () => {
    const html = await (await get('/app/')).text();
    const scripts = [...html.matchAll(/src="([^"]+\.js)"/g)].map((m) => m[1]!);
    expect(scripts.some((s) => s.includes('/lforms/40.1.3/webcomponent/main.js'))).toBe(true);
    for (const src of scripts) {
      const res = await get(src, { 'accept-encoding': 'br, gzip' });
      expect(res.status).toBe(200);
      expect(res.headers.get('content-encoding')).toBe('br');
      expect(res.headers.get('cache-control')).toContain('immutable');
    }
    expect((await get('/app/lforms/40.1.3/../../package.json')).status).toBe(404);
    expect((await get('/app/lforms/40.1.3/webcomponent/main.js.map')).status).toBe(404);
  });

  it('serves the Questionnaire without HTML renderings', async () => {
    const { session } = await launch();
    const q = await (await get('/app/api/questionnaire', { 'x-session': session })).text();
    expect(q).toContain('back-pain-intake');
    expect(q).not.toContain('rendering-xhtml');
  });
});
