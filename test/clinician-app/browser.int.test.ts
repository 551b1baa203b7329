/**
 * The clinician app as a user drives it, in real Chromium: sandbox launcher -> EHR launch -> LHC-Forms
 * intake (clicking and typing) -> submit -> flags with their basis -> accept one proposal, dismiss another
 * -> worklist -> restart the server and find everything again. Then: the launch inside the EHR's iframe,
 * a standalone launch, a draft saved and resumed, an expired token. axe-core checks every main page;
 * screenshots go to test-results/clinician-app/.
 */
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { poll } from '../support/poll.js';
import type { BrowserContext, Frame, Page } from 'playwright-core';
import { startAppHarness, type AppHarness } from './harness.js';
import {
  agesSince,
  axeViolations,
  choose,
  fillIntake,
  hasExactText,
  hasText,
  launchFromEhr,
  openBrowser,
  sandboxBirthDate,
  SCREENSHOTS,
  typeInto,
} from './browser-support.js';

let h: AppHarness;
let browser: Awaited<ReturnType<typeof openBrowser>>;
let context: BrowserContext;
const cspViolations: string[] = [];

beforeAll(async () => {
  h = await startAppHarness();
  browser = await openBrowser();
  context = browser.context;
  // Any script or style the Content-Security-Policy blocks shows up as a console error.
  context.on('console', (m) => {
    if (/Content Security Policy/i.test(m.text())) cspViolations.push(m.text());
  });
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await h?.close();
});

const shot = (page: Page, name: string) =>
  page.screenshot({ path: path.join(SCREENSHOTS, `${name}.png`), fullPage: true });

async function formReady(target: Page | Frame) {
  await target.waitForSelector('body[data-form-ready="1"]', { timeout: 20_000 });
}

