/**
 * In real Chromium: a launch for a patient who already has an intake opens her latest results and her intake
 * history (a new intake one click away); the form saves itself as a draft as the clinician goes and warns
 * before unsaved answers are lost (in-app navigation and leaving the page); "Discard draft" asks first; an
 * emergency flag stays open after the MRI is accepted until the clinician records what happened, and that
 * can be undone. The server's clock for recorded acts is fixed (the undo window never depends on the wall clock).
 */
import fs from 'node:fs';
import path from 'node:path';
import type { BrowserContext, Dialog, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import {
  axeViolations,
  fillIntake,
  hasText,
  launchFromEhr,
  openBrowser,
  SCREENSHOTS,
  typeInto,
} from './browser-support.js';
import { startAppHarness, type AppHarness } from './harness.js';

const REPO = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');
const PATIENT = 'sandbox-patient-5';
const NAME = 'Siobhan Mary Murphy';
const ACTS_AT = new Date('2026-12-03T09:00:00Z');

let h: AppHarness;
let browser: { context: BrowserContext; close(): Promise<void> };
let app: Page;

const shot = (page: Page, name: string) =>
  page.screenshot({ path: path.join(SCREENSHOTS, `${name}.png`), fullPage: true });
const formReady = (page: Page) => page.waitForSelector('body[data-form-ready="1"]', { timeout: 20_000 });
const draft = () => h.app.store.findDraft(h.ehr.fhirBaseUrl, PATIENT, 'Practitioner/sandbox-clinician');

/** The next dialog the page opens: its type and message, answered as told. */
function nextDialog(page: Page, answer: 'accept' | 'dismiss'): Promise<{ type: string; message: string }> {
  return new Promise((resolve) => {
    page.once('dialog', (d: Dialog) => {
      const seen = { type: d.type(), message: d.message() };
      void (answer === 'accept' ? d.accept() : d.dismiss()).then(() => resolve(seen));
    });
  });
}

beforeAll(async () => {
  h = await startAppHarness({ now: () => ACTS_AT });
  fs.mkdirSync(SCREENSHOTS, { recursive: true });
  // An earlier intake of hers, in the record before this launch (as the sandbox seeds some patients).
  const file = path.join(REPO, 'examples', 'RF-08', 'response.json');
  if (!fs.existsSync(file)) throw new Error(`missing worked example ${file}`);
  const { id: _id, ...template } = JSON.parse(fs.readFileSync(file, 'utf8')) as fhir4.QuestionnaireResponse;
  const patient = h.ehr.store.read('Patient', PATIENT) as fhir4.Patient;
  const earlier = await h.writePath.submit({
    response: {
      ...template,
      identifier: { system: 'https://periplan.app/fhir/sid/test-intake', value: 'earlier-5' },
      subject: { reference: `Patient/${PATIENT}` },
      authored: '2026-11-01T09:00:00Z',
    },
    data: [patient],
  });
  expect(earlier.state).toBe('sent');
  browser = await openBrowser();
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await h?.close();
});

describe('clinician app: intake history, autosave, leaving, flag outcomes (browser)', () => {
  it('a launch for a patient with an intake opens her latest results and intake history; "New intake" opens the form', async () => {
    app = await launchFromEhr(browser.context, h.baseUrl, NAME);
    await app.waitForSelector('#intakes-heading', { timeout: 20_000 });
    await hasText(app.locator('h1'), `Results for ${NAME}`);
    await app.waitForSelector('article[data-rule="RF-08"]');
    // "Why" names the criterion that fired, in the Questionnaire's words, before the other answers.
    await hasText(
      app.locator('article[data-rule="RF-08"] ul.criteria li').first(),
      'Yes, in one leg → pain spreading into one leg, no serious feature: likely sciatica',
    );
    expect(await app.locator('#lforms-form').count()).toBe(0); // not a blank form
    await hasText(app.locator('.intake-history li').first(), 'Intake of');
    expect(await app.locator('.intake-history li').count()).toBe(1);
    await app.click('#new-intake');
    await formReady(app);
    await hasText(app.locator('#form-source'), 'pre-filled from the record');
  }, 90_000);

  it('saves the answers as a draft as the clinician goes, and warns before unsaved answers are lost', async () => {
    await typeInto(app, 'pain-severity', '7');
    await hasText(app.locator('#form-source'), 'Draft saved');
    expect(JSON.stringify((await draft())?.response)).toContain('"valueInteger":7');

    // Hold the next autosave so the answers stay unsaved while the clinician tries to leave.
    let release: () => void = () => undefined;
    const held = new Promise<void>((resolve) => (release = resolve));
    await app.route('**/app/api/draft', async (route) => {
      await held;
      await route.continue();
    });
    await typeInto(app, 'pain-duration-weeks', '5');
    await app.waitForSelector('body[data-unsaved="1"]');
    // In-app navigation asks; staying keeps the form and the answers.
    const asked = nextDialog(app, 'dismiss');
    await app.click('a[data-nav="worklist"]');
    expect((await asked).message).toMatch(/not saved yet/);
    expect(await app.locator('#lforms-form').count()).toBe(1);
    expect(await app.locator('[id="pain-duration-weeks/1/1"]').inputValue()).toBe('5');
    expect(app.url()).not.toMatch(/worklist/);
    // Closing or reloading the page asks too (beforeunload); staying keeps the page.
    const unload = nextDialog(app, 'dismiss');
    await app.close({ runBeforeUnload: true });
    expect((await unload).type).toBe('beforeunload');
    expect(app.isClosed()).toBe(false);
    // Once the autosave lands nothing is unsaved: leaving does not ask, and the draft holds both answers.
    release();
    await app.waitForSelector('body[data-unsaved="0"]');
    await app.unroute('**/app/api/draft');
    expect(JSON.stringify((await draft())?.response)).toContain('"valueInteger":5');
    let dialogs = 0;
    const count = () => dialogs++;
    app.on('dialog', count);
    await app.click('a[data-nav="worklist"]');
    await app.waitForSelector('#wl-flag');
    app.off('dialog', count);
    expect(dialogs).toBe(0);
    await app.click('a[data-nav="form"]');
    await formReady(app);
    await hasText(app.locator('#form-source'), 'Resumed your draft');
    expect(await app.locator('[id="pain-duration-weeks/1/1"]').inputValue()).toBe('5');
  }, 60_000);

  it('"Discard draft" asks for confirmation first', async () => {
    const declined = nextDialog(app, 'dismiss');
    await app.click('#start-fresh');
    expect((await declined).message).toMatch(/Discard the saved draft/);
    expect(await draft()).toBeDefined();
    const confirmed = nextDialog(app, 'accept');
    await app.click('#start-fresh');
    await confirmed;
    await app.waitForURL(/fresh=1/);
    await formReady(app);
    await hasText(app.locator('#form-source'), 'pre-filled from the record');
    expect(await draft()).toBeUndefined();
  });

  it('an emergency flag stays open after the MRI is accepted, until the outcome is recorded; the outcome can be undone', async () => {
    await fillIntake(app, ['rf-saddle-numbness']);
    await app.click('#submit');
    await app.waitForURL(/#\/results\//, { timeout: 20_000 });
    const rf01 = app.locator('article[data-rule="RF-01"]');
    await rf01.waitFor();
    await rf01.getByRole('button', { name: /^Accept MRI/ }).click();
    await hasText(rf01.locator('.decision-accepted'), 'Accepted by Dr Adaeze Okafor');
    const flag = rf01.locator('li[data-target^="Flag/"]');
    await hasText(flag, 'open until you record what happened');

    // The worklist: her Emergency row first, naming the rule.
    await app.click('a[data-nav="worklist"]');
    const first = app.locator('#wl-results tbody tr').first();
    await first.waitFor();
    expect(await first.getAttribute('data-patient')).toBe(PATIENT);
    expect(await first.getAttribute('data-rule')).toBe('RF-01');
    await hasText(first.locator('.tier'), 'Emergency');
    await hasText(first.locator('.rule'), 'RF-01 Suspected cauda equina syndrome');
    expect(await axeViolations(app)).toEqual([]);
    await shot(app, '13-worklist-emergency-first');

    await app.getByRole('link', { name: NAME }).first().click();
    await rf01.waitFor();
    await flag.getByRole('button', { name: /^Record outcome/ }).click();
    await hasText(flag.locator('.field-error'), 'Choose what happened');
    await flag.getByLabel('What happened to the patient').selectOption('sent-to-emergency-department');
    await flag.getByRole('button', { name: /^Record outcome/ }).click();
    await hasText(flag.locator('.decision-outcome'), 'Sent to the emergency department — recorded by Dr Adaeze Okafor');
    expect(await axeViolations(app)).toEqual([]);
    await shot(app, '14-flag-outcome');
    await app.click('a[data-nav="worklist"]');
    await app.waitForSelector('#wl-count');
    expect(await app.locator(`#wl-results tr[data-patient="${PATIENT}"][data-rule="RF-01"]`).count()).toBe(0);

    await app.goBack();
    await rf01.waitFor();
    await flag.getByRole('button', { name: /^Undo/ }).click();
    await hasText(flag, 'open until you record what happened');

    // Both intakes are listed; the earlier one opens its own results.
    expect(await app.locator('.intake-history li').count()).toBe(2);
    await app.locator('.intake-history a').first().click();
    await app.waitForSelector('article[data-rule="RF-08"]');
    expect(await app.locator('article[data-rule="RF-01"]').count()).toBe(0);
  }, 90_000);
});
