import { describe, it, expect } from '@jest/globals';
import { validateResource } from '../../src/validation/index.js';

const errors = (r: unknown, profile?: string) =>
  validateResource(r, profile ? { profile } : undefined).filter(
    (i) => i.severity === 'error' || i.severity === 'fatal',
  );
const expressions = (r: unknown, profile?: string) => errors(r, profile).flatMap((i) => i.expression ?? []);

describe('validateResource: strict structural R4', () => {
  it('accepts a valid resource', () => {
    expect(
      errors({ resourceType: 'Patient', id: 'p1', name: [{ family: 'Doe', given: ['Ann'] }], birthDate: '1970-01-01' }),
    ).toEqual([]);
  });

  it('reports structural errors with a FHIRPath expression and plain-English diagnostics', () => {
    const issues = errors({ resourceType: 'Patient', name: [{ given: 'Ann' }], birthDate: '1970-13-01', foo: 1 });
    expect(issues.map((i) => [i.expression?.[0], i.diagnostics])).toEqual(
      expect.arrayContaining([
        ['Patient.birthDate', 'Invalid date format'],
        ['Patient.foo', 'Invalid additional property "foo"'],
      ]),
    );
    for (const i of issues) expect(i.code).toBeTruthy();
  });

  it('names the concrete choice element, not value[x]', () => {
    expect(
      expressions({ resourceType: 'Observation', status: 'final', code: { text: 'x' }, valueQuantity: { value: 'a' } }),
    ).toEqual(['Observation.valueQuantity.value']);
  });

  it('checks invariants', () => {
    const issues = errors({ resourceType: 'Questionnaire', status: 'active', item: [{ linkId: 'g', type: 'group' }] });
    expect(issues[0]?.diagnostics).toMatch(/que-1/);
    expect(issues[0]?.expression).toEqual(['Questionnaire.item[0]']);
  });

  it('checks required ValueSet bindings', () => {
    const issues = errors({
      resourceType: 'Questionnaire',
      status: 'published',
      item: [{ linkId: 'a', type: 'strin' }],
    });
    expect(issues.map((i) => i.expression?.[0])).toEqual(['Questionnaire.status', 'Questionnaire.item[0].type']);
    expect(issues[0]?.code).toBe('code-invalid');
  });

  it('is R4, not Medplum: Medplum-only Meta elements and resource types are errors', () => {
    expect(expressions({ resourceType: 'Patient', meta: { project: 'x' } })).toEqual(['Patient.meta.project']);
    expect(errors({ resourceType: 'Bot' })[0]?.diagnostics).toMatch(/not a FHIR R4 resource type/);
    expect(errors({ resourceType: 'HumanName' })[0]?.diagnostics).toMatch(/not a FHIR R4 resource type/);
    expect(expressions({ resourceType: 'Patient', contained: [{ resourceType: 'Project' }] })).toEqual([
      'Patient.contained[0].resourceType',
    ]);
  });

  it('checks core extensions against their definitions', () => {
    const issues = errors({
      resourceType: 'Patient',
      extension: [{ url: 'http://hl7.org/fhir/StructureDefinition/patient-birthPlace', valueString: 'Oslo' }],
    });
    expect(issues.map((i) => [i.expression?.[0], i.diagnostics])).toEqual([
      ['Patient.extension[0].valueString', expect.stringContaining('needs valueAddress')],
    ]);
  });

  it('treats undefined properties of in-memory objects as absent', () => {
    expect(errors({ resourceType: 'Patient', gender: undefined })).toEqual([]);
  });
});

describe('validateResource never throws', () => {
  const deep = (n: number): Record<string, unknown> => {
    const root: Record<string, unknown> = { resourceType: 'Patient', extension: [] };
    let cur = root;
    for (let i = 0; i < n; i++) {
      const e: Record<string, unknown> = { url: 'http://example.org/x', extension: [] };
      (cur.extension as unknown[]).push(e);
      cur = e;
    }
    return root;
  };
  const cyclic: Record<string, unknown> = { resourceType: 'Patient' };
  cyclic.contained = [cyclic];

  const nasty: unknown[] = [
    undefined,
    null,
    0,
    NaN,
    'Patient',
    true,
    [],
    [{ resourceType: 'Patient' }],
    {},
    { resourceType: 42 },
    { resourceType: '' },
    { resourceType: 'Nope' },
    { resourceType: '__proto__' },
    { resourceType: 'constructor' },
    { resourceType: 'Patient'.repeat(10_000) },
    JSON.parse('{"resourceType":"Patient","__proto__":{"polluted":true}}'),
    JSON.parse('{"resourceType":"Patient","name":[{"constructor":{"prototype":{}}}]}'),
    { resourceType: 'Patient', toString: 'x', hasOwnProperty: 1 },
    { resourceType: 'Patient', birthDate: Infinity },
    { resourceType: 'Patient', name: [null, undefined] },
    { resourceType: 'Patient', name: 'Ann' },
    { resourceType: 'Patient', name: [{ given: [{}] }] },
    { resourceType: 'Patient', extension: [{}] },
    { resourceType: 'Patient', extension: [{ url: 'http://hl7.org/fhir/StructureDefinition/patient-birthPlace' }] },
    { resourceType: 'Patient', contained: [{}] },
    { resourceType: 'Patient', contained: [null] },
    { resourceType: 'Patient', text: { status: 'generated', div: '<script>' } },
    {
      resourceType: 'Bundle',
      type: 'collection',
      entry: [{ resource: { resourceType: 'Bundle', type: 'collection', entry: [{ resource: 42 }] } }],
    },
    { resourceType: 'Patient', birthDate: new Date() },
    { resourceType: 'Patient', id: Symbol('x') },
    { resourceType: 'Patient', id: () => 1 },
    { resourceType: 'Patient', id: 10n },
    { resourceType: 'Questionnaire', status: 'active', item: [{ linkId: 'a', type: 'group', item: 'x' }] },
    {
      resourceType: 'QuestionnaireResponse',
      status: 'completed',
      item: [{ linkId: 'a', answer: [{ valueInteger: 1.5, valueString: 'x' }] }],
    },
    deep(100),
    deep(50_000),
    cyclic,
    new Proxy({ resourceType: 'Patient' }, {}),
  ];

  it('returns issues (never throws) for every nasty input', () => {
    for (const input of nasty) {
      let issues: fhir4.OperationOutcomeIssue[] = [];
      expect(() => (issues = validateResource(input))).not.toThrow();
      expect(Array.isArray(issues)).toBe(true);
      for (const i of issues) {
        expect(typeof i.diagnostics).toBe('string');
        expect(['fatal', 'error', 'warning', 'information']).toContain(i.severity);
      }
    }
  });

  it('reports garbage as errors', () => {
    for (const input of [undefined, null, 'x', [], {}, { resourceType: 'Nope' }, deep(50_000), cyclic]) {
      expect(errors(input).length).toBeGreaterThan(0);
    }
    expect(expressions(JSON.parse('{"resourceType":"Patient","__proto__":{"x":1}}'))).toEqual(['Patient.__proto__']);
    expect(errors(deep(50_000))[0]?.code).toBe('too-costly');
  });

  it('does not pollute Object.prototype', () => {
    validateResource(JSON.parse('{"resourceType":"Patient","__proto__":{"polluted":true}}'));
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('rejects an unknown profile clearly', () => {
    const [i] = validateResource(
      { resourceType: 'Patient' },
      { profile: 'https://example.org/StructureDefinition/nope' },
    );
    expect(i?.code).toBe('not-supported');
    expect(i?.diagnostics).toMatch(/Unknown profile/);
  });
});
