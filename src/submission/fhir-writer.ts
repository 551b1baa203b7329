/**
 * Writes a submission bundle to any FHIR R4 server through the module's FHIR client (src/platform/fhir-client).
 *
 * - Idempotent: every entry of the bundle is a conditional create (If-None-Exist) keyed on identifiers derived
 *   from the submission key (build-bundle.ts), so sending it twice creates nothing new. On a retry the writer
 *   first looks for the submission's Provenance (written last, tagged with the submission id): if it is
 *   there, the whole submission is, and nothing is sent.
 * - Servers without `transaction` (read from their CapabilityStatement) get the same entries one by one in
 *   bundle order (the bundle is built so that order is safe: the response first, Provenance last), with
 *   `urn:uuid` references rewritten to the ids the server assigned. Types without conditional create get a
 *   search by identifier before the create.
 */
import {
  FhirClient,
  httpStatusOf,
  outcomeText,
  retryAfterMsOf as retryAfterHeaderMsOf,
  searchQuery,
} from '../platform/fhir-client/index.js';
import { SUBMISSION_KEY_TAG_SYSTEM, amendmentOf, provenanceTagQuery } from './build-bundle.js';

/** What the user is told when the response they amended was changed by someone else in the meantime. */
export const STALE_AMENDMENT =
  'Someone changed this response since you opened it (412): reload it and amend it again. Your amendment was not written.';

export interface FhirServerTarget {
  baseUrl: string;
  /**
   * The module's own credential, used when no user token is given (outbox retries, possibly after a restart,
   * when the user's token is gone): e.g. a SMART Backend Services token. Undefined: no Authorization header.
   */
  getToken?: () => Promise<string | undefined>;
  /** Called after a 401 with the module's token, so that the next `getToken` fetches a fresh one. */
  invalidateToken?: () => void;
  /** Abort a request after this long (ms); a slow server then counts as a transient failure. */
  timeoutMs?: number;
}

/** The resource types a submission writes (and `resolveProposal` updates). */
export const WRITTEN_TYPES = [
  'QuestionnaireResponse',
  'Flag',
  'ServiceRequest',
  'Observation',
  'CarePlan',
  'Provenance',
] as const;
export const UPDATED_TYPES = ['ServiceRequest', 'Flag'] as const;

export interface ServerCapabilities {
  /** False when the CapabilityStatement could not be read (then transaction is assumed and re-checked later). */
  known: boolean;
  transaction: boolean;
  batch: boolean;
  /** Resource types the server says it can create / update / conditionally create. */
  creatable: Set<string>;
  updatable: Set<string>;
  conditionalCreate: Set<string>;
  fhirVersion?: string;
  software?: string;
  /** Plain-English list of what this server cannot do for the write path, and what the module does instead. */
  limitations: string[];
}

/** What to assume when the server cannot be asked (unreachable at start): a full R4 server. */
export function assumedCapabilities(): ServerCapabilities {
  const all = new Set<string>(WRITTEN_TYPES);
  return {
    known: false,
    transaction: true,
    batch: true,
    creatable: all,
    updatable: new Set(UPDATED_TYPES),
    conditionalCreate: all,
    limitations: [],
  };
}

export function capabilitiesFrom(statement: fhir4.CapabilityStatement): ServerCapabilities {
  const rest = statement.rest?.find((r) => r.mode === 'server') ?? statement.rest?.[0];
  const system = new Set((rest?.interaction ?? []).map((i) => i.code));
  const resources = rest?.resource ?? [];
  const has = (r: fhir4.CapabilityStatementRestResource, code: string) =>
    (r.interaction ?? []).some((i) => i.code === code);
  const creatable = new Set(resources.filter((r) => has(r, 'create')).map((r) => r.type));
  const updatable = new Set(resources.filter((r) => has(r, 'update')).map((r) => r.type));
  const conditionalCreate = new Set(
    resources.filter((r) => has(r, 'create') && r.conditionalCreate === true).map((r) => r.type),
  );
  const caps: ServerCapabilities = {
    known: true,
    transaction: system.has('transaction'),
    batch: system.has('batch'),
    creatable,
    updatable,
    conditionalCreate,
    ...(statement.fhirVersion ? { fhirVersion: statement.fhirVersion } : {}),
    ...(statement.software?.name
      ? { software: `${statement.software.name}${statement.software.version ? ` ${statement.software.version}` : ''}` }
      : {}),
    limitations: [],
  };
  caps.limitations = describeLimitations(caps);
  return caps;
}

