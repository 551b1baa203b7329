/**
 * The compiled FHIRPath evaluator (src/fhirpath/compiled.ts) is an optimisation, never a second meaning:
 * wherever it answers, the CarePlan must be exactly fhirpath.js's; wherever it cannot, it must say so
 * (NotCompiled) and the engine's default must fall back to fhirpath.js, errors included.
 */
import { readdirSync, readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from '@jest/globals';
import { expect } from '../support/expect.js';
import { compileExpression, NotCompiled } from '../../src/fhirpath/compiled.js';
import { evaluateFhirPath } from '../../src/fhirpath/index.js';
import { applyPlanDefinition } from '../../src/rules/index.js';
import { apply, kb, pd } from './compiled-support.js';
import { FIXED_NOW, ROOT } from './support.js';

describe('compiled evaluator: same CarePlans as fhirpath.js', () => {
  it('answers every worked example without falling back, with the reference result', () => {
    const names = readdirSync(join(ROOT, 'examples')).filter((n) =>
      existsSync(join(ROOT, 'examples', n, 'patient.json')),
    );
    expect(names.length).toBeGreaterThan(20);
    for (const name of names) {
      const dir = join(ROOT, 'examples', name);
      const patient = JSON.parse(readFileSync(join(dir, 'patient.json'), 'utf8')) as fhir4.Patient;
      const data: fhir4.FhirResource[] = [patient];
      if (existsSync(join(dir, 'response.json')))
        data.push(JSON.parse(readFileSync(join(dir, 'response.json'), 'utf8')) as fhir4.QuestionnaireResponse);
      const compiled = apply(data, `Patient/${patient.id}`, 'compiled');
      expect(compiled, name).toHaveProperty('carePlan');
      expect(compiled, name).toEqual(apply(data, `Patient/${patient.id}`, 'fhirpath.js'));
    }
  });

  it('a numeric item answered with text: unknown under both evaluators, with the same CarePlan and a warning', () => {
    const response: fhir4.QuestionnaireResponse = {
      resourceType: 'QuestionnaireResponse',
      questionnaire: 'https://periplan.app/fhir/Questionnaire/back-pain-intake|1.0.0',
      status: 'completed',
      subject: { reference: 'Patient/t1' },
      authored: '2026-11-24T08:30:00Z',
      item: [{ linkId: 'about-you', item: [{ linkId: 'age', answer: [{ valueString: 'forty' }] }] }],
    };
    const data: fhir4.FhirResource[] = [{ resourceType: 'Patient', id: 't1' }, response];
    // The answer is checked against the Questionnaire before either evaluator runs: both see no age answer.
    const compiled = applyPlanDefinition(pd, {
      subject: 'Patient/t1',
      data,
      knowledge: kb,
      now: FIXED_NOW,
      evaluator: 'compiled',
    });
    const reference = apply(data, 'Patient/t1', 'fhirpath.js');
    expect(reference).toEqual({ carePlan: compiled });
    expect(apply(data, 'Patient/t1')).toEqual(reference);
    expect((compiled.note ?? []).map((n) => n.text).join('\n')).toMatch(/age.*valueString "forty"/);
  });
});

describe('compiled evaluator: the subset', () => {
  const run = (expression: string, env: Record<string, unknown> = {}, focus: unknown[] = []) =>
    compileExpression(expression)(focus, env);

  it('agrees with fhirpath.js on three-valued logic, membership, counts and arithmetic', () => {
    const env = { yes: ['a', 'b'], none: [], n: [7], w: [59.9], s: ['1975-06-01'] };
    const cases = [
      "'a' in %yes and 'c' in %yes",
      "'a' in %yes or %none.exists()",
      '%none > 3 and true',
      '%none > 3 or true',
      '%none > 3 or false',
      '(%none > 3).not()',
      "('a' | 'b' | 'a').count()",
      "('a' | 'z').intersect(%yes).count()",
      "%yes.exclude('a')",
      "%yes.combine(%yes).where($this = 'b').count()",
      "('a' | 'b').all($this in %yes)",
      '((%w - %n) / 5).truncate()',
      'iif(%w < 60, 9, 3) + iif(%none.exists(), 1, 0)',
      '%s.substring(0, 4).toInteger() - 1900',
      "%s.substring(5, 5) < '07-01'",
      '%n / 0',
      '%n != 7 xor %none.empty()',
    ];
    for (const expression of cases)
      expect(run(expression, env), expression).toEqual(evaluateFhirPath({}, expression, env));
  });

  it('refuses syntax and functions outside the subset at compile time', () => {
    for (const expression of [
      'Patient.name',
      "'it\\'s'",
      'item.ofType(Coding)',
      'item[0]',
      '%x.select(code)',
      '-%n',
      '%yes.combine($this)',
    ]) {
      expect(() => compileExpression(expression), expression).toThrow(NotCompiled);
    }
  });

  it('refuses values it cannot answer exactly at run time', () => {
    expect(() => run('%a < 5', { a: ['forty'] })).toThrow(NotCompiled); // fhirpath.js: type error
    expect(() => run('%a < 5', { a: [{ value: 4, unit: 'kg' }] })).toThrow(NotCompiled); // Quantity
    expect(() => run('%a.not()', { a: ['x'] })).toThrow(NotCompiled); // non-boolean as boolean
    expect(() => run("'x' in %a", { a: [1] })).toThrow(NotCompiled); // mixed types
    expect(() => run('%undefinedName')).toThrow(NotCompiled); // fhirpath.js names the missing variable
    expect(() => run('answer.value', {}, [{ answer: [{ _valueInteger: { extension: [] } }] }])).toThrow(NotCompiled); // primitive extension
  });
});
