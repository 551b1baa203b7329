/**
 * The CapabilityStatement of the store, generated from the same tables the code runs on (the interactions
 * the router dispatches, the search parameters `parseSearch` accepts), so that it cannot drift from the
 * behaviour. A test walks it and exercises every claim.
 */
import { RESULT_PARAMETERS, supportedSearchParameters } from './search-params.js';
import { isR4ResourceType } from '../../validation/index.js';
import { r4DefinitionBundle } from '../../validation/r4-files.js';

/** Type-level interactions the router implements for every resource type. */
export const RESOURCE_INTERACTIONS = [
  'read',
  'vread',
  'update',
  'delete',
  'history-instance',
  'create',
  'search-type',
] as const;
/** System-level interactions (POST to the base). */
export const SYSTEM_INTERACTIONS = ['transaction', 'batch'] as const;

let cachedTypes: string[] | undefined;
let cachedTypeSet: Set<string> | undefined;

/** Does the store keep resources of this type? */
export function isStoredResourceType(type: string): boolean {
  cachedTypeSet ??= new Set(storedResourceTypes());
  return cachedTypeSet.has(type);
}

/** Every concrete R4 resource type (Binary and Bundle excluded: no JSON resource semantics are offered for them here). */
export function storedResourceTypes(): string[] {
  if (!cachedTypes) {
    const bundle = r4DefinitionBundle('fhir/r4/profiles-resources.json');
    cachedTypes = (bundle.entry ?? [])
      .map((e) => e.resource as fhir4.StructureDefinition | undefined)
      .filter(
        (sd): sd is fhir4.StructureDefinition =>
          sd?.resourceType === 'StructureDefinition' && sd.kind === 'resource' && !sd.abstract,
      )
      .map((sd) => sd.type)
      .filter((t) => isR4ResourceType(t) && t !== 'Binary' && t !== 'Bundle')
      .sort();
  }
  return cachedTypes;
}

export interface CapabilityOptions {
  /** Absolute FHIR base URL (CapabilityStatement.implementation.url). */
  baseUrl: string;
  /** SMART security block (oauth-uris extension, service coding), from the authorization server. */
  security?: fhir4.CapabilityStatementRestSecurity;
  /** Whether the router requires a bearer token (an `authorize` hook is configured). */
  secured: boolean;
}

export function capabilityStatement(options: CapabilityOptions): fhir4.CapabilityStatement {
  const resource = storedResourceTypes().map((type): fhir4.CapabilityStatementRestResource => {
    const params = [...supportedSearchParameters(type).values()];
    return {
      type: type as fhir4.CapabilityStatementRestResource['type'],
      interaction: RESOURCE_INTERACTIONS.map((code) => ({ code })),
      versioning: 'versioned-update',
      readHistory: true,
      updateCreate: true,
      conditionalCreate: true,
      conditionalRead: 'not-supported',
      conditionalUpdate: false,
      conditionalDelete: 'not-supported',
      referencePolicy: ['literal', 'local'],
      searchInclude: params.filter((p) => p.type === 'reference').map((p) => `${type}:${p.code}`),
      searchParam: params.map((p) => ({
        name: p.code,
        type: p.type,
        ...(p.definition ? { definition: p.definition } : {}),
      })),
    };
  });
  const security: fhir4.CapabilityStatementRestSecurity | undefined =
    options.security ??
    (options.secured
      ? {
          service: [
            {
              coding: [
                { system: 'http://terminology.hl7.org/CodeSystem/restful-security-service', code: 'SMART-on-FHIR' },
              ],
            },
          ],
          description:
            'Bearer token required; SMART v2 scopes (and v1 read/write) are enforced, patient/ scopes within the patient compartment.',
        }
      : undefined);
  return {
    resourceType: 'CapabilityStatement',
    status: 'active',
    date: '2026-11-24',
    kind: 'instance',
    software: { name: 'PeriPlan sandbox EHR FHIR store', version: '0.1.0' },
    implementation: {
      description: 'Embedded, durable FHIR R4 store (SQLite) of the PeriPlan sandbox EHR',
      url: options.baseUrl,
    },
    fhirVersion: '4.0.1',
    format: ['json'],
    rest: [
      {
        mode: 'server',
        documentation: `Search result parameters: ${RESULT_PARAMETERS.join(', ')} (_summary=count only). Modifiers: :missing on all, :not on tokens, :exact and :contains on strings. Unknown search parameters are rejected with 400 unless Prefer: handling=lenient. Prefer: return=minimal|representation|OperationOutcome is honoured on writes.`,
        ...(security ? { security } : {}),
        resource,
        interaction: SYSTEM_INTERACTIONS.map((code) => ({ code })),
      },
    ],
  };
}
