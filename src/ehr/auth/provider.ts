/**
 * The oidc-provider instance and its configuration, one named piece for each SMART concern (see
 * smart-auth.ts for how SMART maps onto the library): the clients, `aud` and `launch` checks, the resource
 * server's scopes, lifetimes, and the sign-in interaction asked on every authorization request.
 */
import Provider, { errors, interactionPolicy, type KoaContextWithOIDC } from 'oidc-provider';
import { splitScope, trimSlash, type AuthContext } from './context.js';
import { errorPage } from './pages.js';
import { OIDC_SCOPES } from './smart-metadata.js';
import { isGrantableResourceScope } from './smart-scopes.js';
import { printable } from '../../platform/text.js';

const ONLINE_REFRESH_SECONDS = 8 * 3600;

/**
 * Every authorization request asks "who are you?" once: the sandbox has no real sessions, the user
 * changes between launches, and each launch carries its own patient. The check is satisfied by the
 * interaction result of this very request.
 */
function signInPolicy() {
  const policy = interactionPolicy.base();
  policy
    .get('login')
    ?.checks.push(
      new interactionPolicy.Check('sandbox_sign_in', 'each launch chooses its user and context', (ctx) =>
        ctx.oidc.result?.login ? interactionPolicy.Check.NO_NEED_TO_PROMPT : interactionPolicy.Check.REQUEST_PROMPT,
      ),
    );
  return policy;
}

/** Every well-formed SMART resource scope mentioned by the request or the code/refresh token at hand. */
function resourceScopesInPlay(ctx: KoaContextWithOIDC): string {
  const { params, entities } = ctx.oidc;
  const all = [params?.scope, entities.AuthorizationCode?.scope, entities.RefreshToken?.scope].flatMap(splitScope);
  return [...new Set(all.filter(isGrantableResourceScope))].join(' ');
}

/** The SMART apps (authorization code + refresh) and the module's backend client (client credentials only). */
function clientMetadata({ options, moduleClient }: AuthContext) {
  return [
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
  ];
}

/** `aud` must name the FHIR base URL; `launch` must be a live launch of this app, with the `launch` scope. */
function launchParams({ fhirBaseUrl, db }: AuthContext) {
  return {
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
          throw new errors.InvalidRequest(
            "the 'launch' scope is for an EHR launch and needs the launch parameter the EHR passed to the app",
          );
        }
        return;
      }
      const launch = db.findLaunch(printable(value));
      if (!launch)
        throw new errors.InvalidRequest(
          'launch is unknown, expired or already used: launch the app again from the EHR',
        );
      if (launch.clientId && launch.clientId !== client.clientId) {
        throw new errors.InvalidRequest(`launch was created for another app (${launch.clientId})`);
      }
      if (!scopes.has('launch'))
        throw new errors.InvalidRequest("an EHR launch (launch parameter) must request the 'launch' scope");
    },
  };
}

/** The one resource server (the FHIR base, `aud`) and which scopes of a request belong to it. */
function resourceIndicators({ fhirBaseUrl, moduleClient, accessTokenSeconds }: AuthContext) {
  return {
    enabled: true,
    defaultResource: async () => fhirBaseUrl,
    useGrantedResource: async () => true,
    async getResourceServerInfo(ctx: KoaContextWithOIDC, resource: string, client?: { clientId: string }) {
      if (trimSlash(resource) !== fhirBaseUrl) {
        throw new errors.InvalidTarget(`the only resource (aud) here is ${fhirBaseUrl}`);
      }
      // The backend client gets (requested ∩) its own allow-list of system/ scopes; no user client ever does.
      if (client?.clientId === moduleClient.clientId) {
        return {
          scope: moduleClient.scopes.join(' '),
          audience: fhirBaseUrl,
          accessTokenFormat: 'opaque',
          accessTokenTTL: accessTokenSeconds,
        };
      }
      // The grant made at sign-in decides what is granted; this only says which scopes belong to the FHIR server.
      return {
        scope: resourceScopesInPlay(ctx),
        audience: fhirBaseUrl,
        accessTokenFormat: 'opaque',
        accessTokenTTL: accessTokenSeconds,
      };
    },
  };
}

