/**
 * SMART on FHIR scopes, pure: parse them and decide what they grant. No I/O, no Express.
 *
 * Grammar (SMART App Launch 2.x, with 1.x accepted):
 *   <context>/<resourceType|*>.<permissions>
 *   context      patient | user | system
 *   permissions  v2: a subset of `cruds` in that order (`rs`, `cu`, `cruds`)
 *                v1: `read` (= rs), `write` (= cud), `*` (= cruds)
 * Scopes that are not resource scopes (`openid`, `launch`, `fhirUser`, `offline_access`, ...) grant no
 * data access and are ignored here. Malformed resource scopes grant nothing. v2 scopes with search
 * restrictions (`patient/Observation.rs?category=...`) also grant nothing: honouring only part of such a
 * scope would widen it, so until restrictions are implemented they are refused (safe side).
 */

export type Permission = 'c' | 'r' | 'u' | 'd' | 's';
export type ScopeContext = 'patient' | 'user' | 'system';

export interface ResourceScope {
  context: ScopeContext;
  /** A resource type, or `*` for all. */
  resourceType: string;
  permissions: ReadonlySet<Permission>;
  /** The scope as written. */
  text: string;
}

/** The REST interactions the store knows, mapped to the permission each needs. */
export type Interaction = 'read' | 'vread' | 'history-instance' | 'search-type' | 'create' | 'update' | 'delete';

export const PERMISSION_FOR: Record<Interaction, Permission> = {
  read: 'r',
  vread: 'r',
  'history-instance': 'r',
  'search-type': 's',
  create: 'c',
  update: 'u',
  delete: 'd',
};

const SCOPE = /^(patient|user|system)\/([A-Za-z]+|\*)\.([a-z*]+)$/;
const V2_ORDER = 'cruds';

/** Parse one scope; undefined when it is not a (well-formed, unrestricted) resource scope. */
export function parseScope(text: string): ResourceScope | undefined {
  const match = SCOPE.exec(text);
  if (!match) return undefined;
  const [, context, resourceType, perms] = match as unknown as [string, ScopeContext, string, string];
  const permissions = parsePermissions(perms);
  if (!permissions) return undefined;
  return { context, resourceType, permissions, text };
}

function parsePermissions(perms: string): Set<Permission> | undefined {
  if (perms === 'read') return new Set(['r', 's']);
  if (perms === 'write') return new Set(['c', 'u', 'd']);
  if (perms === '*') return new Set(['c', 'r', 'u', 'd', 's']);
  // v2: non-empty, letters of `cruds`, each at most once, in order.
  let last = -1;
  const out = new Set<Permission>();
  for (const ch of perms) {
    const at = V2_ORDER.indexOf(ch);
    if (at <= last) return undefined;
    last = at;
    out.add(ch as Permission);
  }
  return out.size > 0 ? out : undefined;
}

export function parseScopes(scopes: readonly string[]): ResourceScope[] {
  return scopes.flatMap((s) => {
    const parsed = parseScope(s);
    return parsed ? [parsed] : [];
  });
}

/**
 * How far the scopes let a request go for one interaction on one resource type:
 * - `all`: a `user/` or `system/` scope grants it (no compartment restriction);
 * - `patient`: only a `patient/` scope grants it (restricted to the patient-in-context's compartment);
 * - `none`: nothing grants it (403).
 */
export type Grant = 'all' | 'patient' | 'none';

export function grantFor(scopes: readonly ResourceScope[], resourceType: string, interaction: Interaction): Grant {
  const needed = PERMISSION_FOR[interaction];
  let grant: Grant = 'none';
  for (const scope of scopes) {
    if (scope.resourceType !== '*' && scope.resourceType !== resourceType) continue;
    if (!scope.permissions.has(needed)) continue;
    if (scope.context !== 'patient') return 'all';
    grant = 'patient';
  }
  return grant;
}
