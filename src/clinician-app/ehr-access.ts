/**
 * Calls the EHR's FHIR API with the session's access token. The token never leaves the server. A token that
 * is about to expire, or that the server refuses with 401, is refreshed once; if that fails the session is
 * over and the caller gets a 401 `login` error (the browser then keeps the draft and tells the user).
 */
import { FhirError, unauthorized } from '../outcomes/index.js';
import type { SmartClient } from './smart.js';
import type { ClinicianSession, SessionStore } from './session-store.js';

export interface SessionRef { handle: string; session: ClinicianSession }

export const SESSION_ENDED = 'Your sign-in to the EHR has ended. Your answers are kept as a draft on this server. Open the app from the EHR again to continue.';

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

  async function request(ref: SessionRef, relative: string, init: { method?: string; body?: unknown; headers?: Record<string, string> } = {}): Promise<Response> {
    const url = `${ref.session.issuer.replace(/\/+$/, '')}/${relative.replace(/^\/+/, '')}`;
    const send = (token: string) =>
      fetch(url, {
        method: init.method ?? 'GET',
        headers: {
          accept: 'application/fhir+json',
          authorization: `Bearer ${token}`,
          ...(init.body !== undefined ? { 'content-type': 'application/fhir+json' } : {}),
          ...init.headers,
        },
        ...(init.body !== undefined ? { body: JSON.stringify(init.body) } : {}),
        signal: AbortSignal.timeout(deps.timeoutMs ?? 15_000),
      });
    let res = await send(await accessToken(ref));
    if (res.status === 401) res = await send(await refresh(ref));
    if (res.status === 401) throw unauthorized(SESSION_ENDED);
    return res;
  }

  async function json<T>(ref: SessionRef, relative: string, init?: Parameters<typeof request>[2]): Promise<T> {
    const res = await request(ref, relative, init);
    const body = (await res.json().catch(() => undefined)) as unknown;
    if (!res.ok) {
      const oo = body as fhir4.OperationOutcome | undefined;
      const detail = oo?.resourceType === 'OperationOutcome' ? oo.issue.map((i) => i.diagnostics ?? i.code).join('; ') : res.statusText;
      // Not found, deleted and forbidden are answers about the record, said as such; only the rest is the EHR failing (502).
      if (res.status === 410) throw new FhirError(410, { code: 'deleted', diagnostics: `The EHR says this record was deleted (410): ${detail}` });
      if (res.status === 404) throw new FhirError(404, { code: 'not-found', diagnostics: `The EHR has no such record (404): ${detail}` });
      throw new FhirError(res.status === 403 ? 403 : 502, { code: 'exception', diagnostics: `The EHR answered ${res.status}: ${detail}` });
    }
    return body as T;
  }

  return { accessToken, request, json };
}

export type EhrAccess = ReturnType<typeof createEhrAccess>;
