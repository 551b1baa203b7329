/**
 * Refusals, each with a clear error: PKCE missing / wrong verifier / plain, state tampering,
 * unregistered redirect URI, unknown client, wrong client secret, aud and launch problems,
 * no token, malformed header, expired token, wrong scope, another patient.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import * as oidc from 'openid-client';
import { APP_SECRET, Browser, clientConfig, startHarness, type Harness } from './harness.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h?.close();
});

const appRedirect = () => `${h.baseUrl}/app/callback`;

/** Runs an EHR launch's authorization request with the given parameters; returns the browser's landing. */
async function authorize(
  params: Record<string, string | undefined>,
  options: { clientId?: string; secret?: string } = {},
) {
  const config = await clientConfig(h, options.clientId ?? 'periplan-app', options.secret ?? APP_SECRET);
  const { launch } = await h.auth.createLaunch({
    patient: 'pat-a',
    practitioner: 'dr-jones',
    clientId: 'periplan-app',
  });
  const all: Record<string, string> = {};
  const defaults: Record<string, string | undefined> = {
    redirect_uri: appRedirect(),
    scope: 'launch openid fhirUser patient/Patient.rs',
    launch,
    aud: h.fhirBaseUrl,
    state: 'state-1',
  };
  for (const [k, v] of Object.entries({ ...defaults, ...params })) if (v !== undefined) all[k] = v;
  const url = oidc.buildAuthorizationUrl(config, all);
  const landing = await new Browser().follow(url.href, appRedirect());
  return { config, landing, launch };
}

/** The error parameters the authorization server sent back to the app's redirect URI. */
function redirectError(url: string) {
  const u = new URL(url);
  expect(u.href.startsWith(appRedirect())).toBe(true);
  return { error: u.searchParams.get('error'), description: u.searchParams.get('error_description') };
}

async function pkce() {
  const verifier = oidc.randomPKCECodeVerifier();
  return { verifier, challenge: await oidc.calculatePKCECodeChallenge(verifier) };
}

async function validToken(scope = 'launch patient/Patient.rs', patient = 'pat-a', harness = h) {
  const config = await clientConfig(harness, 'periplan-app', APP_SECRET);
  const { launch } = await harness.auth.createLaunch({ patient, practitioner: 'dr-jones', clientId: 'periplan-app' });
  const { verifier, challenge } = await pkce();
  const redirect = `${harness.baseUrl}/app/callback`;
  const url = oidc.buildAuthorizationUrl(config, {
    redirect_uri: redirect,
    scope,
    launch,
    aud: harness.fhirBaseUrl,
    code_challenge: challenge,
    code_challenge_method: 'S256',
    state: 's',
  });
  const { url: back } = await new Browser().follow(url.href, redirect);
  return oidc.authorizationCodeGrant(config, new URL(back), { pkceCodeVerifier: verifier, expectedState: 's' });
}

describe('PKCE', () => {
  it('refuses an authorization request without a code_challenge', async () => {
    const { landing } = await authorize({});
    expect(redirectError(landing.url)).toEqual({
      error: 'invalid_request',
      description: 'Authorization Server policy requires PKCE to be used for this request',
    });
  });

  it('refuses the plain method', async () => {
    const { landing } = await authorize({ code_challenge: 'a'.repeat(43), code_challenge_method: 'plain' });
    expect(redirectError(landing.url)).toEqual({
      error: 'invalid_request',
      description: 'not supported value of code_challenge_method',
    });
  });

  it('refuses a token request with the wrong code_verifier', async () => {
    const { challenge } = await pkce();
    const { config, landing } = await authorize({ code_challenge: challenge, code_challenge_method: 'S256' });
    const error = await oidc
      .authorizationCodeGrant(config, new URL(landing.url), {
        pkceCodeVerifier: oidc.randomPKCECodeVerifier(),
        expectedState: 'state-1',
      })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(oidc.ResponseBodyError);
    expect((error as oidc.ResponseBodyError).error).toBe('invalid_grant');
    expect((error as oidc.ResponseBodyError).error_description).toBe(
      'grant request is invalid: code_verifier does not match code_challenge',
    );
  });

  it('refuses a token request without a code_verifier', async () => {
    const { challenge } = await pkce();
    const { config, landing } = await authorize({ code_challenge: challenge, code_challenge_method: 'S256' });
    const code = new URL(landing.url).searchParams.get('code')!;
    const res = await fetch(`${h.issuer}/token`, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        authorization: `Basic ${Buffer.from(`periplan-app:${APP_SECRET}`).toString('base64')}`,
      },
      body: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: appRedirect() }),
    });
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({
      error: 'invalid_grant',
      error_description: 'grant request is invalid: code_verifier must be provided',
    });
    expect(config).toBeDefined();
  });
});

