/**
 * Validation against a profile without re-parsing it on every call.
 *
 * Normally the parsed profile goes to the compiled validator (`structure.ts`). What follows is the path
 * used as the reference (`withMedplumReference`: the differential test, bench/validate.ts), which runs
 * Medplum's own validator on the parsed schema.
 *
 * Medplum's `validateTypedValue(value, { profile })` parses the StructureDefinition into its internal schema
 * on every call (≈0.1–1 ms: two `[x]` lookups over ~50 types per element). We validate against the same few
 * profiles thousands of times (every module extension in a CarePlan, every profiled resource), so the
 * parse is done once per StructureDefinition object and Medplum's own validator is run on that schema:
 *
 * The parsed schema is registered in Medplum's type table under a private name (with a `kind` that keeps it
 * out of `getResourceTypes()`), and the value handed to the validator reports that name as its `type` only
 * for the first read — the one the validator's constructor makes to pick its root schema — and its real type
 * afterwards (property lookups, FHIRPath). The result is exactly `validateTypedValue(value, { profile })`.
 * That relies on Medplum 4.5.2's internals, so `fastPathAgrees` compares both ways on probe values for each
 * profile and the slow, documented call is used whenever they differ.
 */
import { getAllDataTypes, parseStructureDefinition, validateTypedValue } from '@medplum/core';
import type { InternalTypeSchema } from '@medplum/core';
import type { StructureDefinition as MedplumStructureDefinition } from '@medplum/fhirtypes';
import { usingMedplumReference } from './engine.js';
import { runMedplum } from './medplum-issues.js';
import { validateStructure } from './structure.js';

type Issues = fhir4.OperationOutcomeIssue[];

/** Per StructureDefinition object: the private type name its parsed schema is registered under, or null (use the slow path). */
const cachedNames = new WeakMap<object, string | null>();
let counter = 0;

/** Issues of validating `value` (of FHIR type `type`) against `profile`, as Medplum reports them. */
export function validateAgainstProfile(type: string, value: unknown, profile: fhir4.StructureDefinition): Issues {
  if (!usingMedplumReference()) {
    const schema = parsedSchema(profile);
    return schema ? runMedplum(() => validateStructure({ type, value }, schema)) : slow(type, value, profile);
  }
  const name = cachedName(profile);
  if (name === null) return slow(type, value, profile);
  return runMedplum(() => validateTypedValue(typedValueReportingSchemaOnce(type, name, value)));
}

/** Per StructureDefinition object: its parsed schema for the compiled validator (null: unparseable). */
const parsedSchemas = new WeakMap<object, InternalTypeSchema | null>();

function parsedSchema(profile: fhir4.StructureDefinition): InternalTypeSchema | null {
  let schema = parsedSchemas.get(profile);
  if (schema === undefined) {
    try {
      schema = parseStructureDefinition(profile as unknown as MedplumStructureDefinition);
    } catch {
      schema = null; // the slow call throws the same error where the caller can report it
    }
    parsedSchemas.set(profile, schema);
  }
  return schema;
}

function slow(type: string, value: unknown, profile: fhir4.StructureDefinition): Issues {
  return runMedplum(() =>
    validateTypedValue({ type, value }, { profile: profile as unknown as MedplumStructureDefinition }),
  );
}

function typedValueReportingSchemaOnce(
  type: string,
  schemaName: string,
  value: unknown,
): { type: string; value: unknown } {
  let first = true;
  return {
    get type() {
      if (!first) return type;
      first = false;
      return schemaName;
    },
    value,
  };
}

function cachedName(profile: fhir4.StructureDefinition): string | null {
  const known = cachedNames.get(profile);
  if (known !== undefined) return known;
  let name: string | null = null;
  try {
    const schema = parseStructureDefinition(profile as unknown as MedplumStructureDefinition);
    name = `periplan-profile-${++counter}`;
    getAllDataTypes()[name] = { ...schema, kind: 'periplan-cached-profile' };
    if (!fastPathAgrees(profile, name)) name = null;
  } catch {
    name = null;
  }
  cachedNames.set(profile, name);
  return name;
}

/** Probe values for the self-check: empty, wrong and plausible instances of the profiled type. */
function probes(profile: fhir4.StructureDefinition): unknown[] {
  const type = profile.type;
  if (type === 'Extension') {
    return [
      { url: profile.url },
      { url: profile.url, valueString: 'x', extension: [{ url: 'unknown', valueBoolean: true }] },
      { url: profile.url, extension: [{ url: 'x' }], valueCode: 'a b' },
    ];
  }
  return [
    { resourceType: type },
    {
      resourceType: type,
      id: 'x',
      status: 'not-a-status',
      extension: [{ url: 'x' }],
      meta: { profile: [profile.url] },
    },
  ];
}

function fastPathAgrees(profile: fhir4.StructureDefinition, name: string): boolean {
  for (const value of probes(profile)) {
    const expected = JSON.stringify(slow(profile.type, value, profile));
    const actual = JSON.stringify(
      runMedplum(() => validateTypedValue(typedValueReportingSchemaOnce(profile.type, name, value))),
    );
    if (expected !== actual) return false;
  }
  return true;
}
