/**
 * The SMART App Launch client (EHR launch and standalone launch), on openid-client 6:
 *
 *   1. discovery: `${iss}/.well-known/smart-configuration` (SMART), then the authorization server's OpenID
 *      configuration (openid-client) for the token endpoint and the keys that sign id_tokens;
 *   2. authorization request: PKCE S256 ALWAYS (even if the server does not advertise it), a random `state`
 *      and `nonce`, `aud` = the FHIR base, `launch` when the EHR gave one;
 *   3. callback: openid-client checks `state`, sends the verifier, and verifies the id_token (signature,
 *      issuer, audience, expiry, nonce); the tokens stay on the server.
 */
import * as oidc from 'openid-client';

export interface SmartConfiguration {
  issuer?: string;
  authorization_endpoint: string;
  token_endpoint: string;
  code_challenge_methods_supported?: string[];
  capabilities?: string[];
}

export interface SmartClientOptions {
  clientId: string;
  clientSecret?: string;
  redirectUri: string;
  /** http issuers anywhere (never in production). Loopback http issuers (the sandbox) are always allowed. */
  allowInsecureHttp?: boolean;
}

const isLoopback = (url: string) => ['localhost', '127.0.0.1', '[::1]'].includes(new URL(url).hostname);

/** What the app asks for: read what it shows, write what the write path and the proposal decisions write. */
export const APP_SCOPES = [
  'openid',
  'fhirUser',
  'online_access',
  'user/Patient.rs',
  'user/Practitioner.rs',
  'user/Observation.crs',
  'user/QuestionnaireResponse.crus',
  'user/Flag.crus',
  'user/ServiceRequest.crus',
  'user/CarePlan.crs',
  'user/Provenance.crs',
].join(' ');

export interface TokenResult {
  tokens: { access_token: string; refresh_token?: string; id_token?: string; scope?: string; expiresAt?: number };
  patient?: string;
  encounter?: string;
  fhirUser?: string;
  needPatientBanner: boolean;
  smartStyleUrl?: string;
}

export class SmartError extends Error {}

/**
 * The EHR's SMART configuration, and its authorization server's OpenID configuration (which must agree on the
 * authorization endpoint).
 */
async function loadConfiguration(
  options: SmartClientOptions,
  iss: string,
): Promise<{ smart: SmartConfiguration; config: oidc.Configuration }> {
  const res = await fetch(`${iss.replace(/\/+$/, '')}/.well-known/smart-configuration`, {
    headers: { accept: 'application/json' },
    signal: AbortSignal.timeout(10_000),
  });
  if (!res.ok) throw new SmartError(`The EHR's SMART configuration could not be read (${res.status}).`);
  const smart = (await res.json()) as SmartConfiguration;
  if (!smart.authorization_endpoint || !smart.token_endpoint)
    throw new SmartError("The EHR's SMART configuration has no authorization or token endpoint.");
  if (!smart.issuer)
    throw new SmartError("The EHR's SMART configuration names no OpenID issuer: the id_token could not be verified.");
  const auth = options.clientSecret ? oidc.ClientSecretBasic(options.clientSecret) : oidc.None();
  const insecureOk = options.allowInsecureHttp || isLoopback(smart.issuer);
  const config = await oidc.discovery(new URL(smart.issuer), options.clientId, undefined, auth, {
    execute: insecureOk ? [oidc.allowInsecureRequests] : [],
    timeout: 10,
  });
  if (config.serverMetadata().authorization_endpoint !== smart.authorization_endpoint) {
    throw new SmartError('The SMART and OpenID configurations of the EHR disagree on the authorization endpoint.');
  }
  return { smart, config };
}

/** What the token endpoint answered, with the SMART launch context beside the tokens. */
function tokenResult(
  t: oidc.TokenEndpointResponse & oidc.TokenEndpointResponseHelpers,
  fhirUserFromToken?: string,
): TokenResult {
  const extra = t as unknown as Record<string, unknown>;
  const str = (k: string) => (typeof extra[k] === 'string' ? extra[k] : undefined);
  const claims = t.claims();
  const fhirUser =
    str('fhirUser') ?? (typeof claims?.fhirUser === 'string' ? claims.fhirUser : undefined) ?? fhirUserFromToken;
  const expiresIn = t.expiresIn();
  return {
    tokens: {
      access_token: t.access_token,
      ...(t.refresh_token ? { refresh_token: t.refresh_token } : {}),
      ...(t.id_token ? { id_token: t.id_token } : {}),
      ...(t.scope ? { scope: t.scope } : {}),
      ...(expiresIn !== undefined ? { expiresAt: Date.now() + expiresIn * 1000 } : {}),
    },
    ...(str('patient') ? { patient: str('patient') } : {}),
    ...(str('encounter') ? { encounter: str('encounter') } : {}),
    ...(fhirUser ? { fhirUser: relativeReference(fhirUser) } : {}),
    needPatientBanner: extra.need_patient_banner !== false,
    ...(str('smart_style_url') ? { smartStyleUrl: str('smart_style_url') } : {}),
  };
}

export function createSmartClient(options: SmartClientOptions) {
  const configs = new Map<string, Promise<{ smart: SmartConfiguration; config: oidc.Configuration }>>();

  function discover(iss: string) {
    let p = configs.get(iss);
    if (!p) {
      p = loadConfiguration(options, iss);
      configs.set(iss, p);
      p.catch(() => configs.delete(iss)); // do not cache failures
    }
    return p;
  }

  async function authorizationUrl(input: {
    iss: string;
    launch?: string;
    state: string;
    codeVerifier: string;
    nonce: string;
    standalone: boolean;
  }): Promise<URL> {
    const { config } = await discover(input.iss);
    const scope = `${APP_SCOPES} ${input.standalone ? 'launch/patient' : 'launch'}`;
    return oidc.buildAuthorizationUrl(config, {
      redirect_uri: options.redirectUri,
      scope,
      state: input.state,
      nonce: input.nonce,
      aud: input.iss,
      code_challenge: await oidc.calculatePKCECodeChallenge(input.codeVerifier),
      code_challenge_method: 'S256',
      ...(input.launch ? { launch: input.launch } : {}),
    });
  }

  async function exchange(
    iss: string,
    callbackUrl: URL,
    pending: { state: string; codeVerifier: string; nonce: string },
  ): Promise<TokenResult> {
    const { config } = await discover(iss);
    const t = await oidc.authorizationCodeGrant(config, callbackUrl, {
      pkceCodeVerifier: pending.codeVerifier,
      expectedState: pending.state,
      expectedNonce: pending.nonce,
      idTokenExpected: true,
    });
    return tokenResult(t);
  }

  async function refresh(iss: string, refreshToken: string): Promise<TokenResult> {
    const { config } = await discover(iss);
    return tokenResult(await oidc.refreshTokenGrant(config, refreshToken));
  }

  return { discover, authorizationUrl, exchange, refresh };
}

export type SmartClient = ReturnType<typeof createSmartClient>;

/** `https://ehr/fhir/Practitioner/1` -> `Practitioner/1`. */
export function relativeReference(ref: string): string {
  const m = /([A-Za-z]+\/[A-Za-z0-9\-.]{1,64})$/.exec(ref);
  return m ? m[1]! : ref;
}