function describeLimitations(caps: ServerCapabilities): string[] {
  const out: string[] = [];
  if (caps.fhirVersion && !caps.fhirVersion.startsWith('4.0'))
    out.push(`The server speaks FHIR ${caps.fhirVersion}, not R4 (4.0.x): writes may be refused.`);
  if (!caps.transaction) {
    out.push(
      'No transaction support: each submission is written one resource at a time in a safe order (response, flags, proposals, observations, care plan, provenance). It is not atomic: a crash or outage in between leaves a partial submission on the server until the outbox retry completes it.',
    );
  }
  const cannotCreate = WRITTEN_TYPES.filter((t) => !caps.creatable.has(t));
  if (cannotCreate.length)
    out.push(`Cannot create ${cannotCreate.join(', ')}: submissions will be refused and kept in the outbox as failed.`);
  const noConditional = WRITTEN_TYPES.filter((t) => caps.creatable.has(t) && !caps.conditionalCreate.has(t));
  if (noConditional.length) {
    out.push(
      `No conditional create for ${noConditional.join(', ')}: the module searches by identifier before each create instead (safe for one sender; two senders racing could duplicate).`,
    );
  }
  const cannotUpdate = UPDATED_TYPES.filter((t) => !caps.updatable.has(t));
  if (cannotUpdate.length)
    out.push(`Cannot update ${cannotUpdate.join(', ')}: clinicians cannot accept or dismiss proposals on this server.`);
  return out;
}

/** A failure the writer itself detects (not an HTTP error status). */
export class WriteError extends Error {
  constructor(
    message: string,
    readonly transient: boolean,
    /** The server asked to wait this long before the next attempt (Retry-After of an entry or answer). */
    readonly retryAfterMs?: number,
  ) {
    super(message);
    this.name = 'WriteError';
  }
}

export { httpStatusOf, nextPageUrl, outcomeText, parseRetryAfter } from '../platform/fhir-client/index.js';

/** How long the server asked to wait before the next attempt (a WriteError says it itself; else `Retry-After`). */
export function retryAfterMsOf(err: unknown, now = Date.now()): number | undefined {
  if (err instanceof WriteError) return err.retryAfterMs;
  return retryAfterHeaderMsOf(err, now);
}

/** A client for the target, with the user's token when given, else the module's own credential (if any). */
export async function clientFor(
  target: FhirServerTarget,
  bearerToken?: string,
  options: { waitOn429UpToMs?: number } = {},
): Promise<FhirClient> {
  const token = bearerToken ?? (await target.getToken?.());
  return new FhirClient({
    baseUrl: target.baseUrl,
    ...(token ? { bearerToken: token } : {}),
    ...(target.timeoutMs !== undefined ? { timeoutMs: target.timeoutMs } : {}),
    ...options,
  });
}

/** Read the server's CapabilityStatement (unauthenticated, as SMART allows). */
export async function readCapabilities(target: FhirServerTarget): Promise<ServerCapabilities> {
  const cs = await new FhirClient({
    baseUrl: target.baseUrl,
    ...(target.timeoutMs !== undefined ? { timeoutMs: target.timeoutMs } : {}),
  }).capabilities();
  if (cs?.resourceType !== 'CapabilityStatement')
    throw new WriteError(`${target.baseUrl}/metadata did not return a CapabilityStatement`, true);
  return capabilitiesFrom(cs);
}

export interface WriteOptions {
  /** The user's token (first attempt); without it the target's module credential is used. */
  bearerToken?: string;
  /** True after a failed attempt: look for the finished submission before sending anything. */
  retry?: boolean;
}

export interface BundleWriter {
  /** Send one submission bundle; resolves with the server's response Bundle (or a summary of what was found). */
  write(bundle: fhir4.Bundle, options?: WriteOptions): Promise<fhir4.Bundle>;
}

