/**
 * Unknown is never "no", at the API too: an answer that is not a valid option (or a usable number) of its
 * item is UNKNOWN. Generated from the Questionnaire itself: every red-flag item (and `leg-symptoms`) times
 * every kind of invalid value, under both FHIRPath evaluators; then the other items the rules read.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from '@jest/globals';
import { expect } from '../support/expect.js';
import { applyPlanDefinition } from '../../src/rules/index.js';
import type { Evaluator } from '../../src/rules/context.js';
import { EXT_UNKNOWN_ITEM } from '../../src/rules/vocabulary.js';
import {
  BASELINE,
  buildPatient,
  buildResponse,
  FIXED_NOW,
  firedRules,
  loadRulesKnowledge,
  ROOT,
  topPlanDefinition,
  type Answers,
} from './support.js';

const kb = loadRulesKnowledge();
const pd = topPlanDefinition(kb);
const questionnaire = JSON.parse(
  readFileSync(join(ROOT, 'questionnaires', 'back-pain-intake.json'), 'utf8'),
) as fhir4.Questionnaire;

type Answer = fhir4.QuestionnaireResponseItemAnswer;

function allItems(items: fhir4.QuestionnaireItem[] | undefined): fhir4.QuestionnaireItem[] {
  return (items ?? []).flatMap((i) => [i, ...allItems(i.item)]);
}
const redFlagGroup = questionnaire.item!.find((i) => i.linkId === 'red-flags');
if (!redFlagGroup) throw new Error('the intake has no red-flags group');
// Every choice question of the warning-signs group, and leg-symptoms wherever it sits (an RF-01 criterion).
const redFlagItems = [
  ...allItems(redFlagGroup.item),
  ...allItems(questionnaire.item).filter((i) => i.linkId === 'leg-symptoms'),
].filter((i, n, all) => i.type === 'choice' && all.findIndex((j) => j.linkId === i.linkId) === n);

/** The option that means "no" for an item (N, or the local `none`). */
function noOption(item: fhir4.QuestionnaireItem): fhir4.Coding {
  const c = item.answerOption?.map((o) => o.valueCoding!).find((v) => v.code === 'N' || v.code === 'none');
  if (!c) throw new Error(`${item.linkId} has no "no" option`);
  return c;
}
function yesOption(item: fhir4.QuestionnaireItem): fhir4.Coding {
  return item
    .answerOption!.map((o) => o.valueCoding!)
    .find((v) => v.code !== 'N' && v.code !== 'none' && v.code !== 'asked-unknown')!;
}

/** Kinds of invalid answer, each a function of the item (so the value is plausible for it). */
const INVALID: Array<[string, (item: fhir4.QuestionnaireItem) => Answer[], string]> = [
  [
    'an unknown code of the right system',
    (i) => [{ valueCoding: { system: noOption(i).system, code: 'YES' } }],
    '"YES"',
  ],
  [
    'the "no" code in a wrong system',
    (i) => [{ valueCoding: { system: 'http://example.org/other-answers', code: noOption(i).code } }],
    'other-answers',
  ],
  ['a valueString', () => [{ valueString: 'maybe' }], 'valueString "maybe"'],
  [
    'a valueString that reads like the "no" option',
    (i) => [{ valueString: noOption(i).display ?? 'No' }],
    'valueString',
  ],
  ['a valueBoolean', () => [{ valueBoolean: false }], 'valueBoolean false'],
  ['a valueInteger', () => [{ valueInteger: 0 }], 'valueInteger 0'],
  ['a coding without a system', (i) => [{ valueCoding: { code: noOption(i).code } }], 'valueCoding'],
  ['an empty answer object', () => [{}], 'no value'],
  ['two answers, both "no"', (i) => [{ valueCoding: noOption(i) }, { valueCoding: noOption(i) }], '2 answers'],
  ['two answers, "yes" and "no"', (i) => [{ valueCoding: yesOption(i) }, { valueCoding: noOption(i) }], '2 answers'],
];

/** BASELINE (every red flag No, three weeks: RF-10) with one item's answers replaced. */
function responseWith(
  linkId: string,
  answers: Answer[] | undefined,
  base: Answers = BASELINE,
): fhir4.QuestionnaireResponse {
  const qr = buildResponse(base, { patientId: 'p1' });
  const walk = (items: fhir4.QuestionnaireResponseItem[] | undefined): boolean =>
    (items ?? []).some((item) => {
      if (item.linkId === linkId) {
        if (answers) item.answer = answers;
        else delete item.answer;
        return true;
      }
      return walk(item.item);
    });
  if (!walk(qr.item)) throw new Error(`${linkId} not in the built response`);
  return qr;
}

