/**
 * The sandbox launcher signs a browser into an app as a chosen clinician for a chosen patient. Another site
 * must not be able to make a visitor's browser do that (login CSRF): cross-origin browser requests are
 * refused, and the HTML form needs the CSRF token of the launcher page (double submit, SameSite=Strict cookie).
 */
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import { expect } from '../support/expect.js';
import { LAUNCHER_CSRF_COOKIE } from '../../src/ehr/launcher/launcher.js';
import { startHarness, type Harness } from '../ehr/auth/harness.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => h?.close());

const launchFields = { practitioner: 'dr-jones', patient: 'pat-a', app: 'periplan-app' };

/** The launcher page's token and cookie, as the visitor's browser holds them. */
async function launcherPage(): Promise<{ csrf: string; cookie: string }> {
  const res = await fetch(`${h.baseUrl}/ehr`);
  const setCookie = res.headers.getSetCookie().find((c) => c.startsWith(`${LAUNCHER_CSRF_COOKIE}=`))!;
  expect(setCookie).toMatch(/HttpOnly/i);
  expect(setCookie).toMatch(/SameSite=Strict/i);
  const csrf = /name="csrf" value="([^"]+)"/.exec(await res.text())![1]!;
  return { csrf, cookie: setCookie.split(';')[0]! };
}

const formPost = (fields: Record<string, string>, headers: Record<string, string> = {}) =>
  fetch(`${h.baseUrl}/ehr/launch`, {
    method: 'POST',
    redirect: 'manual',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body: new URLSearchParams(fields).toString(),
  });

describe('launcher form (POST /ehr/launch)', () => {
  it('a cross-site form post (another site, no token) is refused: 403, no redirect to the app, no launch', async () => {
    const res = await formPost(launchFields, { origin: 'https://evil.example', 'sec-fetch-site': 'cross-site' });
    expect(res.status).toBe(403);
    expect(res.headers.get('location')).toBeNull();
    const html = await res.text();
    expect(html).toContain('role="alert"');
    expect(html).not.toContain('launch=');
  });

  it("refused from another site even with the visitor's cookie and a valid token", async () => {
    const { csrf, cookie } = await launcherPage();
    const res = await formPost({ ...launchFields, csrf }, { cookie, origin: 'https://evil.example' });
    expect(res.status).toBe(403);
    const viaFetchMetadata = await formPost({ ...launchFields, csrf }, { cookie, 'sec-fetch-site': 'same-site' });
    expect(viaFetchMetadata.status).toBe(403);
  });

  it('refused without the page token, or with a token that does not match the cookie', async () => {
    const { csrf, cookie } = await launcherPage();
    expect((await formPost(launchFields, { cookie })).status).toBe(403);
    expect((await formPost({ ...launchFields, csrf }, {})).status).toBe(403);
    const other = await launcherPage();
    expect((await formPost({ ...launchFields, csrf: other.csrf }, { cookie })).status).toBe(403);
  });

  it('the launcher page itself (same origin, its token and cookie) launches: 303 to the app', async () => {
    const { csrf, cookie } = await launcherPage();
    const res = await formPost(
      { ...launchFields, csrf },
      { cookie, origin: h.baseUrl, 'sec-fetch-site': 'same-origin' },
    );
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toContain(`${h.baseUrl}/app/launch?iss=`);
    // Under Referrer-Policy: no-referrer, Chromium posts the page's own form with Origin: null.
    const nullOrigin = await formPost(
      { ...launchFields, csrf },
      { cookie, origin: 'null', 'sec-fetch-site': 'same-origin' },
    );
    expect(nullOrigin.status).toBe(303);
  });

  it('Origin: null without fetch metadata (an old browser, a sandboxed frame) is refused', async () => {
    const { csrf, cookie } = await launcherPage();
    expect((await formPost({ ...launchFields, csrf }, { cookie, origin: 'null' })).status).toBe(403);
  });
});

describe('launch API (POST /ehr/launches)', () => {
  const jsonPost = (headers: Record<string, string>, body = JSON.stringify(launchFields)) =>
    fetch(`${h.baseUrl}/ehr/launches`, { method: 'POST', headers, body });

  it('refuses browser requests from another origin (403 OperationOutcome)', async () => {
    const attempts: Record<string, string>[] = [
      { origin: 'https://evil.example' },
      { 'sec-fetch-site': 'cross-site' },
      { 'sec-fetch-site': 'same-site' },
    ];
    for (const headers of attempts) {
      const res = await jsonPost({ 'content-type': 'application/json', ...headers });
      expect(res.status, JSON.stringify(headers)).toBe(403);
      expect(((await res.json()) as fhir4.OperationOutcome).resourceType).toBe('OperationOutcome');
    }
  });

  it('refuses a body that is not JSON (a form or text/plain post a page could send without preflight): 415', async () => {
    const res = await jsonPost({ 'content-type': 'text/plain' });
    expect(res.status).toBe(415);
    expect(((await res.json()) as fhir4.OperationOutcome).resourceType).toBe('OperationOutcome');
  });

  it('a local tool (no Origin, no fetch metadata) and the same origin still create launches', async () => {
    expect((await jsonPost({ 'content-type': 'application/json' })).status).toBe(201);
    expect(
      (await jsonPost({ 'content-type': 'application/json', origin: h.baseUrl, 'sec-fetch-site': 'same-origin' }))
        .status,
    ).toBe(201);
  });
});
