/** The one FHIR client of the module (see client.ts); nothing outside this folder imports fhir-kit-client. */
export { FhirClient, DEFAULT_MAX_PAGES, DEFAULT_MAX_RESOURCES, DEFAULT_TIMEOUT_MS } from './client.js';
export type { CallOptions, FhirClientOptions, PreferReturn, WriteCallOptions } from './client.js';
export { httpStatusOf, outcomeText, parseRetryAfter, retryAfterMsOf, serverReasonOf, timedOut } from './errors.js';
export { nextPageUrl, searchQuery } from './paging.js';
export type { PagingLimits, SearchResult } from './paging.js';
