/**
 * The whole tablet journey in real Chromium with touch emulation: staff create a code, the tablet takes it,
 * the patient answers by tapping (in Spanish), sends, and the tablet wipes itself; the response is in the EHR
 * once, in English, with the patient as author and the staff member as enterer. Also: an emergency answer
 * (calm message, live staff alert), offline mid-form and at submit (one response), idle timeout, axe-core.
 */
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { poll } from '../support/poll.js';
import type { Browser, Page } from 'playwright-core';
import { startTabletHarness, STAFF, type TabletHarness } from './harness.js';
import {
  answerAll,
  answerIn,
  axeViolations,
  birthDateForAge,
  closeTablet,
  launchChromium,
  openTablet as openOn,
  RED_FLAGS,
  savedDraft,
  SCREENSHOTS,
  startWithCode,
  storedFor as storedIn,
  tabletHoldsNothing,
  tapAnswer,
  tapIfShown,
  vaultRecords,
  YNU,
} from './browser-support.js';
import { TABLET_RESPONSE_SYSTEM, type TabletAlert } from '../../src/tablet/index.js';

let h: TabletHarness;
let browser: Browser;

beforeAll(async () => {
  h = await startTabletHarness();
  browser = await launchChromium();
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await h?.close();
});

const openTablet = (base = h.baseUrl, hash = '') => openOn(browser, base, hash);
const storedFor = (patientId: string) => storedIn(h, patientId);