export function createFhirBundleWriter(target: FhirServerTarget, capabilities: () => ServerCapabilities): BundleWriter {
  /**
   * The smallest transaction this server refused as a whole (400/413) and then took one by one: bundles this big
   * go one by one at once. Only learnt once the entries were accepted singly, so that a refusal for another
   * reason (an invalid resource) does not turn every later submission non-atomic.
   */
  let refusedSize = Infinity;
  return {
    async write(bundle, options = {}) {
      const client = await clientFor(target, options.bearerToken);
      try {
        if (options.retry) {
          const found = await findFinished(client, bundle);
          if (found) return found;
        }
        const size = bundle.entry?.length ?? 0;
        const sent =
          capabilities().transaction && size < refusedSize
            ? await sendTransaction(client, bundle, capabilities)
            : 'not-sent';
        if (typeof sent !== 'string') return sent;
        const written = await writeOneByOne(client, bundle, capabilities());
        if (sent === 'refused-whole') refusedSize = Math.min(refusedSize, size);
        return written;
      } catch (err) {
        if (httpStatusOf(err) === 401 && !options.bearerToken) target.invalidateToken?.();
        return await afterFailedWrite(err, client, bundle, capabilities);
      }
    },
  };
}

/**
 * An amendment's If-Match fails once its own update has landed (a lost acknowledgement, a second module
 * instance): if the whole submission is there, it was sent; otherwise the version is stale. Any other failure
 * stands.
 */
async function afterFailedWrite(
  err: unknown,
  client: FhirClient,
  bundle: fhir4.Bundle,
  capabilities: () => ServerCapabilities,
): Promise<fhir4.Bundle> {
  if (httpStatusOf(err) === 412 && amendmentOf(bundle))
    return await afterStaleAmendment(client, bundle, capabilities());
  throw err;
}

/**
 * The bundle as one transaction: the server's answer (or what was found written), or why it must go one by one
 * instead: `refused-whole` (400/413: nothing of it was written), `not-routed` (the server advertised
 * transactions but does not route them) or `no-answer`.
 */
async function sendTransaction(
  client: FhirClient,
  bundle: fhir4.Bundle,
  capabilities: () => ServerCapabilities,
): Promise<fhir4.Bundle | 'refused-whole' | 'not-routed' | 'no-answer'> {
  let response: fhir4.Bundle | undefined;
  try {
    // Minimal: the locations are all the module keeps (the outbox stores the answer).
    response = await client.transaction(bundle, { prefer: 'minimal' });
  } catch (err) {
    const status = httpStatusOf(err);
    // Refused as a whole (too many entries for the server's isolation, too large): nothing of it was
    // written; the same entries one by one are safe (each is a conditional create).
    if (status === 400 || status === 413) return 'refused-whole';
    // A server that advertised transactions but does not route them: write one by one instead.
    if (status !== 404 && status !== 405 && status !== 501) throw err;
    return 'not-routed';
  }
  if (!response) return 'no-answer';
  const verdict = judgeTransactionResponse(response, bundle);
  if (verdict === 'ok') return response;
  if (verdict === 'unknown') {
    // An empty answer (Prefer: return=minimal taken to the letter) or one that does not match what
    // was sent: the outcome is unknown, not failed. Look: the Provenance is written last.
    const found = await findFinished(client, bundle);
    if (found) return found;
    // Not all there (a partial, non-atomic write, or nothing): complete it one by one; what landed is
    // found by its conditional identifier, not written twice.
    return await writeOneByOne(client, bundle, capabilities());
  }
  // Some entries failed. A server may commit the others (transactions are not always atomic).
  if (verdict.status === 412 && amendmentOf(bundle)) return await afterStaleAmendment(client, bundle, capabilities());
  throw verdict.error;
}

/**
 * The amended response's If-Match failed. If the record holds this very amendment (its version carries the
 * amendment's key tag, and its Provenance is there), it was written before: sent. Otherwise someone else
 * changed the response: stale.
 */
