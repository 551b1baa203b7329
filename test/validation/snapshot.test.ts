import { describe, it, expect } from '@jest/globals';
import { generateSnapshot, SnapshotError } from '../../src/validation/snapshot.js';
import { coreDefinition } from '../../src/validation/canonicals.js';
import { registerDefinitions, validateResource } from '../../src/validation/index.js';

const core = (type: string) =>
  coreDefinition(`http://hl7.org/fhir/StructureDefinition/${type}`, 'StructureDefinition')!;
const lookup = (url: string) => coreDefinition(url, 'StructureDefinition');

function sd(type: string, url: string, element: fhir4.ElementDefinition[]): fhir4.StructureDefinition {
  return {
    resourceType: 'StructureDefinition',
    id: url.split('/').pop()!,
    url,
    name: 'Test',
    status: 'draft',
    kind: type === 'Extension' ? 'complex-type' : 'resource',
    abstract: false,
    type,
    baseDefinition: `http://hl7.org/fhir/StructureDefinition/${type}`,
    derivation: 'constraint',
    differential: { element },
  };
}

describe('generateSnapshot', () => {
  it('matches elements by id: constraining Flag.identifier leaves Flag.id alone', () => {
    const elements = generateSnapshot(
      sd('Flag', 'https://example.org/sd/f', [{ id: 'Flag.identifier', path: 'Flag.identifier', max: '1' }]),
      core('Flag'),
      lookup,
    );
    const ids = elements.map((e) => e.id);
    expect(ids.filter((id) => id === 'Flag.id')).toHaveLength(1);
    expect(ids.filter((id) => id === 'Flag.identifier')).toHaveLength(1);
    expect(elements.find((e) => e.id === 'Flag.identifier')?.max).toBe('1');
    expect(elements.find((e) => e.id === 'Flag.id')?.max).toBe('1');
  });

  it('unfolds datatype children a differential reaches into', () => {
    const elements = generateSnapshot(
      sd('Flag', 'https://example.org/sd/f', [{ id: 'Flag.code.coding', path: 'Flag.code.coding', min: 1 }]),
      core('Flag'),
      lookup,
    );
    const ids = elements.map((e) => e.id);
    expect(ids).toContain('Flag.code.text');
    expect(ids.indexOf('Flag.code.coding')).toBeGreaterThan(ids.indexOf('Flag.code'));
    expect(ids.indexOf('Flag.code.coding')).toBeLessThan(ids.indexOf('Flag.subject'));
  });

  it('says which differential element matches nothing', () => {
    expect(() =>
      generateSnapshot(
        sd('Flag', 'https://example.org/sd/f', [{ id: 'Flag.nope', path: 'Flag.nope' }]),
        core('Flag'),
        lookup,
      ),
    ).toThrow(SnapshotError);
  });

  it('builds a complex extension that Medplum then enforces', () => {
    const url = 'https://periplan.app/fhir/StructureDefinition/test-complex';
    const ext = sd('Extension', url, [
      { id: 'Extension.extension:rule', path: 'Extension.extension', sliceName: 'rule', min: 1, max: '1' },
      { id: 'Extension.extension:rule.url', path: 'Extension.extension.url', fixedUri: 'rule' },
      {
        id: 'Extension.extension:rule.value[x]',
        path: 'Extension.extension.value[x]',
        min: 1,
        type: [{ code: 'code' }],
      },
      { id: 'Extension.url', path: 'Extension.url', fixedUri: url },
      { id: 'Extension.value[x]', path: 'Extension.value[x]', max: '0' },
    ]);
    ext.snapshot = { element: generateSnapshot(ext, core('Extension'), lookup) };
    expect(ext.snapshot.element.find((e) => e.id === 'Extension.extension')?.slicing?.discriminator).toEqual([
      { type: 'value', path: 'url' },
    ]);
    registerDefinitions([ext]);

    const good = { resourceType: 'Patient', extension: [{ url, extension: [{ url: 'rule', valueCode: 'RF-01' }] }] };
    expect(validateResource(good).filter((i) => i.severity === 'error')).toEqual([]);
    const bad = { resourceType: 'Patient', extension: [{ url, valueString: 'x' }] };
    const issues = validateResource(bad).filter((i) => i.severity === 'error');
    expect(issues.map((i) => i.expression?.[0])).toEqual(expect.arrayContaining(['Patient.extension[0].valueString']));
    // The required nested extension is missing: reported on the extension's `extension` element.
    expect(
      issues.some(
        (i) =>
          i.expression?.[0]?.startsWith('Patient.extension[0].extension') || /slice 'rule'/.test(i.diagnostics ?? ''),
      ),
    ).toBe(true);
  });
});
