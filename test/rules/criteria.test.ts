/**
 * Each flag names the criterion that made it fire, in the Questionnaire's words and the content's words for
 * its meaning ("… genitals …? Yes → suspected cauda equina"): every criterion that was met, and none that
 * was not. Declared in the content (ext-criterion on each rule action), read by the generic engine.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from '@jest/globals';
import { expect } from '../support/expect.js';
import { buildResultsView } from '../../src/clinician-app/results.js';
import { applyPlanDefinition } from '../../src/rules/index.js';
import { EXT_BASIS, EXT_CRITERION } from '../../src/rules/vocabulary.js';
import { SCENARIOS, birthDateFor } from './scenarios.js';
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
const intake = JSON.parse(
  readFileSync(join(ROOT, 'questionnaires', 'back-pain-intake.json'), 'utf8'),
) as fhir4.Questionnaire;

function questionText(linkId: string): string {
  const walk = (items: fhir4.QuestionnaireItem[] | undefined): string | undefined => {
    for (const i of items ?? []) {
      if (i.linkId === linkId) return i.text;
      const found = walk(i.item);
      if (found) return found;
    }
    return undefined;
  };
  const text = walk(intake.item);
  if (!text) throw new Error(`no question ${linkId}`);
  return text;
}

const parts = (ext: fhir4.Extension, url: string) => (ext.extension ?? []).filter((e) => e.url === url);
interface Criterion {
  meaning: string;
  text: string;
  linkIds: string[];
}
function criteriaOf(cp: fhir4.CarePlan, rule: string): Criterion[] {
  const action = firedRules(cp).find((r) => r.code === rule)?.action;
  if (!action) throw new Error(`${rule} did not fire`);
  return (action.extension ?? [])
    .filter((e) => e.url === EXT_CRITERION)
    .map((e) => ({
      meaning: parts(e, 'meaning')[0]?.valueString ?? '',
      text: parts(e, 'text')[0]?.valueString ?? '',
      linkIds: parts(e, 'linkId').map((l) => l.valueString!),
    }));
}

function apply(answers: Answers | null, id = 'p1'): fhir4.CarePlan {
  const data: fhir4.FhirResource[] = [buildPatient(id, birthDateFor(answers))];
  if (answers) data.push(buildResponse(answers, { patientId: id, id: `qr-${id}` }));
  return applyPlanDefinition(pd, { subject: `Patient/${id}`, data, knowledge: kb, now: FIXED_NOW });
}

describe('content: every rule that can fire declares its criteria', () => {
  it('each rule action of every PlanDefinition has at least one ext-criterion with a meaning and a condition', () => {
    const rules: string[] = [];
    for (const r of kb.ofType('PlanDefinition')) {
      for (const action of r.action ?? []) {
        if (!action.code) continue;
        rules.push(action.id!);
        const declared = (action.extension ?? []).filter((e) => e.url === EXT_CRITERION);
        expect(declared.length, `${r.id} ${action.id}`).toBeGreaterThan(0);
        for (const c of declared) {
          expect(parts(c, 'meaning')[0]?.valueString, `${action.id}`).toMatch(/\S/);
          expect(parts(c, 'condition')[0]?.valueExpression?.expression, `${action.id}`).toMatch(/\S/);
        }
      }
    }
    expect(rules.length).toBeGreaterThanOrEqual(25);
  });
});

describe('every golden example names the criterion that fired', () => {
  for (const scenario of SCENARIOS) {
    it(`${scenario.name}: every fired rule names at least one criterion, worded without stray "?:" or "::"`, () => {
      const cp = apply(scenario.answers, `example-${scenario.name.toLowerCase()}`);
      for (const { code } of firedRules(cp)) {
        const criteria = criteriaOf(cp, code);
        expect(criteria.length, code).toBeGreaterThan(0);
        for (const c of criteria) {
          expect(c.text, code).toMatch(
            new RegExp(
              ` → ${c.meaning.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$|^${c.meaning.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`,
            ),
          );
          expect(c.text, code).not.toMatch(/\?:|::|\.:/);
        }
      }
    });
  }

  it('the example of each red-flag rule names the answer the example is about', () => {
    const expectNamed = (name: string, rule: string, linkId: string, answer: string) => {
      const scenario = SCENARIOS.find((s) => s.name === name)!;
      const criteria = criteriaOf(apply(scenario.answers), rule);
      expect(
        criteria.map((c) => c.text),
        `${name} ${rule}`,
      ).toContainEqual(expect.stringContaining(`${questionText(linkId)} ${answer}`));
    };
    expectNamed('RF-01', 'RF-01', 'rf-saddle-numbness', 'Yes → suspected cauda equina');
    expectNamed('RF-02', 'RF-02', 'rf-weakness-worsening', 'Yes →');
    expectNamed('RF-03', 'RF-03', 'rf-fever', 'Yes');
    expectNamed('RF-04-urgent', 'RF-04', 'rf-cancer-history', 'Yes →');
    expectNamed('RF-05-soon', 'RF-05', 'rf-night-pain', 'Yes →');
    expectNamed('RF-06-soon', 'RF-06', 'height-loss-cm', '4 cm →');
    expectNamed('BMD-03', 'BMD-03', 'prior-fragility-fracture', 'Yes →');
    expectNamed('BMD-04', 'BMD-04', 'rf-steroids', 'Yes →');
  });

  it('with no response, BMD-01 says the age came from the date of birth and RF-00 names the unanswered questions', () => {
    const cp = apply(null, 'no-response');
    expect(criteriaOf(cp, 'BMD-01').map((c) => c.text)).toEqual([
      'age 67 (from the date of birth on record) → age 65 or over',
    ]);
    const [rf00] = criteriaOf(cp, 'RF-00');
    expect(rf00!.linkIds).toContain('rf-saddle-numbness');
    expect(rf00!.text).toContain(`${questionText('rf-saddle-numbness').replace(/\?$/, '')}: not answered`);
  });
});

describe('all the criteria that fired, and none that did not', () => {
  const SADDLE = `${questionText('rf-saddle-numbness')} Yes → suspected cauda equina`;
  const BLADDER = `${questionText('rf-bladder-bowel')} Yes → suspected cauda equina`;

  it('a patient meeting two criteria of RF-01 gets both, each with its own answer', () => {
    const cp = apply({ ...BASELINE, 'rf-saddle-numbness': 'Y', 'rf-bladder-bowel': 'Y' });
    const criteria = criteriaOf(cp, 'RF-01');
    expect(criteria.map((c) => c.text)).toEqual([SADDLE, BLADDER]);
    expect(criteria.map((c) => c.linkIds)).toEqual([['rf-saddle-numbness'], ['rf-bladder-bowel']]);
  });

  it('a criterion that did not fire is not claimed (bladder No, legs one-leg: only the saddle numbness)', () => {
    const cp = apply({ ...BASELINE, 'rf-saddle-numbness': 'Y', 'rf-bladder-bowel': 'N', 'leg-symptoms': 'one-leg' });
    expect(criteriaOf(cp, 'RF-01').map((c) => c.text)).toEqual([SADDLE]);
  });

  it('RF-05 with weight loss only names the weight loss, not the night pain answered No', () => {
    const cp = apply({ ...BASELINE, 'rf-weight-loss': 'Y' });
    const criteria = criteriaOf(cp, 'RF-05');
    expect(criteria.flatMap((c) => c.linkIds)).toContain('rf-weight-loss');
    expect(criteria.flatMap((c) => c.linkIds)).not.toContain('rf-night-pain');
  });

  it('the criteria come first, then the other answers the rule read; the CarePlan narrative and the results view show them', () => {
    const qr = buildResponse(
      { ...BASELINE, 'rf-saddle-numbness': 'Y', 'rf-bladder-bowel': 'Y' },
      { patientId: 'p1', id: 'qr-1' },
    );
    const cp = applyPlanDefinition(pd, {
      subject: 'Patient/p1',
      data: [buildPatient('p1'), qr],
      knowledge: kb,
      now: FIXED_NOW,
    });
    const action = firedRules(cp).find((r) => r.code === 'RF-01')!.action;
    const urls = (action.extension ?? []).map((e) => e.url);
    expect(urls.indexOf(EXT_CRITERION)).toBeLessThan(urls.indexOf(EXT_BASIS));
    const basisOrder = (action.extension ?? [])
      .filter((e) => e.url === EXT_BASIS)
      .map((e) => parts(e, 'linkId')[0]!.valueString);
    expect(basisOrder.slice(0, 2)).toEqual(['rf-saddle-numbness', 'rf-bladder-bowel']);
    expect(cp.text!.div).toContain(`Fired because: ${SADDLE}; ${BLADDER}`);
    const view = buildResultsView({
      carePlan: cp,
      responseKey: 'https://periplan.app/fhir/sid/questionnaire-response|p1',
      live: [],
    });
    const rule = view.rules.find((r) => r.ruleId === 'RF-01')!;
    expect(rule.criteria.map((c) => c.text)).toEqual([SADDLE, BLADDER]);
    // Every answer it read, the criteria's first (the page shows the rest under "Other answers it read").
    expect(rule.basis.map((b) => b.linkId)).toEqual(['rf-saddle-numbness', 'rf-bladder-bowel', 'leg-symptoms']);
  });
});