/** A client may introspect or revoke only its own tokens. */
const ownTokensOnly = () => ({
  enabled: true,
  allowedPolicy: async (_ctx: unknown, client: { clientId: string }, token: { clientId?: string }) =>
    token.clientId === client.clientId,
});

function features(ctx: AuthContext) {
  return {
    devInteractions: { enabled: false },
    // Sender-constrained tokens would need the store to check DPoP proofs; plain Bearer here.
    dPoP: { enabled: false },
    userinfo: { enabled: false },
    clientCredentials: { enabled: true },
    rpInitiatedLogout: { enabled: false },
    introspection: ownTokensOnly(),
    revocation: ownTokensOnly(),
    resourceIndicators: resourceIndicators(ctx),
  };
}

function lifetimes({ accessTokenSeconds, refreshTokenSeconds }: AuthContext) {
  return {
    AccessToken: () => accessTokenSeconds,
    ClientCredentials: () => accessTokenSeconds,
    AuthorizationCode: () => 60,
    IdToken: () => 3600,
    Interaction: () => 30 * 60,
    Session: () => 8 * 3600,
    Grant: () => refreshTokenSeconds,
    RefreshToken: (_ctx: unknown, token: { scopes: Set<string> }) =>
      token.scopes.has('offline_access') ? refreshTokenSeconds : Math.min(refreshTokenSeconds, ONLINE_REFRESH_SECONDS),
  };
}

/** The practitioner signed in, as an OpenID account with its FHIR user. */
function accountFinder({ findPractitioner, fhirBaseUrl }: AuthContext) {
  return async (_ctx: unknown, sub: string) => {
    const practitioner = await findPractitioner(sub);
    if (!practitioner) return undefined;
    return {
      accountId: practitioner.id,
      claims: () => ({
        sub: practitioner.id,
        fhirUser: `${fhirBaseUrl}/Practitioner/${practitioner.id}`,
        name: practitioner.name,
      }),
    };
  };
}

/** Errors as JSON for clients that ask for it, else the sandbox's error page. */
function errorRenderer({ mountPath }: AuthContext) {
  return async (ctx: KoaContextWithOIDC, out: { error: string; error_description?: string }) => {
    if (ctx.accepts('html', 'json') === 'json') {
      ctx.type = 'json';
      ctx.body = out;
      return;
    }
    ctx.type = 'html';
    ctx.body = errorPage(`${mountPath}/assets`, out.error, out.error_description);
  };
}

export function createProvider(ctx: AuthContext): Provider {
  const { db, secrets, mountPath } = ctx;
  const provider: Provider = new Provider(ctx.issuer, {
    adapter: (model: string) => db.adapterFor(model),
    clients: clientMetadata(ctx),
    jwks: secrets.jwks,
    cookies: {
      keys: secrets.cookieKeys,
      names: { session: 'ehr_auth_session', interaction: 'ehr_auth_interaction', resume: 'ehr_auth_resume' },
    },
    scopes: OIDC_SCOPES,
    claims: { openid: ['sub'], fhirUser: ['fhirUser'], profile: ['name'] },
    responseTypes: ['code'],
    pkce: { required: () => true },
    extraParams: launchParams(ctx),
    findAccount: accountFinder(ctx),
    features: features(ctx),
    ttl: lifetimes(ctx),
    issueRefreshToken: async (
      _ctx: unknown,
      client: { grantTypeAllowed(type: string): boolean },
      code: { scopes: Set<string> },
    ) =>
      client.grantTypeAllowed('refresh_token') &&
      (code.scopes.has('offline_access') || code.scopes.has('online_access')),
    // Switching users in the sandbox browser must not end the tokens an app already holds.
    expiresWithSession: async () => false,
    loadExistingGrant: async (oidcCtx: KoaContextWithOIDC) => {
      const grantId = oidcCtx.oidc.result?.consent?.grantId;
      return grantId ? provider.Grant.find(grantId) : undefined;
    },
    interactions: {
      policy: signInPolicy(),
      url: async (_ctx: unknown, interaction: { uid: string }) => `${mountPath}/interaction/${interaction.uid}`,
    },
    clientBasedCORS: (_ctx: unknown, origin: string, client: { redirectUris: string[] }) =>
      client.redirectUris.some((uri) => URL.parse(uri)?.origin === origin),
    renderError: errorRenderer(ctx),
  });
  return provider;
}
