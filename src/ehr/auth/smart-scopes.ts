/**
 * Which FHIR resource scopes this authorization server grants (pure).
 *
 * Parsing is the store's (src/ehr/store/scopes.ts: SMART v2 `patient/Flag.crs` and the v1 forms), so the
 * server never grants a scope the store would read differently. Of those, only `patient/` and `user/`
 * scopes are granted to apps: `system/` scopes belong to backend services (client credentials), and only
 * the module's backend client gets them, from its own allow-list (backend-client.ts). Granular scopes with a query are not well-formed to the store, so not granted.
 */
import { parseScope } from '../store/scopes.js';

export function isGrantableResourceScope(scope: string): boolean {
  const parsed = parseScope(scope);
  return parsed !== undefined && parsed.context !== 'system';
}
