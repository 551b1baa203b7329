/**
 * transaction and batch Bundles (FHIR R4 http.html#transaction).
 *
 * transaction: everything runs inside one SQLite transaction; the first failing entry throws and nothing is
 * stored (its status becomes the response status, its OperationOutcome names `Bundle.entry[i]`). Before any
 * entry runs, every POST entry whose fullUrl is a `urn:uuid:` gets its id (or, for a conditional create that
 * matches, the existing resource's id), and every reference to such a fullUrl — and every conditional
 * reference `Type?query` — is rewritten to `Type/id`. Entries then run in FHIR's order: DELETE, POST, PUT,
 * GET; the response lists them in the request's order.
 *
 * batch: each entry on its own (its own SQLite transaction); a failing entry gets its status and
 * OperationOutcome in the response and the others are unaffected.
 */
import { randomUUID } from 'node:crypto';
import { FhirError, badRequest, outcomeFromUnknown } from '../../outcomes/index.js';
import type { IssueInput } from '../../outcomes/index.js';
import { unrestrictedPolicy } from './access.js';
import type { AccessPolicy } from './access.js';
import { execute } from './interactions.js';
import type { StoreRequest, StoreResponse } from './interactions.js';
import { etagOf } from './responses.js';
import type { FhirStore, Resource } from './store.js';

export type ReturnPreference = 'minimal' | 'representation' | 'OperationOutcome';

export interface BundleOptions {
  /** Absolute FHIR base URL, for fullUrls and search links in the response. */
  baseUrl?: string;
  policy?: AccessPolicy;
  /** What each response entry carries (FHIR `Prefer: return=`). Default representation. */
  returnPreference?: ReturnPreference;
  /** `Prefer: handling=lenient` for searches inside the Bundle. */
  lenient?: boolean;
  /**
   * The Bundle was parsed for this call and nobody looks at it afterwards (the HTTP router): its resources are
   * rewritten and stored in place instead of being copied first (a submission's ≈50 kB: ≈0.3 ms).
   */
  bundleIsOwned?: boolean;
}

const ORDER: Record<string, number> = { DELETE: 0, POST: 1, PUT: 2, PATCH: 2, GET: 3, HEAD: 3 };
const URN_UUID = /^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

interface PlannedEntry {
  index: number;
  request: StoreRequest;
}

export function processBundle(store: FhirStore, bundle: fhir4.Bundle, options: BundleOptions = {}): fhir4.Bundle {
  if (bundle?.resourceType !== 'Bundle') throw badRequest('Expected a Bundle.', 'resourceType');
  const transaction = bundle.type === 'transaction';
  if (!transaction && bundle.type !== 'batch') {
    throw badRequest(
      `Only transaction and batch Bundles can be posted to the base, got type '${String(bundle.type)}'.`,
      'Bundle.type',
    );
  }
  return transaction ? runTransaction(store, bundle, options) : runBatch(store, bundle, options);
}

function runTransaction(store: FhirStore, bundle: fhir4.Bundle, options: BundleOptions): fhir4.Bundle {
  const entries = bundle.entry ?? [];
  const policy = options.policy ?? unrestrictedPolicy;
  const baseUrl = options.baseUrl ?? '';
  const planned = entries.map((entry, index) => plan(entry, index, baseUrl, options.lenient, options.bundleIsOwned));
  const duplicates = findDuplicateFullUrls(entries);
  if (duplicates)
    throw badRequest(
      `fullUrl '${duplicates.fullUrl.slice(0, 120)}' appears more than once.`,
      `Bundle.entry[${duplicates.index}].fullUrl`,
    );

  return store.inTransaction(() => {
    const resolved = assignIds(store, entries, planned, policy);
    for (const p of planned) rewriteReferences(store, p, resolved, policy);
    const responses = new Array<StoreResponse>(planned.length);
    const order = [...planned].sort(
      (a, b) => (ORDER[a.request.method] ?? 9) - (ORDER[b.request.method] ?? 9) || a.index - b.index,
    );
    for (const p of order) {
      try {
        responses[p.index] = execute(store, policy, baseUrl, p.request);
      } catch (err) {
        throw atEntry(err, p.index);
      }
    }
    return {
      resourceType: 'Bundle' as const,
      type: 'transaction-response' as const,
      entry: planned.map((p) => responseEntry(responses[p.index]!, baseUrl, options.returnPreference)),
    };
  });
}

