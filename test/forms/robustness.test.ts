// $validate never crashes: garbage responses, hostile keys, deep nesting, broken Questionnaires, and every
// real-world Questionnaire in the shared test data as a validation target.
import { readFileSync } from 'node:fs';
import { describe, it } from '@jest/globals';
import { expect } from '../support/expect.js';
import { validateQuestionnaireResponse } from '../../src/forms/index.js';
import { completeAnswers, errorsOf, intakeResponse, loadIntake, resolverFor } from './support.js';
import { realWorldQuestionnairesDir } from '../support/shared-data.js';

const TESTDATA = `${realWorldQuestionnairesDir()}/`;
interface IndexEntry {
  file: string;
  note: string;
}
const entries = JSON.parse(readFileSync(`${TESTDATA}index.json`, 'utf8')) as IndexEntry[];

function assertOutcome(outcome: fhir4.OperationOutcome): void {
  expect(outcome.resourceType).toBe('OperationOutcome');
  expect(outcome.issue.length).toBeGreaterThan(0);
  for (const i of outcome.issue) {
    expect(['fatal', 'error', 'warning', 'information']).toContain(i.severity);
    expect(typeof i.diagnostics).toBe('string');
  }
}

/** The first plain question reachable through groups without conditions, with a value it accepts. */
function minimalResponse(q: fhir4.Questionnaire, canonical: string): fhir4.QuestionnaireResponse {
  const response: fhir4.QuestionnaireResponse = {
    resourceType: 'QuestionnaireResponse',
    questionnaire: canonical,
    status: 'in-progress',
  };
  const conditional = (i: fhir4.QuestionnaireItem) =>
    !!i.enableWhen?.length || (i.extension ?? []).some((e) => e.url.endsWith('enableWhenExpression'));
  const limit = (i: fhir4.QuestionnaireItem, name: string) =>
    i.extension?.find((e) => e.url === `http://hl7.org/fhir/StructureDefinition/${name}`);
  const answerFor = (i: fhir4.QuestionnaireItem): fhir4.QuestionnaireResponseItemAnswer | undefined => {
    if (typeof i.linkId !== 'string' || i.readOnly === true || conditional(i)) return undefined;
    const min = limit(i, 'minValue');
    switch (i.type) {
      case 'string':
      case 'text':
        return { valueString: 'test answer' };
      case 'integer':
        return { valueInteger: min?.valueInteger ?? 1 };
      case 'decimal':
        return { valueDecimal: min?.valueDecimal ?? 1.5 };
      case 'boolean':
        return { valueBoolean: true };
      case 'date':
        return { valueDate: min?.valueDate ?? '2024-01-15' };
      case 'choice':
      case 'open-choice': {
        const first = i.answerOption?.[0];
        if (first?.valueCoding) return { valueCoding: first.valueCoding };
        if (first?.valueString !== undefined) return { valueString: first.valueString };
        if (first?.valueInteger !== undefined) return { valueInteger: first.valueInteger };
        return i.type === 'open-choice' ? { valueString: 'something else' } : undefined;
      }
      default:
        return undefined;
    }
  };
  const build = (items: fhir4.QuestionnaireItem[] | undefined): fhir4.QuestionnaireResponseItem | undefined => {
    for (const i of items ?? []) {
      if (i.type === 'group' && typeof i.linkId === 'string' && !conditional(i)) {
        const inner = build(i.item);
        if (inner) return { linkId: i.linkId, item: [inner] };
      }
      const answer = answerFor(i);
      if (answer) return { linkId: i.linkId, answer: [answer] };
    }
    return undefined;
  };
  const item = build(q.item);
  if (item) response.item = [item];
  return response;
}

