/**
 * Real Chromium for the tablet's tests (system build, driven by playwright-core): each tablet is a fresh
 * browser context (its own IndexedDB, like a separate device) with touch emulation at 768×1024, plus helpers
 * that answer the intake by tapping and look at what the tablet and the EHR hold.
 */
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { chromium, type Browser, type Page } from 'playwright-core';
import type { TabletHarness } from './harness.js';
import { CHROMIUM_ARGS, CHROMIUM_PATH } from '../support/chromium.js';

export const SCREENSHOTS = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../../test-results/tablet');
const AXE_SOURCE = fs.readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
export const YNU = 'http://terminology.hl7.org/CodeSystem/v2-0136';
const LOCAL = 'https://periplan.app/fhir/CodeSystem/back-pain-answer';
/** The questions of the warning-signs screen (leg-symptoms, an RF-01 criterion, is asked with them). */
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

export async function launchChromium(): Promise<Browser> {
  fs.mkdirSync(SCREENSHOTS, { recursive: true });
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    args: ['--headless', ...CHROMIUM_ARGS],
  });
}

export type TabletPage = Page & { errors: string[] };

/**
 * A new tablet (fresh browser context) showing `/tablet/?device=bay-1` plus `hash`; page errors and CSP reports
 * are collected. `fakeClock`: the page's timers and Date run on Playwright's clock (flowing as usual until the
 * test moves it), so a test can skip through a long product timer instead of waiting for it.
 */
export async function openTablet(
  browser: Browser,
  baseUrl: string,
  hash = '',
  options: { fakeClock?: boolean } = {},
): Promise<TabletPage> {
  const context = await browser.newContext({ viewport: { width: 768, height: 1024 }, hasTouch: true });
  if (options.fakeClock) await context.clock.install();
  const page = (await context.newPage()) as TabletPage;
  page.errors = [];
  page.on('pageerror', (e) => page.errors.push(process.env.TABLET_STACKS ? String(e.stack) : e.message));
  page.on('console', (m) =>
    m.type() === 'error' && /Content Security Policy/.test(m.text()) ? page.errors.push(m.text()) : undefined,
  );
  await page.goto(`${baseUrl}/tablet/?device=bay-1${hash}`);
  return page;
}

export async function closeTablet(page: Page): Promise<void> {
  await page.context().close();
}

export async function axeViolations(page: Page) {
  await page.evaluate(AXE_SOURCE);
  const result = await page.evaluate(() =>
    (
      window as unknown as {
        axe: {
          run(
            ctx: unknown,
            opts: unknown,
          ): Promise<{ violations: { id: string; impact: string | null; nodes: { target: string[] }[] }[] }>;
        };
      }
    ).axe.run(document, {
      runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] },
    }),
  );
  return result.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => ({ id: v.id, nodes: v.nodes.slice(0, 3).map((n) => n.target) }));
}

export async function startWithCode(page: Page, code: string) {
  await page.locator('#code').tap();
  await page.locator('#code').pressSequentially(code);
  await page.locator('#code-form button[type=submit]').tap();
  await page.locator('[id="age/1/1"]').waitFor();
}

/** Tap an answer: Y/N, or a local code (`none` for the leg-symptoms, weakness and trauma questions). */
export async function tapAnswer(page: Page, linkId: string, code: string) {
  const value = code === 'Y' || code === 'N' ? `${YNU}|${code}` : `${LOCAL}|${code}`;
  await page.locator(`[id="${linkId}/1/1|${value}"]`).tap();
}

/** Tap an answer when its question is on the screen now (and not answered yet). */
export async function tapIfShown(page: Page, linkId: string, code: string) {
  const value = code === 'Y' || code === 'N' ? `${YNU}|${code}` : `${LOCAL}|${code}`;
  const answer = page.locator(`[id="${linkId}/1/1|${value}"]`);
  if ((await answer.isVisible()) && !(await answer.locator('input').isChecked())) await answer.tap();
}

/** Answer every screen by tapping; `yes` lists red-flag questions answered Yes; `age` is typed (default 52); `afterFirst` runs after the first Next. */
export async function answerAll(
  page: Page,
  options: { yes?: string[]; age?: number; afterFirst?: () => Promise<void>; beforeLast?: () => Promise<void> } = {},
) {
  const age = page.locator('[id="age/1/1"]');
  await age.tap();
  await age.pressSequentially(String(options.age ?? 52));
  await tapIfShown(page, 'leg-symptoms', 'none');
  await page.locator('#next').tap();
  await options.afterFirst?.();
  // Wherever the Questionnaire puts it: the leg-symptoms question may be on the first or the second part.
  await tapIfShown(page, 'leg-symptoms', 'none');
  for (const linkId of RED_FLAGS) {
    await tapAnswer(page, linkId, options.yes?.includes(linkId) ? 'Y' : noAnswer(linkId));
  }
  for (let i = 0; i < 3; i++) await page.locator('#next').tap();
  await options.beforeLast?.();
}