function runBatch(store: FhirStore, bundle: fhir4.Bundle, options: BundleOptions): fhir4.Bundle {
  const policy = options.policy ?? unrestrictedPolicy;
  const baseUrl = options.baseUrl ?? '';
  return {
    resourceType: 'Bundle',
    type: 'batch-response',
    entry: (bundle.entry ?? []).map((entry, index) => {
      try {
        const p = plan(entry, index, baseUrl, options.lenient, options.bundleIsOwned);
        const response = store.inTransaction(() => execute(store, policy, baseUrl, p.request));
        return responseEntry(response, baseUrl, options.returnPreference);
      } catch (err) {
        const { status, outcome } = outcomeFromUnknown(atEntry(err, index));
        return { response: { status: statusLine(status), outcome } };
      }
    }),
  };
}

function plan(entry: fhir4.BundleEntry, index: number, baseUrl: string, lenient = false, owned = false): PlannedEntry {
  const { method, url } = checkedMethodAndUrl(entry, index);
  const relative = baseUrl && url.startsWith(`${baseUrl}/`) ? url.slice(baseUrl.length + 1) : url.replace(/^\//, '');
  const [pathPart, queryPart] = splitOnce(relative, '?');
  const request: StoreRequest = {
    method: method === 'HEAD' ? 'GET' : method,
    path: pathPart,
    query: [...new URLSearchParams(queryPart ?? '')] as [string, string][],
    lenient,
    ...(entry.resource ? { body: owned ? entry.resource : structuredClone(entry.resource) } : {}),
    ...conditionalHeaders(entry.request),
  };
  return { index, request };
}

/** The entry's request method and URL, or a 400 naming the entry when either is missing or unsupported. */
function checkedMethodAndUrl(
  entry: fhir4.BundleEntry,
  index: number,
): { method: NonNullable<fhir4.BundleEntryRequest['method']>; url: string } {
  const where = `Bundle.entry[${index}].request`;
  const method = entry.request?.method;
  const url = entry.request?.url;
  if (!method || !(method in ORDER) || method === 'PATCH')
    throw badRequest(`Entry ${index}: request.method must be GET, HEAD, POST, PUT or DELETE.`, `${where}.method`);
  if (typeof url !== 'string' || url === '')
    throw badRequest(`Entry ${index}: request.url is required.`, `${where}.url`);
  return { method, url };
}

/** The entry's If-Match and If-None-Exist, where it sends them. */
function conditionalHeaders(
  request: fhir4.BundleEntryRequest | undefined,
): Pick<StoreRequest, 'ifMatch' | 'ifNoneExist'> {
  return {
    ...(request?.ifMatch ? { ifMatch: request.ifMatch } : {}),
    ...(request?.ifNoneExist ? { ifNoneExist: request.ifNoneExist } : {}),
  };
}

function splitOnce(value: string, separator: string): [string, string | undefined] {
  const at = value.indexOf(separator);
  return at < 0 ? [value, undefined] : [value.slice(0, at), value.slice(at + 1)];
}

function findDuplicateFullUrls(entries: fhir4.BundleEntry[]): { fullUrl: string; index: number } | undefined {
  const seen = new Set<string>();
  for (const [index, e] of entries.entries()) {
    if (!e.fullUrl) continue;
    if (seen.has(e.fullUrl)) return { fullUrl: e.fullUrl, index };
    seen.add(e.fullUrl);
  }
  return undefined;
}

/** fullUrl (urn:uuid) -> `Type/id`, for POST entries (new id, or the match of a conditional create) and PUT entries. */
function assignIds(
  store: FhirStore,
  entries: fhir4.BundleEntry[],
  planned: PlannedEntry[],
  policy: AccessPolicy,
): Map<string, string> {
  const resolved = new Map<string, string>();
  for (const p of planned) {
    const fullUrl = entries[p.index]?.fullUrl;
    if (!fullUrl || !URN_UUID.test(fullUrl)) continue;
    const [type, id] = p.request.path.split('/');
    if (p.request.method === 'POST' && type && id === undefined) {
      const existing =
        p.request.ifNoneExist !== undefined ? matchOne(store, type, p.request.ifNoneExist, p.index, policy) : undefined;
      const assigned = existing?.id ?? randomUUID();
      if (!existing) p.request.assignedId = assigned;
      resolved.set(fullUrl, `${type}/${assigned}`);
    } else if (p.request.method === 'PUT' && type && id) {
      resolved.set(fullUrl, `${type}/${id}`);
    }
  }
  return resolved;
}

function matchOne(
  store: FhirStore,
  type: string,
  query: string,
  index: number,
  policy: AccessPolicy,
): Resource | undefined {
  try {
    return store.matchOne(type, query, policy.conditionalMatch(type));
  } catch (err) {
    throw atEntry(err, index);
  }
}

/** Rewrite urn:uuid and conditional references in the entry's resource, and urn:uuids in its URL and If-None-Exist. */
function rewriteReferences(
  store: FhirStore,
  p: PlannedEntry,
  resolved: Map<string, string>,
  policy: AccessPolicy,
): void {
  const replaceUrns = (text: string) => text.replace(/urn:uuid:[0-9a-fA-F-]{36}/g, (urn) => resolved.get(urn) ?? urn);
  p.request.path = replaceUrns(p.request.path);
  p.request.query = p.request.query.map(([k, v]) => [k, replaceUrns(v)]);
  if (p.request.ifNoneExist) p.request.ifNoneExist = replaceUrns(p.request.ifNoneExist);
  if (p.request.body === undefined) return;
  const visit = (node: unknown, path: string): void => {
    if (Array.isArray(node)) {
      node.forEach((item, i) => visit(item, `${path}[${i}]`));
      return;
    }
    if (node === null || typeof node !== 'object') return;
    const record = node as Record<string, unknown>;
    for (const [key, value] of Object.entries(record)) {
      if (key === 'reference' && typeof value === 'string') {
        record[key] = resolveReference(store, value, resolved, `${path}.reference`, p.index, policy);
      } else {
        visit(value, `${path}.${key}`);
      }
    }
  };
  visit(p.request.body, `Bundle.entry[${p.index}].resource`);
}

function resolveReference(
  store: FhirStore,
  reference: string,
  resolved: Map<string, string>,
  expression: string,
  index: number,
  policy: AccessPolicy,
): string {
  if (reference.startsWith('urn:uuid:')) {
    const target = resolved.get(reference);
    if (!target)
      throw badRequest(`Entry ${index}: reference '${reference}' points to no entry of this transaction.`, expression);
    return target;
  }
  const conditional = /^([A-Z][A-Za-z]+)\?(.+)$/.exec(reference);
  if (!conditional) return reference;
  const [, type, query] = conditional as unknown as [string, string, string];
  // Under the caller's access policy: another patient's resources neither match nor count.
  const restrict = policy.conditionalMatch(type);
  const { matches, total } = store.search(
    type,
    [...new URLSearchParams(query), ['_count', '2']] as [string, string][],
    restrict ? { restrict } : {},
  );
  if (total !== 1) {
    throw new FhirError(412, {
      code: 'conflict',
      diagnostics: `Entry ${index}: conditional reference '${reference.slice(0, 200)}' matches ${total} resources; it must match exactly one.`,
      expression,
    });
  }
  return `${type}/${matches[0]!.id}`;
}

/** Re-throw an entry's error so that it names the entry. */
function atEntry(err: unknown, index: number): unknown {
  if (!(err instanceof FhirError)) return err;
  if (
    err.message.startsWith(`Entry ${index}:`) ||
    err.outcome.issue.some((i) => i.expression?.some((e) => e.startsWith(`Bundle.entry[${index}]`)))
  )
    return err;
  const issues: IssueInput[] = err.outcome.issue.map((i) => ({
    severity: i.severity,
    code: i.code,
    diagnostics: `Entry ${index}: ${i.diagnostics ?? ''}`,
    expression: [`Bundle.entry[${index}]`, ...(i.expression ?? [])],
  }));
  return new FhirError(err.status, issues);
}

function responseEntry(
  response: StoreResponse,
  baseUrl: string,
  preference: ReturnPreference | undefined,
): fhir4.BundleEntry {
  const resource = response.resource;
  const entry: fhir4.BundleEntry = {
    response: {
      status: statusLine(response.status),
      ...(response.location ? { location: response.location } : {}),
      ...(response.isStored && resource
        ? { etag: etagOf(resource), ...(resource.meta?.lastUpdated ? { lastModified: resource.meta.lastUpdated } : {}) }
        : {}),
    },
  };
  if (response.isStored && resource?.id) entry.fullUrl = `${baseUrl}/${resource.resourceType}/${resource.id}`;
  if (resource && (!response.isStored || preference === undefined || preference === 'representation'))
    entry.resource = resource;
  return entry;
}

const STATUS_TEXT: Record<number, string> = {
  200: 'OK',
  201: 'Created',
  204: 'No Content',
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  409: 'Conflict',
  410: 'Gone',
  412: 'Precondition Failed',
  422: 'Unprocessable Entity',
  500: 'Internal Server Error',
};

export const statusLine = (status: number) => `${status}${STATUS_TEXT[status] ? ` ${STATUS_TEXT[status]}` : ''}`;