describe('authorization request', () => {
  it('state tampering is caught by the client (openid-client compares the returned state)', async () => {
    const { challenge, verifier } = await pkce();
    const { config, landing } = await authorize({
      code_challenge: challenge,
      code_challenge_method: 'S256',
      state: 'state-1',
    });
    const tampered = new URL(landing.url);
    tampered.searchParams.set('state', 'state-evil');
    const error = await oidc
      .authorizationCodeGrant(config, tampered, { pkceCodeVerifier: verifier, expectedState: 'state-1' })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(oidc.ClientError);
    expect(((error as Error).cause as Error).message).toBe('unexpected "state" response parameter value');
  });

  it('refuses a redirect URI that is not registered, on its own page (never redirecting there)', async () => {
    const { challenge } = await pkce();
    const { landing } = await authorize({
      code_challenge: challenge,
      code_challenge_method: 'S256',
      redirect_uri: 'https://evil.example/callback',
    });
    expect(landing.res.status).toBe(400);
    const html = await landing.res.text();
    expect(html).toContain('redirect_uri did not match any of the client&#39;s registered redirect_uris');
    expect(html).not.toContain('evil.example');
  });

  it('answers JSON errors to clients that ask for JSON', async () => {
    const url = `${h.issuer}/auth?client_id=nobody&response_type=code&redirect_uri=${encodeURIComponent(appRedirect())}&scope=openid`;
    const res = await fetch(url, { headers: { accept: 'application/json' } });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ error: 'invalid_client' });
  });

  it('refuses an unknown client', async () => {
    const url = `${h.issuer}/auth?client_id=nobody&response_type=code&redirect_uri=${encodeURIComponent(appRedirect())}&scope=openid`;
    const res = await fetch(url, { headers: { accept: 'text/html' } });
    expect(res.status).toBe(400);
    const html = await res.text();
    expect(html).toContain('invalid_client');
    expect(html).toContain('The app could not be authorized');
  });

  it('refuses a confidential client with the wrong secret at the token endpoint', async () => {
    const { challenge, verifier } = await pkce();
    const { landing } = await authorize({ code_challenge: challenge, code_challenge_method: 'S256' });
    const wrong = await clientConfig(h, 'periplan-app', 'not-the-secret');
    const error = await oidc
      .authorizationCodeGrant(wrong, new URL(landing.url), { pkceCodeVerifier: verifier, expectedState: 'state-1' })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(oidc.WWWAuthenticateChallengeError);
    const wwwAuthenticate = (error as oidc.WWWAuthenticateChallengeError).cause[0]!;
    expect(wwwAuthenticate.parameters).toMatchObject({
      error: 'invalid_client',
      error_description: 'client authentication failed',
    });
  });

  it('requires aud, and only the FHIR base URL', async () => {
    const { challenge } = await pkce();
    const missing = await authorize({ code_challenge: challenge, code_challenge_method: 'S256', aud: undefined });
    expect(redirectError(missing.landing.url)).toEqual({
      error: 'invalid_request',
      description: `aud is required: the FHIR base URL the app will call (${h.fhirBaseUrl})`,
    });
    const other = await authorize({
      code_challenge: challenge,
      code_challenge_method: 'S256',
      aud: 'https://other.example/fhir',
    });
    expect(redirectError(other.landing.url)).toEqual({
      error: 'invalid_request',
      description: `aud https://other.example/fhir is not this server's FHIR base URL (${h.fhirBaseUrl})`,
    });
  });

  it('refuses an unknown launch, a used launch, and the launch scope without a launch', async () => {
    const { challenge, verifier } = await pkce();
    const unknown = await authorize({ code_challenge: challenge, code_challenge_method: 'S256', launch: 'made-up' });
    expect(redirectError(unknown.landing.url)).toEqual({
      error: 'invalid_request',
      description: 'launch is unknown, expired or already used: launch the app again from the EHR',
    });

    const first = await authorize({ code_challenge: challenge, code_challenge_method: 'S256' });
    await oidc.authorizationCodeGrant(first.config, new URL(first.landing.url), {
      pkceCodeVerifier: verifier,
      expectedState: 'state-1',
    });
    const again = await authorize({ code_challenge: challenge, code_challenge_method: 'S256', launch: first.launch });
    expect(redirectError(again.landing.url).description).toBe(
      'launch is unknown, expired or already used: launch the app again from the EHR',
    );

    const noLaunch = await authorize({ code_challenge: challenge, code_challenge_method: 'S256', launch: undefined });
    expect(redirectError(noLaunch.landing.url).description).toMatch(
      /'launch' scope is for an EHR launch and needs the launch parameter/,
    );
  });

  it('refuses a launch created for another app', async () => {
    const config = await clientConfig(h, 'periplan-tablet');
    const { launch } = await h.auth.createLaunch({
      patient: 'pat-a',
      practitioner: 'dr-jones',
      clientId: 'periplan-app',
    });
    const { challenge } = await pkce();
    const redirect = `${h.baseUrl}/tablet/callback`;
    const url = oidc.buildAuthorizationUrl(config, {
      redirect_uri: redirect,
      scope: 'launch patient/Patient.rs',
      launch,
      aud: h.fhirBaseUrl,
      code_challenge: challenge,
      code_challenge_method: 'S256',
    });
    const { url: back } = await new Browser().follow(url.href, redirect);
    expect(new URL(back).searchParams.get('error_description')).toBe(
      'launch was created for another app (periplan-app)',
    );
  });
});

