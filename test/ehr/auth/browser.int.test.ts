/**
 * The launcher and the sandbox sign-in page in real Chromium, under helmet's CSP: no accessibility
 * violations (axe), keyboard reachable, the script runs (no CSP violation), the EHR launch opens the
 * app with iss + launch, and the standalone sign-in completes to the app's redirect URI.
 */
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { poll } from '../../support/poll.js';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import * as oidc from 'openid-client';
import { APP_SECRET, clientConfig, startHarness, type Harness } from './harness.js';
import { CHROMIUM_ARGS, CHROMIUM_PATH } from '../../support/chromium.js';

const axeSource = fs.readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
const screenshots = process.env.EHR_AUTH_SCREENSHOTS; // a folder, to look at the pages by eye

let h: Harness;
let chromiumBrowser: Browser;
/** A fresh context per test: no sign-in cookie or open tab of one test is seen by the next. */
let browser: BrowserContext;
/** The step a test is at, printed if it does not reach its end (a hang then names where it hung). */
let step = '';
const FINISHED = 'finished';
beforeAll(async () => {
  h = await startHarness();
  mountStubApp(h);
  // Playwright gives the browser a fresh, temporary profile folder (--user-data-dir) of its own.
  chromiumBrowser = await chromium.launch({
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: CHROMIUM_ARGS,
  });
});
beforeEach(async () => {
  step = 'new browser context';
  browser = await chromiumBrowser.newContext();
  // Each browser step fails on its own, naming it, well before the test's own timeout.
  browser.setDefaultTimeout(10_000);
});
afterEach(async () => {
  if (step !== FINISHED) console.error(`browser.int.test.ts: stopped at step "${step}" (${new Date().toISOString()})`);
  await browser?.close();
});
afterAll(async () => {
  await chromiumBrowser?.close();
  await h?.close();
});

/** axe-core violations of the page itself (`iframes: false`: a framed app is that app's business). */
async function axeViolations(page: Page) {
  step = `axe on ${page.url()}`;
  await page.evaluate(axeSource);
  return page.evaluate(async () => {
    type Axe = {
      run(
        context: unknown,
        options: unknown,
      ): Promise<{ violations: { id: string; help: string; nodes: unknown[] }[] }>;
    };
    const result = await (globalThis as unknown as { axe: Axe }).axe.run(document, { iframes: false });
    return result.violations.map((v) => `${v.id}: ${v.help} (${v.nodes.length})`);
  });
}

/**
 * A minimal SMART app at /app (the real one is another engineer's): /app/launch starts the authorization
 * with openid-client, /app/callback exchanges the code and shows the launch context. Its state lives in
 * this process keyed by `state`, not in a cookie, so it also works inside the EHR's iframe.
 */
function mountStubApp(harness: Harness): void {
  const pending = new Map<string, string>();
  harness.app.get('/app/launch', async (req, res) => {
    const config = await clientConfig(harness, 'periplan-app', APP_SECRET);
    const verifier = oidc.randomPKCECodeVerifier();
    const state = oidc.randomState();
    pending.set(state, verifier);
    const url = oidc.buildAuthorizationUrl(config, {
      redirect_uri: `${harness.baseUrl}/app/callback`,
      scope: 'launch openid fhirUser patient/Patient.rs',
      launch: String(req.query.launch),
      aud: String(req.query.iss),
      state,
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
    });
    res.redirect(url.href);
  });
  harness.app.get('/app/callback', async (req, res) => {
    const config = await clientConfig(harness, 'periplan-app', APP_SECRET);
    const state = String(req.query.state);
    const current = new URL(req.originalUrl, harness.baseUrl);
    const tokens = await oidc.authorizationCodeGrant(config, current, {
      pkceCodeVerifier: pending.get(state)!,
      expectedState: state,
    });
    res
      .type('html')
      .send(
        `<!doctype html><html lang="en"><head><title>Stub app</title></head><body><main><h1>Stub app</h1><p id="context">patient ${tokens.patient} banner ${tokens.need_patient_banner}</p></main></body></html>`,
      );
  });
}

function watchCsp(page: Page): string[] {
  const problems: string[] = [];
  page.on('console', (message) => {
    if (/Content Security Policy|Refused to/i.test(message.text())) problems.push(message.text());
  });
  page.on('pageerror', (error) => problems.push(error.message));
  return problems;
}