async function afterStaleAmendment(
  client: FhirClient,
  bundle: fhir4.Bundle,
  caps: ServerCapabilities,
): Promise<fhir4.Bundle> {
  const amendment = amendmentOf(bundle)!;
  const key = amendment.response.meta?.tag?.find((t) => t.system === SUBMISSION_KEY_TAG_SYSTEM)?.code;
  const current = await client
    .read<fhir4.QuestionnaireResponse>('QuestionnaireResponse', amendment.response.id!)
    .catch(() => undefined);
  const ours =
    key !== undefined && current?.meta?.tag?.some((t) => t.system === SUBMISSION_KEY_TAG_SYSTEM && t.code === key);
  if (ours) {
    const found = await findFinished(client, bundle).catch(() => undefined);
    if (found) return found;
    // The update landed but not (yet) everything else: complete it (the update is skipped, it is there).
    return await writeOneByOne(client, bundle, caps);
  }
  throw new WriteError(STALE_AMENDMENT, false);
}

/** The submission's Provenance is written last: if the server has it, it has everything. */
async function findFinished(client: FhirClient, bundle: fhir4.Bundle): Promise<fhir4.Bundle | undefined> {
  const tag = provenanceTagQuery(bundle);
  if (!tag) return undefined;
  const found = await client.search(searchQuery('Provenance', { _tag: tag, _count: '1' }));
  const provenance = found.entry?.find((e) => e.resource?.resourceType === 'Provenance')?.resource as
    fhir4.Provenance | undefined;
  if (!provenance) return undefined;
  return {
    resourceType: 'Bundle',
    type: 'batch-response',
    entry: [
      ...(provenance.target ?? []).map((t) => ({ response: { status: '200 OK', location: t.reference ?? '' } })),
      { response: { status: '200 OK', location: `Provenance/${provenance.id}` }, resource: provenance },
    ],
  };
}

/**
 * What a transaction answer says: `ok` (every entry 2xx, one answer per entry), `unknown` (no Bundle, an empty
 * body, or entries that do not match what was sent: verify before deciding), or the first failed entry as an
 * error (entry-level statuses are judged like HTTP ones: 5xx, 429, 408 transient; other 4xx permanent; the
 * server's reason kept).
 */
function judgeTransactionResponse(
  response: fhir4.Bundle | undefined,
  sent: fhir4.Bundle,
): 'ok' | 'unknown' | { status: number; error: WriteError } {
  if (!answersEveryEntry(response, sent)) return 'unknown';
  const failed = response.entry.findIndex((e) => !/^2\d\d/.test(e.response?.status ?? ''));
  if (failed < 0) return 'ok';
  const entry = response.entry[failed]!;
  const status = Number(/^(\d{3})/.exec(entry.response?.status ?? '')?.[1] ?? 0);
  if (!status) return 'unknown';
  return { status, error: failedEntryError(response.entry, sent, failed, status) };
}

/** A transaction-response Bundle with one answer per entry sent. */
function answersEveryEntry(
  response: fhir4.Bundle | undefined,
  sent: fhir4.Bundle,
): response is fhir4.Bundle & { entry: fhir4.BundleEntry[] } {
  return (
    response?.resourceType === 'Bundle' &&
    Array.isArray(response.entry) &&
    response.entry.length === (sent.entry?.length ?? 0)
  );
}

/** The first failed entry as an error: which entry, the server's reason, and what else it wrote anyway. */
function failedEntryError(
  answers: fhir4.BundleEntry[],
  sent: fhir4.Bundle,
  failed: number,
  status: number,
): WriteError {
  const entry = answers[failed]!;
  const type = sent.entry?.[failed]?.resource?.resourceType ?? 'resource';
  const reason = outcomeText(entry.response?.outcome) ?? outcomeText(entry.resource);
  const transient = status >= 500 || status === 429 || status === 408;
  const written = answers.filter((e) => /^2\d\d/.test(e.response?.status ?? '')).length;
  const message =
    `The FHIR server refused entry ${failed} (${type}) of the transaction: ${entry.response?.status}${reason ? `: ${reason}` : ''}.` +
    (written
      ? ` It wrote ${written} other entries anyway (its transactions are not atomic); ${transient ? 'the retry completes the rest' : 'they stay on the server'}.`
      : '');
  return new WriteError(message, transient);
}

