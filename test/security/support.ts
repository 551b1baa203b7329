/**
 * Tokens of every kind against a whole server composed as `npm start` composes it (test/clinician-app/harness):
 * real SMART launches through the sandbox EHR's authorization server, and the module's client credentials.
 */
import * as oidc from 'openid-client';
import { APP_SECRET, startAppHarness, type AppHarness } from '../clinician-app/harness.js';
import { Browser } from '../ehr/auth/harness.js';

export { startAppHarness, type AppHarness };

/** An EHR launch as the clinician app for `patient`, asking for `scope`; returns the token response. */
export async function launchToken(h: AppHarness, patient: string, scope: string): Promise<oidc.TokenEndpointResponse> {
  const issuer = new URL(`${h.baseUrl}/ehr/auth`);
  const config = await oidc.discovery(issuer, 'periplan-app', undefined, oidc.ClientSecretBasic(APP_SECRET), {
    execute: [oidc.allowInsecureRequests],
  });
  const { launch } = await h.ehr.auth.createLaunch({
    patient,
    practitioner: 'sandbox-clinician',
    clientId: 'periplan-app',
  });
  const verifier = oidc.randomPKCECodeVerifier();
  const redirect = `${h.baseUrl}/app/callback`;
  const url = oidc.buildAuthorizationUrl(config, {
    redirect_uri: redirect,
    scope: `launch ${scope}`,
    launch,
    aud: `${h.baseUrl}/ehr/fhir`,
    code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    state: 'security-test',
  });
  const { url: back } = await new Browser().follow(url.href, redirect);
  return oidc.authorizationCodeGrant(config, new URL(back), {
    pkceCodeVerifier: verifier,
    expectedState: 'security-test',
  });
}

/** A client-credentials token of the module's backend client (system/ scopes). */
export async function moduleToken(h: AppHarness): Promise<string> {
  const { clientId, clientSecret } = h.ehr.auth.moduleClient;
  const res = await fetch(`${h.baseUrl}/ehr/auth/token`, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      authorization: `Basic ${Buffer.from(`${clientId}:${clientSecret}`).toString('base64')}`,
    },
    body: new URLSearchParams({
      grant_type: 'client_credentials',
      scope: h.ehr.auth.moduleClient.scopes.join(' '),
      resource: `${h.baseUrl}/ehr/fhir`,
    }),
  });
  if (res.status !== 200) throw new Error(`client credentials: ${res.status} ${await res.text()}`);
  return ((await res.json()) as { access_token: string }).access_token;
}

/** Every scope a submission needs, as patient/ scopes. */
export const PATIENT_SUBMIT_SCOPES =
  'patient/QuestionnaireResponse.cu patient/Observation.c patient/Flag.c patient/ServiceRequest.c patient/CarePlan.c patient/Provenance.c';
