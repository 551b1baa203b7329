/**
 * The tablet across reloads (an accidental one, or the kiosk browser restarting), in real Chromium: the answers
 * so far come back; a submission queued offline, or whose acknowledgement was lost, is sent after the reload
 * and the EHR holds it exactly once; an unfinished form whose last touch is older than the idle timeout is
 * wiped instead of shown again.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { poll } from '../support/poll.js';
import type { Browser } from 'playwright-core';
import { startTabletHarness, STAFF, type TabletHarness } from './harness.js';
import {
  answerAll,
  answerIn,
  closeTablet,
  launchChromium,
  noAnswer,
  openTablet,
  RED_FLAGS,
  sandboxBirthDate,
  savedDraft,
  startWithCode,
  storedFor,
  tabletHoldsNothing,
  tapAnswer,
  vaultRecords,
  YNU,
} from './browser-support.js';

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

describe('the tablet survives a reload', () => {
  it('mid-form: the answers, the screen and the language come back, and the form can be finished and sent', async () => {
    const page = await openTablet(browser, h.baseUrl, '', { fakeClock: true });
    await page.locator('[data-lang="es"]').tap();
    // With her birth date, as the clinician app hands it over: 61 is far from her recorded age, so she is
    // asked to check it, and confirms (and is not asked again after the reload).
    const { code } = await h.tablet.createHandoff({
      patientId: 'sandbox-patient-1',
      patientName: 'Ana',
      staff: STAFF,
      birthDate: sandboxBirthDate('sandbox-patient-1'),
    });
    await startWithCode(page, code);
    const age = page.locator('[id="age/1/1"]');
    await age.tap();
    await age.pressSequentially('61');
    await page.locator('#next').tap();
    await page.locator('#age-check').waitFor({ state: 'visible' });
    await page.locator('#age-check-yes').tap();
    await tapAnswer(page, 'rf-saddle-numbness', 'N');
    await tapAnswer(page, 'rf-bladder-bowel', 'Y');
    // Saved as she goes (encrypted; read back here through the tablet's own key).
    await poll(async () => answerIn((await savedDraft(page))?.response, 'rf-bladder-bowel')?.valueCoding?.code, {
      timeout: 10_000,
    }).toBe('Y');
    const records = await vaultRecords(page);
    expect(records.draft).toBe('["iv","cipher"] ArrayBuffer');
    expect(records.key).toBe('CryptoKey AES-GCM extractable=false');

    await page.reload();
    await page.locator('[id="rf-saddle-numbness/1/1|' + YNU + '|N"] input').waitFor({ state: 'attached' });
    expect(await page.locator('#progress-text').textContent()).toBe('Parte 2 de 5');
    expect(await page.locator('#who').textContent()).toBe('Preguntas para Ana');
    expect(await page.locator(`[id="rf-saddle-numbness/1/1|${YNU}|N"] input`).isChecked()).toBe(true);
    expect(await page.locator(`[id="rf-bladder-bowel/1/1|${YNU}|Y"] input`).isChecked()).toBe(true);
    expect(await page.locator('[id="age/1/1"]').inputValue()).toBe('61');

    // The same session goes on after the reload: finish and send.
    for (const linkId of RED_FLAGS.slice(2)) await tapAnswer(page, linkId, noAnswer(linkId));
    for (let i = 0; i < 3; i++) await page.locator('#next').tap();
    await page.locator('#submit').tap();
    expect(await page.locator('#age-check').isVisible()).toBe(false);
    await page.locator('#thanks-screen h1').waitFor();
    await poll(() => storedFor(h, 'sandbox-patient-1').length).toBe(1);
    const stored = storedFor(h, 'sandbox-patient-1')[0]!;
    expect(answerIn(stored, 'age')?.valueInteger).toBe(61);
    expect(answerIn(stored, 'rf-bladder-bowel')?.valueCoding?.code).toBe('Y');
    // After the thank-you's few seconds, skipped on the page's clock.
    await page.clock.fastForward(4000);
    await page.locator('#code-screen').waitFor({ state: 'visible', timeout: 15_000 });
    expect(await tabletHoldsNothing(page)).toEqual({ session: 0, local: 0, databases: 0, form: 0 });
    expect(page.errors).toEqual([]);
    await closeTablet(page);
  }, 90_000);

  it('offline at submit, reloaded while the server is still unreachable: sent once the network is back, exactly once', async () => {
    const page = await openTablet(browser, h.baseUrl, '', { fakeClock: true });
    const { code } = await h.tablet.createHandoff({ patientId: 'sandbox-patient-2', staff: STAFF });
    await startWithCode(page, code);
    await answerAll(page);
    await page.context().setOffline(true);
    await page.locator('#submit').tap();
    await page.locator('#queued-note').waitFor({ state: 'visible' });
    expect(await vaultRecords(page)).toEqual({
      key: 'CryptoKey AES-GCM extractable=false',
      pending: '["iv","cipher"] ArrayBuffer',
      'questionnaire-en': '["iv","cipher"] ArrayBuffer', // to render the form again without the server
      activity: 'number',
    });

    // The page loads again but the tablet API does not answer yet.
    h.setTabletOutage(true);
    try {
      await page.context().setOffline(false);
      await page.reload();
      await page.locator('#queued-note').waitFor({ state: 'visible' });
      expect(await page.locator('#thanks-screen').isVisible()).toBe(true);
      expect(storedFor(h, 'sandbox-patient-2')).toHaveLength(0);
      expect((await vaultRecords(page)).pending).toBe('["iv","cipher"] ArrayBuffer');
    } finally {
      h.setTabletOutage(false);
    }
    // Sent at the next retry (every few seconds; skipped to on the page's clock), then wiped and back to the
    // code screen.
    await page.clock.fastForward(5000);
    await page.locator('#code-screen').waitFor({ state: 'visible', timeout: 20_000 });
    expect(storedFor(h, 'sandbox-patient-2')).toHaveLength(1);
    expect(await tabletHoldsNothing(page)).toEqual({ session: 0, local: 0, databases: 0, form: 0 });
    expect(page.errors).toEqual([]);
    await closeTablet(page);
  }, 90_000);

  it('the server got it but the answer was lost: after a reload it is sent again and the EHR still holds one', async () => {
    const page = await openTablet(browser, h.baseUrl);
    const { code } = await h.tablet.createHandoff({ patientId: 'sandbox-patient-3', staff: STAFF });
    await startWithCode(page, code);
    await answerAll(page);
    // The request reaches the server; the connection drops before the tablet reads the answer.
    await page.route('**/tablet/api/submit', async (route) => {
      await route.fetch();
      await route.abort('connectionreset');
    });
    await page.locator('#submit').tap();
    await page.locator('#queued-note').waitFor({ state: 'visible' });
    expect(storedFor(h, 'sandbox-patient-3')).toHaveLength(1);
    await page.unroute('**/tablet/api/submit');

    const resent = page.waitForResponse((r) => r.url().endsWith('/tablet/api/submit'));
    await page.reload();
    expect(await (await resent).json()).toMatchObject({ state: 'sent', duplicate: true });
    await page.locator('#code-screen').waitFor({ state: 'visible', timeout: 20_000 });
    expect(storedFor(h, 'sandbox-patient-3')).toHaveLength(1);
    expect(await tabletHoldsNothing(page)).toEqual({ session: 0, local: 0, databases: 0, form: 0 });
    await closeTablet(page);
  }, 90_000);
});