/** The `Type/id` a create or conditional create answered with (body, or Location when the body is minimal). */
function locationOf(created: fhir4.Resource | undefined, type: string): string | undefined {
  if (created?.id) return `${created.resourceType ?? type}/${created.id}`;
  const location = FhirClient.locationOf(created);
  const match = location ? new RegExp(`(?:^|/)${type}/([^/]+)`).exec(location) : null;
  return match ? `${type}/${match[1]}` : undefined;
}

async function writeOneByOne(
  client: FhirClient,
  bundle: fhir4.Bundle,
  caps: ServerCapabilities,
): Promise<fhir4.Bundle> {
  const assigned = new Map<string, string>(); // urn:uuid:... -> Type/id
  const responses: fhir4.BundleEntry[] = [];
  for (const entry of bundle.entry ?? []) {
    if (entry.resource && entry.request?.method === 'PUT') {
      responses.push({ response: { status: '200 OK', location: await updateOnce(client, entry) } });
      continue;
    }
    if (!entry.resource || entry.request?.method !== 'POST')
      throw new WriteError('The one-by-one fallback writes POST and PUT entries only.', false);
    const response = await createOnce(client, entry.resource, entry.request, assigned, caps);
    if (entry.fullUrl) assigned.set(entry.fullUrl, response.location);
    responses.push({ response });
  }
  return { resourceType: 'Bundle', type: 'batch-response', entry: responses };
}

/**
 * A POST entry, one by one: its references to earlier entries rewritten to where they were stored, and created
 * unless its conditional identifier finds it there already (by the server's conditional create when it has
 * one for the type, else by a search first).
 */
async function createOnce(
  client: FhirClient,
  entryResource: fhir4.Resource,
  request: fhir4.BundleEntryRequest,
  assigned: Map<string, string>,
  caps: ServerCapabilities,
): Promise<{ status: string; location: string }> {
  const type = entryResource.resourceType;
  const resource = rewriteReferences(entryResource, assigned);
  const query = request.ifNoneExist ? rewriteQuery(request.ifNoneExist, assigned) : undefined;
  if (query && !caps.conditionalCreate.has(type)) {
    const existing = await findExisting(client, type, query);
    if (existing) return { status: '200 OK', location: existing };
  }
  const created = await client.create(
    resource,
    query && caps.conditionalCreate.has(type) ? { ifNoneExist: query } : {},
  );
  const location = locationOf(created, type);
  if (!location) throw new WriteError(`The FHIR server did not say where it stored the ${type}.`, true);
  return { status: '201 Created', location };
}

/** Where the one resource the conditional query matches is stored; more than one is refused, not added to. */
async function findExisting(client: FhirClient, type: string, query: string): Promise<string | undefined> {
  const found = await client.search(`${type}?${query}&_count=2`);
  const matches = (found.entry ?? []).filter((e) => e.resource?.resourceType === type);
  if (matches.length > 1)
    throw new WriteError(
      `${type}?${query} matches ${matches.length} resources on the server: not creating another.`,
      false,
    );
  return matches[0]?.resource?.id ? `${type}/${matches[0].resource.id}` : undefined;
}

/**
 * An amendment's update, one by one: skipped when the stored version already carries this submission's key
 * tag (a retry after the update landed but before the Provenance was written), else `PUT` with `If-Match`.
 */
async function updateOnce(client: FhirClient, entry: fhir4.BundleEntry): Promise<string> {
  const resource = entry.resource!;
  const ref = `${resource.resourceType}/${resource.id}`;
  const key = resource.meta?.tag?.find((t) => t.system === SUBMISSION_KEY_TAG_SYSTEM)?.code;
  const current = await client.read(resource.resourceType, resource.id!);
  if (key && current?.meta?.tag?.some((t) => t.system === SUBMISSION_KEY_TAG_SYSTEM && t.code === key)) return ref;
  await client.update(resource, entry.request?.ifMatch ? { ifMatch: entry.request.ifMatch } : {});
  return ref;
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