describe('launcher in Chromium', () => {
  it('is accessible, keyboard-first, CSP-clean, and opens the app as an EHR launch', async () => {
    const context = browser;
    const page = await context.newPage();
    const csp = watchCsp(page);
    step = 'open the launcher';
    await page.goto(`${h.baseUrl}/ehr`);
    expect(await axeViolations(page)).toEqual([]);
    step = 'pick and launch';

    await page.keyboard.press('Tab');
    expect(await page.evaluate(() => document.activeElement?.id)).toBe('practitioner');
    await page.selectOption('#practitioner', 'dr-jones');
    await page.selectOption('#patient', 'pat-b');
    // launcher.js ran (so the CSP let it) and describes the launch.
    await poll(() => page.textContent('#launch-summary')).toBe(
      'Dr Emma Jones — GP will open PeriPlan back pain (clinician app) for Beatrice Brown (born 1970-09-30).',
    );
    if (screenshots) await page.screenshot({ path: path.join(screenshots, 'launcher.png'), fullPage: true });

    const [appTab] = await Promise.all([context.waitForEvent('page'), page.click('button[type=submit]')]);
    // The tab went to the app's launch URL with iss + launch, and the (stub) app completed the launch.
    await appTab.waitForURL(/\/app\/callback\?/);
    expect(await appTab.textContent('#context')).toBe('patient pat-b banner true');
    expect(csp).toEqual([]);
    await page.close();
    step = FINISHED;
  });
});

describe('embedded launch in Chromium', () => {
  it('opens an EHR screen with its own patient banner and the app framed below it', async () => {
    const page = await browser.newPage();
    const csp = watchCsp(page);
    step = 'open the launcher, embedded';
    await page.goto(`${h.baseUrl}/ehr`);
    await page.selectOption('#practitioner', 'physio-lee');
    await page.selectOption('#patient', 'pat-a');
    await page.check('#display-embedded');
    const [ehrTab] = await Promise.all([browser.waitForEvent('page'), page.click('button[type=submit]')]);
    await ehrTab.waitForLoadState();
    expect(await ehrTab.textContent('.patient-banner h1')).toBe('Alice Archer');
    const frame = ehrTab.frames().find((f) => f !== ehrTab.mainFrame());
    expect(frame).toBeDefined();
    // The whole SMART launch runs inside the frame (same-site cookies) and ends with the launch context.
    await poll(() => frame!.url()).toMatch(/\/app\/callback\?code=/);
    await poll(() => frame!.textContent('#context').catch(() => '')).toBe('patient pat-a banner false');
    expect(await axeViolations(ehrTab)).toEqual([]);
    if (screenshots) await ehrTab.screenshot({ path: path.join(screenshots, 'embedded.png') });
    expect(csp).toEqual([]);
    await ehrTab.close();
    await page.close();
    step = FINISHED;
  });
});

describe('sandbox sign-in in Chromium (standalone launch)', () => {
  it('is accessible, picks clinician and patient by keyboard, and returns a code to the app', async () => {
    step = 'OpenID discovery';
    const config = await clientConfig(h, 'periplan-tablet');
    const verifier = oidc.randomPKCECodeVerifier();
    const redirect = `${h.baseUrl}/tablet/callback`;
    const authUrl = oidc.buildAuthorizationUrl(config, {
      redirect_uri: redirect,
      scope: 'launch/patient openid fhirUser patient/QuestionnaireResponse.cu',
      aud: h.fhirBaseUrl,
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state: 'st',
    });
    step = 'new page';
    const context = browser;
    const page = await context.newPage();
    const csp = watchCsp(page);
    step = 'open the sign-in page';
    await page.goto(authUrl.href);
    await poll(() => page.title()).toContain('Sign in');
    expect(await axeViolations(page)).toEqual([]);

    step = 'keyboard and an empty submit';
    await page.keyboard.press('Tab');
    expect(await page.evaluate(() => document.activeElement?.id)).toBe('practitioner');
    // An empty submit is blocked by the browser (`required`), which moves focus to the first empty field;
    // the server-side check and its error summary are covered in smart-launch.server.test.ts.
    await page.click('button.primary');
    expect(page.url()).toContain('/interaction/');
    expect(await page.evaluate(() => document.activeElement?.id)).toBe('practitioner');
    step = 'sign in';
    await page.selectOption('#practitioner', 'physio-lee');
    await page.selectOption('#patient', 'pat-a');
    if (screenshots) await page.screenshot({ path: path.join(screenshots, 'sign-in.png'), fullPage: true });
    const [callback] = await Promise.all([
      page.waitForRequest((r) => r.url().startsWith(redirect)),
      page.click('button.primary'),
    ]);
    const back = new URL(callback.url());
    expect(back.searchParams.get('code')).toBeTruthy();
    expect(back.searchParams.get('state')).toBe('st');
    expect(csp).toEqual([]);
    await page.close();
    step = FINISHED;
  });
});
