import { describe, it } from '@jest/globals';
import { expect } from '../support/expect.js';
import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { validateResource } from '../../src/validation/index.js';
import { buildSnapshots } from '../../scripts/build-snapshots.js';

const BASE = 'https://periplan.app/fhir/StructureDefinition/';
const FLAG = `${BASE}back-pain-flag`;
const PROPOSAL = `${BASE}back-pain-service-request-proposal`;
const INTAKE_RESPONSE = `${BASE}back-pain-intake-response`;
const profilesDir = fileURLToPath(new URL('../../profiles/', import.meta.url));

const errors = (r: unknown, profile: string) => validateResource(r, { profile }).filter((i) => i.severity === 'error');
const expressions = (r: unknown, profile: string) => errors(r, profile).flatMap((i) => i.expression ?? []);

const flag = (): fhir4.Flag => ({
  resourceType: 'Flag',
  meta: { profile: [FLAG] },
  extension: [
    {
      url: 'http://hl7.org/fhir/StructureDefinition/flag-priority',
      valueCodeableConcept: { coding: [{ system: 'http://hl7.org/fhir/flag-priority-code', code: 'PH' }] },
    },
    {
      url: 'http://hl7.org/fhir/StructureDefinition/flag-detail',
      valueReference: { reference: 'QuestionnaireResponse/qr1' },
    },
  ],
  status: 'active',
  category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/flag-category', code: 'clinical' }] }],
  code: { coding: [{ system: 'https://periplan.app/fhir/CodeSystem/back-pain-flag', code: 'emergency-assessment' }] },
  subject: { reference: 'Patient/p1' },
});

const proposal = (): fhir4.ServiceRequest => ({
  resourceType: 'ServiceRequest',
  status: 'draft',
  intent: 'proposal',
  priority: 'stat',
  code: { coding: [{ system: 'http://loinc.org', code: '24968-0', display: 'MR Lumbar spine' }] },
  subject: { reference: 'Patient/p1' },
  supportingInfo: [{ reference: 'QuestionnaireResponse/qr1' }],
});

const response = (): fhir4.QuestionnaireResponse => ({
  resourceType: 'QuestionnaireResponse',
  questionnaire: 'https://periplan.app/fhir/Questionnaire/back-pain-intake|1.0.0',
  status: 'completed',
  subject: { reference: 'Patient/p1' },
  authored: '2026-11-24T09:00:00Z',
  item: [{ linkId: 'pain', item: [{ linkId: 'age', answer: [{ valueInteger: 52 }] }] }],
});

