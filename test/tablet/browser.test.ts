/**
 * The whole tablet journey in real Chromium with touch emulation: staff create a code, the tablet takes it,
 * the patient answers by tapping (in Spanish), sends, and the tablet wipes itself; the response is in the EHR
 * once, in English, with the patient as author and the staff member as enterer. Also: an emergency answer
 * (calm message, live staff alert), offline mid-form and at submit (one response), idle timeout, axe-core.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { startTabletHarness, STAFF, type TabletHarness } from './harness.js';
import { TABLET_RESPONSE_SYSTEM, type TabletAlert } from '../../src/tablet/index.js';

const SCREENSHOTS = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../../test-results/tablet');
const AXE_SOURCE = fs.readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
const YNU = 'http://terminology.hl7.org/CodeSystem/v2-0136';
const RED_FLAGS = ['rf-saddle-numbness', 'rf-bladder-bowel', 'rf-leg-weakness', 'rf-walking-difficulty', 'rf-fever', 'rf-infection-risk', 'rf-cancer-history', 'rf-weight-loss', 'rf-night-pain', 'rf-trauma', 'rf-steroids'];

let h: TabletHarness;
let context: BrowserContext;
let userDataDir: string;

beforeAll(async () => {
  fs.mkdirSync(SCREENSHOTS, { recursive: true });
  h = await startTabletHarness();
  userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tablet-chromium-'));
  context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: '/usr/bin/chromium',
    headless: true,
    viewport: { width: 768, height: 1024 },
    hasTouch: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
}, 60_000);

afterAll(async () => {
  await context?.close();
  if (userDataDir) fs.rmSync(userDataDir, { recursive: true, force: true });
  await h?.close();
});

async function axeViolations(page: Page) {
  await page.evaluate(AXE_SOURCE);
  const result = (await page.evaluate(() =>
    (window as unknown as { axe: { run(ctx: unknown, opts: unknown): Promise<{ violations: { id: string; impact: string | null; nodes: { target: string[] }[] }[] }> } }).axe.run(document, {
      runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] },
    }),
  ));
  return result.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical').map((v) => ({ id: v.id, nodes: v.nodes.slice(0, 3).map((n) => n.target) }));
}

async function openTablet(base = h.baseUrl): Promise<Page> {
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => (m.type() === 'error' && /Content Security Policy/.test(m.text()) ? errors.push(m.text()) : undefined));
  (page as Page & { errors?: string[] }).errors = errors;
  await page.goto(`${base}/tablet/?device=bay-1`);
  return page;
}

async function startWithCode(page: Page, code: string) {
  await page.locator('#code').tap();
  await page.locator('#code').pressSequentially(code);
  await page.locator('#code-form button[type=submit]').tap();
  await page.locator('[id="age/1/1"]').waitFor();
}

const LOCAL = 'https://periplan.app/fhir/CodeSystem/back-pain-answer';
/** Tap an answer: Y/N, or a local code (`none` for the weakness and trauma questions). */
async function tapAnswer(page: Page, linkId: string, code: string) {
  const value = code === 'Y' || code === 'N' ? `${YNU}|${code}` : `${LOCAL}|${code}`;
  await page.locator(`[id="${linkId}/1/1|${value}"]`).tap();
}

/** Answer every screen by tapping; `yes` lists red-flag questions answered Yes. */
async function answerAll(page: Page, options: { yes?: string[]; beforeLast?: () => Promise<void> } = {}) {
  const age = page.locator('[id="age/1/1"]');
  await age.tap();
  await age.pressSequentially('52');
  await page.locator('#next').tap();
  for (const linkId of RED_FLAGS) {
    if (linkId === 'rf-leg-weakness' || linkId === 'rf-trauma') await tapAnswer(page, linkId, 'none');
    else await tapAnswer(page, linkId, options.yes?.includes(linkId) ? 'Y' : 'N');
  }
  for (let i = 0; i < 3; i++) await page.locator('#next').tap();
  await options.beforeLast?.();
}

function storedFor(patientId: string): fhir4.QuestionnaireResponse[] {
  return h.ehr.store.search('QuestionnaireResponse', [['subject', `Patient/${patientId}`]]).matches as fhir4.QuestionnaireResponse[];
}

async function tabletHoldsNothing(page: Page) {
  return page.evaluate(async () => ({
    session: sessionStorage.length,
    local: localStorage.length,
    databases: (await indexedDB.databases()).length,
    form: document.getElementById('lforms-form')!.childElementCount,
  }));
}

