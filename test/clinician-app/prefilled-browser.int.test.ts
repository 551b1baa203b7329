/**
 * Where a pre-filled weight came from, through the real form: an EHR launch in Chromium pre-fills the latest
 * weight from the record (`$populate` marks it `ext-prefilled-from`), LHC-Forms rebuilds the answers when the
 * app submits, and the results page says where the weight behind a bone-density flag came from. Kept as
 * pre-filled, it is the record's (with the Observation's date); changed by the clinician, it is the clinician's.
 * Two patients in one server, one after the other.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Page } from 'playwright-core';
import { fillIntake, hasText, launchFromEhr, openBrowser, typeInto } from './browser-support.js';
import { startAppHarness, type AppHarness } from './harness.js';
import { answersTo } from '../support/responses.js';

const PREFILLED_FROM = 'https://periplan.app/fhir/StructureDefinition/ext-prefilled-from';
/** "My periods are changing": with a body weight under 60 kg, BMD-05 fires and names the weight as its criterion. */
const PERIMENOPAUSAL = 'menopausal-status/1/1|http://snomed.info/sct|161541000119104';

let h: AppHarness;
let browser: Awaited<ReturnType<typeof openBrowser>>;
beforeAll(async () => {
  h = await startAppHarness();
  browser = await openBrowser();
}, 60_000);
afterAll(async () => {
  await browser?.close();
  await h?.close();
});

/** The newest body weight in the record (what `$populate` pre-fills), read from the store: its id, value and date. */
function latestWeight(patientId: string): fhir4.Observation {
  const { matches } = h.ehr.store.search('Observation', [
    ['subject', `Patient/${patientId}`],
    ['code', 'http://loinc.org|29463-7'],
    ['_sort', '-date'],
    ['_count', '1'],
  ]);
  expect(matches).toHaveLength(1);
  return matches[0] as fhir4.Observation;
}

/** The intake responses stored for a patient. */
function storedResponses(patientId: string): fhir4.QuestionnaireResponse[] {
  return h.ehr.store.search('QuestionnaireResponse', [['subject', `Patient/${patientId}`]])
    .matches as fhir4.QuestionnaireResponse[];
}

/** Launch for the patient, answer the intake (perimenopausal, no warning signs), optionally retype the weight, submit, open her results. */
async function submitIntake(name: string, weight?: string): Promise<Page> {
  const app = await launchFromEhr(browser.context, h.baseUrl, name);
  await app.waitForSelector('body[data-form-ready="1"]', { timeout: 60_000 });
  await fillIntake(app, []);
  await app.locator(`[id="${PERIMENOPAUSAL}"]`).click();
  if (weight !== undefined) await typeInto(app, 'weight-kg', weight);
  await app.click('#submit');
  await app.waitForURL(/#\/results\//, { timeout: 30_000 });
  await app.waitForSelector('article[data-rule="BMD-05"]', { timeout: 30_000 });
  return app;
}

describe('a pre-filled weight through the browser form', () => {
  it('kept as pre-filled: the submitted response carries ext-prefilled-from and the basis says "pre-filled from the record … recorded <date>"', async () => {
    const record = latestWeight('sandbox-patient-4');
    const recorded = record.effectiveDateTime!.slice(0, 10);
    const app = await submitIntake('Priya Shah');

    const [stored] = storedResponses('sandbox-patient-4');
    const answer = answersTo(stored, 'weight-kg')?.[0];
    expect(answer?.valueDecimal ?? answer?.valueQuantity?.value).toBe(record.valueQuantity?.value);
    const marker = answer?.extension?.find((e) => e.url === PREFILLED_FROM);
    expect(marker?.extension?.find((e) => e.url === 'observation')?.valueReference?.reference).toBe(
      `Observation/${record.id}`,
    );
    expect(marker?.extension?.find((e) => e.url === 'date')?.valueDateTime).toBe(record.effectiveDateTime);

    const criterion = app.locator('article[data-rule="BMD-05"] li[data-items~="weight-kg"]');
    await hasText(criterion, `pre-filled from the record (Observation/${record.id}, recorded ${recorded})`);
    expect(await criterion.textContent()).not.toContain('the clinician');
    await app.close();
  }, 180_000);

  it('changed by the clinician: no ext-prefilled-from on the submitted answer, and the basis names the clinician', async () => {
    const record = latestWeight('sandbox-patient-1');
    expect(record.valueQuantity?.value).not.toBe(55);
    const app = await submitIntake('Claire Louise Hughes', '55');

    const [stored] = storedResponses('sandbox-patient-1');
    const answer = answersTo(stored, 'weight-kg')?.[0];
    expect(answer?.valueDecimal ?? answer?.valueQuantity?.value).toBe(55);
    expect(answer?.extension?.some((e) => e.url === PREFILLED_FROM) ?? false).toBe(false);

    const criterion = app.locator('article[data-rule="BMD-05"] li[data-items~="weight-kg"]');
    await hasText(criterion, 'from the clinician');
    expect(await criterion.textContent()).not.toContain('pre-filled from the record');
    // The first patient's response is untouched by the second one's.
    const [first] = storedResponses('sandbox-patient-4');
    expect(answersTo(first, 'weight-kg')?.[0]?.extension?.some((e) => e.url === PREFILLED_FROM)).toBe(true);
    await app.close();
  }, 180_000);
});
