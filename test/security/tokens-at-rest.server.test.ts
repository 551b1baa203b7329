/**
 * Bearer secrets are not kept in clear in the authorization server's database: whoever can read
 * `ehr-auth/auth.sqlite` (and its WAL) finds no access token, refresh token, authorization code or
 * client-credentials token they could present. The tokens still work: lookups hash the presented value.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import * as oidc from 'openid-client';
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import { expect } from '../support/expect.js';
import { AuthDatabase } from '../../src/ehr/auth/auth-database.js';
import { APP_SECRET, Browser, clientConfig, startHarness, type Harness } from '../ehr/auth/harness.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h?.close();
});

/** Every byte of the auth database's files (main file, WAL, shared memory), as latin1 text. */
function databaseBytes(folder: string): string {
  return fs
    .readdirSync(folder)
    .filter((f) => f.startsWith('auth.sqlite'))
    .map((f) => fs.readFileSync(path.join(folder, f)).toString('latin1'))
    .join('\n');
}

/** An EHR launch as the clinician app, keeping the authorization code it was given. */
async function launchKeepingCode() {
  const config = await clientConfig(h, 'periplan-app', APP_SECRET);
  const { launch } = await h.auth.createLaunch({
    patient: 'pat-a',
    practitioner: 'dr-jones',
    clientId: 'periplan-app',
  });
  const verifier = oidc.randomPKCECodeVerifier();
  const redirect = `${h.baseUrl}/app/callback`;
  const url = oidc.buildAuthorizationUrl(config, {
    redirect_uri: redirect,
    scope: 'launch openid fhirUser online_access patient/Patient.rs',
    launch,
    aud: h.fhirBaseUrl,
    code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    state: 'st',
  });
  const { url: back } = await new Browser().follow(url.href, redirect);
  const code = new URL(back).searchParams.get('code')!;
  const tokens = await oidc.authorizationCodeGrant(config, new URL(back), {
    pkceCodeVerifier: verifier,
    expectedState: 'st',
  });
  return { config, code, tokens };
}

describe('tokens at rest', () => {
  it('after a launch, a refresh and a client-credentials grant, no token string occurs in the database files, and each still works', async () => {
    const { config, code, tokens } = await launchKeepingCode();
    const refreshed = await oidc.refreshTokenGrant(config, tokens.refresh_token!);
    const module = h.auth.moduleClient;
    const cc = await fetch(`${h.issuer}/token`, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        authorization: `Basic ${Buffer.from(`${module.clientId}:${module.clientSecret}`).toString('base64')}`,
      },
      body: new URLSearchParams({
        grant_type: 'client_credentials',
        scope: 'system/Flag.crus',
        resource: h.fhirBaseUrl,
      }),
    });
    expect(cc.status).toBe(200);
    const backendToken = ((await cc.json()) as { access_token: string }).access_token;

    const secrets = {
      code,
      access: tokens.access_token,
      refresh: tokens.refresh_token!,
      refreshedAccess: refreshed.access_token,
      refreshedRefresh: refreshed.refresh_token!,
      backend: backendToken,
    };
    for (const [name, value] of Object.entries(secrets)) expect(value, name).toMatch(/^[A-Za-z0-9_-]{20,}$/);
    const bytes = databaseBytes(path.join(h.dataDir, 'ehr-auth'));
    expect(bytes.length).toBeGreaterThan(0);
    for (const [name, value] of Object.entries(secrets))
      expect(bytes.includes(value), `${name} in clear in auth.sqlite*`).toBe(false);

    // Presented, they are still recognised (lookup by hash), with their context.
    expect(await h.auth.verifyAccessToken(refreshed.access_token)).toMatchObject({
      clientId: 'periplan-app',
      patient: 'pat-a',
      scopes: ['patient/Patient.rs'],
    });
    expect(await h.auth.verifyAccessToken(backendToken)).toMatchObject({
      clientId: module.clientId,
      scopes: ['system/Flag.crus'],
    });
    const read = await fetch(`${h.fhirBaseUrl}/Patient/pat-a`, {
      headers: { authorization: `Bearer ${refreshed.access_token}` },
    });
    expect(read.status).toBe(200);
    // The used refresh token is rotated out; revocation still finds tokens by their value.
    await oidc.tokenRevocation(config, refreshed.access_token);
    expect(await h.auth.verifyAccessToken(refreshed.access_token)).toBeUndefined();
  });

  it('a database written with clear ids is rehashed on open, and its tokens keep working', async () => {
    const folder = fs.mkdtempSync(path.join(os.tmpdir(), 'auth-db-'));
    const file = path.join(folder, 'auth.sqlite');
    const token = 'legacy-access-token-0123456789abcdefghijklmnop';
    const old = new Database(file);
    old.exec(`CREATE TABLE oidc (model TEXT NOT NULL, id TEXT NOT NULL, payload TEXT NOT NULL, expires_at INTEGER,
      grant_id TEXT, uid TEXT, user_code TEXT, PRIMARY KEY (model, id));`);
    old
      .prepare('INSERT INTO oidc (model, id, payload, expires_at, grant_id) VALUES (?, ?, ?, NULL, ?)')
      .run('AccessToken', token, JSON.stringify({ jti: token, kind: 'AccessToken', grantId: 'g1' }), 'g1');
    old
      .prepare('INSERT INTO oidc (model, id, payload, expires_at) VALUES (?, ?, ?, NULL)')
      .run('Grant', 'g1', JSON.stringify({ jti: 'g1', kind: 'Grant' }));
    old.close();
    const db = new AuthDatabase(file);
    try {
      expect(await db.adapterFor('AccessToken').find(token)).toMatchObject({ jti: token, grantId: 'g1' });
      expect(await db.adapterFor('Grant').find('g1')).toMatchObject({ jti: 'g1' });
    } finally {
      db.close();
    }
    expect(databaseBytes(folder).includes(token)).toBe(false);
    fs.rmSync(folder, { recursive: true, force: true });
  });
});