describe('the tablet', () => {
  it('staff code → patient answers in Spanish by tapping → sent once, in English → the tablet wipes itself', async () => {
    const page = await openOn(browser, h.baseUrl, '', { fakeClock: true });
    expect(await axeViolations(page)).toEqual([]);
    await page.locator('[data-lang="es"]').tap();
    await poll(() => page.locator('#code-screen h1').textContent()).toBe('Bienvenida');
    const { code } = await h.tablet.createHandoff({ patientId: 'sandbox-patient-1', patientName: 'Ana', staff: STAFF });
    await startWithCode(page, code);
    expect(await page.locator('#who').textContent()).toBe('Preguntas para Ana');
    expect(await page.locator('#progress-text').textContent()).toBe('Parte 1 de 5');
    // One topic per screen: the red-flag questions are not on the first screen.
    expect(await page.locator('[id="item-red-flags/1"]').isVisible()).toBe(false);
    await page.screenshot({ path: path.join(SCREENSHOTS, 'form-768x1024-es.png') });
    // Touch targets of at least 44 × 44 px: every visible button, and every answer's label.
    const small = await page.evaluate(() =>
      [...document.querySelectorAll('button, a, [role=button], [tabindex="0"], #lforms-form label, #lforms-form input')]
        .filter(
          (el) => (el as HTMLElement).offsetParent !== null && !(el as HTMLInputElement).type?.match(/radio|checkbox/),
        )
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
        expect(
          await page
            .locator('[id="rf-saddle-numbness/1/1|http://terminology.hl7.org/CodeSystem/v2-0136|Y"]')
            .textContent(),
        ).toContain('Sí');
        await page.locator('[data-lang="en"]').tap();
        await poll(() => page.locator('[id="label-rf-saddle-numbness/1/1"]').textContent()).toContain('numbness');
        expect(
          await page
            .locator('[id="rf-saddle-numbness/1/1|http://terminology.hl7.org/CodeSystem/v2-0136|N"] input')
            .isChecked(),
        ).toBe(true);
        await page.locator('[data-lang="es"]').tap();
        await poll(() => page.locator('[id="label-rf-saddle-numbness/1/1"]').textContent()).toContain('entumecimiento');
        for (let i = 0; i < 3; i++) await page.locator('#next').tap();
      },
    });
    expect(await page.locator('#progress-text').textContent()).toBe('Parte 5 de 5');
    for (const viewport of [
      { width: 1024, height: 768 },
      { width: 1280, height: 800 },
      { width: 800, height: 1280 },
    ]) {
      await page.setViewportSize(viewport);
      expect(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth)).toBe(true);
      expect(await axeViolations(page)).toEqual([]);
    }
    await page.setViewportSize({ width: 768, height: 1024 });
    await page.locator('#submit').tap();
    await page.locator('#thanks-screen h1').waitFor();
    expect(await page.locator('#thanks-screen').textContent()).toContain('devuelva la tableta');
    // Back to the code screen, holding nothing (after the thank-you's few seconds, skipped on the page's clock).
    await page.clock.fastForward(4000);
    await page.locator('#code-screen').waitFor({ state: 'visible', timeout: 15_000 });
    expect(await tabletHoldsNothing(page)).toEqual({ session: 0, local: 0, databases: 0, form: 0 });

    const stored = storedFor('sandbox-patient-1');
    expect(stored).toHaveLength(1);
    const response = stored[0]!;
    expect(response.identifier?.system).toBe(TABLET_RESPONSE_SYSTEM);
    expect(response.author?.reference).toBe('Patient/sandbox-patient-1');
    const saddle = response.item
      ?.find((g) => g.linkId === 'red-flags')
      ?.item?.find((i) => i.linkId === 'rf-saddle-numbness');
    expect(saddle?.answer?.[0]?.valueCoding).toMatchObject({ system: YNU, code: 'N', display: 'No' });
    expect(saddle?.text).toMatch(/^Do you have numbness/); // English for the clinician
    expect(page.errors).toEqual([]);
    await closeTablet(page);
  }, 90_000);

  it('an EMERGENCY answer: a calm message for the patient, a live alert for staff', async () => {
    const page = await openTablet();
    const alerts: TabletAlert[] = [];
    const off = h.tablet.onAlert((a) => alerts.push(a));
    try {
      const { code } = await h.tablet.createHandoff({
        patientId: 'sandbox-patient-4',
        patientName: 'Bea',
        staff: STAFF,
      });
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
      await poll(() => alerts.length).toBeGreaterThan(0);
      expect(alerts[0]!.patient.reference).toBe('Patient/sandbox-patient-4');
      expect(alerts[0]!.rules).toContain('RF-01');
      // The worklist's own query finds it at the top tier (flag-priority PH), no reload of anything needed.
      await poll(
        () =>
          h.ehr.store.search('Flag', [
            ['_tag', 'http://hl7.org/fhir/flag-priority-code|PH'],
            ['subject', 'Patient/sandbox-patient-4'],
          ]).matches.length,
      ).toBe(1);
      await page.locator('#tell-staff-ok').tap();
      expect(await page.locator('#tell-staff').isVisible()).toBe(false);
    } finally {
      off();
      await closeTablet(page);
    }
  }, 60_000);

  it('a tapped answer is checked at once, without Next: the calm message appears, and the answer is saved', async () => {
    const page = await openTablet();
    const checks: string[] = [];
    page.on('request', (r) => (r.url().endsWith('/tablet/api/check') ? checks.push(r.postData() ?? '') : undefined));
    try {
      const { code } = await h.tablet.createHandoff({ patientId: 'sandbox-patient-3', staff: STAFF });
      await startWithCode(page, code);
      const age = page.locator('[id="age/1/1"]');
      await age.tap();
      await age.pressSequentially('44');
      // Next checks the answers so far: wait until that check is answered, so it cannot carry the tap below.
      const nextChecked = page.waitForResponse((r) => r.url().endsWith('/tablet/api/check'));
      await page.locator('#next').tap();
      await nextChecked;
      const before = checks.length;
      // LHC-Forms (ng-zorro) stops this tap's events: no `change`, no bubbling `click`. Next is not tapped.
      await tapAnswer(page, 'rf-saddle-numbness', 'Y');
      await page.locator('#tell-staff').waitFor({ state: 'visible', timeout: 10_000 });
      const checked = checks
        .slice(before)
        .map(
          (body) =>
            answerIn((JSON.parse(body) as { response: fhir4.QuestionnaireResponse }).response, 'rf-saddle-numbness')
              ?.valueCoding?.code,
        );
      expect(checked).toContain('Y');
      await page.locator('#tell-staff-ok').tap();
      // A tapped answer is also saved at once (a reload would bring it back), still without Next.
      await tapAnswer(page, 'rf-fever', 'Y');
      await poll(async () => answerIn((await savedDraft(page))?.response, 'rf-fever')?.valueCoding?.code, {
        timeout: 10_000,
      }).toBe('Y');
      // And by keyboard (an external keyboard on the tablet): Space on a focused answer.
      await page.locator(`[id="rf-night-pain/1/1|${YNU}|Y"] input`).focus();
      await page.keyboard.press('Space');
      await poll(async () => answerIn((await savedDraft(page))?.response, 'rf-night-pain')?.valueCoding?.code, {
        timeout: 10_000,
      }).toBe('Y');
      expect(await page.locator('#progress-text').textContent()).toBe('Part 2 of 5');
      expect(page.errors).toEqual([]);
    } finally {
      await closeTablet(page);
    }
  }, 60_000);

  it('offline mid-form and at submit: she finishes, it is sent when the network returns, exactly once', async () => {
    const page = await openTablet();
    const { code } = await h.tablet.createHandoff({ patientId: 'sandbox-patient-5', staff: STAFF });
    await startWithCode(page, code);
    await page.context().setOffline(true);
    try {
      await answerAll(page);
      await page.locator('#submit').tap();
      await page.locator('#queued-note').waitFor({ state: 'visible' });
      expect(storedFor('sandbox-patient-5')).toHaveLength(0);
      // What waits on the tablet is encrypted: no answer is readable in IndexedDB; the key cannot be exported.
      const records = await vaultRecords(page);
      expect(records.pending).toBe('["iv","cipher"] ArrayBuffer');
      expect(records.key).toBe('CryptoKey AES-GCM extractable=false');
      expect(records.draft).toBeUndefined();
    } finally {
      await page.context().setOffline(false);
    }
    await page.locator('#code-screen').waitFor({ state: 'visible', timeout: 20_000 });
    await poll(() => storedFor('sandbox-patient-5').length).toBe(1);
    expect(await tabletHoldsNothing(page)).toEqual({ session: 0, local: 0, databases: 0, form: 0 });
    await closeTablet(page);
  }, 90_000);
});

