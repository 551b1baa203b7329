import { describe, it } from '@jest/globals';
import { expect } from '../support/expect.js';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const profilesDir = fileURLToPath(new URL('../../profiles/', import.meta.url));
const read = <T>(file: string): T => JSON.parse(readFileSync(profilesDir + file, 'utf8')) as T;

describe('CapabilityStatement-periplan-module', () => {
  const cs = read<fhir4.CapabilityStatement>('CapabilityStatement-periplan-module.json');
  const rest = cs.rest![0]!;

  it('describes the module API: instance, R4, json, server', () => {
    expect([cs.kind, cs.fhirVersion, cs.format, rest.mode]).toEqual(['instance', '4.0.1', ['json'], 'server']);
  });

  it('offers read and search by url, version, status, name on every knowledge type', () => {
    for (const type of [
      'Questionnaire',
      'PlanDefinition',
      'ActivityDefinition',
      'CodeSystem',
      'ValueSet',
      'StructureDefinition',
    ]) {
      const r = rest.resource!.find((x) => x.type === type);
      expect(r?.interaction?.map((i) => i.code).sort(), type).toEqual(['read', 'search-type']);
      expect(r?.searchParam?.map((p) => p.name).sort(), type).toEqual(['name', 'status', 'url', 'version']);
    }
  });

  it('references an OperationDefinition in profiles/ for each operation, with matching code and resource', () => {
    const ops = rest.resource!.flatMap((r) => (r.operation ?? []).map((o) => ({ type: r.type, ...o })));
    expect(ops.map((o) => `${o.type}/$${o.name}`).sort()).toEqual([
      'PlanDefinition/$apply',
      'Questionnaire/$populate',
      'QuestionnaireResponse/$extract',
      'QuestionnaireResponse/$validate',
    ]);
    for (const o of ops) {
      const id = o.definition.split('/').pop()!;
      const od = read<fhir4.OperationDefinition>(`OperationDefinition-${id}.json`);
      expect(od.url).toBe(o.definition);
      expect(od.code).toBe(o.name);
      expect(od.resource).toContain(o.type);
    }
  });
});

describe('OperationDefinition-plandefinition-apply', () => {
  it('has the parameters of api-contract.md', () => {
    const od = read<fhir4.OperationDefinition>('OperationDefinition-plandefinition-apply.json');
    const params = Object.fromEntries(
      (od.parameter ?? []).map((p) => [p.name, `${p.use} ${p.min}..${p.max} ${p.type}`]),
    );
    expect(params).toEqual({
      url: 'in 0..1 uri',
      subject: 'in 1..1 string',
      data: 'in 0..1 Bundle',
      useServerData: 'in 0..1 boolean',
      return: 'out 1..1 CarePlan',
    });
    expect([od.type, od.instance, od.system]).toEqual([true, true, false]);
  });
});