describe('clinician app in the browser', () => {
  let app: Page;
  let patientId: string;

  it('launches from the EHR, pre-fills the form and shows OST/ORAI', async () => {
    const launchedAt = new Date();
    app = await launchFromEhr(context, h.baseUrl, 'Priya Shah');
    await formReady(app);
    expect(app.url()).not.toContain('handoff'); // the single-use code is gone from the address bar
    await hasText(app.locator('#banner'), 'Priya Shah');
    await hasText(app.locator('#banner'), 'SBX-1004');
    const age = Number(await app.locator('[id="age/1/1"]').inputValue());
    expect(agesSince(sandboxBirthDate('Priya Shah'), launchedAt)).toContain(age);
    const weight = Number(await app.locator('[id="weight-kg/1/1"]').inputValue());
    expect(weight).toBeCloseTo(57.2, 1);
    // OST = trunc((weight - age) / 5), calculated in the form and visible to the clinician.
    await poll(() => app.locator('[id="ost-score/1/1"]').inputValue()).toBe(
      String(Math.trunc((weight - age) / 5) || 0),
    );
    expect(await app.locator('[id="orai-score/1/1"]').inputValue()).not.toBe('');
    // smart_style_url: the EHR's highlight colour and font are applied (as CSS custom properties).
    expect(await app.evaluate(() => document.documentElement.style.getPropertyValue('--highlight'))).toBe('#0b5cad');
    expect(await app.evaluate(() => document.documentElement.style.getPropertyValue('--font-body'))).toContain(
      'system-ui',
    );
    const session = await app.evaluate(() => sessionStorage.getItem('periplan.session'));
    expect(session).toMatch(/"session"/);
    expect(await app.content()).not.toMatch(/access_token|refresh_token/);
    await shot(app, '01-form');
    expect(await axeViolations(app)).toEqual([]);
    patientId = 'sandbox-patient-4';
  });

  it('validates before submitting, with clear messages', async () => {
    await app.click('#submit');
    await app.locator('#form-errors').waitFor({ state: 'visible' });
    await hasText(app.locator('#form-errors'), 'problem');
    expect(await app.evaluate(() => document.activeElement?.id)).toBe('form-errors');
  });

  it('submits and shows the flags with their basis, citations, rule id and intended use', async () => {
    await fillIntake(app, ['rf-cancer-history', 'rf-weight-loss', 'rf-steroids']);
    await app.click('#submit');
    await app.waitForURL(/#\/results\//, { timeout: 20_000 });
    await app.waitForSelector('article[data-rule="RF-04"]');
    const rf04 = app.locator('article[data-rule="RF-04"]');
    await hasExactText(rf04.locator('.tier'), 'Urgent');
    await hasText(rf04, 'cancer');
    await hasText(rf04.locator('ul.criteria'), 'Yes');
    expect(await rf04.locator('.citations a').first().getAttribute('href')).toMatch(/^https:\/\//);
    await hasText(rf04.locator('.audit'), 'Rule RF-04');
    await hasText(rf04.locator('.audit'), '|1.0.0');
    await hasText(app.locator('.intended-use'), 'not a diagnosis');
    await hasExactText(app.locator('article[data-rule="BMD-04"] .tier'), 'Soon');
    // sorted by tier: the urgent rule comes before the "soon" one
    const order = await app
      .locator('article[data-rule]')
      .evaluateAll((els) => els.map((e) => (e as HTMLElement).dataset.rule));
    expect(order.indexOf('RF-04')).toBeLessThan(order.indexOf('BMD-04'));
    await hasText(app.locator('#self-management-plan'), 'Stay active');
    await hasText(app.locator('.history-table'), '6');
    await shot(app, '02-results');
    expect(await axeViolations(app)).toEqual([]);
    expect(cspViolations).toEqual([]);
  });

  it('accepts one proposal and dismisses another with a coded reason; shows who and when', async () => {
    const rf04 = app.locator('article[data-rule="RF-04"]');
    await rf04.getByRole('button', { name: /^Accept MRI/ }).click();
    await hasText(app.locator('article[data-rule="RF-04"] .decision'), 'Accepted by Dr Adaeze Okafor');
    const rf05 = app.locator('article[data-rule="RF-05"]');
    await rf05.getByRole('button', { name: /^Dismiss/ }).click();
    await hasText(rf05.locator('.field-error'), 'Choose a reason');
    await rf05.getByLabel('Reason to dismiss').selectOption('already-done');
    await rf05.getByRole('button', { name: /^Dismiss/ }).click();
    await hasText(app.locator('article[data-rule="RF-05"] .decision'), 'Dismissed by Dr Adaeze Okafor');
    await hasText(app.locator('article[data-rule="RF-05"] .decision'), 'Already done');
    await shot(app, '03-decisions');
  });

  it('finds the patient on the worklist (filtered by flag, paged on the server) and opens her results', async () => {
    await app.click('a[data-nav="worklist"]');
    await app.waitForSelector('#wl-flag');
    // Her flags stay open until someone records what happened to her (deciding the proposals does not close them).
    await app.selectOption('#wl-flag', 'bone-density-scan');
    await app.click('form.filters button[type=submit]');
    await app.waitForURL(/flag=bone-density-scan/);
    await hasText(app.locator('table.worklist'), 'Priya Shah');
    await hasText(app.locator('#wl-count'), 'Bone density scan');
    await shot(app, '04-worklist');
    expect(await axeViolations(app)).toEqual([]);
    await app.getByRole('link', { name: 'Priya Shah' }).first().click();
    await app.waitForSelector('article[data-rule="RF-04"]');
  });

  it('keeps everything across a server restart', async () => {
    const { port, dataDir } = h;
    await h.close({ keepData: true });
    h = await startAppHarness({ port, dataDir });
    await app.reload();
    await app.waitForSelector('article[data-rule="RF-04"]');
    await hasText(app.locator('article[data-rule="RF-04"] .decision'), 'Accepted');
    await hasText(app.locator('article[data-rule="RF-05"] .decision'), 'Dismissed');
    await app.goto(`${h.baseUrl}/app/ui#/worklist?flag=bone-density-scan`);
    await hasText(app.locator('table.worklist'), 'Priya Shah');
    expect(patientId).toBe('sandbox-patient-4');
  });

  it('prints only the self-management plan, in patient wording', async () => {
    await app.goto(`${h.baseUrl}/app/ui#/results/sandbox-patient-4`);
    await app.waitForSelector('#self-management-plan');
    await app.emulateMedia({ media: 'print' });
    expect(await app.locator('#self-management-plan').isVisible()).toBe(true);
    expect(await app.locator('article[data-rule="RF-04"]').isVisible()).toBe(false);
    expect(await app.locator('.app-header').isVisible()).toBe(false);
    await app.screenshot({ path: path.join(SCREENSHOTS, '05-print-plan.png'), fullPage: true });
    await app.emulateMedia({ media: 'screen' });
  });

  it('amends a completed response: status amended, flags re-evaluated, both in the chart', async () => {
    await app.getByRole('link', { name: 'Amend this response' }).click();
    await formReady(app);
    await hasText(app.locator('#form-source'), 'Amending the response');
    expect(await app.locator('[id="pain-severity/1/1"]').inputValue()).toBe('6');
    await typeInto(app, 'pain-severity', '3');
    await choose(app, 'rf-steroids', 'N'); // BMD-04 no longer fires
    await app.click('#submit');
    await app.waitForURL(/submitted=1/, { timeout: 20_000 });
    await app.waitForSelector('article[data-rule="RF-04"]');
    // A new VERSION of the same response (not a second response): version 2, status amended, in the history.
    await hasText(app.locator('#main'), '(amended, version 2)');
    const { matches: responses } = h.ehr.store.search('QuestionnaireResponse', [
      ['subject', 'Patient/sandbox-patient-4'],
    ]);
    expect(responses.map((r) => [r.meta?.versionId, (r as fhir4.QuestionnaireResponse).status])).toEqual([
      ['2', 'amended'],
    ]);
    expect(h.ehr.store.history('QuestionnaireResponse', responses[0]!.id!).entries).toHaveLength(2);
    expect(await app.locator('article[data-rule="BMD-04"]').count()).toBe(0);
    expect(await app.locator('.history-table tbody tr').count()).toBe(2);
    // An amendment is not an assessment of the patient: the bone-density flag BMD-04 raised stays open, listed
    // under "Other open flags" and on the worklist, until a clinician records what happened.
    await hasText(app.locator('section.other-flags'), 'Other open flags (1)');
    await hasText(app.locator('section.other-flags'), 'BMD-04');
    await shot(app, '06-amended');
    await app.goto(`${h.baseUrl}/app/ui#/worklist?flag=bone-density-scan`);
    await hasText(app.locator('#wl-count'), '1 flag');
  });

  it('works at a narrow EHR side-panel width (480 px) with the keyboard only', async () => {
    await app.setViewportSize({ width: 480, height: 800 });
    await app.goto(`${h.baseUrl}/app/ui#/results/sandbox-patient-4`);
    await app.reload();
    await app.waitForSelector('article[data-rule="RF-04"]');
    // Start keyboard navigation from the top of the document.
    await app.evaluate(() => {
      document.body.tabIndex = -1;
      document.body.focus();
      document.body.removeAttribute('tabindex');
    });
    const overflow = await app.evaluate(
      () => document.documentElement.scrollWidth - document.documentElement.clientWidth,
    );
    expect(overflow).toBeLessThanOrEqual(1);
    // Tab from the top: the skip link first, then the navigation.
    await app.keyboard.press('Tab');
    expect(await app.evaluate(() => document.activeElement?.textContent)).toBe('Skip to main content');
    await app.keyboard.press('Tab');
    expect(await app.evaluate(() => document.activeElement?.getAttribute('data-nav'))).toBe('form');
    const outline = await app.evaluate(() => getComputedStyle(document.activeElement!).outlineStyle);
    expect(outline).toBe('solid');
    await app.keyboard.press('Tab');
    await app.keyboard.press('Tab');
    await app.keyboard.press('Enter'); // worklist
    await app.waitForSelector('#wl-flag');
    // Filter with the keyboard alone: the focus starts on the page heading, then the filter form.
    await app.keyboard.press('Tab');
    expect(await app.evaluate(() => document.activeElement?.id)).toBe('wl-flag');
    await app.keyboard.press('ArrowDown'); // Emergency assessment
    await app.keyboard.press('Tab');
    await app.keyboard.press('Tab');
    await app.keyboard.press('Enter');
    await app.waitForURL(/flag=emergency-assessment/);
    await shot(app, '05-worklist-narrow');
    await app.setViewportSize({ width: 1366, height: 768 });
    await app.close();
  });

  it('launches inside the EHR iframe (no cookies needed) without its own banner', async () => {
    const launchedAt = new Date();
    const ehrPage = await launchFromEhr(context, h.baseUrl, 'Marieke Achterberg', 'embedded');
    const frameEl = await ehrPage.waitForSelector('iframe.app-frame');
    const frame = (await frameEl.contentFrame())!;
    await formReady(frame);
    expect(await frame.locator('#banner').isHidden()).toBe(true); // need_patient_banner: false
    expect(agesSince(sandboxBirthDate('Marieke Achterberg'), launchedAt)).toContain(
      Number(await frame.locator('[id="age/1/1"]').inputValue()),
    );
    await shot(ehrPage, '06-iframe');
    expect(await axeViolations(frame)).toEqual([]);
    await ehrPage.close();
  });

  it('saves a draft and resumes it in a later launch', async () => {
    const first = await launchFromEhr(context, h.baseUrl, 'Claire Louise Hughes');
    await formReady(first);
    await typeInto(first, 'pain-severity', '8');
    await choose(first, 'rf-fever', 'Y');
    await first.click('#save-draft');
    await hasText(first.locator('#status'), 'Draft saved');
    await first.close();
    const second = await launchFromEhr(context, h.baseUrl, 'Claire Louise Hughes');
    await formReady(second);
    await hasText(second.locator('#form-source'), 'Resumed your draft');
    expect(await second.locator('[id="pain-severity/1/1"]').inputValue()).toBe('8');
    await shot(second, '07-draft-resumed');
    await second.close();
  });

  it('refreshes an expired token, and keeps the answers when the sign-in has ended', async () => {
    const page = await launchFromEhr(context, h.baseUrl, 'Ingrid Eriksen');
    await formReady(page);
    const handle = JSON.parse((await page.evaluate(() => sessionStorage.getItem('periplan.session')))!)
      .session as string;
    const session = (await h.app.store.getSession(handle, Date.now()))!;
    // 1. The access token has expired: the app refreshes it and carries on.
    await h.app.store.updateTokens(handle, { ...session.tokens, expiresAt: Date.now() - 1000 });
    await page.click('a[data-nav="worklist"]');
    await page.waitForSelector('#wl-flag');
    expect((await h.app.store.getSession(handle, Date.now()))!.tokens.access_token).not.toBe(
      session.tokens.access_token,
    );
    // 2. The EHR has ended the sign-in (tokens revoked): the answers are kept as a draft and the user is told.
    await page.click('a[data-nav="form"]');
    await formReady(page);
    await fillIntake(page, []);
    await typeInto(page, 'pain-severity', '4');
    await h.app.store.updateTokens(handle, {
      access_token: 'revoked-access',
      refresh_token: 'revoked-refresh',
      expiresAt: Date.now() - 1000,
    });
    await page.click('#submit');
    await hasText(page.locator('#status'), 'answers are saved as a draft');
    const draft = await h.app.store.findDraft(h.ehr.fhirBaseUrl, 'sandbox-patient-6', 'Practitioner/sandbox-clinician');
    expect(JSON.stringify(draft?.response)).toContain('"valueInteger":4');
    await shot(page, '08-session-ended');
    await page.close();
  });

  it('says "saved, sending" when the EHR cannot be reached, and shows the results once it is back', async () => {
    const page = await launchFromEhr(context, h.baseUrl, 'Agnieszka Nowak');
    await formReady(page);
    await fillIntake(page, ['rf-fever', 'rf-infection-risk']);
    h.setFhirOutage(true);
    try {
      await page.click('#submit');
      await hasText(page.locator('#status'), 'Saved, sending');
      await hasText(page.locator('#main'), 'not yet in the record');
      await page.waitForSelector('article[data-rule="RF-03"]');
    } finally {
      h.setFhirOutage(false);
    }
    await poll(async () => (await h.writePath.outbox.counts()).pending, { timeout: 20_000 }).toBe(0);
    await page.goto(`${h.baseUrl}/app/ui#/results/sandbox-patient-2`);
    await page.waitForSelector('article[data-rule="RF-03"] button');
    await shot(page, '10-saved-sending-then-sent');
    await page.close();
  });

  it('standalone launch: the clinician picks the patient in the EHR sign-in', async () => {
    const page = await context.newPage();
    await page.goto(`${h.baseUrl}/app/`);
    await page.getByRole('link', { name: 'Sign in with the EHR' }).click();
    await page.waitForSelector('select#patient');
    await page.selectOption('#practitioner', { index: 1 });
    const value = await page.locator('#patient option', { hasText: 'Agnieszka Nowak' }).getAttribute('value');
    await page.selectOption('#patient', value!);
    await page.getByRole('button', { name: 'Sign in and allow' }).click();
    // She has an intake by now (sent after the outage above): the launch opens her results; a new intake is one click away.
    await page.waitForSelector('#new-intake', { timeout: 20_000 });
    await page.click('#new-intake');
    await formReady(page);
    await hasText(page.locator('#banner'), 'Agnieszka Nowak');
    await shot(page, '09-standalone');
    await page.close();
  });
});
