/**
 * Patients never meet, in real Chromium through the EHR launch: three patients launched one after another in
 * one server, each form pre-filled with her own newest weight from the sandbox seed (the first launch used
 * to pre-fill every later patient's form with the first patient's weight).
 */
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import { expect } from '../support/expect.js';
import type { BrowserContext } from 'playwright-core';
import { startAppHarness, type AppHarness } from './harness.js';
import { launchFromEhr, openBrowser } from './browser-support.js';
import { sandboxLatestWeightKg, sandboxPatient } from '../support/sandbox-seed.js';

let h: AppHarness;
let browser: Awaited<ReturnType<typeof openBrowser>>;
let context: BrowserContext;

beforeAll(async () => {
  h = await startAppHarness();
  browser = await openBrowser();
  context = browser.context;
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await h?.close();
});

/** Heaviest first, as in the report: her weight must not reach the lighter women launched after her. */
const PATIENTS = ['sandbox-patient-5', 'sandbox-patient-6', 'sandbox-patient-4'];

describe('three patients launched one after another in one server', () => {
  it('each form shows her own weight', async () => {
    const weights = PATIENTS.map(sandboxLatestWeightKg);
    expect(new Set(weights).size).toBe(PATIENTS.length);
    for (const id of PATIENTS) {
      const patient = sandboxPatient(id);
      const name = `${patient.given.join(' ')} ${patient.family}`;
      const app = await launchFromEhr(context, h.baseUrl, name);
      try {
        await app.waitForSelector('body[data-form-ready="1"]', { timeout: 20_000 });
        expect(await app.locator('#banner').textContent(), id).toContain(patient.family);
        const shown = Number(await app.locator('[id="weight-kg/1/1"]').inputValue());
        expect(shown, `weight in ${name}'s form`).toBeCloseTo(sandboxLatestWeightKg(id), 1);
      } finally {
        await app.close();
      }
    }
  }, 120_000);
});