describe('each part is checked before Next', () => {
  /** The linkId of the question that holds the focus (LHC-Forms ids: `<linkId>/1/1…`). */
  const focusedQuestion = (page: Page) =>
    page.evaluate(
      () =>
        document.activeElement
          ?.closest('[id^="item-"]')
          ?.id.replace(/^item-/, '')
          .split('/')[0] ?? null,
    );
  const listed = (page: Page) => page.locator('#form-errors li').allTextContents();

  it('required questions left unanswered, or an answer LHC-Forms rejects: listed, focus on the first, and Next stays; the last page sends her nowhere back', async () => {
    const page = await openTablet();
    try {
      const { code } = await h.tablet.createHandoff({ patientId: 'sandbox-patient-2', staff: STAFF });
      await startWithCode(page, code);
      const age = page.locator('[id="age/1/1"]');
      await age.tap();
      await age.pressSequentially('5x');
      await page.locator('#next').tap();
      await page.locator('#form-errors').waitFor({ state: 'visible' });
      expect(await page.locator('#progress-text').textContent()).toBe('Part 1 of 5');
      expect((await listed(page)).join('\n')).toContain('must be an integer number.');
      expect(await focusedQuestion(page)).toBe('age');
      await age.fill('');
      await age.pressSequentially('45');
      await tapIfShown(page, 'leg-symptoms', 'none');
      await page.locator('#next').tap();
      expect(await page.locator('#progress-text').textContent()).toBe('Part 2 of 5');

      // The warning signs, none answered: every required one is listed, the first holds the focus.
      await page.locator('#next').tap();
      await page.locator('#form-errors').waitFor({ state: 'visible' });
      expect(await page.locator('#progress-text').textContent()).toBe('Part 2 of 5');
      const required = RED_FLAGS.filter((l) => l !== 'rf-weakness-worsening');
      expect((await listed(page)).length).toBeGreaterThanOrEqual(required.length);
      expect((await listed(page)).every((t) => /requires a value|needs an answer/.test(t))).toBe(true);
      // Focus on the first question at fault on the screen (marked, with aria-invalid on its answers).
      const firstMarked = await page.evaluate(
        () =>
          document
            .querySelector('#lforms-form .tablet-problem')
            ?.id.replace(/^item-/, '')
            .split('/')[0],
      );
      expect([...required, 'leg-symptoms']).toContain(firstMarked);
      expect(await focusedQuestion(page)).toBe(firstMarked);
      expect(await page.evaluate(() => document.activeElement?.getAttribute('aria-invalid'))).toBe('true');
      expect(await axeViolations(page)).toEqual([]);
      await page.screenshot({ path: path.join(SCREENSHOTS, 'part-problems-768x1024.png') });
      // Answered one by one, the list follows; the question still missing is where Next sends the focus.
      const no = (linkId: string) => (['rf-leg-weakness', 'rf-trauma', 'leg-symptoms'].includes(linkId) ? 'none' : 'N');
      for (const linkId of required.filter((l) => l !== 'rf-night-pain')) await tapAnswer(page, linkId, no(linkId));
      await tapIfShown(page, 'leg-symptoms', 'none');
      await poll(() => listed(page), { timeout: 10_000 }).toHaveLength(1);
      await page.locator('#next').tap();
      expect(await page.locator('#progress-text').textContent()).toBe('Part 2 of 5');
      expect(await focusedQuestion(page)).toBe('rf-night-pain');
      await tapAnswer(page, 'rf-night-pain', 'N');
      await page.locator('#next').tap();
      expect(await page.locator('#progress-text').textContent()).toBe('Part 3 of 5');
      // Nothing left to find at the end: the last page sends.
      for (let i = 0; i < 2; i++) await page.locator('#next').tap();
      await page.locator('#submit').tap();
      await page.locator('#thanks-screen h1').waitFor();
      await poll(() => storedFor('sandbox-patient-2').length).toBe(1);
      expect(page.errors).toEqual([]);
    } finally {
      await closeTablet(page);
    }
  }, 90_000);

  it('a typed age more than a year from the record asks her to check it (in her language); within a year, nothing: two patients at once', async () => {
    // Birth dates derived from today (the tablet's own clock) and far from a birthday: 52 and 67 today.
    const today = new Date();
    const [ana, bea] = [await openTablet(), await openTablet()];
    try {
      const a = await h.tablet.createHandoff({
        patientId: 'sandbox-patient-4',
        patientName: 'Ana',
        staff: STAFF,
        birthDate: birthDateForAge(52, today),
      });
      const b = await h.tablet.createHandoff({
        patientId: 'sandbox-patient-5',
        patientName: 'Bea',
        staff: STAFF,
        birthDate: birthDateForAge(67, today),
      });
      await bea.locator('[data-lang="es"]').tap();
      await startWithCode(ana, a.code);
      await startWithCode(bea, b.code);
      const typeAge = async (page: typeof ana, years: number) => {
        const age = page.locator('[id="age/1/1"]');
        await age.fill('');
        await age.pressSequentially(String(years));
        await tapIfShown(page, 'leg-symptoms', 'none');
        await page.locator('#next').tap();
      };
      // Ana: 53 is within a year of 52: no question, on to part 2.
      await typeAge(ana, 53);
      expect(await ana.locator('#progress-text').textContent()).toBe('Part 2 of 5');
      expect(await ana.locator('#age-check').isVisible()).toBe(false);
      // Bea types Ana's age: asked, in Spanish, without the record's age; she changes it.
      await typeAge(bea, 53);
      await bea.locator('#age-check').waitFor({ state: 'visible' });
      expect(await bea.locator('#age-check-text').textContent()).toBe(
        'Ha escrito que tiene 53 años. No coincide con la edad de su historia clínica. ¿Es correcto: 53 años?',
      );
      expect(await bea.locator('#age-check').textContent()).not.toContain('67');
      expect(await bea.evaluate(() => document.activeElement?.id)).toBe('age-check-title');
      expect(await axeViolations(bea)).toEqual([]);
      await bea.screenshot({ path: path.join(SCREENSHOTS, 'age-check-768x1024-es.png') });
      await bea.locator('#age-check-change').tap();
      expect(await bea.locator('#age-check').isVisible()).toBe(false);
      expect(await bea.evaluate(() => document.activeElement?.id)).toBe('age/1/1');
      expect(await bea.locator('#progress-text').textContent()).toBe('Parte 1 de 5');
      await typeAge(bea, 68);
      expect(await bea.locator('#progress-text').textContent()).toBe('Parte 2 de 5');
      expect(await bea.locator('#age-check').isVisible()).toBe(false);
      // Ana goes back and types 50 (two years off): asked; she confirms, and is not asked again for 50.
      await ana.locator('#back').tap();
      await typeAge(ana, 50);
      await ana.locator('#age-check').waitFor({ state: 'visible' });
      expect(await ana.locator('#age-check-text').textContent()).toBe(
        'You wrote that you are 50 years old. That is different from the age in your clinic record. Is 50 right?',
      );
      await ana.locator('#age-check-yes').tap();
      expect(await ana.locator('#progress-text').textContent()).toBe('Part 2 of 5');
      await ana.locator('#back').tap();
      await ana.locator('#next').tap();
      expect(await ana.locator('#progress-text').textContent()).toBe('Part 2 of 5');
      expect(await ana.locator('#age-check').isVisible()).toBe(false);
      expect([...ana.errors, ...bea.errors]).toEqual([]);
    } finally {
      await closeTablet(ana);
      await closeTablet(bea);
    }
  }, 90_000);
});

