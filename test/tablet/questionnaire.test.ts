/** The patient's copy of the intake per language, and the canonical English of what she answered. */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { canonicalResponseText, translateQuestionnaire, translationOf } from '../../src/tablet/questionnaire.js';

const REPO = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');
const intake = JSON.parse(
  fs.readFileSync(path.join(REPO, 'questionnaires/back-pain-intake.json'), 'utf8'),
) as fhir4.Questionnaire;

function flatten(items: fhir4.QuestionnaireItem[] | undefined): fhir4.QuestionnaireItem[] {
  return (items ?? []).flatMap((i) => [i, ...flatten(i.item)]);
}
const signature = (q: fhir4.Questionnaire) =>
  flatten(q.item).map((i) => [
    i.linkId,
    i.type,
    (i.answerOption ?? []).map((o) => `${o.valueCoding?.system}|${o.valueCoding?.code}`),
  ]);

describe('translations in the intake Questionnaire', () => {
  it('cover every text, help text and answer option in Spanish', () => {
    const missing: string[] = [];
    for (const item of flatten(intake.item)) {
      const withText = item as fhir4.QuestionnaireItem & { _text?: { extension?: fhir4.Extension[] } };
      if (item.text && !translationOf(withText._text, 'es')) missing.push(item.linkId);
      for (const o of item.answerOption ?? []) {
        const c = o.valueCoding as (fhir4.Coding & { _display?: { extension?: fhir4.Extension[] } }) | undefined;
        if (c?.display && !translationOf(c._display, 'es')) missing.push(`${item.linkId}: ${c.display}`);
      }
    }
    expect(missing).toEqual([]);
  });

  it('apply per language without changing linkIds, types or codes', () => {
    const es = translateQuestionnaire(intake, 'es');
    const en = translateQuestionnaire(intake, 'en');
    expect(signature(es)).toEqual(signature(intake));
    expect(es.title).toBe('Cuestionario sobre el dolor de espalda');
    const saddle = flatten(es.item).find((i) => i.linkId === 'rf-saddle-numbness')!;
    expect(saddle.text).toContain('entumecimiento');
    expect(saddle.answerOption?.[0]?.valueCoding).toEqual({
      system: 'http://terminology.hl7.org/CodeSystem/v2-0136',
      code: 'Y',
      display: 'Sí',
    });
    expect(JSON.stringify(es)).not.toContain('"_text"');
    expect(flatten(en.item).find((i) => i.linkId === 'rf-saddle-numbness')!.text).toBe(
      flatten(intake.item).find((i) => i.linkId === 'rf-saddle-numbness')!.text,
    );
  });

  it('a response answered in Spanish is stored with the English texts and the same codes', () => {
    const response: fhir4.QuestionnaireResponse = {
      resourceType: 'QuestionnaireResponse',
      status: 'completed',
      item: [
        {
          linkId: 'red-flags',
          text: 'Señales de alarma',
          item: [
            {
              linkId: 'rf-fever',
              text: '¿Ha tenido fiebre…?',
              answer: [
                { valueCoding: { system: 'http://terminology.hl7.org/CodeSystem/v2-0136', code: 'Y', display: 'Sí' } },
              ],
            },
          ],
        },
      ],
    };
    const canonical = canonicalResponseText(response, intake);
    expect(canonical.item?.[0]?.text).toBe('Warning signs');
    expect(canonical.item?.[0]?.item?.[0]?.text).toMatch(/^Have you had a fever/);
    expect(canonical.item?.[0]?.item?.[0]?.answer?.[0]?.valueCoding).toEqual({
      system: 'http://terminology.hl7.org/CodeSystem/v2-0136',
      code: 'Y',
      display: 'Yes',
    });
  });
});
