/**
 * The module's one way to call a FHIR server, on fhir-kit-client: every call carries the bearer token (when
 * there is one) and a timeout; searches can be read page after page on the configured base only; creates
 * can be conditional (`If-None-Exist`), updates guarded (`If-Match`), writes can ask `Prefer: return=…`;
 * a `429` with a short `Retry-After` can be waited out once, for a person who is waiting; a read whose reused
 * keep-alive connection the server had just closed (reset before any answer) is sent once more.
 *
 * Failures are fhir-kit-client's (`httpStatusOf`, `retryAfterMsOf`, `serverReasonOf` read them), so callers
 * judge them as before.
 */
import { Client } from 'fhir-kit-client';
import { httpStatusOf, retryAfterMsOf } from './errors.js';
import { nextPageUrl, type PagingLimits, type SearchResult } from './paging.js';

export const DEFAULT_TIMEOUT_MS = 15_000;
export const DEFAULT_MAX_PAGES = 20;
export const DEFAULT_MAX_RESOURCES = 5000;

export interface FhirClientOptions {
  baseUrl: string;
  /** Sent as `Authorization: Bearer …` on every call; none: no Authorization header. */
  bearerToken?: string;
  /** Abort a call after this long (ms; default 15 s). */
  timeoutMs?: number;
  /**
   * Answer a `429` whose `Retry-After` is at most this long (ms) by waiting once and sending again (a person is
   * waiting; longer waits are the caller's). Default: no waiting, the 429 is the caller's.
   */
  waitOn429UpToMs?: number;
  /** How to wait (tests inject one that does not use the wall clock). */
  sleep?: (ms: number) => Promise<void>;
}

export interface CallOptions {
  headers?: Record<string, string>;
  /** This call's timeout (ms), instead of the client's. */
  timeoutMs?: number;
}

/** `Prefer: return=minimal|representation|OperationOutcome` (FHIR R4 http.html#ops). */
export type PreferReturn = 'minimal' | 'representation' | 'OperationOutcome';

export interface WriteCallOptions extends CallOptions {
  prefer?: PreferReturn;
}

const realSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Reads may be sent again after a connection reset; writes may not (see `call`). */
const READ = 'read';
const WRITE = 'write';
type CallKind = typeof READ | typeof WRITE;

/**
 * fetch's "fetch failed" whose cause is the connection closed or reset under the request (no answer came).
 * Known by its name, not `instanceof`: fetch makes its errors in Node's own realm, which is not the caller's
 * when the caller runs in a `vm` context (as under jest).
 */
function connectionResetBeforeAnswer(err: unknown): boolean {
  if (typeof err !== 'object' || err === null || (err as { name?: unknown }).name !== 'TypeError') return false;
  const code = ((err as { cause?: unknown }).cause as { code?: unknown } | undefined)?.code;
  return code === 'ECONNRESET' || code === 'UND_ERR_SOCKET' || code === 'EPIPE';
}

export class FhirClient {
  readonly baseUrl: string;
  private readonly kit: Client;
  private readonly timeoutMs: number;

