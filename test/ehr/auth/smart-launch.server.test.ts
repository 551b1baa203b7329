/**
 * SMART App Launch end to end over real HTTP, with openid-client 6 as the app:
 * EHR launch (confidential clinician app) and standalone launch (public tablet client) to tokens
 * with launch context, the id_token verified, refresh, restart-survival and the store hook.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import * as oidc from 'openid-client';
import { APP_SECRET, Browser, clientConfig, formAction, startHarness, type Harness } from './harness.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h?.close();
});

async function ehrLaunch(
  scope: string,
  launchInput: { patient?: string; practitioner?: string; encounter?: string; needPatientBanner?: boolean } = {},
) {
  const { launch } = await h.auth.createLaunch({
    patient: launchInput.patient ?? 'pat-a',
    practitioner: launchInput.practitioner ?? 'dr-jones',
    encounter: launchInput.encounter,
    needPatientBanner: launchInput.needPatientBanner,
    clientId: 'periplan-app',
  });
  const config = await clientConfig(h, 'periplan-app', APP_SECRET);
  const verifier = oidc.randomPKCECodeVerifier();
  const state = oidc.randomState();
  const redirectUri = `${h.baseUrl}/app/callback`;
  const authUrl = oidc.buildAuthorizationUrl(config, {
    redirect_uri: redirectUri,
    scope,
    code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    state,
    launch,
    aud: h.fhirBaseUrl,
  });
  const { url } = await new Browser().follow(authUrl.href, redirectUri);
  expect(url.startsWith(redirectUri)).toBe(true);
  const tokens = await oidc.authorizationCodeGrant(config, new URL(url), {
    pkceCodeVerifier: verifier,
    expectedState: state,
  });
  return { config, tokens };
}

describe('SMART configuration', () => {
  it('is served relative to the FHIR base and names the endpoints, PKCE S256 and capabilities', async () => {
    const res = await fetch(`${h.fhirBaseUrl}/.well-known/smart-configuration`);
    expect(res.status).toBe(200);
    const body = (await res.json()) as Record<string, unknown>;
    expect(body.issuer).toBe(h.issuer);
    expect(body.authorization_endpoint).toBe(`${h.issuer}/auth`);
    expect(body.token_endpoint).toBe(`${h.issuer}/token`);
    expect(body.code_challenge_methods_supported).toEqual(['S256']);
    expect(body.capabilities).toEqual(
      expect.arrayContaining([
        'launch-ehr',
        'launch-standalone',
        'context-ehr-patient',
        'permission-v2',
        'sso-openid-connect',
      ]),
    );
    expect(h.auth.smartConfiguration()).toEqual(body);
    // The OpenID discovery document agrees on the endpoints.
    const discovery = (await (await fetch(`${h.issuer}/.well-known/openid-configuration`)).json()) as Record<
      string,
      unknown
    >;
    expect(discovery.token_endpoint).toBe(body.token_endpoint);
    expect(discovery.jwks_uri).toBe(body.jwks_uri);
  });
});

describe('EHR launch', () => {
  it('gives tokens with the launch context, the granted scopes and a verified id_token', async () => {
    const { tokens } = await ehrLaunch(
      'launch openid fhirUser offline_access patient/QuestionnaireResponse.cu patient/Flag.crs patient/Patient.rs',
      {
        encounter: 'enc-1',
        needPatientBanner: false,
      },
    );
    expect(tokens.token_type.toLowerCase()).toBe('bearer');
    expect(tokens.patient).toBe('pat-a');
    expect(tokens.encounter).toBe('enc-1');
    expect(tokens.need_patient_banner).toBe(false);
    expect(tokens.fhirUser).toBe(`${h.fhirBaseUrl}/Practitioner/dr-jones`);
    expect(tokens.smart_style_url).toBe(`${h.issuer}/smart-style.json`);
    expect(tokens.scope!.split(' ').sort()).toEqual(
      [
        'fhirUser',
        'launch',
        'offline_access',
        'openid',
        'patient/Flag.crs',
        'patient/Patient.rs',
        'patient/QuestionnaireResponse.cu',
      ].sort(),
    );
    expect(tokens.refresh_token).toBeTruthy();
    // openid-client verified the id_token signature against the JWKS, iss, aud and exp.
    const claims = tokens.claims()!;
    expect(claims.iss).toBe(h.issuer);
    expect(claims.aud).toBe('periplan-app');
    expect(claims.sub).toBe('dr-jones');
    expect(claims.fhirUser).toBe(`${h.fhirBaseUrl}/Practitioner/dr-jones`);
    // The store hook sees the same context.
    const access = await h.auth.verifyAccessToken(tokens.access_token);
    expect(access).toEqual({
      clientId: 'periplan-app',
      scopes: expect.arrayContaining(['patient/QuestionnaireResponse.cu', 'patient/Flag.crs', 'patient/Patient.rs']),
      patient: 'pat-a',
      fhirUser: 'Practitioner/dr-jones',
    });
    expect(access!.scopes).not.toContain('openid');
  });

  it('refreshes: a new access token with the same context, the old refresh token context kept', async () => {
    const { config, tokens } = await ehrLaunch('launch openid fhirUser online_access patient/Flag.crs');
    const refreshed = await oidc.refreshTokenGrant(config, tokens.refresh_token!);
    expect(refreshed.access_token).not.toBe(tokens.access_token);
    expect(refreshed.patient).toBe('pat-a');
    expect(refreshed.fhirUser).toBe(`${h.fhirBaseUrl}/Practitioner/dr-jones`);
    expect(refreshed.scope!.split(' ')).toEqual(expect.arrayContaining(['patient/Flag.crs', 'online_access']));
    expect((await h.auth.verifyAccessToken(refreshed.access_token))?.patient).toBe('pat-a');
  });

  it('gives no refresh token without offline_access or online_access', async () => {
    const { tokens } = await ehrLaunch('launch openid fhirUser patient/Flag.rs');
    expect(tokens.refresh_token).toBeUndefined();
  });

  it('lets the access token read the launch patient from the FHIR store', async () => {
    const { tokens } = await ehrLaunch('launch patient/Patient.rs', { patient: 'pat-b' });
    const res = await fetch(`${h.fhirBaseUrl}/Patient/pat-b`, {
      headers: { authorization: `Bearer ${tokens.access_token}` },
    });
    expect(res.status).toBe(200);
    expect(((await res.json()) as fhir4.Patient).birthDate).toBe('1970-09-30');
  });

  it('revoked access tokens stop working', async () => {
    const { config, tokens } = await ehrLaunch('launch patient/Patient.rs');
    expect(await h.auth.verifyAccessToken(tokens.access_token)).toBeDefined();
    await oidc.tokenRevocation(config, tokens.access_token);
    expect(await h.auth.verifyAccessToken(tokens.access_token)).toBeUndefined();
  });
});

describe('standalone launch', () => {
  it('launch/patient shows the sandbox sign-in with a patient picker; the choice becomes the context', async () => {
    const config = await clientConfig(h, 'periplan-app', APP_SECRET);
    const verifier = oidc.randomPKCECodeVerifier();
    const state = oidc.randomState();
    const nonce = oidc.randomNonce();
    const redirectUri = `${h.baseUrl}/app/callback`;
    const authUrl = oidc.buildAuthorizationUrl(config, {
      redirect_uri: redirectUri,
      scope: 'launch/patient openid fhirUser offline_access patient/QuestionnaireResponse.cu',
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state,
      nonce,
      aud: h.fhirBaseUrl,
    });
    const browser = new Browser();
    const { res: pageRes, url: pageUrl } = await browser.follow(authUrl.href, redirectUri);
    expect(pageRes.status).toBe(200);
    const html = await pageRes.text();
    expect(html).toContain('no passwords');
    expect(html).toContain('<label for="practitioner">Clinician</label>');
    expect(html).toContain('<label for="patient">Patient</label>');
    expect(html).toContain('Beatrice Brown (born 1970-09-30)');
    expect(html).not.toMatch(/<script/i);

    // Submitting without a patient re-asks, saying what is missing.
    const action = formAction(html, pageUrl);
    const missing = await browser.request(action, { form: { practitioner: 'physio-lee' } });
    expect(missing.status).toBe(400);
    expect(await missing.text()).toContain('Choose a patient.');

    const { url } = await browser.follow(action, redirectUri, {
      form: { practitioner: 'physio-lee', patient: 'pat-b' },
    });
    const tokens = await oidc.authorizationCodeGrant(config, new URL(url), {
      pkceCodeVerifier: verifier,
      expectedState: state,
      expectedNonce: nonce,
    });
    expect(tokens.patient).toBe('pat-b');
    expect(tokens.need_patient_banner).toBe(true);
    expect(tokens.fhirUser).toBe(`${h.fhirBaseUrl}/Practitioner/physio-lee`);
    expect(tokens.claims()!.sub).toBe('physio-lee');
    expect(tokens.refresh_token).toBeTruthy();
    const access = await h.auth.verifyAccessToken(tokens.access_token);
    expect(access).toMatchObject({
      clientId: 'periplan-app',
      patient: 'pat-b',
      fhirUser: 'Practitioner/physio-lee',
      scopes: ['patient/QuestionnaireResponse.cu'],
    });
  });
});
