/** Chromium (system build, driven by playwright-core), axe-core and helpers to fill the LHC-Forms intake. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { poll } from '../support/poll.js';
import { chromium, type BrowserContext, type Frame, type Locator, type Page } from 'playwright-core';
import { CHROMIUM_ARGS, CHROMIUM_PATH } from '../support/chromium.js';

export const SCREENSHOTS = path.resolve(
  path.dirname(new URL(import.meta.url).pathname),
  '../../test-results/clinician-app',
);
const AXE_SOURCE = fs.readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

export async function openBrowser(): Promise<{ context: BrowserContext; close(): Promise<void> }> {
  fs.mkdirSync(SCREENSHOTS, { recursive: true });
  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'clinician-app-chromium-'));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM_PATH,
    headless: true,
    viewport: { width: 1366, height: 768 },
    args: CHROMIUM_ARGS,
  });
  return {
    context,
    async close() {
      await context.close();
      fs.rmSync(userDataDir, { recursive: true, force: true });
    },
  };
}

export interface AxeViolation {
  id: string;
  impact: string | null;
  help: string;
  nodes: { target: string[] }[];
}

/** Serious and critical WCAG 2.1 A/AA violations on the page (or frame). */
export async function axeViolations(target: Page | Frame): Promise<AxeViolation[]> {
  await target.evaluate(AXE_SOURCE);
  const result = (await target.evaluate(() =>
    (
      window as unknown as { axe: { run(ctx: unknown, opts: unknown): Promise<{ violations: AxeViolation[] }> } }
    ).axe.run(document, {
      runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] },
    }),
  )) as { violations: AxeViolation[] };
  return result.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => ({
      id: v.id,
      impact: v.impact,
      help: v.help,
      nodes: v.nodes.slice(0, 5).map((n) => ({ target: n.target })),
    }));
}

const YNU = 'http://terminology.hl7.org/CodeSystem/v2-0136';
const LOCAL = 'https://periplan.app/fhir/CodeSystem/back-pain-answer';
const UNSURE = 'http://terminology.hl7.org/CodeSystem/data-absent-reason|asked-unknown';

/** The warning-signs questions (leg-symptoms, an RF-01 criterion, is asked with them). */
export const RED_FLAGS = [
  'rf-saddle-numbness',
  'rf-bladder-bowel',
  'rf-leg-weakness',
  'rf-walking-difficulty',
  'rf-fever',
  'rf-infection-risk',
  'rf-cancer-history',
  'rf-weight-loss',
  'rf-night-pain',
  'rf-trauma',
  'rf-steroids',
  'leg-symptoms',
];

/** The "no" answer of a warning-sign question: the local `none` for the choice ones, else N. */
export function noAnswer(linkId: string): string {
  return linkId === 'rf-leg-weakness' || linkId === 'rf-trauma' || linkId === 'leg-symptoms' ? 'none' : 'N';
}

/** Click an answer the way a user does: on its label. `answer` is `Y`, `N`, `unsure` or a local code. */
export async function choose(page: Page | Frame, linkId: string, answer: string): Promise<void> {
  const value =
    answer === 'Y' || answer === 'N' ? `${YNU}|${answer}` : answer === 'unsure' ? UNSURE : `${LOCAL}|${answer}`;
  await page.locator(`[id="${linkId}/1/1|${value}"]`).click();
}

export async function typeInto(page: Page | Frame, linkId: string, text: string): Promise<void> {
  const input = page.locator(`[id="${linkId}/1/1"]`);
  await input.click();
  await input.fill('');
  await input.pressSequentially(text);
  await input.press('Tab');
}

/** Launch the app from the sandbox launcher as the sandbox clinician, for the patient whose label contains `patientName`. */
export async function launchFromEhr(
  context: BrowserContext,
  baseUrl: string,
  patientName: string,
  display: 'tab' | 'embedded' = 'tab',
): Promise<Page> {
  const launcher = await context.newPage();
  await launcher.goto(`${baseUrl}/ehr`);
  await launcher.selectOption('#practitioner', { index: 1 });
  const value = await launcher.locator('#patient option', { hasText: patientName }).getAttribute('value');
  await launcher.selectOption('#patient', value!);
  await launcher.check(display === 'tab' ? '#display-tab' : '#display-embedded');
  const [app] = await Promise.all([context.waitForEvent('page'), launcher.click('#launch-form button[type=submit]')]);
  await launcher.close();
  await app.waitForLoadState('domcontentloaded');
  return app;
}

/** Wait (up to 15 s) until the element's text contains `text` (jest has no web-first assertions). */
export async function hasText(locator: Locator, text: string): Promise<void> {
  await poll(async () => ((await locator.count()) ? ((await locator.first().textContent()) ?? '') : ''), {
    timeout: 15_000,
  }).toContain(text);
}

export async function hasExactText(locator: Locator, text: string): Promise<void> {
  await poll(async () => ((await locator.count()) ? ((await locator.first().textContent()) ?? '').trim() : ''), {
    timeout: 15_000,
  }).toBe(text);
}

/** Whole years from an ISO birth date to a moment, as the server computes the pre-filled `age` (on the UTC date). */
export function ageOn(birthDate: string, at: Date): number {
  const day = at.toISOString().slice(0, 10);
  const years = Number(day.slice(0, 4)) - Number(birthDate.slice(0, 4));
  return day.slice(5) < birthDate.slice(5) ? years - 1 : years;
}

/** The birth date of a sandbox patient, from the seed the sandbox EHR loads (so no test carries an age that a date can break). */
export function sandboxBirthDate(name: string): string {
  const seed = JSON.parse(
    fs.readFileSync(
      path.resolve(path.dirname(new URL(import.meta.url).pathname), '../../src/ehr/store/seed/sandbox.json'),
      'utf8',
    ),
  ) as {
    patients: { given: string[]; family: string; birthDate: string }[];
  };
  const patient = seed.patients.find(
    (p) => `${p.given.join(' ')} ${p.family}`.includes(name) || name.includes(p.family),
  );
  if (!patient) throw new Error(`No sandbox patient named ${name} in the seed`);
  return patient.birthDate;
}

/**
 * The ages a form pre-filled between `since` and now may show: the server takes "today" when it populates, so
 * the expected age is derived from the same clock, and a birthday at midnight during the test cannot break it.
 */
export function agesSince(birthDate: string, since: Date): number[] {
  return [...new Set([ageOn(birthDate, since), ageOn(birthDate, new Date())])];
}

/** All red flags "No" except the ones given as "Y"; the rest of the form as a patient with back pain might answer it. */
export async function fillIntake(page: Page | Frame, yes: string[]): Promise<void> {
  await typeInto(page, 'pain-severity', '6');
  await typeInto(page, 'pain-duration-weeks', '3');
  await choose(page, 'pain-trend', 'same');
  await choose(page, 'pain-onset', 'gradual');
  // The warning signs, leg-symptoms among them.
  for (const linkId of RED_FLAGS) await choose(page, linkId, yes.includes(linkId) ? 'Y' : noAnswer(linkId));
  await typeInto(page, 'walking-days-per-week', '2');
}