describe('sandbox sign-in page', () => {
  it('Cancel returns access_denied to the app', async () => {
    const config = await clientConfig(h, 'periplan-tablet');
    const { challenge } = await pkce();
    const redirect = `${h.baseUrl}/tablet/callback`;
    const url = oidc.buildAuthorizationUrl(config, {
      redirect_uri: redirect,
      scope: 'openid fhirUser',
      aud: h.fhirBaseUrl,
      code_challenge: challenge,
      code_challenge_method: 'S256',
      state: 'x',
    });
    const browser = new Browser();
    const { res, url: pageUrl } = await browser.follow(url.href, redirect);
    const html = await res.text();
    expect(html).not.toContain('<label for="patient">');
    const abort = new URL(/<form method="post" action="([^"]+\/abort)"/.exec(html)![1]!, pageUrl).href;
    const { url: back } = await browser.follow(abort, redirect, { method: 'POST' });
    expect(new URL(back).searchParams.get('error')).toBe('access_denied');
    expect(new URL(back).searchParams.get('error_description')).toBe('the user cancelled the sign-in');
  });

  it('a sign-in page without its interaction cookie (expired, other browser) says so', async () => {
    const res = await fetch(`${h.issuer}/interaction/made-up-uid`, {
      method: 'POST',
      headers: { accept: 'text/html' },
    });
    expect(res.status).toBe(400);
    expect(await res.text()).toContain(
      'this sign-in page has expired or was opened in another browser; launch the app again',
    );
  });
});

