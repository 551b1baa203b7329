// $validate for QuestionnaireResponse: each class of error, pointed at by FHIRPath, and a clean pass.
import { describe, it, expect } from '@jest/globals';
import { validateQuestionnaireResponse } from '../../src/forms/index.js';
import {
  completeAnswers,
  dec,
  errorsOf,
  int,
  intakeResponse,
  loadIntake,
  local,
  no,
  resolverFor,
  SCT,
  yes,
} from './support.js';

const intake = loadIntake();
const resolveQuestionnaire = resolverFor(intake);
const validate = (r: unknown) => validateQuestionnaireResponse(r, { resolveQuestionnaire });

/** Paths of the error issues, for compact assertions. */
const errorPaths = (r: unknown) => errorsOf(validate(r)).map((i) => i.expression?.[0]);

function withAnswers(
  changes: Record<string, fhir4.QuestionnaireResponseItemAnswer | fhir4.QuestionnaireResponseItemAnswer[] | undefined>,
  status: fhir4.QuestionnaireResponse['status'] = 'completed',
) {
  const answers = { ...completeAnswers() };
  for (const [k, v] of Object.entries(changes)) {
    if (v === undefined) delete answers[k];
    else answers[k] = v;
  }
  return intakeResponse(answers, status);
}

describe('$validate accepts', () => {
  it('a complete, valid response', () => {
    const outcome = validate(intakeResponse(completeAnswers()));
    expect(outcome.issue).toEqual([
      { severity: 'information', code: 'informational', diagnostics: expect.any(String) },
    ]);
  });

  it('an in-progress response with required red flags still unanswered', () => {
    expect(errorPaths(withAnswers({ 'rf-fever': undefined, 'rf-steroids': undefined }, 'in-progress'))).toEqual([]);
  });

  it('a follow-up answered when its condition holds (weakness -> worsening; postmenopausal -> last period age)', () => {
    const r = withAnswers({
      'rf-leg-weakness': local('mild'),
      'rf-weakness-worsening': no,
      'menopausal-status': { valueCoding: { system: SCT, code: '76498008' } },
      'final-period-age': int(51),
    });
    expect(errorPaths(r)).toEqual([]);
  });

  it('several answers on a repeating question', () => {
    expect(
      errorPaths(
        withAnswers({ 'pain-location': [local('lower-back'), local('mid-back'), local('sacral'), local('hip')] }),
      ),
    ).toEqual([]);
  });
});

