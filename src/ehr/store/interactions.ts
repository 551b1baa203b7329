/**
 * One FHIR REST interaction, independent of HTTP: the router turns an HTTP request into a `StoreRequest`,
 * the Bundle processor turns each entry into one, and both get the same semantics and access checks here.
 */
import { FhirError, badRequest, forbidden, methodNotAllowed, notFound, notSupported } from '../../outcomes/index.js';
import type { AccessPolicy } from './access.js';
import { historyBundle, searchsetBundle } from './responses.js';
import { DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, parseSearch } from './search-params.js';
import { isStoredResourceType } from './capability.js';
import type { FhirStore, Resource } from './store.js';

export interface StoreRequest {
  method: string;
  /** Path relative to the FHIR base, without query: `Patient`, `Patient/1`, `Patient/1/_history/2`. */
  path: string;
  query: [string, string][];
  body?: unknown;
  ifMatch?: string;
  ifNoneExist?: string;
  /** For a create: the id to use (transaction entries whose urn:uuid was resolved up front). */
  assignedId?: string;
  /** `Prefer: handling=lenient`: unknown search parameters are ignored instead of rejected. */
  lenient?: boolean;
}

export interface StoreResponse {
  status: number;
  resource?: Resource;
  /** True when `resource` is the stored resource (so Prefer: return applies, ETag/Location make sense). */
  isStored?: boolean;
  location?: string;
}

export function execute(store: FhirStore, policy: AccessPolicy, baseUrl: string, req: StoreRequest): StoreResponse {
  const segments = req.path.split('/').filter(Boolean);
  const [type, id, history, versionId, ...extra] = segments;
  if (!type) throw methodNotAllowed(`${req.method} on the FHIR base is not supported here.`);
  if (!isStoredResourceType(type)) throw notFound(`'${type.slice(0, 80)}' is not a resource type this server stores.`);
  if (extra.length > 0 || (history !== undefined && history !== '_history'))
    throw notFound(`No such FHIR endpoint: ${req.path.slice(0, 200)}.`);
  const method = req.method.toUpperCase();

  if (id === undefined || id === '_search') return typeLevel(store, policy, baseUrl, method, type, id, req);
  if (history === undefined) return instanceLevel(store, policy, method, type, id, req);
  if (method !== 'GET') throw methodNotAllowed(`${method} on _history is not supported.`);
  if (versionId === undefined) return instanceHistory(store, policy, baseUrl, type, id, req);
  const grant = policy.require(type, 'vread');
  const resource = store.vread(type, id, versionId);
  policy.checkVisible(resource, grant);
  return { status: 200, resource, isStored: true };
}

/** `{type}` (search, create) and `{type}/_search`. */
function typeLevel(
  store: FhirStore,
  policy: AccessPolicy,
  baseUrl: string,
  method: string,
  type: string,
  id: '_search' | undefined,
  req: StoreRequest,
): StoreResponse {
  if (id === undefined) {
    if (method === 'GET') return search(store, policy, baseUrl, type, req);
    if (method === 'POST') return create(store, policy, type, req);
    throw methodNotAllowed(`${method} ${type} is not supported (use GET to search, POST to create).`);
  }
  if (method === 'POST') return search(store, policy, baseUrl, type, req);
  throw methodNotAllowed(`${method} ${type}/_search is not supported (use POST).`);
}

/** `{type}/{id}`: read, update, delete. */
function instanceLevel(
  store: FhirStore,
  policy: AccessPolicy,
  method: string,
  type: string,
  id: string,
  req: StoreRequest,
): StoreResponse {
  if (method === 'GET') {
    const grant = policy.require(type, 'read');
    const resource = store.read(type, id);
    policy.checkVisible(resource, grant);
    return { status: 200, resource, isStored: true };
  }
  if (method === 'PUT') return update(store, policy, type, id, req);
  if (method === 'DELETE') {
    const grant = policy.require(type, 'delete');
    store.delete(type, id, { check: policy.writeCheck(grant) });
    return { status: 204 };
  }
  throw methodNotAllowed(`${method} ${type}/${id} is not supported (PATCH is not offered: use PUT).`);
}

/** `GET {type}/{id}/_history`: the versions the caller may see (a 403 when none of the existing ones is). */
function instanceHistory(
  store: FhirStore,
  policy: AccessPolicy,
  baseUrl: string,
  type: string,
  id: string,
  req: StoreRequest,
): StoreResponse {
  const grant = policy.require(type, 'history-instance');
  const unknown = req.query.find(([k]) => !['_count', '_offset', '_format', '_pretty'].includes(k));
  if (unknown)
    throw notSupported(
      `History parameter '${unknown[0].slice(0, 40)}' is not supported (only _count).`,
      `${type}/${id}/_history?${unknown[0].slice(0, 40)}`,
    );
  const count = pageNumber(req.query, '_count', DEFAULT_PAGE_SIZE, `${type}/${id}/_history`);
  const offset = pageNumber(req.query, '_offset', 0, `${type}/${id}/_history`);
  const result = store.history(type, id, { count: Math.min(count, MAX_PAGE_SIZE), offset });
  const visible = result.entries.filter((e) => !e.resource || policy.canSee(e.resource, grant));
  if (result.entries.some((e) => e.resource) && !visible.some((e) => e.resource)) {
    policy.checkVisible(result.entries.find((e) => e.resource)!.resource!, grant);
  }
  return {
    status: 200,
    resource: historyBundle(baseUrl, type, id, { ...result, entries: visible }, { count, offset }),
  };
}