describe('the page itself while the server cannot be reached (service worker)', () => {
  it('reloads from the cached shell, shows the unfinished form with its answers, queues the submission and sends it once', async () => {
    const page = await openTablet(browser, h.baseUrl);
    const { code } = await h.tablet.createHandoff({ patientId: 'sandbox-patient-5', staff: STAFF });
    await startWithCode(page, code);
    // The worker controls the page and holds the shell and the static files; never an API answer.
    const cached = () =>
      page.evaluate(async () =>
        navigator.serviceWorker.controller
          ? (await (await caches.open('periplan-tablet-shell')).keys()).map((r) => new URL(r.url).pathname)
          : [],
      );
    await poll(async () => (await cached()).filter((p) => p.includes('/lforms/')).length).toBeGreaterThan(3);
    await page.locator('[id="age/1/1"]').tap();
    await page.locator('[id="age/1/1"]').pressSequentially('49');
    await page.locator('#next').tap();
    await tapAnswer(page, 'rf-saddle-numbness', 'N');
    await poll(async () => answerIn((await savedDraft(page))?.response, 'rf-saddle-numbness')?.valueCoding?.code, {
      timeout: 10_000,
    }).toBe('N');
    const paths = await cached();
    expect(paths).toEqual(
      expect.arrayContaining([
        '/tablet/',
        expect.stringMatching(/\/tablet\/assets\/[0-9a-f]+\/tablet\.js$/),
        expect.stringMatching(/\/shared\/lforms-helpers\.js$/),
      ]),
    );
    expect(paths.filter((p) => p.includes('/api/'))).toEqual([]);

    h.setTabletOutage(true, { pageToo: true });
    try {
      expect((await fetch(`${h.baseUrl}/tablet/`).catch(() => null))?.status).toBeUndefined(); // really unreachable
      await page.reload();
      await page.locator(`[id="rf-saddle-numbness/1/1|${YNU}|N"] input`).waitFor({ state: 'attached' });
      expect(await page.locator(`[id="rf-saddle-numbness/1/1|${YNU}|N"] input`).isChecked()).toBe(true);
      expect(await page.locator('[id="age/1/1"]').inputValue()).toBe('49');
      expect(await page.locator('#progress-text').textContent()).toBe('Part 2 of 5');
      for (const linkId of RED_FLAGS.slice(1)) await tapAnswer(page, linkId, noAnswer(linkId));
      for (let i = 0; i < 3; i++) await page.locator('#next').tap();
      await page.locator('#submit').tap();
      await page.locator('#queued-note').waitFor({ state: 'visible' });
      expect(storedFor(h, 'sandbox-patient-5')).toHaveLength(0);
    } finally {
      h.setTabletOutage(false);
    }
    await page.locator('#code-screen').waitFor({ state: 'visible', timeout: 20_000 });
    expect(storedFor(h, 'sandbox-patient-5')).toHaveLength(1);
    expect(answerIn(storedFor(h, 'sandbox-patient-5')[0], 'age')?.valueInteger).toBe(49);
    expect(await tabletHoldsNothing(page)).toEqual({ session: 0, local: 0, databases: 0, form: 0 });
    expect(page.errors).toEqual([]);
    await closeTablet(page);
  }, 90_000);
});