describe('$validate reports, with the offending element', () => {
  // Group indexes in the complete response: 0 pain, 1 red-flags, 2 inflammatory, 3 bone-health, 4 self-management.
  it('an unknown Questionnaire', () => {
    const r = { ...intakeResponse(completeAnswers()), questionnaire: 'https://example.org/Questionnaire/nope|9' };
    const errors = errorsOf(validate(r));
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ code: 'not-found', expression: ['QuestionnaireResponse.questionnaire'] });
  });

  it('an unknown version of a known Questionnaire', () => {
    const r = {
      ...intakeResponse(completeAnswers()),
      questionnaire: 'https://periplan.app/fhir/Questionnaire/back-pain-intake|0.9.0',
    };
    expect(errorPaths(r)).toEqual(['QuestionnaireResponse.questionnaire']);
  });

  it('a missing questionnaire reference', () => {
    const r: Partial<fhir4.QuestionnaireResponse> = intakeResponse(completeAnswers());
    delete r.questionnaire;
    expect(errorPaths(r)).toEqual(['QuestionnaireResponse.questionnaire']);
  });

  it('a linkId the Questionnaire does not have', () => {
    const r = intakeResponse(completeAnswers());
    r.item![1]!.item!.push({ linkId: 'rf-made-up', answer: [yes] });
    expect(errorPaths(r)).toEqual([`QuestionnaireResponse.item[1].item[${r.item![1]!.item!.length - 1}].linkId`]);
  });

  it('an item in the wrong group', () => {
    const r = intakeResponse(completeAnswers());
    r.item![2]!.item!.push({ linkId: 'current-smoker', answer: [no] });
    const errors = errorsOf(validate(r));
    expect(errors.map((e) => e.expression?.[0])).toEqual(['QuestionnaireResponse.item[2].item[1]']);
    expect(errors[0]!.diagnostics).toMatch(/wrong place.*"bone-health"/);
  });

  it('an answer of the wrong type', () => {
    expect(errorPaths(withAnswers({ 'pain-severity': { valueString: 'six' } }))).toEqual([
      'QuestionnaireResponse.item[0].item[1].answer[0].valueString',
    ]);
    expect(errorPaths(withAnswers({ 'weight-kg': { valueInteger: 70 } }))).toEqual([
      'QuestionnaireResponse.item[3].item[1].answer[0].valueInteger',
    ]);
    expect(errorPaths(withAnswers({ 'rf-fever': { valueBoolean: false } }))).toEqual([
      'QuestionnaireResponse.item[1].item[5].answer[0].valueBoolean',
    ]);
  });

  it('an answer that is not one of the answer options', () => {
    const wrongCode = withAnswers({ 'pain-trend': local('sideways') });
    expect(errorPaths(wrongCode)).toEqual(['QuestionnaireResponse.item[0].item[3].answer[0].valueCoding']);
    const wrongSystem = withAnswers({
      'rf-fever': { valueCoding: { system: 'http://example.org/yes-no', code: 'Y' } },
    });
    expect(errorPaths(wrongSystem)).toEqual(['QuestionnaireResponse.item[1].item[5].answer[0].valueCoding']);
    expect(errorsOf(validate(wrongSystem))[0]!.code).toBe('code-invalid');
  });

  it('a required red flag missing from a completed response', () => {
    const errors = errorsOf(validate(withAnswers({ 'rf-fever': undefined })));
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ code: 'required', expression: ['QuestionnaireResponse.item[1]'] });
    expect(errors[0]!.diagnostics).toContain('rf-fever');
  });

  it('every required red flag when the whole red-flag group is absent', () => {
    const r = intakeResponse(completeAnswers());
    r.item!.splice(1, 1);
    const errors = errorsOf(validate(r));
    // the eleven warning signs and leg-symptoms (an RF-01 criterion, asked with them)
    expect(errors.map((e) => e.code)).toEqual(Array(12).fill('required'));
    expect(new Set(errors.map((e) => e.expression?.[0]))).toEqual(new Set(['QuestionnaireResponse']));
  });

  it('a required follow-up that became enabled but has no answer', () => {
    const errors = errorsOf(validate(withAnswers({ 'rf-leg-weakness': local('significant') })));
    expect(errors).toHaveLength(1);
    expect(errors[0]!.diagnostics).toContain('rf-weakness-worsening');
  });

  it('a present item with an empty answer list that is required', () => {
    const r = intakeResponse(completeAnswers());
    const at = r.item![1]!.item!.findIndex((i) => i.linkId === 'rf-saddle-numbness');
    r.item![1]!.item![at] = { linkId: 'rf-saddle-numbness' };
    expect(errorPaths(r)).toEqual([`QuestionnaireResponse.item[1].item[${at}]`]);
  });

  it('an answer on an item disabled by enableWhen', () => {
    // leg weakness "none" disables rf-weakness-worsening
    expect(errorPaths(withAnswers({ 'rf-weakness-worsening': yes }))).toEqual([
      'QuestionnaireResponse.item[1].item[4].answer[0]',
    ]);
    // not postmenopausal disables final-period-age
    expect(errorPaths(withAnswers({ 'final-period-age': int(44) }))).toEqual([
      'QuestionnaireResponse.item[3].item[1].answer[0]',
    ]);
  });

  it('several answers on a question that does not repeat', () => {
    expect(errorPaths(withAnswers({ 'pain-trend': [local('same'), local('worse')] }))).toEqual([
      'QuestionnaireResponse.item[0].item[3].answer[1]',
    ]);
  });

  it('a non-repeating item given twice', () => {
    const r = intakeResponse(completeAnswers());
    r.item!.push({ ...r.item![4]! });
    expect(errorPaths(r)).toEqual(['QuestionnaireResponse.item[5]']);
  });

  it('values outside min/max', () => {
    expect(errorPaths(withAnswers({ 'pain-severity': int(11) }))).toEqual([
      'QuestionnaireResponse.item[0].item[1].answer[0].valueInteger',
    ]);
    expect(errorPaths(withAnswers({ 'pain-duration-weeks': int(-1) }))).toEqual([
      'QuestionnaireResponse.item[0].item[2].answer[0].valueInteger',
    ]);
    expect(errorPaths(withAnswers({ 'weight-kg': dec(19.9) }))).toEqual([
      'QuestionnaireResponse.item[3].item[1].answer[0].valueDecimal',
    ]);
    expect(errorPaths(withAnswers({ 'weight-kg': dec(300.5) }))).toEqual([
      'QuestionnaireResponse.item[3].item[1].answer[0].valueDecimal',
    ]);
    expect(errorPaths(withAnswers({ age: int(17) }))).toEqual([
      'QuestionnaireResponse.item[0].item[0].answer[0].valueInteger',
    ]);
    expect(errorPaths(withAnswers({ 'walking-days-per-week': int(8) }))).toEqual([
      'QuestionnaireResponse.item[4].item[0].answer[0].valueInteger',
    ]);
  });

  it('answers and wrong nesting on groups and questions', () => {
    const onGroup = intakeResponse(completeAnswers());
    onGroup.item![2]!.answer = [yes];
    expect(errorPaths(onGroup)).toContain('QuestionnaireResponse.item[2].answer[0]');

    const underQuestion = intakeResponse(completeAnswers());
    underQuestion.item![0]!.item![1]!.item = [{ linkId: 'pain-duration-weeks', answer: [int(2)] }];
    expect(errorPaths(underQuestion)).toContain('QuestionnaireResponse.item[0].item[1].item[0]');

    const flattened = intakeResponse(completeAnswers());
    flattened.item!.unshift({ linkId: 'age', answer: [int(50)] });
    expect(errorPaths(flattened)).toEqual(['QuestionnaireResponse.item[0]']);
  });

  it('structural R4 errors from the strict validator, alongside conformance errors', () => {
    const r = { ...intakeResponse(completeAnswers()), status: 'done', colour: 'blue' };
    const paths = errorPaths(r);
    expect(paths).toContain('QuestionnaireResponse.status');
    expect(paths.some((p) => p?.includes('colour'))).toBe(true);
  });

  it('a calculated score that does not match its calculation (a warning)', () => {
    const outcome = validate(withAnswers({ 'ost-score': int(9) }));
    expect(errorsOf(outcome)).toEqual([]);
    expect(outcome.issue).toEqual([
      expect.objectContaining({
        severity: 'warning',
        code: 'business-rule',
        expression: ['QuestionnaireResponse.item[3].item[5].answer[0]'],
        diagnostics: expect.stringContaining('gives [3]'),
      }),
    ]);
  });

  it('errorsOnly (the write path): the same errors, without the warning-only calculated-score check', () => {
    const mismatched = withAnswers({ 'ost-score': int(9) });
    const quick = validateQuestionnaireResponse(mismatched, { resolveQuestionnaire, errorsOnly: true });
    expect(quick.issue.some((i) => i.code === 'business-rule')).toBe(false);
    const broken = { ...withAnswers({ 'ost-score': int(9), 'rf-fever': undefined }), status: 'done', colour: 'blue' };
    expect(errorsOf(validateQuestionnaireResponse(broken, { resolveQuestionnaire, errorsOnly: true }))).toEqual(
      errorsOf(validate(broken)),
    );
    expect(errorsOf(validate(broken)).length).toBeGreaterThan(1);
  });

  it('a resource that is not a QuestionnaireResponse', () => {
    expect(errorPaths({ resourceType: 'Patient', id: 'x' })).toEqual(['QuestionnaireResponse.resourceType']);
  });
});

