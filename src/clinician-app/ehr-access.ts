/**
 * Calls the EHR's FHIR API (through the module's FHIR client) with the session's access token. The token never leaves the server. A token that
 * is about to expire, or that the server refuses with 401, is refreshed once; if that fails the session is
 * over and the caller gets a 401 `login` error (the browser then keeps the draft and tells the user).
 */
import { FhirError, unauthorized } from '../outcomes/index.js';
import { FhirClient, httpStatusOf, serverReasonOf } from '../platform/fhir-client/index.js';
import type { SmartClient } from './smart.js';
import type { ClinicianSession, SessionStore } from './session-store.js';

export interface SessionRef {
  handle: string;
  session: ClinicianSession;
}

export const SESSION_ENDED =
  'Your sign-in to the EHR has ended. Your answers are kept as a draft on this server. Open the app from the EHR again to continue.';

export function createEhrAccess(deps: { store: SessionStore; smart: SmartClient; timeoutMs?: number }) {
  async function refresh(ref: SessionRef): Promise<string> {
    const rt = ref.session.tokens.refresh_token;
    if (!rt) throw unauthorized(SESSION_ENDED);
    try {
      const result = await deps.smart.refresh(ref.session.issuer, rt);
      const tokens = { ...result.tokens, refresh_token: result.tokens.refresh_token ?? rt };
      await deps.store.updateTokens(ref.handle, tokens);
      ref.session.tokens = tokens;
      return tokens.access_token;
    } catch {
      throw unauthorized(SESSION_ENDED);
    }
  }

  /** A valid access token for the session (refreshed when it expires within 30 s). */
  async function accessToken(ref: SessionRef): Promise<string> {
    const { expiresAt } = ref.session.tokens;
    if (expiresAt !== undefined && expiresAt - 30_000 < Date.now()) return refresh(ref);
    return ref.session.tokens.access_token;
  }

  /** The session's EHR, with a fresh client per token (the token may be refreshed between calls). */
  const clientFor = (ref: SessionRef, token: string) =>
    new FhirClient({ baseUrl: ref.session.issuer, bearerToken: token, timeoutMs: deps.timeoutMs ?? 15_000 });

  async function json<T>(
    ref: SessionRef,
    relative: string,
    init: { method?: 'GET' | 'POST' | 'PUT' | 'DELETE'; body?: unknown; headers?: Record<string, string> } = {},
  ): Promise<T> {
    const send = async (token: string) => clientFor(ref, token).request<T>(relative, init);
    try {
      try {
        return await send(await accessToken(ref));
      } catch (err) {
        if (httpStatusOf(err) !== 401) throw err;
        return await send(await refresh(ref));
      }
    } catch (err) {
      const status = httpStatusOf(err);
      if (status === undefined || err instanceof FhirError) throw err; // no answer at all: the caller's to judge
      if (status >= 200 && status < 300) return undefined as T; // an answer that is not JSON
      if (status === 401) throw unauthorized(SESSION_ENDED);
      const detail = serverReasonOf(err) ?? `HTTP ${status}`;
      // Not found, deleted and forbidden are answers about the record, said as such; only the rest is the EHR failing (502).
      if (status === 410)
        throw new FhirError(410, {
          code: 'deleted',
          diagnostics: `The EHR says this record was deleted (410): ${detail}`,
        });
      if (status === 404)
        throw new FhirError(404, { code: 'not-found', diagnostics: `The EHR has no such record (404): ${detail}` });
      throw new FhirError(status === 403 ? 403 : 502, {
        code: 'exception',
        diagnostics: `The EHR answered ${status}: ${detail}`,
      });
    }
  }

  return { accessToken, json };
}

export type EhrAccess = ReturnType<typeof createEhrAccess>;
