/**
 * The module's own access token (OAuth 2 client credentials), for outbox retries when the user's token is
 * gone. Discovers the token endpoint from `<FHIR base>/.well-known/smart-configuration`, authenticates with
 * client_secret_basic, caches the token until shortly before it expires, and shares one request between
 * concurrent callers.
 *
 * Sandbox: the embedded EHR's `periplan-module` client with a shared secret. A clinic's EHR would register the
 * module for SMART Backend Services (private_key_jwt: a signed JWT assertion instead of a secret); that is a
 * different `authenticate` step here, the rest (discovery, caching, invalidation) stays.
 */

export interface ClientCredentialsOptions {
  fhirBaseUrl: string;
  clientId: string;
  clientSecret: string;
  /** Scopes to ask for (space-separated on the wire). */
  scopes: readonly string[];
  /** Give up on the token endpoint after this long (ms). */
  timeoutMs?: number;
  /** Renew this long before expiry (ms). */
  renewBeforeMs?: number;
}

export interface TokenSource {
  getToken(): Promise<string>;
  /** Forget the cached token (after a 401). */
  invalidate(): void;
}

interface TokenResponse {
  access_token?: unknown;
  expires_in?: unknown;
  error?: unknown;
  error_description?: unknown;
}

const formEncode = (s: string) => encodeURIComponent(s).replace(/%20/g, '+');

export function clientCredentialsTokenSource(options: ClientCredentialsOptions): TokenSource {
  const base = options.fhirBaseUrl.replace(/\/+$/, '');
  const timeoutMs = options.timeoutMs ?? 10_000;
  const renewBeforeMs = options.renewBeforeMs ?? 60_000;
  let tokenEndpoint: string | undefined;
  let cached: { token: string; expiresAt: number } | undefined;
  let pending: Promise<string> | undefined;

  async function discover(): Promise<string> {
    if (tokenEndpoint) return tokenEndpoint;
    const res = await fetch(`${base}/.well-known/smart-configuration`, {
      headers: { accept: 'application/json' },
      signal: AbortSignal.timeout(timeoutMs),
    });
    if (!res.ok)
      throw Object.assign(new Error(`SMART configuration at ${base} answered ${res.status}`), {
        response: { status: res.status, data: '' },
      });
    const config = (await res.json()) as { token_endpoint?: unknown };
    if (typeof config.token_endpoint !== 'string')
      throw new Error(`SMART configuration at ${base} names no token_endpoint`);
    tokenEndpoint = config.token_endpoint;
    return tokenEndpoint;
  }

  async function fetchToken(): Promise<string> {
    const endpoint = await discover();
    // RFC 6749 2.3.1: id and secret are form-encoded before Basic encoding.
    const basic = Buffer.from(`${formEncode(options.clientId)}:${formEncode(options.clientSecret)}`).toString('base64');
    const res = await fetch(endpoint, {
      method: 'POST',
      headers: {
        authorization: `Basic ${basic}`,
        'content-type': 'application/x-www-form-urlencoded',
        accept: 'application/json',
      },
      body: new URLSearchParams({ grant_type: 'client_credentials', scope: options.scopes.join(' ') }).toString(),
      signal: AbortSignal.timeout(timeoutMs),
    });
    const body = (await res.json().catch(() => ({}))) as TokenResponse;
    if (!res.ok || typeof body.access_token !== 'string') {
      const why =
        typeof body.error === 'string'
          ? `${body.error}${typeof body.error_description === 'string' ? `: ${body.error_description}` : ''}`
          : `HTTP ${res.status}`;
      // Shaped like an HTTP client error so the sender classifies it (5xx transient, 4xx permanent).
      throw Object.assign(new Error(`The token endpoint refused the module credential (${why})`), {
        response: { status: res.ok ? 502 : res.status, data: `token endpoint: ${why}` },
      });
    }
    const lifetimeMs = typeof body.expires_in === 'number' ? body.expires_in * 1000 : 300_000;
    cached = { token: body.access_token, expiresAt: Date.now() + Math.max(lifetimeMs - renewBeforeMs, lifetimeMs / 2) };
    return body.access_token;
  }

  return {
    async getToken() {
      if (cached && Date.now() < cached.expiresAt) return cached.token;
      pending ??= fetchToken().finally(() => {
        pending = undefined;
      });
      return pending;
    },
    invalidate() {
      cached = undefined;
    },
  };
}