/** The birth date of a sandbox patient, from the seed the sandbox EHR loads (what the clinician app sends with a hand-off). */
export function sandboxBirthDate(patientId: string): string {
  const seed = JSON.parse(
    fs.readFileSync(
      path.resolve(path.dirname(new URL(import.meta.url).pathname), '../../src/ehr/store/seed/sandbox.json'),
      'utf8',
    ),
  ) as { patients: { id: string; birthDate: string }[] };
  const patient = seed.patients.find((p) => p.id === patientId);
  if (!patient) throw new Error(`No sandbox patient ${patientId} in the seed`);
  return patient.birthDate;
}

/** A birth date that makes someone `years` old on the UTC day of `at`, far from a birthday (100 days after the last one). */
export function birthDateForAge(years: number, at: Date): string {
  const birthday = new Date(
    Date.UTC(at.getUTCFullYear() - years, at.getUTCMonth(), at.getUTCDate()) - 100 * 86_400_000,
  );
  return birthday.toISOString().slice(0, 10);
}

export function storedFor(h: TabletHarness, patientId: string): fhir4.QuestionnaireResponse[] {
  return h.ehr.store.search('QuestionnaireResponse', [['subject', `Patient/${patientId}`]])
    .matches as fhir4.QuestionnaireResponse[];
}

/** What the tablet still holds: Web Storage entries, IndexedDB databases, rendered form elements. */
export async function tabletHoldsNothing(page: Page) {
  return page.evaluate(async () => ({
    session: sessionStorage.length,
    local: localStorage.length,
    databases: (await indexedDB.databases()).length,
    form: document.getElementById('lforms-form')!.childElementCount,
  }));
}

/** The names of the records in the tablet's IndexedDB vault, and whether each is ciphertext (`{iv, cipher}`), a CryptoKey or plain. */
export async function vaultRecords(page: Page): Promise<Record<string, string>> {
  return page.evaluate(
    () =>
      new Promise<Record<string, string>>((resolve) => {
        const req = indexedDB.open('periplan-tablet');
        req.onupgradeneeded = () => req.transaction!.abort();
        req.onerror = () => resolve({});
        req.onsuccess = () => {
          const store = req.result.transaction('vault').objectStore('vault');
          const out: Record<string, string> = {};
          const cursor = store.openCursor();
          cursor.onsuccess = () => {
            const c = cursor.result;
            if (!c) {
              req.result.close();
              return resolve(out);
            }
            const v = c.value as { iv?: unknown; cipher?: unknown } | CryptoKey | number;
            out[String(c.key)] =
              v instanceof CryptoKey
                ? `CryptoKey ${v.algorithm.name} extractable=${v.extractable}`
                : typeof v === 'object' && v && 'cipher' in v
                  ? `${JSON.stringify(Object.keys(v))} ${(v as { cipher: object }).cipher.constructor.name}`
                  : typeof v;
            c.continue();
          };
        };
      }),
  );
}

/** The tablet's saved draft, decrypted by the tablet's own vault module (the key never leaves the browser). */
export async function savedDraft(
  page: Page,
): Promise<{ response: fhir4.QuestionnaireResponse; step: number; lang: string } | null> {
  // A string, not a function: the test runner would rewrite `import()` inside a function.
  return page.evaluate(`(async () => {
    const src = document.querySelector('script[type=module]').src.replace(/tablet\\.js$/, 'vault.js');
    return (await import(src)).readEncrypted('draft');
  })()`);
}

/** The first answer to `linkId` anywhere in a response (nested groups included). */
export const answerIn = (
  r: fhir4.QuestionnaireResponse | undefined,
  linkId: string,
): fhir4.QuestionnaireResponseItemAnswer | undefined => {
  const find = (items: fhir4.QuestionnaireResponseItem[] | undefined): fhir4.QuestionnaireResponseItem | undefined => {
    for (const i of items ?? []) {
      if (i.linkId === linkId) return i;
      const inner = find(i.item);
      if (inner) return inner;
    }
    return undefined;
  };
  return find(r?.item)?.answer?.[0];
};