function apply(qr: fhir4.QuestionnaireResponse, evaluator?: Evaluator, birthDate?: string): fhir4.CarePlan {
  return applyPlanDefinition(pd, {
    subject: 'Patient/p1',
    data: [buildPatient('p1', birthDate), qr],
    knowledge: kb,
    now: FIXED_NOW,
    ...(evaluator ? { evaluator } : {}),
  });
}
const codes = (cp: fhir4.CarePlan) => firedRules(cp).map((r) => r.code);
const warnings = (cp: fhir4.CarePlan) =>
  (cp.note ?? [])
    .map((n) => n.text)
    .filter((t) => t.startsWith('Answer not usable'))
    .join('\n');

/** Base answers under which the item is asked and would be "No". */
function baseFor(linkId: string): Answers {
  // Worsening weakness is asked only when there is some weakness.
  return linkId === 'rf-weakness-worsening'
    ? { ...BASELINE, 'rf-leg-weakness': 'mild', 'rf-weakness-worsening': 'N' }
    : BASELINE;
}

describe("red-flag items: any answer that is not one of the item's options is unknown", () => {
  it('the generated cases cover every red-flag item of the Questionnaire, leg-symptoms included', () => {
    const ids = redFlagItems.map((i) => i.linkId);
    expect(ids).toEqual(
      expect.arrayContaining([
        'leg-symptoms',
        'rf-saddle-numbness',
        'rf-bladder-bowel',
        'rf-leg-weakness',
        'rf-weakness-worsening',
        'rf-walking-difficulty',
        'rf-fever',
        'rf-infection-risk',
        'rf-cancer-history',
        'rf-weight-loss',
        'rf-night-pain',
        'rf-trauma',
        'rf-steroids',
      ]),
    );
  });

  for (const item of redFlagItems) {
    it(`${item.linkId} answered with its "no" option: a complete screen (control)`, () => {
      const cp = apply(responseWith(item.linkId, [{ valueCoding: noOption(item) }], baseFor(item.linkId)));
      expect(codes(cp)).not.toContain('RF-00');
      if (item.linkId !== 'rf-weakness-worsening') expect(codes(cp)).toContain('RF-10');
      expect(warnings(cp)).toBe('');
    });
    for (const [kind, make, shown] of INVALID) {
      for (const evaluator of ['compiled', 'fhirpath.js'] as const) {
        it(`${item.linkId} answered with ${kind} (${evaluator}): RF-00, no RF-10, a warning naming the item and the value`, () => {
          const cp = apply(responseWith(item.linkId, make(item), baseFor(item.linkId)), evaluator);
          expect(codes(cp)).toContain('RF-00');
          expect(codes(cp)).not.toContain('RF-10');
          const text = warnings(cp);
          expect(text).toContain(item.linkId);
          expect(text).toContain(shown);
          // RF-00 names the item among the unknown ones, with why.
          const rf00 = firedRules(cp).find((r) => r.code === 'RF-00')!.action;
          const unknown = (rf00.extension ?? [])
            .filter((e) => e.url === EXT_UNKNOWN_ITEM)
            .find((e) => e.extension?.some((p) => p.url === 'linkId' && p.valueString === item.linkId));
          expect(unknown?.extension?.find((p) => p.url === 'reason')?.valueString).toMatch(/not usable/);
          expect(cp.text?.div).toContain(item.linkId);
        });
      }
    }
  }

  it('"yes" beside "no" still raises the rule that needs the yes (never read as no), and the item stays unknown', () => {
    const saddle = redFlagItems.find((i) => i.linkId === 'rf-saddle-numbness')!;
    const cp = apply(
      responseWith('rf-saddle-numbness', [{ valueCoding: yesOption(saddle) }, { valueCoding: noOption(saddle) }]),
    );
    expect(codes(cp)).toEqual(expect.arrayContaining(['RF-01', 'RF-00']));
  });
});