describe('access tokens at the FHIR store (authorizeRequest as its hook)', () => {
  const read = (path: string, authorization?: string) =>
    fetch(`${h.fhirBaseUrl}/${path}`, { headers: authorization ? { authorization } : {} });
  const diagnostics = async (res: Response) =>
    ((await res.json()) as fhir4.OperationOutcome).issue.map((i) => i.diagnostics).join(' ');

  it('no token: 401 (authorizeRequest returns undefined; the store asks for a bearer token)', async () => {
    expect(await h.auth.authorizeRequest({ get: () => undefined } as never)).toBeUndefined();
    const res = await read('Patient/pat-a');
    expect(res.status).toBe(401);
    expect(await diagnostics(res)).toMatch(/bearer token is required/i);
  });

  it('a malformed Authorization header or an unknown token: 401 with the reason and WWW-Authenticate', async () => {
    const basic = await read('Patient/pat-a', 'Basic abc');
    expect(basic.status).toBe(401);
    expect(basic.headers.get('www-authenticate')).toMatch(/^Bearer .*error="invalid_request"/);
    expect(await diagnostics(basic)).toBe('The Authorization header must be "Bearer <access token>".');
    const unknown = await read('Patient/pat-a', 'Bearer not-a-real-token');
    expect(unknown.status).toBe(401);
    expect(unknown.headers.get('www-authenticate')).toMatch(/error="invalid_token"/);
    expect(await diagnostics(unknown)).toBe(
      'The access token is expired, revoked or unknown; get a new one (refresh or launch again).',
    );
  });

  it('wrong scope: 403', async () => {
    const tokens = await validToken('launch patient/Patient.rs');
    expect((await read('Patient/pat-a', `Bearer ${tokens.access_token}`)).status).toBe(200);
    const res = await read('Flag/flag-pat-a', `Bearer ${tokens.access_token}`);
    expect(res.status).toBe(403);
    expect(((await res.json()) as fhir4.OperationOutcome).issue[0]!.code).toBe('forbidden');
  });

  it("another patient's data: 403, for reads and for writes", async () => {
    const tokens = await validToken('launch patient/Patient.rs patient/Flag.crus', 'pat-a');
    const bearer = `Bearer ${tokens.access_token}`;
    expect((await read('Flag/flag-pat-a', bearer)).status).toBe(200);
    expect((await read('Patient/pat-b', bearer)).status).toBe(403);
    expect((await read('Flag/flag-pat-b', bearer)).status).toBe(403);
    const write = await fetch(`${h.fhirBaseUrl}/Flag`, {
      method: 'POST',
      headers: { authorization: bearer, 'content-type': 'application/fhir+json' },
      body: JSON.stringify({
        resourceType: 'Flag',
        status: 'active',
        code: { text: 'x' },
        subject: { reference: 'Patient/pat-b' },
      }),
    });
    expect(write.status).toBe(403);
  });

  it('user/ scopes are not bound to one patient', async () => {
    const tokens = await validToken('launch user/Patient.rs', 'pat-a');
    expect((await read('Patient/pat-b', `Bearer ${tokens.access_token}`)).status).toBe(200);
  });

  it('system/ and granular scopes are not granted', async () => {
    const tokens = await validToken('launch system/*.rs patient/Observation.rs?category=vital-signs patient/Flag.rs');
    expect(tokens.scope).toBe('launch patient/Flag.rs');
  });

  it('the CapabilityStatement names the SMART endpoints', async () => {
    const res = await read('metadata');
    const capability = (await res.json()) as fhir4.CapabilityStatement;
    const oauth = capability.rest?.[0]?.security?.extension?.[0]?.extension ?? [];
    expect(oauth).toEqual(
      expect.arrayContaining([
        { url: 'authorize', valueUri: `${h.issuer}/auth` },
        { url: 'token', valueUri: `${h.issuer}/token` },
      ]),
    );
  });
});

describe('expired access token', () => {
  let short: Harness;
  beforeAll(async () => {
    short = await startHarness({ ttl: { accessTokenSeconds: 1 } });
  });
  afterAll(async () => {
    await short?.close();
  });

  it('is refused once its lifetime (1 s here) has passed', async () => {
    const tokens = await validToken('launch patient/Patient.rs', 'pat-a', short);
    expect(tokens.expires_in).toBe(1);
    expect(await short.auth.verifyAccessToken(tokens.access_token)).toBeDefined();
    // Waiting is the behaviour under test (expiry has one-second resolution), not a speed assertion.
    await new Promise((resolve) => setTimeout(resolve, 2100));
    expect(await short.auth.verifyAccessToken(tokens.access_token)).toBeUndefined();
    const res = await fetch(`${short.fhirBaseUrl}/Patient/pat-a`, {
      headers: { authorization: `Bearer ${tokens.access_token}` },
    });
    expect(res.status).toBe(401);
    expect(JSON.stringify(await res.json())).toContain('The access token is expired, revoked or unknown');
  });
});
