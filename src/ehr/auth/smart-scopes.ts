/**
 * Which FHIR resource scopes this authorization server grants (pure).
 *
 * Parsing is the store's (src/ehr/store/scopes.ts: SMART v2 `patient/Flag.crs` and the v1 forms), so the
 * server never grants a scope the store would read differently. Of those, only `patient/` and `user/`
 * scopes are granted to apps: `system/` scopes belong to backend services (client credentials), and only
 * the module's backend client gets them, from its own allow-list (backend-client.ts). Granular scopes with a query are not well-formed to the store, so not granted.
 */
import { parseScope } from '../store/scopes.js';
import type { ResourceScope } from '../store/scopes.js';

export function isGrantableResourceScope(scope: string): boolean {
  const parsed = parseScope(scope);
  return parsed !== undefined && parsed.context !== 'system';
}

/**
 * Is `requested` no wider than one of `allowed` (a client's registered scopes)? Same or named type under a
 * `*`, a subset of the permissions, and the same context or `patient/` under `user/` (a patient compartment
 * is a part of what the user may reach). Anything not grantable is never within.
 */
export function isWithinScopes(requested: string, allowed: readonly string[]): boolean {
  const wanted = parseScope(requested);
  if (!wanted || !isGrantableResourceScope(requested)) return false;
  return allowed.some((text) => {
    const limit: ResourceScope | undefined = parseScope(text);
    if (!limit) return false;
    if (limit.resourceType !== '*' && limit.resourceType !== wanted.resourceType) return false;
    if (!(limit.context === wanted.context || (wanted.context === 'patient' && limit.context === 'user'))) return false;
    return [...wanted.permissions].every((p) => limit.permissions.has(p));
  });
}