describe('the other items the rules read: an unusable value is unknown, never a default', () => {
  interface Case {
    name: string;
    linkId: string;
    bad: Answer[];
    base?: Answers;
    birthDate?: string;
    notFired: string;
    good: Answer[];
  }
  const cases: Case[] = [
    // RF-10 needs a known duration under 6 weeks.
    {
      name: 'a negative duration',
      linkId: 'pain-duration-weeks',
      bad: [{ valueInteger: -1 }],
      notFired: 'RF-10',
      good: [{ valueInteger: 3 }],
    },
    {
      name: 'a duration as text',
      linkId: 'pain-duration-weeks',
      bad: [{ valueString: '3' }],
      notFired: 'RF-10',
      good: [{ valueInteger: 3 }],
    },
    {
      name: 'a fractional duration',
      linkId: 'pain-duration-weeks',
      bad: [{ valueDecimal: 2.5 }],
      notFired: 'RF-10',
      good: [{ valueInteger: 3 }],
    },
    {
      name: 'two durations',
      linkId: 'pain-duration-weeks',
      bad: [{ valueInteger: 3 }, { valueInteger: 1 }],
      notFired: 'RF-10',
      good: [{ valueInteger: 3 }],
    },
    // RF-11 needs a known trend that is not "improving".
    {
      name: 'a trend code that is not an option',
      linkId: 'pain-trend',
      base: { ...BASELINE, 'pain-duration-weeks': 8 },
      bad: [{ valueCoding: { system: 'https://periplan.app/fhir/CodeSystem/back-pain-answer', code: 'better' } }],
      notFired: 'RF-11',
      good: [{ valueCoding: { system: 'https://periplan.app/fhir/CodeSystem/back-pain-answer', code: 'worse' } }],
    },
    {
      name: 'a trend as text',
      linkId: 'pain-trend',
      base: { ...BASELINE, 'pain-duration-weeks': 8 },
      bad: [{ valueString: 'worse' }],
      notFired: 'RF-11',
      good: [{ valueCoding: { system: 'https://periplan.app/fhir/CodeSystem/back-pain-answer', code: 'worse' } }],
    },
    // RF-06 (urgent) needs a known sudden severe onset.
    {
      name: 'the onset code in a wrong system',
      linkId: 'pain-onset',
      base: { ...BASELINE, age: 58, 'menopausal-status': 'post', 'known-osteoporosis': 'Y' },
      bad: [{ valueCoding: { system: 'http://example.org/x', code: 'sudden-severe' } }],
      notFired: 'RF-06',
      good: [
        { valueCoding: { system: 'https://periplan.app/fhir/CodeSystem/back-pain-answer', code: 'sudden-severe' } },
      ],
    },
    // BMD-05: a perimenopausal woman with low body weight; 0 kg or a string is no weight at all.
    {
      name: 'a weight below the minimum',
      linkId: 'weight-kg',
      bad: [{ valueDecimal: 0 }],
      notFired: 'BMD-05',
      good: [{ valueDecimal: 55 }],
    },
    {
      name: 'a negative weight',
      linkId: 'weight-kg',
      bad: [{ valueDecimal: -55 }],
      notFired: 'BMD-05',
      good: [{ valueDecimal: 55 }],
    },
    {
      name: 'a weight as text',
      linkId: 'weight-kg',
      bad: [{ valueString: '55' }],
      notFired: 'BMD-05',
      good: [{ valueDecimal: 55 }],
    },
    {
      name: 'a weight as a Quantity',
      linkId: 'weight-kg',
      bad: [{ valueQuantity: { value: 55, unit: 'kg' } }],
      notFired: 'BMD-05',
      good: [{ valueDecimal: 55 }],
    },
    // BMD-01: an impossible age answer is unknown; the rules then use the birth date (48 here).
    {
      name: 'an age above the maximum',
      linkId: 'age',
      birthDate: '1978-01-01',
      bad: [{ valueInteger: 200 }],
      notFired: 'BMD-01',
      good: [{ valueInteger: 70 }],
    },
    {
      name: 'an age as text',
      linkId: 'age',
      birthDate: '1978-01-01',
      bad: [{ valueString: '70' }],
      notFired: 'BMD-01',
      good: [{ valueInteger: 70 }],
    },
    // BMD-07: postmenopausal, last period at 40, no HRT; a status in a wrong system is not "postmenopausal".
    {
      name: 'the menopausal status in a wrong system',
      linkId: 'menopausal-status',
      base: { ...BASELINE, 'final-period-age': 40 },
      bad: [{ valueCoding: { system: 'http://example.org/x', code: '76498008' } }],
      notFired: 'BMD-07',
      good: [{ valueCoding: { system: 'http://snomed.info/sct', code: '76498008' } }],
    },
    {
      name: 'a final-period age below the minimum',
      linkId: 'final-period-age',
      base: { ...BASELINE, 'menopausal-status': 'post', 'final-period-age': 44 },
      bad: [{ valueInteger: -40 }],
      notFired: 'BMD-07',
      good: [{ valueInteger: 40 }],
    },
  ];
  for (const c of cases) {
    for (const evaluator of ['compiled', 'fhirpath.js'] as const) {
      it(`${c.linkId}: ${c.name} (${evaluator}) does not fire ${c.notFired}, and the warning names the item and the value`, () => {
        const base = c.base ?? BASELINE;
        const control = apply(responseWith(c.linkId, c.good, base), evaluator, c.birthDate);
        expect(codes(control), 'the valid answer fires the rule').toContain(c.notFired);
        const cp = apply(responseWith(c.linkId, c.bad, base), evaluator, c.birthDate);
        expect(codes(cp)).not.toContain(c.notFired);
        const text = warnings(cp);
        expect(text).toContain(c.linkId);
        expect(text).toMatch(/value|answers/);
      });
    }
  }
});
