/**
 * The HTTP face of the store: an Express Router to mount at the sandbox EHR's FHIR base (e.g. `/ehr/fhir`).
 * Clients reach the store only through it, exactly as they would reach a clinic's EHR.
 *
 * Per request: authorize (bearer token -> AccessContext via the injected hook; none -> 401), parse the body
 * (FHIR JSON, size- and depth-limited; or a form for POST _search), run the interaction (interactions.ts),
 * and write the response with FHIR headers: Location, ETag W/"n", Last-Modified, and the body that
 * `Prefer: return=` asks for. Every error leaves as an OperationOutcome.
 */
import express from 'express';
import type { NextFunction, Request, Response, Router } from 'express';
import { fhirJsonBody } from '../../platform/http/json-body.js';
import { errorHandler } from '../../platform/http/errors.js';
import { FHIR_CONTENT_TYPE, sendResource } from '../../platform/http/fhir-route.js';
import { allOk, methodNotAllowed, unauthorized } from '../../outcomes/index.js';
import { accessPolicy, unrestrictedPolicy } from './access.js';
import type { AccessContext, AccessPolicy } from './access.js';
import { processBundle } from './bundle.js';
import type { ReturnPreference } from './bundle.js';
import { capabilityStatement } from './capability.js';
import { execute } from './interactions.js';
import type { StoreResponse } from './interactions.js';
import { etagOf, httpDate } from './responses.js';
import type { FhirStore } from './store.js';

export interface FhirStoreRouterOptions {
  store: FhirStore;
  /** Absolute public FHIR base URL (`https://host/ehr/fhir`). Default: derived from each request (protocol, Host, mount path). */
  baseUrl?: string;
  /** Bearer token -> AccessContext (undefined: missing or invalid token -> 401). Without it, the store is open. */
  authorize?: (req: Request) => Promise<AccessContext | undefined>;
  /** SMART `security` block for the CapabilityStatement (oauth-uris extension), from the authorization server. */
  security?: fhir4.CapabilityStatementRestSecurity;
  /** Largest request body accepted (413 above). Default 5 MB. */
  bodyLimitBytes?: number;
  /** Deepest JSON nesting accepted (400 above). Default 64. */
  maxJsonDepth?: number;
  /** Called with unexpected (500) errors. Default: console.error. */
  onError?: (message: string, err: unknown) => void;
}

type Locals = { policy: AccessPolicy };

export function createFhirStoreRouter(options: FhirStoreRouterOptions): Router {
  const { store } = options;
  const router = express.Router();
  // Transaction Bundles can be larger than single resources: 5 MB unless configured.
  const limitBytes = options.bodyLimitBytes ?? 5 * 1024 * 1024;
  const jsonBody = fhirJsonBody({ limitBytes, maxDepth: options.maxJsonDepth ?? 64 });
  const formBody = express.urlencoded({ extended: false, limit: limitBytes });
  const baseOf = (req: Request) =>
    options.baseUrl?.replace(/\/+$/, '') ?? `${req.protocol}://${req.get('host') ?? 'localhost'}${req.baseUrl}`;

  // The CapabilityStatement is public (SMART clients read it before they have a token).
  router.get('/metadata', metadataHandler(options, baseOf));
  router.use(authorizeHandler(options));

  // Bodies: a form for POST _search, FHIR JSON otherwise (unless a parser upstream already produced req.body).
  router.use((req: Request, res: Response, next: NextFunction) => {
    if (req.body !== undefined) return next();
    if (req.method === 'POST' && req.path.endsWith('/_search')) return formBody(req, res, next);
    return jsonBody(req, res, next);
  });

  router.all('/{*splat}', interactionHandler(store, baseOf));

  router.use(errorHandler({ log: { error: options.onError ?? ((m, e) => console.error(m, e)) } }));

  return router;
}

type BaseOf = (req: Request) => string;

/** GET /metadata: built once per base URL (≈280 kB: every R4 resource type the store serves, with its search parameters). */
function metadataHandler(options: FhirStoreRouterOptions, baseOf: BaseOf) {
  const capabilities = new Map<string, string>();
  return (req: Request, res: Response) => {
    const baseUrl = baseOf(req);
    let body = capabilities.get(baseUrl);
    if (!body) {
      body = JSON.stringify(
        capabilityStatement({
          baseUrl,
          secured: !!options.authorize,
          ...(options.security ? { security: options.security } : {}),
        }),
      );
      if (capabilities.size < 16) capabilities.set(baseUrl, body);
    }
    res.status(200).setHeader('Content-Type', FHIR_CONTENT_TYPE);
    res.send(body);
  };
}