describe('$validate with enableBehavior and enableWhenExpression', () => {
  const q: fhir4.Questionnaire = {
    resourceType: 'Questionnaire',
    url: 'https://example.org/Questionnaire/ew',
    status: 'active',
    item: [
      { linkId: 'a', type: 'boolean' },
      { linkId: 'b', type: 'integer' },
      {
        linkId: 'all',
        type: 'string',
        required: true,
        enableBehavior: 'all',
        enableWhen: [
          { question: 'a', operator: '=', answerBoolean: true },
          { question: 'b', operator: '>=', answerInteger: 5 },
        ],
      },
      {
        linkId: 'any',
        type: 'string',
        enableBehavior: 'any',
        enableWhen: [
          { question: 'a', operator: '=', answerBoolean: true },
          { question: 'b', operator: '>=', answerInteger: 5 },
        ],
      },
      {
        linkId: 'expr',
        type: 'string',
        extension: [
          {
            url: 'http://hl7.org/fhir/uv/sdc/StructureDefinition/sdc-questionnaire-enableWhenExpression',
            valueExpression: {
              language: 'text/fhirpath',
              expression: "%resource.item.where(linkId='b').answer.value > 10",
            },
          },
        ],
      },
      { linkId: 'exists', type: 'string', enableWhen: [{ question: 'b', operator: 'exists', answerBoolean: false }] },
    ],
  };
  const check = (items: fhir4.QuestionnaireResponseItem[]) =>
    errorsOf(
      validateQuestionnaireResponse(
        { resourceType: 'QuestionnaireResponse', questionnaire: q.url, status: 'completed', item: items },
        { resolveQuestionnaire: resolverFor(q) },
      ),
    ).map((i) => `${i.code} ${i.expression?.[0]}`);
  const a = (v: boolean) => ({ linkId: 'a', answer: [{ valueBoolean: v }] });
  const b = (v: number) => ({ linkId: 'b', answer: [{ valueInteger: v }] });
  const s = (linkId: string) => ({ linkId, answer: [{ valueString: 'x' }] });

  it('all: enabled only when every condition holds', () => {
    expect(check([a(true), b(5), s('all')])).toEqual([]);
    expect(check([a(true), b(4), s('all')])).toEqual(['business-rule QuestionnaireResponse.item[2].answer[0]']);
    expect(check([a(true), b(7)])).toEqual(['required QuestionnaireResponse']);
  });

  it('any: enabled when one condition holds', () => {
    expect(check([a(false), b(6), s('all'), s('any')])).toEqual([
      'business-rule QuestionnaireResponse.item[2].answer[0]',
    ]);
    expect(check([a(false), b(6), s('any')])).toEqual([]);
    expect(check([a(false), b(1), s('any')])).toEqual(['business-rule QuestionnaireResponse.item[2].answer[0]']);
  });

  it('enableWhenExpression and the exists operator', () => {
    expect(check([b(11), s('expr')])).toEqual([]);
    expect(check([b(10), s('expr')])).toEqual(['business-rule QuestionnaireResponse.item[1].answer[0]']);
    expect(check([s('exists')])).toEqual([]);
    expect(check([b(1), s('exists')])).toEqual(['business-rule QuestionnaireResponse.item[1].answer[0]']);
  });
});
