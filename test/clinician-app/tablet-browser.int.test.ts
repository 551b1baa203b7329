/**
 * Clinician app and waiting-room tablet together, in real Chromium on the composed server: the clinician
 * starts a tablet intake (code, QR code); the tablet (a second browser, touch emulation) takes the code, the
 * patient answers in Spanish by tapping and sends; the clinician sees the response in English with its
 * flags. Then, with the worklist open, an emergency answer on a tablet shows a live alert banner and the
 * emergency row at the top, without a reload.
 */
import path from 'node:path';
import { jsQR } from './qr-support.js';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { poll } from '../support/poll.js';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { startAppHarness, type AppHarness } from './harness.js';
import {
  axeViolations,
  hasText,
  launchFromEhr,
  noAnswer,
  openBrowser,
  RED_FLAGS,
  SCREENSHOTS,
} from './browser-support.js';
import { CHROMIUM_ARGS, CHROMIUM_PATH } from '../support/chromium.js';

const YNU = 'http://terminology.hl7.org/CodeSystem/v2-0136';
const LOCAL = 'https://periplan.app/fhir/CodeSystem/back-pain-answer';

let h: AppHarness;
let staffBrowser: Awaited<ReturnType<typeof openBrowser>>;
let tabletBrowser: Browser;
let tablet: BrowserContext;
let app: Page;
const pageErrors: string[] = [];

beforeAll(async () => {
  h = await startAppHarness();
  staffBrowser = await openBrowser();
  staffBrowser.context.on('console', (m) =>
    /Content Security Policy/i.test(m.text()) ? pageErrors.push(m.text()) : undefined,
  );
  staffBrowser.context.on('weberror', (e) => pageErrors.push(e.error().message));
  tabletBrowser = await chromium.launch({
    executablePath: CHROMIUM_PATH,
    args: ['--headless', ...CHROMIUM_ARGS],
  });
  tablet = await tabletBrowser.newContext({ viewport: { width: 768, height: 1024 }, hasTouch: true });
}, 60_000);

afterAll(async () => {
  await tabletBrowser?.close();
  await staffBrowser?.close();
  await h?.close();
});

const shot = (page: Page, name: string) =>
  page.screenshot({ path: path.join(SCREENSHOTS, `${name}.png`), fullPage: true });

async function tapAnswer(page: Page, linkId: string, code: string) {
  const value = code === 'Y' || code === 'N' ? `${YNU}|${code}` : `${LOCAL}|${code}`;
  await page.locator(`[id="${linkId}/1/1|${value}"]`).tap();
}

/** The QR image as the page shows it, read back into pixels and decoded. */
async function decodeQr(page: Page): Promise<string | undefined> {
  const image = await page.locator('dialog.handoff img.handoff-qr').evaluate(async (img: HTMLImageElement) => {
    await img.decode();
    const canvas = document.createElement('canvas');
    canvas.width = 240;
    canvas.height = 240;
    const ctx = canvas.getContext('2d')!;
    ctx.drawImage(img, 0, 0, 240, 240);
    return Array.from(ctx.getImageData(0, 0, 240, 240).data);
  });
  return jsQR(Uint8ClampedArray.from(image), 240, 240)?.data;
}