describe('every real-world Questionnaire as a $validate target', () => {
  it.each(entries.map((e) => [e.file, e.note] as const))('%s', (file, note) => {
    const q = JSON.parse(readFileSync(TESTDATA + file, 'utf8')) as fhir4.Questionnaire;
    const canonical = q.url ?? `urn:test:${file}`;
    const resolveQuestionnaire = (c: string) => (c === canonical ? q : undefined);
    const outcome = validateQuestionnaireResponse(minimalResponse(q, canonical), { resolveQuestionnaire });
    assertOutcome(outcome);
    const errors = errorsOf(outcome);
    if (note.startsWith('NEGATIVE')) {
      expect(errors.length, 'a broken Questionnaire is reported').toBeGreaterThan(0);
      for (const e of errors) {
        expect(e.diagnostics).toMatch(/is broken/);
        expect(e.expression?.[0]).toMatch(/^Questionnaire\.item\[\d+\]/);
      }
    } else {
      expect(errors).toEqual([]);
    }
  });

  it('names the loop and the item without a linkId', () => {
    for (const [file, pattern] of [
      ['lforms__q-enableWhen-with-reference-loop.json', /loop \(item\d -> item\d/],
      ['lforms__brokenValueSet.json', /no linkId/],
    ] as const) {
      const q = JSON.parse(readFileSync(TESTDATA + file, 'utf8')) as fhir4.Questionnaire;
      const outcome = validateQuestionnaireResponse(
        { resourceType: 'QuestionnaireResponse', questionnaire: 'urn:x', status: 'completed' },
        { resolveQuestionnaire: () => q },
      );
      expect(
        errorsOf(outcome)
          .map((i) => i.diagnostics)
          .join('\n'),
      ).toMatch(pattern);
    }
  });

  it('answers on items in an enableWhen loop are neither demanded nor rejected', () => {
    const q = JSON.parse(
      readFileSync(`${TESTDATA}lforms__q-enableWhen-with-reference-loop.json`, 'utf8'),
    ) as fhir4.Questionnaire;
    const r = {
      resourceType: 'QuestionnaireResponse',
      questionnaire: 'urn:x',
      status: 'completed',
      item: [{ linkId: 'item1', answer: [{ valueBoolean: true }] }],
    };
    const errors = errorsOf(validateQuestionnaireResponse(r, { resolveQuestionnaire: () => q }));
    expect(errors.every((e) => e.expression?.[0]?.startsWith('Questionnaire.'))).toBe(true);
  });
});

describe('$validate on garbage', () => {
  const intake = loadIntake();
  const options = { resolveQuestionnaire: resolverFor(intake) };

  it.each([
    ['null', null],
    ['a number', 42],
    ['a string', 'QuestionnaireResponse'],
    ['an array', [intakeResponse(completeAnswers())]],
    ['an empty object', {}],
    ['a wrong resourceType', { resourceType: 'Observation' }],
    ['a numeric resourceType', { resourceType: 7 }],
    [
      'items that are not a list',
      {
        resourceType: 'QuestionnaireResponse',
        status: 'completed',
        questionnaire: intake.url,
        item: { linkId: 'pain' },
      },
    ],
    [
      'items of the wrong types',
      {
        resourceType: 'QuestionnaireResponse',
        status: 'completed',
        questionnaire: intake.url,
        item: [
          null,
          1,
          'x',
          [],
          { linkId: 5, answer: 'yes' },
          { linkId: 'pain', item: [{ linkId: 'age', answer: [null, 3, { valueInteger: 'x' }, { valueCoding: 'Y' }] }] },
        ],
      },
    ],
    [
      'a questionnaire that is not a string',
      { resourceType: 'QuestionnaireResponse', status: 'completed', questionnaire: { url: intake.url } },
    ],
    [
      'an enormous linkId',
      {
        resourceType: 'QuestionnaireResponse',
        status: 'completed',
        questionnaire: intake.url,
        item: [{ linkId: 'x'.repeat(100_000), answer: [{ valueString: 'y' }] }],
      },
    ],
  ])('%s', (_name, input) => {
    assertOutcome(validateQuestionnaireResponse(input, options));
    expect(errorsOf(validateQuestionnaireResponse(input, options)).length).toBeGreaterThan(0);
  });

  it('hostile keys (__proto__, constructor) anywhere', () => {
    const json = `{"resourceType":"QuestionnaireResponse","status":"completed","questionnaire":"${intake.url}","item":[{"linkId":"__proto__","answer":[{"valueString":"x"}]},{"linkId":"pain","__proto__":{"polluted":true},"item":[{"linkId":"constructor","answer":[{"valueInteger":1}]}]}]}`;
    const outcome = validateQuestionnaireResponse(JSON.parse(json), options);
    assertOutcome(outcome);
    expect(errorsOf(outcome).length).toBeGreaterThan(0);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('deep nesting of items and answers', () => {
    let deep: Record<string, unknown> = { linkId: 'age', answer: [{ valueInteger: 1 }] };
    for (let i = 0; i < 5000; i++)
      deep = { linkId: `g${i}`, item: [deep], answer: [{ item: [deep] }] } as Record<string, unknown>;
    const outcome = validateQuestionnaireResponse(
      { resourceType: 'QuestionnaireResponse', status: 'completed', questionnaire: intake.url, item: [deep] },
      options,
    );
    assertOutcome(outcome);
    expect(errorsOf(outcome).length).toBeGreaterThan(0);
  });

  it('a resolver that throws or returns garbage', () => {
    const r = intakeResponse(completeAnswers());
    for (const resolveQuestionnaire of [
      () => {
        throw new Error('store down');
      },
      () => 'Questionnaire' as unknown as fhir4.Questionnaire,
      () => ({ resourceType: 'Questionnaire', item: 'x' }) as unknown as fhir4.Questionnaire,
      () =>
        ({
          resourceType: 'Questionnaire',
          item: [null, 3, { linkId: 7 }, { linkId: 'pain', type: 'group', item: { linkId: 'age' } }],
        }) as unknown as fhir4.Questionnaire,
      () => ({ resourceType: 'Patient' }) as unknown as fhir4.Questionnaire,
    ]) {
      const outcome = validateQuestionnaireResponse(r, { resolveQuestionnaire });
      assertOutcome(outcome);
      expect(errorsOf(outcome).length).toBeGreaterThan(0);
    }
  });

  it('a Questionnaire with a deep enableWhen chain, self-reference and duplicate linkIds', () => {
    const chain: fhir4.QuestionnaireItem[] = Array.from({ length: 3000 }, (_, i) => ({
      linkId: `q${i}`,
      type: 'boolean',
      enableWhen: [{ question: `q${i + 1}`, operator: '=', answerBoolean: true }],
    }));
    chain.push({
      linkId: 'q3000',
      type: 'boolean',
      enableWhen: [{ question: 'q3000', operator: 'exists', answerBoolean: true }],
    });
    chain.push({ linkId: 'q0', type: 'string' });
    const q = { resourceType: 'Questionnaire', status: 'active', item: chain } as fhir4.Questionnaire;
    const r = {
      resourceType: 'QuestionnaireResponse',
      status: 'completed',
      questionnaire: 'urn:chain',
      item: [{ linkId: 'q0', answer: [{ valueBoolean: true }] }],
    };
    const outcome = validateQuestionnaireResponse(r, { resolveQuestionnaire: () => q });
    assertOutcome(outcome);
    const text = errorsOf(outcome)
      .map((i) => i.diagnostics)
      .join('\n');
    expect(text).toMatch(/used twice/);
    expect(text).toMatch(/loop/);
  });

  it('seeded random mutations of a valid response never throw', () => {
    let seed = 12345;
    const rand = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
    const junk = [null, true, 0, -1, 1e308, '', 'x', [], {}, [null], { valueCoding: null }, { __proto__: null }];
    const mutate = (node: unknown, depth: number): unknown => {
      if (Array.isArray(node))
        return node.map((n) => (rand() < 0.1 ? junk[Math.floor(rand() * junk.length)] : mutate(n, depth + 1)));
      if (node && typeof node === 'object') {
        const out: Record<string, unknown> = {};
        for (const [k, v] of Object.entries(node)) {
          if (rand() < 0.05) continue;
          out[rand() < 0.03 ? `${k}X` : k] =
            rand() < 0.1 ? junk[Math.floor(rand() * junk.length)] : mutate(v, depth + 1);
        }
        return out;
      }
      return node;
    };
    const base = intakeResponse(completeAnswers());
    for (let i = 0; i < 150; i++) assertOutcome(validateQuestionnaireResponse(mutate(base, 0), options));
  });
});