describe('QR hand-off: the tablet opened at /tablet/#code=…', () => {
  it('claims the code at once, as if typed, and drops it from the address bar', async () => {
    const { code } = await h.tablet.createHandoff({
      patientId: 'sandbox-patient-2',
      patientName: 'Carmen',
      staff: STAFF,
    });
    // Typed codes may carry a dash and lower case; a code from the fragment is treated exactly the same.
    const page = await openTablet(h.baseUrl, `#code=${code.slice(0, 3).toLowerCase()}-${code.slice(3)}`);
    await page.locator('[id="age/1/1"]').waitFor();
    expect(await page.locator('#who').textContent()).toBe('Questions for Carmen');
    expect(await page.evaluate(() => location.href)).toBe(`${h.baseUrl}/tablet/?device=bay-1`);
    // Spent: the same code does not work a second time.
    const again = await fetch(`${h.baseUrl}/tablet/api/claim`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ code }),
    });
    expect(again.status).toBe(404);
    expect(page.errors).toEqual([]);
    await closeTablet(page);
  }, 60_000);

  it('a used or unknown code shows the usual message on the code screen', async () => {
    const page = await openTablet(h.baseUrl, '#code=ZZZ999');
    await poll(() => page.locator('#code-error').textContent()).toContain('This code does not work');
    expect(await page.locator('#code-screen').isVisible()).toBe(true);
    expect(await page.evaluate(() => location.hash)).toBe('');
    expect(await tabletHoldsNothing(page)).toEqual({ session: 0, local: 0, databases: 0, form: 0 });
    await closeTablet(page);
  }, 60_000);
});

describe('the tablet when left alone', () => {
  it('shows a countdown, then wipes the form and returns to the code screen', async () => {
    // The product's idle timeout (3 minutes, the last 30 s a countdown), on the page's clock: moved forward
    // instead of waited for.
    const page = await openOn(browser, h.baseUrl, '', { fakeClock: true });
    const { code } = await h.tablet.createHandoff({ patientId: 'sandbox-patient-6', staff: STAFF });
    await startWithCode(page, code);
    const age = page.locator('[id="age/1/1"]');
    await age.tap();
    await age.pressSequentially('60');
    await page.clock.fastForward(150_000);
    await page.locator('#idle').waitFor({ state: 'visible' });
    expect(Number(await page.locator('#idle-seconds').textContent())).toBeGreaterThan(0);
    await page.clock.runFor(30_000);
    await page.locator('#code-screen').waitFor({ state: 'visible', timeout: 15_000 });
    expect(await tabletHoldsNothing(page)).toEqual({ session: 0, local: 0, databases: 0, form: 0 });
    // The code was spent, and the session is gone on the server.
    const res = await fetch(`${h.baseUrl}/tablet/api/claim`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ code }),
    });
    expect(res.status).toBe(404);
    await closeTablet(page);
  }, 60_000);
});
