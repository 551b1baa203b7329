/**
 * The sandbox EHR's SMART App Launch authorization server, built on oidc-provider (not hand-rolled).
 *
 * How the SMART pieces map onto the library:
 * - `aud` (SMART) → resource indicator: every authorization is for the one resource, the FHIR base URL
 *   (`defaultResource`), and `aud` must name it (`extraParams.aud`).
 * - SMART resource scopes (`patient/Flag.crs`) → that resource server's scopes. Access tokens are
 *   opaque and stored, so `verifyAccessToken` can reject expired, unknown and revoked tokens.
 * - `launch` → `extraParams.launch`, checked against the launch contexts the launcher created.
 * - Sign-in → an interaction on every authorization request (sandbox: no passwords; the EHR launch
 *   already says who the clinician is, so it completes without a page; standalone shows a picker).
 * - Launch context (patient, encounter, fhirUser, need_patient_banner, smart_style_url) → stored per
 *   grant and added to the token response by a post-middleware on the token endpoint (also on refresh).
 * - PKCE: required for every client, S256 only (oidc-provider 9 knows no other method).
 */
import path from 'node:path';
import fs from 'node:fs';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import express, { type Request, type Router } from 'express';
import Provider, { errors, interactionPolicy, type KoaContextWithOIDC } from 'oidc-provider';
import { badRequest, unauthorized } from '../../outcomes/index.js';
import type { AccessContext } from './access-context.js';
import { AuthDatabase, type GrantContext } from './auth-database.js';
import { loadOrCreateModuleSecret, moduleBackendClient, type BackendClient } from './backend-client.js';
import type { SmartClient } from './clients.js';
import type { Directory } from './directory.js';
import { loadOrCreateSecrets } from './keys.js';
import { errorPage } from './pages.js';
import { createSignInRouter } from './sign-in.js';
import { OIDC_SCOPES, SMART_STYLE, capabilitySecurity, smartConfiguration } from './smart-metadata.js';
import { isGrantableResourceScope } from './smart-scopes.js';

export interface SmartAuthOptions {
  /** Issuer = where the router is mounted, e.g. http://127.0.0.1:3000/ehr/auth (no trailing slash). */
  issuer: string;
  /** FHIR base URL of the protected store, e.g. http://127.0.0.1:3000/ehr/fhir: the only `aud`. */
  fhirBaseUrl: string;
  /** Folder for durable data; this module uses `${dataDir}/ehr-auth/`. */
  dataDir: string;
  clients: SmartClient[];
  directory: Directory;
  ttl?: {
    /** Access token lifetime (default 3600 s). */
    accessTokenSeconds?: number;
    /** Refresh token lifetime with offline_access (default 14 days); online_access gets at most 8 h. */
    refreshTokenSeconds?: number;
    /** How long a launch id from the launcher stays usable (default 600 s); it is also single-use. */
    launchSeconds?: number;
  };
  /** Style sheet URL for apps (`smart_style_url`); default `${issuer}/smart-style.json`, served here. */
  smartStyleUrl?: string;
  /**
   * Secret of the module's backend client `periplan-module` (client credentials, `system/` scopes: see
   * backend-client.ts). Default: generated on first start and kept in `${dataDir}/ehr-auth/module-client.json`.
   */
  moduleClientSecret?: string;
}

export interface CreateLaunchInput {
  /** Patient id. */
  patient: string;
  /** Practitioner id: the clinician signed in to the EHR. */
  practitioner: string;
  encounter?: string;
  /** Default true: the app shows who the patient is (false when the EHR frames it with its own banner). */
  needPatientBanner?: boolean;
  smartStyleUrl?: string;
  /** Bind the launch to one app; another client presenting it is refused. */
  clientId?: string;
}