describe('back-pain-flag profile', () => {
  it('accepts a conforming Flag', () => {
    expect(errors(flag(), FLAG)).toEqual([]);
  });
  it('requires the priority extension and the clinical category', () => {
    const f = flag();
    f.extension = f.extension!.slice(1);
    f.category = [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/flag-category', code: 'drug' }] }];
    const issues = errors(f, FLAG);
    expect(issues.map((i) => [i.expression?.[0], i.diagnostics])).toEqual(
      expect.arrayContaining([
        ['Flag.extension', expect.stringContaining("slice 'priority'")],
        ['Flag.category', expect.stringContaining("slice 'clinical'")],
      ]),
    );
  });
  it('binds code to the back-pain flag codes and priority to PN/PL/PM/PH', () => {
    const f = flag();
    f.code = { coding: [{ system: 'https://periplan.app/fhir/CodeSystem/back-pain-flag', code: 'something-else' }] };
    f.extension![0]!.valueCodeableConcept = {
      coding: [{ system: 'http://hl7.org/fhir/flag-priority-code', code: 'PX' }],
    };
    expect(expressions(f, FLAG)).toEqual(
      expect.arrayContaining(['Flag.code', 'Flag.extension[0].valueCodeableConcept']),
    );
  });
  it('rejects a priority extension with the wrong value type', () => {
    const f = flag();
    f.extension![0] = { url: 'http://hl7.org/fhir/StructureDefinition/flag-priority', valueString: 'PH' };
    expect(expressions(f, FLAG)).toContain('Flag.extension[0].valueString');
  });
});

describe('back-pain-service-request-proposal profile', () => {
  it('accepts a conforming proposal', () => {
    expect(errors(proposal(), PROPOSAL)).toEqual([]);
  });
  it('requires intent proposal and a code from the verified codes', () => {
    const sr = proposal();
    sr.intent = 'order';
    sr.code = { coding: [{ system: 'http://loinc.org', code: '24531-6' }] };
    const issues = errors(sr, PROPOSAL);
    expect(issues.map((i) => i.expression?.[0])).toEqual(
      expect.arrayContaining(['ServiceRequest.intent', 'ServiceRequest.code']),
    );
  });
  it('accepts each verified code', () => {
    for (const [system, code] of [
      ['http://loinc.org', '24967-2'],
      ['http://loinc.org', '24970-6'],
      ['http://snomed.info/sct', '312681000'],
      ['http://snomed.info/sct', '840361000'],
    ]) {
      expect(errors({ ...proposal(), code: { coding: [{ system, code }] } }, PROPOSAL)).toEqual([]);
    }
  });
});

describe('back-pain-intake-response profile', () => {
  it('accepts a conforming response', () => {
    expect(errors(response(), INTAKE_RESPONSE)).toEqual([]);
    expect(
      errors(
        { ...response(), questionnaire: 'https://periplan.app/fhir/Questionnaire/back-pain-intake' },
        INTAKE_RESPONSE,
      ),
    ).toEqual([]);
  });
  it('requires the intake questionnaire, a subject and authored', () => {
    const { subject: _s, authored: _a, ...rest } = response();
    const issues = errors({ ...rest, questionnaire: 'https://example.org/Questionnaire/other' }, INTAKE_RESPONSE);
    expect(issues.map((i) => i.expression?.[0])).toEqual(
      expect.arrayContaining([
        'QuestionnaireResponse',
        'QuestionnaireResponse.subject',
        'QuestionnaireResponse.authored',
      ]),
    );
    expect(issues.find((i) => i.expression?.[0] === 'QuestionnaireResponse')?.diagnostics).toMatch(/bpi-1/);
  });
  it('rejects a Flag validated against the response profile', () => {
    expect(errors(flag(), INTAKE_RESPONSE)[0]?.diagnostics).toMatch(/constrains QuestionnaireResponse/);
  });
});

describe('profile snapshots', () => {
  it('are committed and up to date for every StructureDefinition in profiles/ (npx tsx scripts/build-snapshots.ts)', () => {
    const results = buildSnapshots(profilesDir);
    expect(results.length).toBe(readdirSync(profilesDir).filter((f) => f.startsWith('StructureDefinition-')).length);
    expect(results.filter((r) => r.changed).map((r) => r.file)).toEqual([]);
  });
  it('have an element for every differential element', () => {
    for (const f of readdirSync(profilesDir).filter((n) => n.startsWith('StructureDefinition-'))) {
      const sd = JSON.parse(readFileSync(profilesDir + f, 'utf8')) as fhir4.StructureDefinition;
      const ids = new Set(sd.snapshot?.element.map((e) => e.id));
      for (const d of sd.differential?.element ?? []) expect(ids.has(d.id ?? d.path), `${f}: ${d.id}`).toBe(true);
    }
  });
});

describe('meta.profile', () => {
  it('holds a resource to a module profile it claims', () => {
    const f = flag();
    f.category = [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/flag-category', code: 'drug' }] }];
    expect(
      validateResource(f)
        .filter((i) => i.severity === 'error')
        .map((i) => i.expression?.[0]),
    ).toContain('Flag.category');
  });
});

describe('required slices of an absent element', () => {
  it('a Flag without any extension fails the back-pain-flag profile', () => {
    const { extension: _e, ...bare } = flag();
    expect(expressions(bare, FLAG)).toContain('Flag.extension');
  });
});

describe('the module output in examples/ conforms to its profiles', () => {
  const examplesDir = fileURLToPath(new URL('../../examples/', import.meta.url));
  // The worked examples are part of the repository: a missing folder is an error, not a reason to skip.
  const cases = readdirSync(examplesDir, { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .map((d) => d.name);
  const read = (file: string): unknown => {
    try {
      return JSON.parse(readFileSync(file, 'utf8')) as unknown;
    } catch {
      return undefined;
    }
  };

  it('Flags, ServiceRequest proposals and intake responses', () => {
    expect(cases.length).toBeGreaterThan(0);
    const failures: string[] = [];
    for (const name of cases) {
      const response = read(`${examplesDir}${name}/response.json`);
      if (response)
        for (const i of errors(response, INTAKE_RESPONSE))
          failures.push(`${name}/response.json ${i.expression?.[0]}: ${i.diagnostics}`);
      const carePlan = read(`${examplesDir}${name}/expected-careplan.json`) as fhir4.CarePlan | undefined;
      for (const r of carePlan?.contained ?? []) {
        const profile = r.resourceType === 'Flag' ? FLAG : r.resourceType === 'ServiceRequest' ? PROPOSAL : undefined;
        if (profile)
          for (const i of errors(r, profile))
            failures.push(
              `${name}/expected-careplan.json ${r.resourceType}/${r.id} ${i.expression?.[0]}: ${i.diagnostics}`,
            );
      }
    }
    expect(failures).toEqual([]);
  });
});