  constructor(private readonly options: FhirClientOptions) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, '');
    this.kit = new Client({
      baseUrl: this.baseUrl,
      ...(options.bearerToken ? { bearerToken: options.bearerToken } : {}),
    });
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  }

  /** The same server and timeout with another token (or none). */
  withToken(bearerToken: string | undefined): FhirClient {
    const { bearerToken: _old, ...rest } = this.options;
    return new FhirClient({ ...rest, ...(bearerToken ? { bearerToken } : {}) });
  }

  async read<T extends fhir4.FhirResource = fhir4.FhirResource>(
    type: string,
    id: string,
    options: CallOptions = {},
  ): Promise<T> {
    return (await this.call(
      () => this.kit.read({ resourceType: type, id, options: this.kitOptions(options) }),
      READ,
    )) as unknown as T;
  }

  /** GET a path relative to the base (`Patient/1`, `Flag?_tag=…`), or an absolute URL on the base. */
  async get<T = unknown>(path: string, options: CallOptions = {}): Promise<T> {
    return (await this.call(
      () => this.kit.request(this.onBase(path), { options: this.kitOptions(options) }),
      READ,
    )) as unknown as T;
  }

  /** Any interaction on a path relative to the base (or an absolute URL on it), with a JSON body if given. */
  async request<T = unknown>(
    path: string,
    init: CallOptions & { method?: 'GET' | 'POST' | 'PUT' | 'DELETE' | 'PATCH'; body?: unknown } = {},
  ): Promise<T> {
    const { method, body, ...options } = init;
    const headers =
      body !== undefined ? { 'content-type': 'application/fhir+json', ...options.headers } : options.headers;
    const call = { ...options, ...(headers ? { headers } : {}) };
    return (await this.call(
      () =>
        this.kit.request(this.onBase(path), {
          method: method ?? 'GET',
          options: this.kitOptions(call),
          ...(body !== undefined ? { body: body as never } : {}),
        }),
      (method ?? 'GET') === 'GET' ? READ : WRITE,
    )) as unknown as T;
  }

  /** One page of a search: `Type?param=value` relative to the base. */
  async search(query: string, options: CallOptions = {}): Promise<fhir4.Bundle> {
    return this.get<fhir4.Bundle>(query, options);
  }

  /**
   * Every page of a search, following `next` links on the configured base only, within bounds: `resources`
   * are the matches of the searched type; `complete` says whether the server has no more.
   */
  async searchAll<T extends fhir4.FhirResource = fhir4.FhirResource>(
    query: string,
    limits: PagingLimits & CallOptions = {},
  ): Promise<SearchResult<T>> {
    const maxPages = limits.maxPages ?? DEFAULT_MAX_PAGES;
    const maxResources = limits.maxResources ?? DEFAULT_MAX_RESOURCES;
    const type = query.replace(/^\/+/, '').split('?')[0];
    const resources: T[] = [];
    const included: fhir4.FhirResource[] = [];
    const seen = new Set<string>();
    let url: string | undefined = query;
    let pages = 0;
    while (url) {
      if (pages >= maxPages || resources.length >= maxResources || seen.has(url))
        return { resources, included, pages, complete: false };
      seen.add(url);
      const page = await this.search(url, limits);
      pages++;
      if (!collectPage(page, type, maxResources, resources, included))
        return { resources, included, pages, complete: false };
      url = nextPageUrl(page, this.baseUrl);
    }
    return { resources, included, pages, complete: true };
  }

  /** A create; conditional when `ifNoneExist` is given (an existing match is answered, nothing new is made). */
  async create<T extends fhir4.Resource>(
    resource: T,
    options: WriteCallOptions & { ifNoneExist?: string } = {},
  ): Promise<T> {
    const { ifNoneExist, ...rest } = options;
    const call = this.withHeaders(rest, ifNoneExist ? { 'If-None-Exist': ifNoneExist } : {});
    return (await this.call(() =>
      this.kit.create({ resourceType: resource.resourceType, body: resource as never, options: this.kitOptions(call) }),
    )) as unknown as T;
  }

  /** An update of `resource.id`; guarded by `ifMatch` (`W/"3"`) when given. */
  async update<T extends fhir4.Resource>(
    resource: T,
    options: WriteCallOptions & { ifMatch?: string } = {},
  ): Promise<T> {
    const { ifMatch, ...rest } = options;
    const call = this.withHeaders(rest, ifMatch ? { 'If-Match': ifMatch } : {});
    return (await this.call(() =>
      this.kit.update({
        resourceType: resource.resourceType,
        id: resource.id!,
        body: resource as never,
        options: this.kitOptions(call),
      }),
    )) as unknown as T;
  }

  async transaction(bundle: fhir4.Bundle, options: WriteCallOptions = {}): Promise<fhir4.Bundle> {
    return (await this.call(() =>
      this.kit.transaction({ body: bundle as never, options: this.kitOptions(this.withHeaders(options, {})) }),
    )) as unknown as fhir4.Bundle;
  }

  /** The server's CapabilityStatement (`/metadata`). */
  async capabilities(options: CallOptions = {}): Promise<fhir4.CapabilityStatement> {
    return (await this.call(
      () => this.kit.capabilityStatement(this.kitOptions(options)),
      READ,
    )) as unknown as fhir4.CapabilityStatement;
  }

  /** The `Location` header of the answer a result came with (a create answered with a minimal body). */
  static locationOf(result: unknown): string | undefined {
    if (!result || typeof result !== 'object') return undefined;
    return Client.httpFor(result as never)?.response?.headers?.get('location') ?? undefined;
  }

  private withHeaders(options: WriteCallOptions, extra: Record<string, string>): CallOptions {
    const headers = { ...options.headers, ...extra, ...(options.prefer ? { Prefer: `return=${options.prefer}` } : {}) };
    return {
      ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}),
      ...(Object.keys(headers).length ? { headers } : {}),
    };
  }

  private kitOptions(options: CallOptions) {
    return {
      signal: AbortSignal.timeout(options.timeoutMs ?? this.timeoutMs),
      ...(options.headers ? { headers: options.headers } : {}),
    };
  }

  /** A path relative to the base stays relative; an absolute URL must be on the base (see `nextPageUrl`). */
  private onBase(path: string): string {
    if (!/^https?:/i.test(path)) return path.replace(/^\/+/, '');
    const url = new URL(path);
    const base = new URL(`${this.baseUrl}/`);
    if (url.origin !== base.origin)
      throw new Error(`Refusing to send a request for ${this.baseUrl} to another host (${url.origin}).`);
    return url.toString();
  }

  /**
   * Send; a 429 with a short enough Retry-After is waited out once (when the client was asked to). A read that
   * failed because its connection was reset before any answer is sent once more on a new connection: a server
   * closes an idle keep-alive connection at its own timeout, and a request already on its way over it (a busy
   * process notices the close late) meets a reset. A read changes nothing, so sending it again is safe; a write
   * is never re-sent here (the server may have done it), it is the caller's to judge.
   */
  private async call<T>(send: () => Promise<T>, kind: CallKind = WRITE): Promise<T> {
    try {
      return await send();
    } catch (err) {
      if (kind === READ && connectionResetBeforeAnswer(err)) return this.call(send, WRITE);
      const limit = this.options.waitOn429UpToMs;
      const wait = limit !== undefined && httpStatusOf(err) === 429 ? retryAfterMsOf(err) : undefined;
      if (wait === undefined || wait > limit!) throw err;
      await (this.options.sleep ?? realSleep)(wait);
      return send();
    }
  }
}

/**
 * Add a page's matches of the searched type to `resources` and the rest to `included`, in order; false when a
 * match found `resources` already at `maxResources` (the entries after it are left out).
 */
function collectPage<T extends fhir4.FhirResource>(
  page: fhir4.Bundle | undefined,
  type: string | undefined,
  maxResources: number,
  resources: T[],
  included: fhir4.FhirResource[],
): boolean {
  for (const e of page?.entry ?? []) {
    if (!e.resource) continue;
    if (e.resource.resourceType === type && (e.search?.mode ?? 'match') === 'match') {
      if (resources.length >= maxResources) return false;
      resources.push(e.resource as T);
    } else included.push(e.resource as fhir4.FhirResource);
  }
  return true;
}
