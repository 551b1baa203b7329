/**
 * What the server adds around oidc-provider's own handling of a request: `prompt=consent` for SMART apps
 * asking for offline_access, the SMART launch context and every granted scope in the token response, and the
 * library's reason behind "grant request is invalid".
 */
import type Provider from 'oidc-provider';
import type { KoaContextWithOIDC } from 'oidc-provider';
import type { GrantContext } from './auth-database.js';
import { splitScope, type AuthContext } from './context.js';

/**
 * OpenID Connect drops offline_access unless prompt=consent is sent; SMART apps do not send it, and
 * every authorization here goes through the sandbox sign-in (= consent) anyway. So a GET
 * authorization request asking for offline_access gets prompt=consent added. (POST and PAR
 * requests must send prompt=consent themselves, or use online_access.)
 */
function askConsentForOfflineAccess(ctx: KoaContextWithOIDC): void {
  if (ctx.method !== 'GET' || ctx.path !== '/auth') return;
  const query = new URLSearchParams(ctx.querystring);
  if (splitScope(query.get('scope')).includes('offline_access') && !query.has('prompt')) {
    query.set('prompt', 'consent');
    ctx.querystring = query.toString();
  }
}

function launchContextFields(auth: AuthContext, context: GrantContext): Record<string, unknown> {
  return {
    ...(context.patient ? { patient: context.patient, need_patient_banner: context.needPatientBanner } : {}),
    ...(context.encounter ? { encounter: context.encounter } : {}),
    fhirUser: `${auth.fhirBaseUrl}/Practitioner/${context.practitioner}`,
    ...(context.smartStyleUrl ? { smart_style_url: context.smartStyleUrl } : {}),
  };
}

/** SMART launch context in the token response (authorization_code and refresh_token grants alike). */
function addLaunchContext(auth: AuthContext, ctx: KoaContextWithOIDC): void {
  if (ctx.oidc?.route !== 'token' || ctx.status !== 200) return;
  const body = ctx.body as Record<string, unknown> | undefined;
  const { AccessToken: at, Grant: grant, AuthorizationCode: code, RefreshToken: refresh } = ctx.oidc.entities;
  if (!body?.access_token || !at || !grant) return;
  // oidc-provider reports only the resource scopes of a resource-bound token; SMART apps expect all granted scopes.
  const requested = new Set(splitScope((code ?? refresh)?.scope));
  const oidcGranted = splitScope(grant.getOIDCScope()).filter((s) => requested.has(s));
  body.scope = [...oidcGranted, ...splitScope(at.scope)].join(' ');
  const context = auth.db.grantContext(at.grantId);
  if (context) Object.assign(body, launchContextFields(auth, context));
}

export function installTokenResponse(provider: Provider, auth: AuthContext): void {
  provider.use(async (ctx, next) => {
    askConsentForOfflineAccess(ctx);
    await next();
    addLaunchContext(auth, ctx);
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
}