export interface SmartAuth {
  /** Mount at the issuer's path (e.g. `/ehr/auth`): OAuth/OpenID endpoints, sign-in pages, assets. */
  router: Router;
  /** Mount at the FHIR base path (e.g. `/ehr/fhir`) before the store: serves `/.well-known/smart-configuration`. */
  wellKnownRouter: Router;
  /** The AccessContext of a valid token; undefined for expired, revoked, unknown or foreign tokens. */
  verifyAccessToken(token: string): Promise<AccessContext | undefined>;
  /**
   * The store's `authorize(req)` hook. No Authorization header → undefined (the store answers 401).
   * A header that is not a valid Bearer token → throws a 401 FhirError saying why (and sets WWW-Authenticate).
   */
  authorizeRequest(this: void, req: Request): Promise<AccessContext | undefined>;
  smartConfiguration(): Record<string, unknown>;
  /** The CapabilityStatement `rest.security` block (SMART oauth-uris): pass to the store router's `security`. */
  capabilitySecurity(): fhir4.CapabilityStatementRestSecurity;
  /** Creates a short-lived, single-use launch context; returns the opaque `launch` id. */
  createLaunch(input: CreateLaunchInput): Promise<{ launch: string; expiresAt: Date }>;
  readonly clients: readonly SmartClient[];
  /** The module's backend client (client credentials): what the submission outbox uses for retries. */
  readonly moduleClient: BackendClient;
  readonly fhirBaseUrl: string;
  readonly issuer: string;
  readonly directory: Directory;
  close(): Promise<void>;
}

const ONLINE_REFRESH_SECONDS = 8 * 3600;
const publicDir = path.join(path.dirname(fileURLToPath(import.meta.url)), 'public');
const trimSlash = (url: string) => url.replace(/\/+$/, '');
const splitScope = (scope: unknown) => (typeof scope === 'string' ? scope.split(' ').filter(Boolean) : []);