/** Every other request: the access policy of its bearer token (a 401 with WWW-Authenticate without a valid one). */
function authorizeHandler(options: FhirStoreRouterOptions) {
  return async (req: Request, res: Response, next: NextFunction) => {
    try {
      if (!options.authorize) {
        (res.locals as Locals).policy = unrestrictedPolicy;
        return next();
      }
      const context = await options.authorize(req);
      if (!context) {
        const hadToken = /^Bearer\s+\S/i.test(req.headers.authorization ?? '');
        res.setHeader('WWW-Authenticate', hadToken ? 'Bearer error="invalid_token"' : 'Bearer');
        throw unauthorized(
          hadToken
            ? 'The bearer token is invalid or expired.'
            : 'A bearer token is required (Authorization: Bearer <token>).',
        );
      }
      (res.locals as Locals).policy = accessPolicy(context);
      next();
    } catch (err) {
      next(err);
    }
  };
}

/** The FHIR base (a transaction or batch Bundle) and every path under it (one interaction). */
function interactionHandler(store: FhirStore, baseOf: BaseOf) {
  return (req: Request, res: Response, next: NextFunction) => {
    try {
      const { policy } = res.locals as Locals;
      const baseUrl = baseOf(req);
      const prefer = parsePrefer(req.get('prefer'));
      const path = req.path.replace(/^\/+|\/+$/g, '');
      if (path === '') return sendResource(res, { resource: bundleResponse(store, req, policy, baseUrl, prefer) });
      const query = queryPairs(req);
      const response = execute(store, policy, baseUrl, {
        method: req.method === 'HEAD' ? 'GET' : req.method,
        path,
        query,
        body: req.body,
        lenient: prefer.lenient,
        ...(typeof req.headers['if-match'] === 'string' ? { ifMatch: req.headers['if-match'] } : {}),
        ...(typeof req.headers['if-none-exist'] === 'string' ? { ifNoneExist: req.headers['if-none-exist'] } : {}),
      });
      send(res, response, baseUrl, req.method === 'GET' || req.method === 'HEAD' ? undefined : prefer.return);
    } catch (err) {
      next(err);
    }
  };
}

/** POST on the FHIR base: process the transaction or batch Bundle (any other method is a 405). */
function bundleResponse(
  store: FhirStore,
  req: Request,
  policy: AccessPolicy,
  baseUrl: string,
  prefer: Prefer,
): fhir4.Bundle {
  if (req.method !== 'POST') {
    throw Object.assign(
      methodNotAllowed(`${req.method} on the FHIR base is not supported: POST a transaction or batch Bundle.`),
      { allow: 'POST' },
    );
  }
  return processBundle(store, req.body as fhir4.Bundle, {
    baseUrl,
    policy,
    lenient: prefer.lenient,
    bundleIsOwned: true,
    ...(prefer.return ? { returnPreference: prefer.return } : {}),
  });
}

/** Query pairs in order, from the raw URL (Express's parsed query merges repeated keys), plus a POST _search form. */
function queryPairs(req: Request): [string, string][] {
  const raw = req.originalUrl.includes('?') ? req.originalUrl.slice(req.originalUrl.indexOf('?') + 1) : '';
  const pairs = [...new URLSearchParams(raw)] as [string, string][];
  if (req.method === 'POST' && req.path.endsWith('/_search') && req.body && typeof req.body === 'object') {
    for (const [k, v] of Object.entries(req.body as Record<string, unknown>)) {
      for (const value of Array.isArray(v) ? v : [v]) pairs.push([k, String(value)]);
    }
  }
  return pairs;
}

export interface Prefer {
  return?: ReturnPreference;
  lenient: boolean;
}

export function parsePrefer(header: string | undefined): Prefer {
  const out: Prefer = { lenient: false };
  for (const part of (header ?? '').split(/[,;]/)) {
    const [key, value] = part.split('=').map((s) => s.trim().replace(/^"|"$/g, ''));
    if (key === 'return' && (value === 'minimal' || value === 'representation' || value === 'OperationOutcome'))
      out.return = value;
    if (key === 'handling' && value === 'lenient') out.lenient = true;
  }
  return out;
}

/** Location of what was created; ETag and Last-Modified of a stored resource. */
function setLocationAndVersionHeaders(res: Response, response: StoreResponse, baseUrl: string): void {
  const { resource } = response;
  if (response.location) res.setHeader('Location', `${baseUrl}/${response.location}`);
  if (response.isStored && resource) {
    res.setHeader('ETag', etagOf(resource));
    res.setHeader('Last-Modified', httpDate(resource.meta?.lastUpdated));
  }
}

function send(res: Response, response: StoreResponse, baseUrl: string, preference: ReturnPreference | undefined): void {
  const { resource } = response;
  setLocationAndVersionHeaders(res, response, baseUrl);
  if (response.status === 204 || !resource) {
    res.status(response.status === 200 && !resource ? 200 : response.status);
    if (response.status === 204) return void res.end();
    return sendResource(res, { status: response.status, resource: allOk() });
  }
  if (response.isStored && preference === 'minimal') {
    res.status(response.status).end();
    return;
  }
  if (response.isStored && preference === 'OperationOutcome') {
    return sendResource(res, {
      status: response.status,
      resource: allOk(`${resource.resourceType}/${resource.id} version ${resource.meta?.versionId ?? ''} stored.`),
    });
  }
  res.status(response.status).setHeader('Content-Type', FHIR_CONTENT_TYPE);
  res.send(JSON.stringify(resource));
}