describe('an unfinished form older than the idle timeout', () => {
  let short: TabletHarness;
  beforeAll(async () => {
    // Long enough that a loaded machine still taps the form before the idle countdown covers it.
    short = await startTabletHarness({ idleTimeoutMs: 10_000 });
  });
  afterAll(async () => {
    await short?.close();
  });

  it('is wiped when the page loads again, not shown: IndexedDB empty, the session ended on the server', async () => {
    const page = await openTablet(browser, short.baseUrl);
    const context = page.context();
    const { code } = await short.tablet.createHandoff({ patientId: 'sandbox-patient-4', staff: STAFF });
    await startWithCode(page, code);
    await page.locator('[id="age/1/1"]').tap();
    await page.locator('[id="age/1/1"]').pressSequentially('58');
    await poll(async () => answerIn((await savedDraft(page))?.response, 'age')?.valueInteger, { timeout: 10_000 }).toBe(
      58,
    );
    expect((await short.tablet.sessions()).map((s) => s.patient.reference)).toEqual(['Patient/sandbox-patient-4']);
    // The kiosk browser goes away mid-form and comes back after the idle timeout: the next page's clock starts
    // past it (as if 10.5 s had gone by) instead of the test sleeping through it.
    await page.close();
    await context.clock.install({ time: Date.now() + 10_500 });
    const again = await context.newPage();
    await again.goto(`${short.baseUrl}/tablet/?device=bay-1`);
    await again.locator('#code-screen').waitFor({ state: 'visible' });
    await poll(async () => (await short.tablet.sessions()).length).toBe(0);
    // The wipe on load deletes the vault asynchronously (the code screen does not wait for it).
    await poll(() => tabletHoldsNothing(again), { timeout: 10_000 }).toEqual({
      session: 0,
      local: 0,
      databases: 0,
      form: 0,
    });
    expect(await again.locator('#form-screen').isVisible()).toBe(false);
    await closeTablet(again);
  }, 60_000);
});

