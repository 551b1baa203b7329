/**
 * The sandbox EHR's durable FHIR R4 store. See docs/ehr-store.md.
 *
 *   const store = openFhirStore({ dataDir: config.dataDir });
 *   seedSandbox(store);
 *   app.use('/ehr/fhir', createFhirStoreRouter({ store, baseUrl: `${config.publicUrl}/ehr/fhir`, authorize }));
 */
export { openFhirStore, FhirStore, INDEXED_PARAMETERS, parseETag } from './store.js';
export type {
  OpenFhirStoreOptions,
  CreateOptions,
  UpdateOptions,
  WriteOptions,
  WriteCheck,
  WriteResult,
  DeleteResult,
  HistoryEntry,
  SearchOptions,
  SearchResult,
  Resource,
} from './store.js';
export { createFhirStoreRouter, parsePrefer } from './router.js';
export type { FhirStoreRouterOptions, Prefer } from './router.js';
export { accessPolicy, unrestrictedPolicy } from './access.js';
export type { AccessContext, AccessPolicy } from './access.js';
export { parseScope, parseScopes, grantFor, PERMISSION_FOR } from './scopes.js';
export type { ResourceScope, ScopeContext, Permission, Interaction, Grant } from './scopes.js';
export { capabilityStatement, storedResourceTypes, isStoredResourceType } from './capability.js';
export { processBundle } from './bundle.js';
export type { BundleOptions, ReturnPreference } from './bundle.js';
export {
  seedSandbox,
  SANDBOX_PATIENT_IDS,
  SANDBOX_PRACTITIONER_ID,
  SANDBOX_MRN_SYSTEM,
  SANDBOX_OBSERVATION_SYSTEM,
} from './seed.js';
export type { SeedSummary } from './seed.js';
