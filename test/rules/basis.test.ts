/**
 * The basis of a flag reads clearly and cannot be worded by the client: question and answer come from the
 * Questionnaire, whatever text the response carries; no stray "?:" or "::"; each answer says where it came
 * from (the patient on the tablet, the clinician, or the record with the Observation's date).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from '@jest/globals';
import { expect } from '../support/expect.js';
import { buildResultsView } from '../../src/clinician-app/results.js';
import { applyPlanDefinition } from '../../src/rules/index.js';
import {
  EXT_BASIS,
  EXT_PREFILLED_FROM,
  QR_ITEM_AUTHOR,
  RESPONSE_COLLECTION_DEVICE,
} from '../../src/rules/vocabulary.js';
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

function itemOf(qr: fhir4.QuestionnaireResponse, linkId: string): fhir4.QuestionnaireResponseItem {
  const found = (qr.item ?? []).flatMap((g) => g.item ?? []).find((i) => i.linkId === linkId);
  if (!found) throw new Error(`${linkId} not in the response`);
  return found;
}

const part = (ext: fhir4.Extension, url: string) => ext.extension?.find((e) => e.url === url);
function basisOf(cp: fhir4.CarePlan, rule: string, linkId: string): fhir4.Extension {
  const action = firedRules(cp).find((r) => r.code === rule)?.action;
  const found = action?.extension?.find((e) => e.url === EXT_BASIS && part(e, 'linkId')?.valueString === linkId);
  if (!found) throw new Error(`${rule} has no basis for ${linkId}`);
  return found;
}

function apply(qr: fhir4.QuestionnaireResponse): fhir4.CarePlan {
  return applyPlanDefinition(pd, {
    subject: 'Patient/p1',
    data: [buildPatient('p1'), qr],
    knowledge: kb,
    now: FIXED_NOW,
  });
}

describe("the basis shows the Questionnaire's wording, whatever the client sent", () => {
  it('a response whose question text and answer display lie: the basis (and the results view) show the Questionnaire\'s question and "Yes"', () => {
    const qr = buildResponse({ ...BASELINE, 'rf-cancer-history': 'Y' } as Answers, { patientId: 'p1' });
    const item = itemOf(qr, 'rf-cancer-history');
    item.text = 'Do you like gardening?';
    item.answer = [
      { valueCoding: { system: 'http://terminology.hl7.org/CodeSystem/v2-0136', code: 'Y', display: 'No, never' } },
    ];
    const cp = apply(qr);
    const basis = basisOf(cp, 'RF-04', 'rf-cancer-history');
    expect(part(basis, 'question')?.valueString).toBe(questionText('rf-cancer-history'));
    expect(part(basis, 'text')?.valueString).toBe(`${questionText('rf-cancer-history')} Yes`);
    expect(JSON.stringify(cp.text)).not.toMatch(/gardening|No, never/);

    const view = buildResultsView({
      carePlan: cp,
      responseKey: 'https://periplan.app/fhir/sid/questionnaire-response|p1',
      live: [],
    });
    const shown = view.rules.find((r) => r.ruleId === 'RF-04')!.basis.find((b) => b.linkId === 'rf-cancer-history')!;
    expect(shown.question).toBe(questionText('rf-cancer-history'));
    expect(shown.answer).toBe('Yes');
    expect(JSON.stringify(view)).not.toMatch(/gardening|No, never/);
  });

  it("a local-code answer reads as the option's display in the Questionnaire, a number with its unit", () => {
    const qr = buildResponse({ ...BASELINE, 'leg-symptoms': 'both-legs' } as Answers, { patientId: 'p1' });
    itemOf(qr, 'leg-symptoms').answer![0]!.valueCoding!.display = 'Neither';
    const cp = apply(qr);
    const legs = intake
      .item!.flatMap((g) => g.item ?? [])
      .find((i) => i.linkId === 'leg-symptoms')!
      .answerOption!.find((o) => o.valueCoding?.code === 'both-legs')!.valueCoding!.display!;
    expect(part(basisOf(cp, 'RF-01', 'leg-symptoms'), 'text')?.valueString).toBe(
      `${questionText('leg-symptoms')} ${legs}`,
    );
    const persistent = apply(
      buildResponse({ ...BASELINE, 'pain-duration-weeks': 8, 'pain-trend': 'worse' } as Answers, { patientId: 'p1' }),
    );
    expect(part(basisOf(persistent, 'RF-11', 'pain-duration-weeks'), 'text')?.valueString).toBe(
      `${questionText('pain-duration-weeks')} 8 weeks`,
    );
  });

  it('no basis text of any example has a stray "?:", "::" or ".:"', () => {
    for (const name of readdirSync(join(ROOT, 'examples'))) {
      let text: string;
      try {
        text = readFileSync(join(ROOT, 'examples', name, 'expected-careplan.json'), 'utf8');
      } catch {
        continue;
      }
      const cp = JSON.parse(text) as fhir4.CarePlan;
      for (const { action } of firedRules(cp)) {
        for (const e of (action.extension ?? []).filter((x) => x.url === EXT_BASIS))
          expect(part(e, 'text')?.valueString, `${name} ${action.id}`).not.toMatch(/[?:.]:/);
      }
      expect(cp.text?.div, name).not.toMatch(/[?:.]:\s/);
    }
  });
});

describe('the basis says where each answer came from', () => {
  const saddleYes = { ...BASELINE, 'rf-saddle-numbness': 'Y' } as Answers;
  const sourceOf = (cp: fhir4.CarePlan, linkId = 'rf-saddle-numbness') =>
    part(basisOf(cp, 'RF-01', linkId), 'source')?.valueString;

  it('the patient, on the waiting-room tablet', () => {
    const qr = {
      ...buildResponse(saddleYes, { patientId: 'p1' }),
      author: { reference: 'Patient/p1' },
      extension: [{ url: RESPONSE_COLLECTION_DEVICE, valueReference: { display: 'waiting-room tablet T1' } }],
    };
    expect(sourceOf(apply(qr))).toBe('the patient, on the waiting-room tablet');
  });

  it("the clinician (the response's author is a Practitioner)", () => {
    const qr = { ...buildResponse(saddleYes, { patientId: 'p1' }), author: { reference: 'Practitioner/dr-1' } };
    expect(sourceOf(apply(qr))).toBe('the clinician');
  });

  it("one item answered by the clinician in a patient's response (core questionnaireresponse-author)", () => {
    const qr = { ...buildResponse(saddleYes, { patientId: 'p1' }), author: { reference: 'Patient/p1' } };
    itemOf(qr, 'rf-saddle-numbness').extension = [
      { url: QR_ITEM_AUTHOR, valueReference: { reference: 'Practitioner/dr-1' } },
    ];
    const cp = apply(qr);
    expect(sourceOf(cp)).toBe('the clinician');
    expect(sourceOf(cp, 'rf-bladder-bowel')).toBe('the patient');
  });

  it('pre-filled from the record, with the Observation and its date', () => {
    const qr = {
      ...buildResponse({ ...saddleYes, 'menopausal-status': 'peri', 'weight-kg': 55 } as Answers, { patientId: 'p1' }),
      author: { reference: 'Patient/p1' },
    };
    itemOf(qr, 'weight-kg').answer![0]!.extension = [
      {
        url: EXT_PREFILLED_FROM,
        extension: [
          { url: 'observation', valueReference: { reference: 'Observation/w1' } },
          { url: 'date', valueDateTime: '2026-10-01T10:00:00Z' },
        ],
      },
    ];
    const cp = apply(qr);
    const weight = (firedRules(cp).find((r) => r.code === 'BMD-05')!.action.extension ?? []).find(
      (e) => e.url === EXT_BASIS && part(e, 'linkId')?.valueString === 'weight-kg',
    )!;
    expect(part(weight, 'source')?.valueString).toBe(
      'pre-filled from the record (Observation/w1, recorded 2026-10-01)',
    );
    const view = buildResultsView({
      carePlan: cp,
      responseKey: 'https://periplan.app/fhir/sid/questionnaire-response|p1',
      live: [],
    });
    expect(view.rules.find((r) => r.ruleId === 'BMD-05')!.basis.find((b) => b.linkId === 'weight-kg')!.source).toBe(
      'pre-filled from the record (Observation/w1, recorded 2026-10-01)',
    );
  });
});
