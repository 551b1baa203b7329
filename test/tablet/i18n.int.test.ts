/**
 * LHC-Forms' own words on the tablet in Spanish. LHC-Forms 40 has no run-time language setting (its language
 * is chosen when it is built), so the tablet translates what it renders (src/tablet/public/lforms-es.js).
 * The English reference is read from the installed LHC-Forms build itself, so an upgrade that adds or rewords
 * a message fails here instead of showing English to a Spanish-speaking patient.
 */
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { poll } from '../support/poll.js';
import type { Browser, Page } from 'playwright-core';
import { startTabletHarness, STAFF, type TabletHarness } from './harness.js';
import { closeTablet, launchChromium, openTablet, startWithCode } from './browser-support.js';

const REPO = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');

/** LHC-Forms' language file as compiled into its build (`JSON.parse('{"helpTitle":…}')` in main.js). */
function lformsLanguageFile(): Record<string, unknown> {
  const main = fs.readFileSync(path.join(REPO, 'node_modules/lforms/dist/lforms/webcomponent/main.js'), 'utf8');
  const literal = /JSON\.parse\('(\{"helpTitle"(?:[^'\\]|\\.)*)'\)/.exec(main)?.[1];
  if (!literal)
    throw new Error('LHC-Forms language file not found in main.js: check lforms-es.js against the new build');
  // The JSON text is a single-quoted JavaScript string literal in the build: let JavaScript unescape it.
  return JSON.parse(new Function(`return '${literal}'`)() as string) as Record<string, unknown>;
}

/** Its messages, flattened (`errorMessages.INT`), without the formats and patterns that are not words. */
function lformsMessages(): Record<string, string> {
  const out: Record<string, string> = {};
  const skip = new Set([
    'dateFormat',
    'dateTimeFormat',
    'timeFormat',
    'decimalCharacter',
    'decimalRegex',
    'parsedDateFormats',
  ]);
  for (const [key, value] of Object.entries(lformsLanguageFile())) {
    if (skip.has(key)) continue;
    if (typeof value === 'string') out[key] = value;
    else for (const [k, v] of Object.entries(value as Record<string, string>)) out[`${key}.${k}`] = v;
  }
  return out;
}

describe('the Spanish table of LHC-Forms messages', () => {
  it('has every message of the installed LHC-Forms build, with its current English wording', async () => {
    const { MESSAGES, toSpanish } = (await import(
      pathToFileURL(path.join(REPO, 'src/tablet/public/lforms-es.js')).href
    )) as {
      MESSAGES: Record<string, [string, string]>;
      toSpanish(text: string): string | undefined;
    };
    const english = lformsMessages();
    expect(Object.keys(english).length).toBeGreaterThan(40);
    expect(Object.fromEntries(Object.entries(MESSAGES).map(([k, [en]]) => [k, en]))).toEqual(english);
    // Parameters are carried over.
    expect(toSpanish('must be a value greater than or equal to 18.')).toBe('debe ser 18 o más.');
    expect(toSpanish('Help button for ¿Cuántos años tiene?')).toBe('Ayuda: ¿Cuántos años tiene?');
    // Text that is not LHC-Forms' own is left alone.
    expect(toSpanish('¿Cuántos años tiene?')).toBeUndefined();
  });
});

describe('LHC-Forms in the browser', () => {
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

  /** English LHC-Forms words that show anywhere: text, or ARIA labels, titles and placeholders. */
  const english = Object.values(lformsMessages())
    .map((m) => m.split('{lformsParam}')[0]!.trim())
    // Words that read the same in Spanish, or are part of a Spanish translation ("aviso legal").
    .filter((m) => m.length > 3 && !['legal', 'HH:MM:SS'].includes(m))
    .concat(['Help button for', 'Checkbox ', 'Required', 'question-circle']);

  async function lformsEnglishOnPage(page: Page): Promise<string[]> {
    const shown = await page.evaluate(() => {
      const out: string[] = [document.body.innerText];
      for (const el of document.querySelectorAll('[aria-label], [title], [placeholder]'))
        for (const a of ['aria-label', 'title', 'placeholder']) out.push(el.getAttribute(a) ?? '');
      return out;
    });
    return english.filter((m) => shown.some((s) => s.includes(m)));
  }

  /**
   * Claim, type a non-number for the age and tap Next (LHC-Forms' type message); then a good age, and Next on the
   * warning signs with none answered (its required message). `onEachScreen` runs with each part's messages shown.
   */
  async function showValidationMessages(page: Page, onEachScreen: () => Promise<void>) {
    const { code } = await h.tablet.createHandoff({ patientId: 'sandbox-patient-1', staff: STAFF });
    await startWithCode(page, code);
    const age = page.locator('[id="age/1/1"]');
    await age.tap();
    await age.pressSequentially('ab');
    await page.locator('#next').tap();
    await page.locator('#form-errors').waitFor({ state: 'visible' });
    await page.locator('.lhc-error-msg').first().waitFor({ state: 'attached' });
    await onEachScreen();
    await age.fill('');
    await age.pressSequentially('52');
    await page.locator('#next').tap();
    await poll(() => page.locator('#form-errors').isVisible()).toBe(false);
    await page.locator('#next').tap();
    await page.locator('#form-errors').waitFor({ state: 'visible' });
    await onEachScreen();
  }

  it('with Spanish chosen, no English message of LHC-Forms shows: validation, required answers, hints, labels', async () => {
    const page = await openTablet(browser, h.baseUrl);
    await page.locator('[data-lang="es"]').tap();
    const errors: string[] = [];
    const underFields: string[] = [];
    await showValidationMessages(page, async () => {
      errors.push((await page.locator('#form-errors').textContent()) ?? '');
      // LHC-Forms' own message under the field, as well as in the list.
      underFields.push(...(await page.locator('.lhc-error-msg').allTextContents()));
      expect(await lformsEnglishOnPage(page)).toEqual([]);
    });
    expect(errors[0]).toContain('¿Cuántos años tiene? debe ser un número entero.');
    expect(errors[1]).toContain('necesita una respuesta');
    expect(underFields).toContain('debe ser un número entero.');
    // Help popover (opened by tapping its button).
    await page.locator('button[id^="help-button-"]:visible').first().tap();
    await page.locator('.ant-popover, .lhc-help-popover, [id^="help-content-"]').first().waitFor({ state: 'attached' });
    expect(await lformsEnglishOnPage(page)).toEqual([]);
    expect(page.errors).toEqual([]);
    await closeTablet(page);
  }, 90_000);

  it('with English chosen the same screens show LHC-Forms English (what the Spanish check looks for is there to find)', async () => {
    const page = await openTablet(browser, h.baseUrl);
    const found = new Set<string>();
    await showValidationMessages(page, async () => {
      for (const m of await lformsEnglishOnPage(page)) found.add(m);
    });
    expect([...found]).toEqual(
      expect.arrayContaining(['requires a value', 'must be an integer number.', 'Help button for']),
    );
    await closeTablet(page);
  }, 90_000);

  it('switching to Spanish mid-form re-renders LHC-Forms in Spanish', async () => {
    const page = await openTablet(browser, h.baseUrl);
    await showValidationMessages(page, async () => undefined);
    await page.locator('[data-lang="es"]').tap();
    await poll(() => page.locator('#progress-text').textContent()).toMatch(/^Parte/);
    await page.locator('#next').tap();
    await page.locator('#form-errors').waitFor({ state: 'visible' });
    expect(await page.locator('#form-errors').textContent()).toContain('necesita una respuesta');
    expect(await lformsEnglishOnPage(page)).toEqual([]);
    await closeTablet(page);
  }, 90_000);
});