function search(
  store: FhirStore,
  policy: AccessPolicy,
  baseUrl: string,
  type: string,
  req: StoreRequest,
): StoreResponse {
  const grant = policy.require(type, 'search-type');
  const parsed = parseSearch(type, req.query, req.lenient);
  const result = store.search(type, parsed, {
    restrict: grant === 'all' ? undefined : (r) => policy.canSee(r, grant),
    // Included resources need read permission on their own type, and must be visible.
    restrictIncluded: (r) => {
      try {
        return policy.canSee(r, policy.require(r.resourceType, 'read'));
      } catch {
        return false;
      }
    },
  });
  return { status: 200, resource: searchsetBundle(baseUrl, type, result) };
}

function create(store: FhirStore, policy: AccessPolicy, type: string, req: StoreRequest): StoreResponse {
  const grant = policy.require(type, 'create');
  const resource = bodyResource(req.body, type);
  const restrict = req.ifNoneExist !== undefined ? policy.conditionalMatch(type) : undefined;
  const result = store.create(resource, {
    check: policy.writeCheck(grant),
    ...(req.ifNoneExist !== undefined ? { ifNoneExist: req.ifNoneExist } : {}),
    ...(restrict ? { ifNoneExistRestrict: restrict } : {}),
    ...(req.assignedId !== undefined ? { assignedId: req.assignedId } : {}),
  });
  if (result.outcome === 'existing') {
    // A match outside the caller's patient compartment is not theirs to point at (403, no id disclosed).
    try {
      policy.writeCheck(grant)(undefined, result.resource);
    } catch {
      throw forbidden(
        `A ${type} matching If-None-Exist exists outside the compartment of the patient this access token is for.`,
      );
    }
    // A create-only token must not learn the content of what already exists.
    let readable = false;
    try {
      readable = policy.canSee(result.resource, policy.require(type, 'read'));
    } catch {
      readable = false;
    }
    return {
      status: 200,
      ...(readable ? { resource: result.resource, isStored: true } : {}),
      location: locationOf(result.resource),
    };
  }
  return { status: 201, resource: result.resource, isStored: true, location: locationOf(result.resource) };
}

function update(store: FhirStore, policy: AccessPolicy, type: string, id: string, req: StoreRequest): StoreResponse {
  const grant = policy.require(type, 'update');
  const resource = bodyResource(req.body, type);
  if (resource.id !== id) {
    throw badRequest(
      resource.id === undefined
        ? `The body of PUT ${type}/${id} needs "id": "${id}".`
        : `The body id '${resource.id}' does not match the URL id '${id}'.`,
      `${type}.id`,
    );
  }
  // An update that would create (update-as-create) needs create permission too.
  if (store.find(type, id) === undefined) policy.require(type, 'create');
  const result = store.update(resource, {
    check: policy.writeCheck(grant),
    ...(req.ifMatch !== undefined ? { ifMatch: req.ifMatch } : {}),
  });
  return {
    status: result.outcome === 'created' ? 201 : 200,
    resource: result.resource,
    isStored: true,
    location: locationOf(result.resource),
  };
}

const locationOf = (r: Resource) => `${r.resourceType}/${r.id}/_history/${r.meta?.versionId ?? ''}`;

function bodyResource(body: unknown, type: string): Resource {
  if (body === undefined || body === null) throw badRequest(`A ${type} resource is required in the body.`);
  if (typeof body !== 'object' || Array.isArray(body))
    throw new FhirError(400, { code: 'structure', diagnostics: 'The body must be a FHIR resource (a JSON object).' });
  const rt = (body as { resourceType?: unknown }).resourceType;
  if (rt !== type) {
    throw badRequest(
      `The body is a ${typeof rt === 'string' ? rt.slice(0, 80) : 'resource without resourceType'}, but the URL says ${type}.`,
      'resourceType',
    );
  }
  return body as Resource;
}

function pageNumber(query: [string, string][], key: string, fallback: number, where: string): number {
  const raw = query.find(([k]) => k === key)?.[1];
  if (raw === undefined) return fallback;
  if (!/^\d+$/.test(raw)) throw badRequest(`${key} must be a non-negative integer.`, `${where}?${key}`);
  return Number(raw);
}
