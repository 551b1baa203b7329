/**
 * Checks the FHIR store's bearer tokens against the authorization server: a SMART app's token (its grant must
 * still exist; patient/ scopes only with a patient context) or the module's client-credentials token.
 */
import type { Request } from 'express';
import type Provider from 'oidc-provider';
import { unauthorized } from '../../outcomes/index.js';
import type { AccessContext } from './access-context.js';
import { splitScope, type AuthContext } from './context.js';

const audiencesOf = (aud: string | string[] | undefined) => (Array.isArray(aud) ? aud : [aud]);

export function createTokenChecks(auth: AuthContext, provider: Provider) {
  const { fhirBaseUrl } = auth;

  async function verifyAccessToken(token: string): Promise<AccessContext | undefined> {
    if (!token) return undefined;
    const at = await provider.AccessToken.find(token);
    if (!at) return verifyBackendToken(token);
    if (at.isExpired) return undefined;
    if (!audiencesOf(at.aud).includes(fhirBaseUrl)) return undefined;
    // A grant revoked or expired takes its tokens with it.
    if (!(await provider.Grant.find(at.grantId))) return undefined;
    const context = auth.db.grantContext(at.grantId);
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
    if (!audiencesOf(backend.aud).includes(fhirBaseUrl)) return undefined;
    return { clientId: backend.clientId, scopes: splitScope(backend.scope).filter((s) => s.startsWith('system/')) };
  }

  async function authorizeRequest(req: Request): Promise<AccessContext | undefined> {
    const header = req.get('authorization');
    if (!header) return undefined;
    const challenge = (error: string, description: string) => {
      req.res?.set(
        'WWW-Authenticate',
        `Bearer realm="${fhirBaseUrl}", error="${error}", error_description="${description}"`,
      );
      return unauthorized(description);
    };
    const match = /^Bearer +([A-Za-z0-9\-._~+/]+=*)$/i.exec(header.trim());
    if (!match) throw challenge('invalid_request', 'The Authorization header must be "Bearer <access token>".');
    const access = await verifyAccessToken(match[1]!);
    if (!access)
      throw challenge(
        'invalid_token',
        'The access token is expired, revoked or unknown; get a new one (refresh or launch again).',
      );
    return access;
  }

  return { verifyAccessToken, authorizeRequest };
}