describe('the tablet', () => {
  it('staff code → patient answers in Spanish by tapping → sent once, in English → the tablet wipes itself', async () => {
    const page = await openTablet();
    expect(await axeViolations(page)).toEqual([]);
    await page.locator('[data-lang="es"]').tap();
    await expect.poll(() => page.locator('#code-screen h1').textContent()).toBe('Bienvenida');
    const { code } = h.tablet.createHandoff({ patientId: 'sandbox-patient-1', patientName: 'Ana', staff: STAFF });
    await startWithCode(page, code);
    expect(await page.locator('#who').textContent()).toBe('Preguntas para Ana');
    expect(await page.locator('#progress-text').textContent()).toBe('Parte 1 de 5');
    // One topic per screen: the red-flag questions are not on the first screen.
    expect(await page.locator('[id="item-red-flags/1"]').isVisible()).toBe(false);
    await page.screenshot({ path: path.join(SCREENSHOTS, 'form-768x1024-es.png') });
    // Touch targets of at least 44 × 44 px: every visible button, and every answer's label.
    const small = await page.evaluate(() =>
      [...document.querySelectorAll('button, a, [role=button], [tabindex="0"], #lforms-form label, #lforms-form input')]
        .filter((el) => (el as HTMLElement).offsetParent !== null && !(el as HTMLInputElement).type?.match(/radio|checkbox/))
        .map((el) => ({ el: `${el.tagName}#${el.id}.${el.className}`, r: el.getBoundingClientRect() }))
        .filter(({ r }) => r.height < 44 || r.width < 44)
        .map(({ el, r }) => `${el} ${Math.round(r.width)}x${Math.round(r.height)}`),
    );
    expect(small).toEqual([]);
    expect(await axeViolations(page)).toEqual([]);

    await answerAll(page, {
      beforeLast: async () => {
        // Questions, help and answers in Spanish; switching language keeps her answers.
        await page.locator('#back').tap();
        await page.locator('#back').tap();
        await page.locator('#back').tap();
        expect(await page.locator('[id="label-rf-saddle-numbness/1/1"]').textContent()).toContain('entumecimiento');
        expect(await page.locator('[id="rf-saddle-numbness/1/1|http://terminology.hl7.org/CodeSystem/v2-0136|Y"]').textContent()).toContain('Sí');
        await page.locator('[data-lang="en"]').tap();
        await expect.poll(() => page.locator('[id="label-rf-saddle-numbness/1/1"]').textContent()).toContain('numbness');
        expect(await page.locator('[id="rf-saddle-numbness/1/1|http://terminology.hl7.org/CodeSystem/v2-0136|N"] input').isChecked()).toBe(true);
        await page.locator('[data-lang="es"]').tap();
        await expect.poll(() => page.locator('[id="label-rf-saddle-numbness/1/1"]').textContent()).toContain('entumecimiento');
        for (let i = 0; i < 3; i++) await page.locator('#next').tap();
      },
    });
    expect(await page.locator('#progress-text').textContent()).toBe('Parte 5 de 5');
    for (const viewport of [{ width: 1024, height: 768 }, { width: 1280, height: 800 }, { width: 800, height: 1280 }]) {
      await page.setViewportSize(viewport);
      expect(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth)).toBe(true);
      expect(await axeViolations(page)).toEqual([]);
    }
    await page.setViewportSize({ width: 768, height: 1024 });
    await page.locator('#submit').tap();
    await page.locator('#thanks-screen h1').waitFor();
    expect(await page.locator('#thanks-screen').textContent()).toContain('devuelva la tableta');
    // Back to the code screen, holding nothing.
    await page.locator('#code-screen').waitFor({ state: 'visible', timeout: 15_000 });
    expect(await tabletHoldsNothing(page)).toEqual({ session: 0, local: 0, databases: 0, form: 0 });

    const stored = storedFor('sandbox-patient-1');
    expect(stored).toHaveLength(1);
    const response = stored[0]!;
    expect(response.identifier?.system).toBe(TABLET_RESPONSE_SYSTEM);
    expect(response.author?.reference).toBe('Patient/sandbox-patient-1');
    const saddle = response.item?.find((g) => g.linkId === 'red-flags')?.item?.find((i) => i.linkId === 'rf-saddle-numbness');
    expect(saddle?.answer?.[0]?.valueCoding).toMatchObject({ system: YNU, code: 'N', display: 'No' });
    expect(saddle?.text).toMatch(/^Do you have numbness/); // English for the clinician
    expect((page as Page & { errors?: string[] }).errors).toEqual([]);
    await page.close();
  }, 90_000);

  it('an EMERGENCY answer: a calm message for the patient, a live alert for staff', async () => {
    const page = await openTablet();
    const alerts: TabletAlert[] = [];
    const off = h.tablet.onAlert((a) => alerts.push(a));
    try {
      const { code } = h.tablet.createHandoff({ patientId: 'sandbox-patient-4', patientName: 'Bea', staff: STAFF });
      await startWithCode(page, code);
      const age = page.locator('[id="age/1/1"]');
      await age.tap();
      await age.pressSequentially('47');
      await page.locator('#next').tap();
      await tapAnswer(page, 'rf-saddle-numbness', 'Y');
      await tapAnswer(page, 'rf-bladder-bowel', 'Y');
      await page.locator('#tell-staff').waitFor({ state: 'visible' });
      const text = await page.locator('#tell-staff').textContent();
      expect(text).toContain('Please tell the staff now');
      expect(text).not.toMatch(/RF-|cauda|emergency/i);
      expect(await axeViolations(page)).toEqual([]);
      await expect.poll(() => alerts.length).toBeGreaterThan(0);
      expect(alerts[0]!.patient.reference).toBe('Patient/sandbox-patient-4');
      expect(alerts[0]!.rules).toContain('RF-01');
      // The worklist's own query finds it at the top tier (flag-priority PH), no reload of anything needed.
      await expect
        .poll(() => h.ehr.store.search('Flag', [['_tag', 'http://hl7.org/fhir/flag-priority-code|PH'], ['subject', 'Patient/sandbox-patient-4']]).matches.length)
        .toBe(1);
      await page.locator('#tell-staff-ok').tap();
      expect(await page.locator('#tell-staff').isVisible()).toBe(false);
    } finally {
      off();
      await page.close();
    }
  }, 60_000);

  it('offline mid-form and at submit: she finishes, it is sent when the network returns, exactly once', async () => {
    const page = await openTablet();
    const { code } = h.tablet.createHandoff({ patientId: 'sandbox-patient-5', staff: STAFF });
    await startWithCode(page, code);
    await context.setOffline(true);
    try {
      await answerAll(page);
      await page.locator('#submit').tap();
      await page.locator('#queued-note').waitFor({ state: 'visible' });
      expect(storedFor('sandbox-patient-5')).toHaveLength(0);
    // What waits on the tablet is encrypted: no answer is readable in IndexedDB.
    const raw = await page.evaluate(
      () =>
        new Promise<string>((resolve) => {
          const req = indexedDB.open('periplan-tablet');
          req.onsuccess = () => {
            const get = req.result.transaction('vault').objectStore('vault').get('pending');
            get.onsuccess = () => resolve(JSON.stringify(Object.keys(get.result ?? {})) + String(get.result?.cipher?.constructor?.name));
          };
        }),
    );
      expect(raw).toBe('["iv","cipher"]ArrayBuffer');
    } finally {
      await context.setOffline(false);
    }
    await page.locator('#code-screen').waitFor({ state: 'visible', timeout: 20_000 });
    await expect.poll(() => storedFor('sandbox-patient-5').length).toBe(1);
    await page.close();
  }, 90_000);
});

describe('the tablet when left alone', () => {
  let short: TabletHarness;
  beforeAll(async () => {
    short = await startTabletHarness({ idleTimeoutMs: 4000 });
  });
  afterAll(async () => {
    await short?.close();
  });

  it('shows a countdown, then wipes the form and returns to the code screen', async () => {
    const page = await openTablet(short.baseUrl);
    const { code } = short.tablet.createHandoff({ patientId: 'sandbox-patient-6', staff: STAFF });
    await startWithCode(page, code);
    const age = page.locator('[id="age/1/1"]');
    await age.tap();
    await age.pressSequentially('60');
    await page.locator('#idle').waitFor({ state: 'visible' });
    expect(Number(await page.locator('#idle-seconds').textContent())).toBeGreaterThan(0);
    await page.locator('#code-screen').waitFor({ state: 'visible', timeout: 15_000 });
    expect(await tabletHoldsNothing(page)).toEqual({ session: 0, local: 0, databases: 0, form: 0 });
    // The code was spent, and the session is gone on the server.
    const res = await fetch(`${short.baseUrl}/tablet/api/claim`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ code }) });
    expect(res.status).toBe(404);
    await page.close();
  }, 60_000);
});