export async function createSmartAuth(options: SmartAuthOptions): Promise<SmartAuth> {
  const issuer = trimSlash(options.issuer);
  const fhirBaseUrl = trimSlash(options.fhirBaseUrl);
  const mountPath = new URL(issuer).pathname.replace(/\/+$/, '');
  const smartStyleUrl = options.smartStyleUrl ?? `${issuer}/smart-style.json`;
  const accessTokenSeconds = options.ttl?.accessTokenSeconds ?? 3600;
  const refreshTokenSeconds = options.ttl?.refreshTokenSeconds ?? 14 * 24 * 3600;
  const launchSeconds = options.ttl?.launchSeconds ?? 600;
  const { directory } = options;
  const clientsById = new Map(options.clients.map((c) => [c.clientId, c]));

  const folder = path.join(options.dataDir, 'ehr-auth');
  fs.mkdirSync(folder, { recursive: true });
  const secrets = await loadOrCreateSecrets(path.join(folder, 'keys.json'));
  const moduleClient = moduleBackendClient(loadOrCreateModuleSecret(path.join(folder, 'module-client.json'), options.moduleClientSecret));
  const db = new AuthDatabase(path.join(folder, 'auth.sqlite'));
  db.sweep();
  const sweeper = setInterval(() => db.sweep(), 10 * 60 * 1000);
  sweeper.unref();

  const findPractitioner = async (id: string) => (await directory.listPractitioners()).find((p) => p.id === id);
  const findPatient = async (id: string) => (await directory.listPatients()).find((p) => p.id === id);

  // Every authorization request asks "who are you?" once: the sandbox has no real sessions, the user
  // changes between launches, and each launch carries its own patient. The check is satisfied by the
  // interaction result of this very request.
  const policy = interactionPolicy.base();
  policy.get('login')?.checks.push(
    new interactionPolicy.Check('sandbox_sign_in', 'each launch chooses its user and context', (ctx) =>
      ctx.oidc.result?.login ? interactionPolicy.Check.NO_NEED_TO_PROMPT : interactionPolicy.Check.REQUEST_PROMPT,
    ),
  );

  /** Every well-formed SMART resource scope mentioned by the request or the code/refresh token at hand. */
  function resourceScopesInPlay(ctx: KoaContextWithOIDC): string {
    const { params, entities } = ctx.oidc;
    const all = [params?.scope, entities.AuthorizationCode?.scope, entities.RefreshToken?.scope].flatMap(splitScope);
    return [...new Set(all.filter(isGrantableResourceScope))].join(' ');
  }

  const provider = new Provider(issuer, {
    adapter: (model: string) => db.adapterFor(model),
    clients: [
      ...options.clients.map((c) => ({
        client_id: c.clientId,
        client_name: c.name,
        redirect_uris: c.redirectUris,
        grant_types: ['authorization_code', 'refresh_token'],
        response_types: ['code'],
        ...(c.clientSecret
          ? { client_secret: c.clientSecret, token_endpoint_auth_method: 'client_secret_basic' }
          : { token_endpoint_auth_method: 'none' }),
      })),
      // Backend service: client credentials only (no user, no redirect), system/ scopes from its allow-list.
      {
        client_id: moduleClient.clientId,
        client_name: moduleClient.name,
        client_secret: moduleClient.clientSecret,
        token_endpoint_auth_method: 'client_secret_basic',
        grant_types: ['client_credentials'],
        response_types: [],
        redirect_uris: [],
      },
    ],
    jwks: secrets.jwks,
    cookies: {
      keys: secrets.cookieKeys,
      names: { session: 'ehr_auth_session', interaction: 'ehr_auth_interaction', resume: 'ehr_auth_resume' },
    },
    scopes: OIDC_SCOPES,
    claims: { openid: ['sub'], fhirUser: ['fhirUser'], profile: ['name'] },
    responseTypes: ['code'],
    pkce: { required: () => true },
    extraParams: {
      async aud(_ctx: KoaContextWithOIDC, value: unknown) {
        if (typeof value !== 'string' || value === '') {
          throw new errors.InvalidRequest(`aud is required: the FHIR base URL the app will call (${fhirBaseUrl})`);
        }
        if (trimSlash(value) !== fhirBaseUrl) {
          throw new errors.InvalidRequest(`aud ${value} is not this server's FHIR base URL (${fhirBaseUrl})`);
        }
      },
      async launch(ctx: KoaContextWithOIDC, value: unknown, client: { clientId: string }) {
        const scopes = new Set(splitScope(ctx.oidc.params?.scope));
        if (value === undefined || value === '') {
          if (scopes.has('launch')) {
            throw new errors.InvalidRequest("the 'launch' scope is for an EHR launch and needs the launch parameter the EHR passed to the app");
          }
          return;
        }
        const launch = db.findLaunch(String(value));
        if (!launch) throw new errors.InvalidRequest('launch is unknown, expired or already used: launch the app again from the EHR');
        if (launch.clientId && launch.clientId !== client.clientId) {
          throw new errors.InvalidRequest(`launch was created for another app (${launch.clientId})`);
        }
        if (!scopes.has('launch')) throw new errors.InvalidRequest("an EHR launch (launch parameter) must request the 'launch' scope");
      },
    },
    async findAccount(_ctx: unknown, sub: string) {
      const practitioner = await findPractitioner(sub);
      if (!practitioner) return undefined;
      return {
        accountId: practitioner.id,
        claims: () => ({ sub: practitioner.id, fhirUser: `${fhirBaseUrl}/Practitioner/${practitioner.id}`, name: practitioner.name }),
      };
    },
    features: {
      devInteractions: { enabled: false },
      // Sender-constrained tokens would need the store to check DPoP proofs; plain Bearer here.
      dPoP: { enabled: false },
      userinfo: { enabled: false },
      clientCredentials: { enabled: true },
      rpInitiatedLogout: { enabled: false },
      // A client may introspect or revoke only its own tokens.
      introspection: { enabled: true, allowedPolicy: async (_ctx: unknown, client: { clientId: string }, token: { clientId?: string }) => token.clientId === client.clientId },
      revocation: { enabled: true, allowedPolicy: async (_ctx: unknown, client: { clientId: string }, token: { clientId?: string }) => token.clientId === client.clientId },
      resourceIndicators: {
        enabled: true,
        defaultResource: async () => fhirBaseUrl,
        useGrantedResource: async () => true,
        async getResourceServerInfo(ctx: KoaContextWithOIDC, resource: string, client?: { clientId: string }) {
          if (trimSlash(resource) !== fhirBaseUrl) {
            throw new errors.InvalidTarget(`the only resource (aud) here is ${fhirBaseUrl}`);
          }
          // The backend client gets (requested ∩) its own allow-list of system/ scopes; no user client ever does.
          if (client?.clientId === moduleClient.clientId) {
            return { scope: moduleClient.scopes.join(' '), audience: fhirBaseUrl, accessTokenFormat: 'opaque', accessTokenTTL: accessTokenSeconds };
          }
          // The grant made at sign-in decides what is granted; this only says which scopes belong to the FHIR server.
          return { scope: resourceScopesInPlay(ctx), audience: fhirBaseUrl, accessTokenFormat: 'opaque', accessTokenTTL: accessTokenSeconds };
        },
      },
    },
    ttl: {
      AccessToken: () => accessTokenSeconds,
      ClientCredentials: () => accessTokenSeconds,
      AuthorizationCode: () => 60,
      IdToken: () => 3600,
      Interaction: () => 30 * 60,
      Session: () => 8 * 3600,
      Grant: () => refreshTokenSeconds,
      RefreshToken: (_ctx: unknown, token: { scopes: Set<string> }) =>
        token.scopes.has('offline_access') ? refreshTokenSeconds : Math.min(refreshTokenSeconds, ONLINE_REFRESH_SECONDS),
    },
    issueRefreshToken: async (_ctx: unknown, client: { grantTypeAllowed(type: string): boolean }, code: { scopes: Set<string> }) =>
      client.grantTypeAllowed('refresh_token') && (code.scopes.has('offline_access') || code.scopes.has('online_access')),
    // Switching users in the sandbox browser must not end the tokens an app already holds.
    expiresWithSession: async () => false,
    loadExistingGrant: async (ctx: KoaContextWithOIDC) => {
      const grantId = ctx.oidc.result?.consent?.grantId;
      return grantId ? provider.Grant.find(grantId) : undefined;
    },
    interactions: { policy, url: async (_ctx: unknown, interaction: { uid: string }) => `${mountPath}/interaction/${interaction.uid}` },
    clientBasedCORS: (_ctx: unknown, origin: string, client: { redirectUris: string[] }) =>
      client.redirectUris.some((uri) => URL.parse(uri)?.origin === origin),
    async renderError(ctx: KoaContextWithOIDC, out: { error: string; error_description?: string }) {
      if (ctx.accepts('html', 'json') === 'json') {
        ctx.type = 'json';
        ctx.body = out;
        return;
      }
      ctx.type = 'html';
      ctx.body = errorPage(`${mountPath}/assets`, out.error, out.error_description);
    },
  });

  provider.use(async (ctx, next) => {
    // OpenID Connect drops offline_access unless prompt=consent is sent; SMART apps do not send it, and
    // every authorization here goes through the sandbox sign-in (= consent) anyway. So a GET
    // authorization request asking for offline_access gets prompt=consent added. (POST and PAR
    // requests must send prompt=consent themselves, or use online_access.)
    if (ctx.method === 'GET' && ctx.path === '/auth') {
      const query = new URLSearchParams(ctx.querystring);
      if (splitScope(query.get('scope')).includes('offline_access') && !query.has('prompt')) {
        query.set('prompt', 'consent');
        ctx.querystring = query.toString();
      }
    }
    await next();
    // SMART launch context in the token response (authorization_code and refresh_token grants alike).
    if (ctx.oidc?.route !== 'token' || ctx.status !== 200) return;
    const body = ctx.body as Record<string, unknown> | undefined;
    const { AccessToken: at, Grant: grant, AuthorizationCode: code, RefreshToken: refresh } = ctx.oidc.entities;
    if (!body?.access_token || !at || !grant) return;
    // oidc-provider reports only the resource scopes of a resource-bound token; SMART apps expect all granted scopes.
    const requested = new Set(splitScope((code ?? refresh)?.scope));
    const oidcGranted = splitScope(grant.getOIDCScope()).filter((s) => requested.has(s));
    body.scope = [...oidcGranted, ...splitScope(at.scope)].join(' ');
    const context = db.grantContext(at.grantId);
    if (context) Object.assign(body, tokenResponseContext(context));
  });

  // "grant request is invalid" alone does not help an app developer: add the library's reason
  // (e.g. "code_verifier does not match code_challenge", "authorization code is expired").
  provider.on('grant.error', (ctx, error) => {
    const body = (ctx as KoaContextWithOIDC).body as { error?: string; error_description?: string } | undefined;
    const detail = (error as { error_detail?: unknown }).error_detail;
    if (body?.error === 'invalid_grant' && typeof detail === 'string' && detail) {
      body.error_description = `${body.error_description ?? 'grant request is invalid'}: ${detail}`;
    }
  });

  function tokenResponseContext(context: GrantContext): Record<string, unknown> {
    return {
      ...(context.patient ? { patient: context.patient, need_patient_banner: context.needPatientBanner } : {}),
      ...(context.encounter ? { encounter: context.encounter } : {}),
      fhirUser: `${fhirBaseUrl}/Practitioner/${context.practitioner}`,
      ...(context.smartStyleUrl ? { smart_style_url: context.smartStyleUrl } : {}),
    };
  }

  const router = express.Router();
  router.use('/assets', express.static(publicDir, { maxAge: '1h', index: false }));
  router.get('/smart-style.json', (_req, res) => {
    res.set('Access-Control-Allow-Origin', '*').json(SMART_STYLE);
  });
  router.use(createSignInRouter({ provider, db, directory, clients: options.clients, mountPath, fhirBaseUrl, smartStyleUrl }));
  router.use(provider.callback());

  const wellKnownRouter = express.Router();
  wellKnownRouter.get('/.well-known/smart-configuration', (_req, res) => {
    res.set('Access-Control-Allow-Origin', '*').set('Cache-Control', 'public, max-age=300').json(smartConfiguration(issuer));
  });

  async function verifyAccessToken(token: string): Promise<AccessContext | undefined> {
    if (!token) return undefined;
    const at = await provider.AccessToken.find(token);
    if (!at) return verifyBackendToken(token);
    if (at.isExpired) return undefined;
    const audiences = Array.isArray(at.aud) ? at.aud : [at.aud];
    if (!audiences.includes(fhirBaseUrl)) return undefined;
    // A grant revoked or expired takes its tokens with it.
    if (!(await provider.Grant.find(at.grantId))) return undefined;
    const context = db.grantContext(at.grantId);
    const scopes = splitScope(at.scope);
    return {
      clientId: at.clientId,
      // Without a patient context a patient/ scope would be unbounded: such scopes are never passed on.
      scopes: context?.patient ? scopes : scopes.filter((s) => !s.startsWith('patient/')),
      ...(context?.patient ? { patient: context.patient } : {}),
      fhirUser: `Practitioner/${context?.practitioner ?? at.accountId}`,
    };
  }

  /** A client-credentials token (the module's backend client): no user, no patient, only system/ scopes. */
  async function verifyBackendToken(token: string): Promise<AccessContext | undefined> {
    const backend = await provider.ClientCredentials.find(token);
    if (!backend || backend.isExpired) return undefined;
    const audiences = Array.isArray(backend.aud) ? backend.aud : [backend.aud];
    if (!audiences.includes(fhirBaseUrl)) return undefined;
    return { clientId: backend.clientId, scopes: splitScope(backend.scope).filter((s) => s.startsWith('system/')) };
  }

  async function authorizeRequest(req: Request): Promise<AccessContext | undefined> {
    const header = req.get('authorization');
    if (!header) return undefined;
    const challenge = (error: string, description: string) => {
      req.res?.set('WWW-Authenticate', `Bearer realm="${fhirBaseUrl}", error="${error}", error_description="${description}"`);
      return unauthorized(description);
    };
    const match = /^Bearer +([A-Za-z0-9\-._~+/]+=*)$/i.exec(header.trim());
    if (!match) throw challenge('invalid_request', 'The Authorization header must be "Bearer <access token>".');
    const access = await verifyAccessToken(match[1]!);
    if (!access) throw challenge('invalid_token', 'The access token is expired, revoked or unknown; get a new one (refresh or launch again).');
    return access;
  }

  async function createLaunch(input: CreateLaunchInput): Promise<{ launch: string; expiresAt: Date }> {
    if (!(await findPatient(input.patient))) throw badRequest(`Unknown patient ${input.patient}`, 'patient');
    if (!(await findPractitioner(input.practitioner))) throw badRequest(`Unknown practitioner ${input.practitioner}`, 'practitioner');
    if (input.clientId && !clientsById.has(input.clientId)) throw badRequest(`Unknown app ${input.clientId}`, 'clientId');
    const launch = randomBytes(24).toString('base64url');
    db.saveLaunch(
      launch,
      {
        patient: input.patient,
        practitioner: input.practitioner,
        ...(input.encounter ? { encounter: input.encounter } : {}),
        needPatientBanner: input.needPatientBanner ?? true,
        smartStyleUrl: input.smartStyleUrl ?? smartStyleUrl,
        ...(input.clientId ? { clientId: input.clientId } : {}),
      },
      launchSeconds,
    );
    return { launch, expiresAt: new Date(Date.now() + launchSeconds * 1000) };
  }

  return {
    router,
    wellKnownRouter,
    verifyAccessToken,
    authorizeRequest,
    smartConfiguration: () => smartConfiguration(issuer),
    capabilitySecurity: () => capabilitySecurity(issuer),
    createLaunch,
    clients: options.clients,
    moduleClient,
    fhirBaseUrl,
    issuer,
    directory,
    async close() {
      clearInterval(sweeper);
      db.close();
    },
  };
}