describe('a submission queued until after its session ended on the server', () => {
  let short: TabletHarness;
  beforeAll(async () => {
    // Sessions of 5 s: the patient answers offline (the form needs no server once rendered), so only the claim
    // and the Questionnaire must fit in them.
    short = await startTabletHarness({ sessionTtlMs: 5000 });
  });
  afterAll(async () => {
    await short?.close();
  });

  /** Claim on a fresh tablet, go offline, answer everything and send: queued. Returns the page and the session handle. */
  async function queuedOffline(patientId: string) {
    const page = await openTablet(browser, short.baseUrl);
    const { code } = await short.tablet.createHandoff({ patientId, staff: STAFF });
    const claimed = page.waitForResponse((r) => r.url().endsWith('/tablet/api/claim'));
    await startWithCode(page, code);
    const handle = ((await (await claimed).json()) as { session: string }).session;
    await page.context().setOffline(true);
    await answerAll(page);
    await page.locator('#submit').tap();
    await page.locator('#queued-note').waitFor({ state: 'visible' });
    return { page, handle };
  }

  it('is still accepted within the submit grace period: sent once, the tablet wiped', async () => {
    const { page } = await queuedOffline('sandbox-patient-6');
    try {
      // The session ends on the server while the tablet is offline: staff see it as ended and not sent.
      await poll(async () => (await short.tablet.sessions()).map((s) => s.state), { timeout: 20_000 }).toEqual([
        'ended-unsent',
      ]);
    } finally {
      await page.context().setOffline(false);
    }
    await page.locator('#code-screen').waitFor({ state: 'visible', timeout: 20_000 });
    expect(storedFor(short, 'sandbox-patient-6')).toHaveLength(1);
    expect(await tabletHoldsNothing(page)).toEqual({ session: 0, local: 0, databases: 0, form: 0 });
    expect(page.errors).toEqual([]);
    await closeTablet(page);
  }, 90_000);

  it('refused for good (the session is gone): staff are told the answers must be entered again, the tablet is wiped', async () => {
    const { page, handle } = await queuedOffline('sandbox-patient-1');
    const logged: string[] = [];
    page.on('console', (m) => (m.type() === 'error' ? logged.push(m.text()) : undefined));
    // Staff ended it meanwhile (or it was purged): the server no longer knows the handle.
    expect(
      (await fetch(`${short.baseUrl}/tablet/api/end`, { method: 'POST', headers: { 'X-Tablet-Session': handle } }))
        .status,
    ).toBe(204);
    await page.context().setOffline(false);
    await page.locator('#lost-screen').waitFor({ state: 'visible', timeout: 20_000 });
    expect(await page.locator('#lost-screen').textContent()).toContain('could not be sent');
    expect(await page.locator('#thanks-screen').isVisible()).toBe(false);
    expect(storedFor(short, 'sandbox-patient-1')).toHaveLength(0);
    expect(await tabletHoldsNothing(page)).toEqual({ session: 0, local: 0, databases: 0, form: 0 });
    expect(logged.join('\n')).toContain('could not be sent');
    // Staff acknowledge it: back to the code screen.
    await page.locator('#lost-ok').tap();
    await page.locator('#code-screen').waitFor({ state: 'visible' });
    await closeTablet(page);
  }, 90_000);
});