describe('tablet intake from the clinician app', () => {
  it('clinician starts it → the tablet takes the code → answers in Spanish → the clinician sees them in English with flags', async () => {
    app = await launchFromEhr(staffBrowser.context, h.baseUrl, 'Hughes');
    await app.waitForSelector('body[data-form-ready="1"]', { timeout: 20_000 });
    await app.goto(`${h.baseUrl}/app/ui#/results`);
    const start = app.getByRole('button', { name: /Start tablet intake/ });
    await start.click();
    const dialog = app.getByRole('dialog', { name: 'Tablet intake for Claire Louise Hughes' });
    await dialog.waitFor();
    const code = ((await dialog.locator('.handoff-code [aria-hidden="true"]').textContent()) ?? '').replace(/\s/g, '');
    expect(await dialog.locator('.handoff-code .visually-hidden').textContent()).toBe(
      `Code: ${code.split('').join(' ')}`,
    );
    expect(code).toMatch(/^[A-HJKMNP-Z2-9]{8}$/);
    expect(await dialog.locator('.handoff-expiry').textContent()).toMatch(/expires in (9|10):\d\d/);
    expect(await decodeQr(app)).toBe(`${h.baseUrl}/tablet/#code=${code}`);
    await shot(app, '10-tablet-handoff');
    expect(await axeViolations(app)).toEqual([]);
    await dialog.getByRole('button', { name: 'Close' }).click();
    expect(await app.locator('dialog.handoff').count()).toBe(0);
    // A banner says the code is still valid, for as long as it is (it goes once a tablet has used the code).
    await hasText(app.locator('#status'), 'Tablet code for Claire Louise Hughes still valid until');
    // Focus goes back to the button that opened the dialog.
    expect(await app.evaluate(() => document.activeElement?.textContent)).toBe('Start tablet intake');

    // The Tablets view: the code is waiting for a tablet.
    await app.click('[data-nav="tablets"]');
    await hasText(app.locator('#tablets-now tr[data-state="waiting-for-code"]'), 'Claire Louise Hughes');
    await hasText(app.locator('#tablets-now tr[data-state="waiting-for-code"]'), 'waiting for the code');

    // The tablet: the code typed by tapping, the intake answered in Spanish by tapping.
    const pad = await tablet.newPage();
    pad.on('pageerror', (e) => pageErrors.push(`tablet: ${e.message}`));
    await pad.goto(`${h.baseUrl}/tablet/?device=bay-1`);
    await pad.locator('[data-lang="es"]').tap();
    await pad.locator('#code').tap();
    await pad.locator('#code').pressSequentially(code);
    await pad.locator('#code-form button[type=submit]').tap();
    await pad.locator('[id="age/1/1"]').waitFor();
    expect(await pad.locator('#who').textContent()).toBe('Preguntas para Claire');
    // The code is used: the staff banner saying it is still valid goes away by itself.
    await poll(() => app.locator('#status').textContent(), { timeout: 15_000 }).not.toContain('still valid');
    await pad.locator('[id="age/1/1"]').tap();
    await pad.locator('[id="age/1/1"]').pressSequentially('52');
    // Each part is checked before Next: the leg-symptoms question is answered on whichever part holds it.
    const legs = pad.locator(`[id="leg-symptoms/1/1|${LOCAL}|none"]`);
    if (await legs.isVisible()) await legs.tap();
    await pad.locator('#next').tap();
    // The clinician app handed over her birth date (as an age range): 52 is not her recorded age, so she is
    // asked to check it, in Spanish; she confirms.
    await pad.locator('#age-check').waitFor({ state: 'visible' });
    expect(await pad.locator('#age-check-title').textContent()).toBe('Por favor, revise su edad');
    await pad.locator('#age-check-yes').tap();
    expect(await pad.locator('[id="label-rf-saddle-numbness/1/1"]').textContent()).toContain('entumecimiento');
    // Long-term steroids (a bone-density rule) and, last, saddle numbness (EMERGENCY): the calm message.
    for (const linkId of RED_FLAGS.filter((l) => l !== 'rf-saddle-numbness')) {
      await tapAnswer(pad, linkId, linkId === 'rf-steroids' ? 'Y' : noAnswer(linkId));
    }
    if (await legs.isVisible()) await legs.tap();
    await tapAnswer(pad, 'rf-saddle-numbness', 'Y');
    // No Next: the tablet checks the answers shortly after the tap itself.
    await pad.locator('#tell-staff').waitFor({ state: 'visible' });
    // Meanwhile the clinician app hears it live (banner above every view).
    await hasText(app.locator('#live-alerts'), 'Claire Louise Hughes');
    await pad.locator('#tell-staff-ok').tap();
    for (let i = 0; i < 3; i++) await pad.locator('#next').tap();
    await pad.locator('#submit').tap();
    await pad.locator('#thanks-screen h1').waitFor();
    await pad.close();

    // The Tablets view (refreshed every 10 s) shows it received, with the emergency.
    await app.reload();
    await hasText(app.locator('#tablets-now tr[data-state="received"]'), 'Claire Louise Hughes');
    await hasText(app.locator('#tablets-now tr[data-state="received"]'), 'Yes');
    expect(await axeViolations(app)).toEqual([]);

    // The clinician opens her results: English questions and answers, the emergency and the bone-density flag.
    await app.goto(`${h.baseUrl}/app/ui#/results/sandbox-patient-1`);
    await app.waitForSelector('article[data-rule="RF-01"]');
    // The answer that made RF-01 fire is named under "Why", in English, with the tablet as its source.
    await hasText(app.locator('article[data-rule="RF-01"] ul.criteria'), 'numbness');
    await hasText(app.locator('article[data-rule="RF-01"] ul.criteria'), 'Yes → suspected cauda equina');
    await hasText(app.locator('article[data-rule="RF-01"] ul.criteria'), 'waiting-room tablet');
    await hasText(app.locator('article[data-rule="RF-01"] .tier'), 'Emergency');
    await app.waitForSelector('article[data-rule="BMD-04"]');
    await hasText(app.locator('article[data-rule="BMD-04"] ul.criteria'), 'steroid');
    expect(await app.locator('main').textContent()).not.toMatch(/entumecimiento|Sí\b/);
    await shot(app, '11-tablet-results');
    expect(pageErrors).toEqual([]);
  }, 120_000);

  it('an emergency answer on a tablet alerts the open worklist live: banner and the row at the top, no reload', async () => {
    await app.goto(`${h.baseUrl}/app/ui#/worklist`);
    await app.waitForSelector('#wl-results');
    await app.evaluate(() => ((window as unknown as { sameDocument: boolean }).sameDocument = true));
    await poll(() => app.evaluate(() => document.body.dataset.alertStream)).toBe('open');

    // A keyboard user is on a row's button when the alert comes: the refresh keeps her there.
    const focusedRow = await app.locator('#wl-results tbody tr').first().getAttribute('data-flag');
    await app.locator('#wl-results tbody tr').first().locator('button').focus();

    const { code } = await h.tablet.createHandoff({
      patientId: 'sandbox-patient-6',
      patientName: 'Ingrid',
      staff: { reference: 'Practitioner/sandbox-clinician' },
    });
    const post = (p: string, body: unknown, session?: string) =>
      fetch(`${h.baseUrl}/tablet/api/${p}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(session ? { 'x-tablet-session': session } : {}) },
        body: JSON.stringify(body),
      });
    const { session } = (await (await post('claim', { code, device: 'bay-2' })).json()) as { session: string };
    const saddle = { linkId: 'rf-saddle-numbness', answer: [{ valueCoding: { system: YNU, code: 'Y' } }] };
    expect(
      await (
        await post(
          'check',
          { response: { resourceType: 'QuestionnaireResponse', item: [{ linkId: 'red-flags', item: [saddle] }] } },
          session,
        )
      ).json(),
    ).toEqual({ tellStaff: true });

    const alert = app.locator('#live-alerts[role="alert"] li', { hasText: 'Ingrid Eriksen' });
    await hasText(alert, 'bay-2');
    await poll(() => app.locator('#wl-results tbody tr').first().getAttribute('data-patient'), {
      timeout: 15_000,
    }).toBe('sandbox-patient-6');
    expect(await app.locator('#wl-results tbody tr').first().getAttribute('data-tier')).toBe('PH');
    expect(await app.getByRole('button', { name: 'Start tablet intake for Ingrid Eriksen' }).count()).toBeGreaterThan(
      0,
    );
    expect(await app.evaluate(() => document.activeElement?.closest('tr')?.getAttribute('data-flag'))).toBe(focusedRow);
    expect(await app.evaluate(() => document.activeElement?.tagName)).toBe('BUTTON');
    expect(await app.evaluate(() => (window as unknown as { sameDocument?: boolean }).sameDocument)).toBe(true);
    await shot(app, '12-worklist-live-alert');
    expect(await axeViolations(app)).toEqual([]);

    // A reload keeps the alert on screen until someone dismisses it.
    await app.reload();
    await hasText(app.locator('#live-alerts'), 'Ingrid Eriksen');
    await app.getByRole('button', { name: 'Dismiss the alert for Ingrid Eriksen' }).click();
    expect(await app.locator('#live-alerts li', { hasText: 'Ingrid Eriksen' }).count()).toBe(0);
    expect(pageErrors).toEqual([]);
  }, 90_000);
});
