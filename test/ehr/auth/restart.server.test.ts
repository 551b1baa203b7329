/** Signing keys, grants and tokens live under the data folder: a restarted server honours them. */
import { afterAll, describe, expect, it } from '@jest/globals';
import * as oidc from 'openid-client';
import { APP_SECRET, Browser, clientConfig, startHarness, type Harness } from './harness.js';

const running: Harness[] = [];
afterAll(async () => {
  for (const h of running) await h.close().catch(() => undefined);
});

describe('restart', () => {
  it('keeps access tokens valid, refresh tokens usable and the JWKS unchanged', async () => {
    const first = await startHarness();
    running.push(first);
    const config = await clientConfig(first, 'periplan-app', APP_SECRET);
    const { launch } = await first.auth.createLaunch({
      patient: 'pat-a',
      practitioner: 'dr-jones',
      clientId: 'periplan-app',
    });
    const verifier = oidc.randomPKCECodeVerifier();
    const redirect = `${first.baseUrl}/app/callback`;
    const url = oidc.buildAuthorizationUrl(config, {
      redirect_uri: redirect,
      scope: 'launch openid fhirUser offline_access patient/Flag.crs',
      launch,
      aud: first.fhirBaseUrl,
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state: 's',
    });
    const { url: back } = await new Browser().follow(url.href, redirect);
    const tokens = await oidc.authorizationCodeGrant(config, new URL(back), {
      pkceCodeVerifier: verifier,
      expectedState: 's',
    });
    const jwksBefore = await (await fetch(`${first.issuer}/jwks`)).json();
    await first.close({ keepData: true });

    const second = await startHarness({ dataDir: first.dataDir, port: first.port });
    running.push(second);
    expect(await (await fetch(`${second.issuer}/jwks`)).json()).toEqual(jwksBefore);
    expect(await second.auth.verifyAccessToken(tokens.access_token)).toMatchObject({
      patient: 'pat-a',
      scopes: ['patient/Flag.crs'],
    });
    const refreshed = await oidc.refreshTokenGrant(
      await clientConfig(second, 'periplan-app', APP_SECRET),
      tokens.refresh_token!,
    );
    expect(refreshed.patient).toBe('pat-a');
    expect(refreshed.claims()?.sub).toBe('dr-jones');
  });
});
