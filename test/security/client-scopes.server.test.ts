/**
 * Least privilege per registered client: a client is granted only scopes no wider than its registration
 * (src/ehr/auth/clients.ts), whatever it asks for. The tablet uses no EHR token of its own, so its public
 * registration reaches no FHIR data; the clinician app gets exactly what its flows use.
 */
import * as oidc from 'openid-client';
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import { expect } from '../support/expect.js';
import { APP_SCOPES } from '../../src/clinician-app/smart.js';
import { CLINICIAN_APP_SCOPES, isWithinScopes } from '../../src/ehr/auth/index.js';
import { APP_SECRET, Browser, clientConfig, formAction, startHarness, type Harness } from '../ehr/auth/harness.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => h?.close());

/** A standalone launch of `clientId` asking for `scope`, signing in as physio-lee for pat-a. */
async function standalone(clientId: 'periplan-app' | 'periplan-tablet', scope: string) {
  const config =
    clientId === 'periplan-app' ? await clientConfig(h, clientId, APP_SECRET) : await clientConfig(h, clientId);
  const redirect = `${h.baseUrl}/${clientId === 'periplan-app' ? 'app' : 'tablet'}/callback`;
  const verifier = oidc.randomPKCECodeVerifier();
  const url = oidc.buildAuthorizationUrl(config, {
    redirect_uri: redirect,
    scope,
    aud: h.fhirBaseUrl,
    state: 'cs',
    code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
  });
  const browser = new Browser();
  const { res, url: pageUrl } = await browser.follow(url.href, redirect);
  const html = await res.text();
  // The sign-in page lists only what can be granted.
  for (const wide of ['user/*.cruds', 'patient/*.cruds']) expect(html).not.toContain(`<code>${wide}</code>`);
  const { url: back, res: last } = await browser.follow(formAction(html, pageUrl), redirect, {
    form: { practitioner: 'physio-lee', patient: 'pat-a' },
  });
  if (!back.startsWith(redirect))
    throw new Error(
      `sign-in ended at ${back}: ${last.status} ${(await last.text()).replace(/\s+/g, ' ').slice(0, 3000)}`,
    );
  return oidc.authorizationCodeGrant(config, new URL(back), { pkceCodeVerifier: verifier, expectedState: 'cs' });
}

describe('client least privilege', () => {
  it('the public tablet client asking for user/*.cruds and patient/*.cruds gets no FHIR scope, and reads nothing', async () => {
    const tokens = await standalone(
      'periplan-tablet',
      'launch/patient openid fhirUser user/*.cruds patient/*.cruds patient/QuestionnaireResponse.cu',
    );
    expect(tokens.scope!.split(' ').filter((s) => s.includes('/') && s !== 'launch/patient')).toEqual([]);
    expect((await h.auth.verifyAccessToken(tokens.access_token))?.scopes).toEqual([]);
    for (const path of ['Patient/pat-a', 'Patient/pat-b', 'Flag/flag-pat-a']) {
      const res = await fetch(`${h.fhirBaseUrl}/${path}`, {
        headers: { authorization: `Bearer ${tokens.access_token}` },
      });
      expect(res.status, path).toBe(403);
    }
  });

  it('the clinician app asking for wildcards gets only what is within its registration', async () => {
    const tokens = await standalone(
      'periplan-app',
      'launch/patient openid user/*.cruds patient/*.rs user/Patient.rs user/Flag.cruds patient/Flag.rs',
    );
    const granted = tokens
      .scope!.split(' ')
      .filter((s) => /^(user|patient)\//.test(s))
      .sort();
    expect(granted).toEqual(['patient/Flag.rs', 'user/Patient.rs']);
    const del = await fetch(`${h.fhirBaseUrl}/Flag/flag-pat-b`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${tokens.access_token}` },
    });
    expect(del.status).toBe(403);
  });

  it("the clinician app's own request (APP_SCOPES) is granted in full", async () => {
    const wanted = APP_SCOPES.split(' ').filter((s) => s.startsWith('user/'));
    for (const scope of wanted) expect(isWithinScopes(scope, CLINICIAN_APP_SCOPES), scope).toBe(true);
    const tokens = await standalone('periplan-app', `launch/patient ${APP_SCOPES}`);
    expect(
      tokens
        .scope!.split(' ')
        .filter((s) => s.startsWith('user/'))
        .sort(),
    ).toEqual([...wanted].sort());
  });

  it('narrowing: patient/ under user/, fewer permissions, never wider or another type', () => {
    expect(isWithinScopes('patient/Flag.rs', ['user/Flag.crus'])).toBe(true);
    expect(isWithinScopes('user/Flag.rs', ['patient/Flag.crus'])).toBe(false);
    expect(isWithinScopes('user/Flag.cruds', ['user/Flag.crus'])).toBe(false);
    expect(isWithinScopes('user/*.rs', ['user/Flag.crus'])).toBe(false);
    expect(isWithinScopes('user/Patient.rs', ['user/Flag.crus'])).toBe(false);
    expect(isWithinScopes('system/Flag.rs', ['system/*.cruds'])).toBe(false);
    expect(isWithinScopes('user/Flag.read', ['user/Flag.crus'])).toBe(true);
  });
});
