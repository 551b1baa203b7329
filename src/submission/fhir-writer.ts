/**
 * Writes a submission bundle to any FHIR R4 server through fhir-kit-client.
 *
 * - Idempotent: before sending, it looks the QuestionnaireResponse up by identifier. A transaction is
 *   all-or-nothing, so if the response is there, the whole submission is (an acknowledgement was lost).
 *   Every entry is also a conditional create (If-None-Exist), for servers and races the check misses.
 * - Servers without `transaction` (read from their CapabilityStatement) get the same entries one by one in
 *   bundle order (the bundle is built so that order is safe: the response first, Provenance last), with
 *   `urn:uuid` references rewritten to the ids the server assigned.
 */
import { Client } from 'fhir-kit-client';
import type { BundleWriter } from './sender.js';

export interface FhirServerTarget {
  baseUrl: string;
  /** Returns the bearer token to use now (undefined: no Authorization header). */
  getToken?: () => Promise<string | undefined>;
  /** Abort a request after this long (ms); a slow server then counts as a transient failure. */
  timeoutMs?: number;
}

export interface ServerCapabilities {
  transaction: boolean;
  batch: boolean;
  /** Resource types the server says it can create (empty when it does not say). */
  creatable: Set<string>;
}

export function capabilitiesFrom(statement: fhir4.CapabilityStatement): ServerCapabilities {
  const rest = statement.rest?.find((r) => r.mode === 'server') ?? statement.rest?.[0];
  const system = new Set((rest?.interaction ?? []).map((i) => i.code));
  const creatable = new Set(
    (rest?.resource ?? []).filter((r) => (r.interaction ?? []).some((i) => i.code === 'create')).map((r) => r.type),
  );
  return { transaction: system.has('transaction'), batch: system.has('batch'), creatable };
}

async function clientFor(target: FhirServerTarget): Promise<Client> {
  const token = await target.getToken?.();
  return new Client({ baseUrl: target.baseUrl, ...(token ? { bearerToken: token } : {}) });
}

function requestOptions(target: FhirServerTarget, headers?: Record<string, string>) {
  return { signal: AbortSignal.timeout(target.timeoutMs ?? 15_000), ...(headers ? { headers } : {}) };
}

/** Read the server's CapabilityStatement (unauthenticated, as SMART allows). */
export async function readCapabilities(target: FhirServerTarget): Promise<ServerCapabilities> {
  const client = await clientFor(target);
  const cs = (await client.capabilityStatement(requestOptions(target))) as unknown as fhir4.CapabilityStatement;
  return capabilitiesFrom(cs);
}

/** The identifier search token (`system|value`) of the bundle's QuestionnaireResponse, if any. */
export function responseIdentifierToken(bundle: fhir4.Bundle): string | undefined {
  const qr = bundle.entry?.find((e) => e.resource?.resourceType === 'QuestionnaireResponse')?.resource as fhir4.QuestionnaireResponse | undefined;
  const id = qr?.identifier;
  return id?.value ? `${id.system ?? ''}|${id.value}` : undefined;
}

export function createFhirBundleWriter(target: FhirServerTarget, capabilities: ServerCapabilities): BundleWriter {
  return {
    async write(bundle) {
      const client = await clientFor(target);
      const token = responseIdentifierToken(bundle);
      if (token) {
        const found = (await client.search({
          resourceType: 'QuestionnaireResponse',
          searchParams: { identifier: token, _count: '1' },
          options: requestOptions(target),
        })) as unknown as fhir4.Bundle;
        if ((found.entry?.length ?? 0) > 0 || (found.total ?? 0) > 0) {
          return { resourceType: 'Bundle', type: capabilities.transaction ? 'transaction-response' : 'batch-response', entry: [] };
        }
      }
      if (capabilities.transaction) {
        return (await client.transaction({ body: bundle as never, options: requestOptions(target) })) as unknown as fhir4.Bundle;
      }
      return writeOneByOne(client, target, bundle);
    },
  };
}

async function writeOneByOne(client: Client, target: FhirServerTarget, bundle: fhir4.Bundle): Promise<fhir4.Bundle> {
  const assigned = new Map<string, string>(); // urn:uuid:... -> Type/id
  const responses: fhir4.BundleEntry[] = [];
  for (const entry of bundle.entry ?? []) {
    if (!entry.resource || entry.request?.method !== 'POST') {
      throw new Error('one-by-one fallback supports POST entries only');
    }
    const resource = rewriteReferences(entry.resource, assigned);
    const headers = entry.request.ifNoneExist ? { 'If-None-Exist': rewriteQuery(entry.request.ifNoneExist, assigned) } : undefined;
    const created = (await client.create({
      resourceType: resource.resourceType,
      body: resource as never,
      options: requestOptions(target, headers),
    })) as unknown as fhir4.FhirResource;
    if (entry.fullUrl && created.id) assigned.set(entry.fullUrl, `${created.resourceType}/${created.id}`);
    responses.push({ response: { status: '201 Created', location: created.id ? `${created.resourceType}/${created.id}` : '' }, resource: created });
  }
  return { resourceType: 'Bundle', type: 'batch-response', entry: responses };
}

function rewriteReferences<T>(value: T, assigned: Map<string, string>): T {
  return JSON.parse(JSON.stringify(value), (key, v: unknown) =>
    key === 'reference' && typeof v === 'string' && assigned.has(v) ? assigned.get(v) : v,
  ) as T;
}

function rewriteQuery(query: string, assigned: Map<string, string>): string {
  let out = query;
  for (const [urn, ref] of assigned) out = out.split(urn).join(ref);
  return out;
}
