/**
 * The module's backend credential on the sandbox authorization server: client credentials for
 * `periplan-module`, least-privilege system/ scopes only, the secret persisted under the data folder.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { MODULE_CLIENT_ID, MODULE_SCOPES } from '../../src/ehr/auth/index.js';
import { clientCredentialsTokenSource } from '../../src/submission/module-token.js';
import { startEmbeddedEhr, tmpDir } from './support/servers.js';

type Ehr = Awaited<ReturnType<typeof startEmbeddedEhr>>;
let ehr: Ehr;
const dataDir = tmpDir('module-credential-');

beforeAll(async () => {
  ehr = await startEmbeddedEhr({ dataDir });
});
afterAll(async () => {
  await ehr?.close();
});

async function tokenRequest(clientId: string, secret: string, scope: string) {
  const res = await fetch(`${ehr.ehr.auth.issuer}/token`, {
    method: 'POST',
    headers: {
      authorization: `Basic ${Buffer.from(`${clientId}:${secret}`).toString('base64')}`,
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: new URLSearchParams({ grant_type: 'client_credentials', scope }),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

describe('module credential (client credentials)', () => {
  it('is advertised in the SMART configuration', async () => {
    const config = (await (await fetch(`${ehr.fhirBaseUrl}/.well-known/smart-configuration`)).json()) as {
      grant_types_supported: string[];
    };
    expect(config.grant_types_supported).toContain('client_credentials');
  });

  it('grants only its allow-list of system/ scopes, whatever is asked', async () => {
    const { status, body } = await tokenRequest(
      MODULE_CLIENT_ID,
      ehr.moduleCredentials!.clientSecret,
      [...MODULE_SCOPES, 'system/Patient.rs', 'system/*.cruds', 'user/Flag.rs'].join(' '),
    );
    expect(status).toBe(200);
    expect(String(body.scope).split(' ').sort()).toEqual([...MODULE_SCOPES].sort());
    const access = await ehr.ehr.auth.verifyAccessToken(String(body.access_token));
    expect(access).toEqual({ clientId: MODULE_CLIENT_ID, scopes: expect.arrayContaining([...MODULE_SCOPES]) });
    expect(access?.patient).toBeUndefined();
  });

  it('the store accepts its system/ scopes and refuses anything else (no Patient access)', async () => {
    const token = await clientCredentialsTokenSource({
      fhirBaseUrl: ehr.fhirBaseUrl,
      ...ehr.moduleCredentials!,
    }).getToken();
    const auth = { authorization: `Bearer ${token}` };
    expect((await fetch(`${ehr.fhirBaseUrl}/Flag?_count=1`, { headers: auth })).status).toBe(200);
    expect((await fetch(`${ehr.fhirBaseUrl}/Patient?_count=1`, { headers: auth })).status).toBe(403);
    const del = await fetch(`${ehr.fhirBaseUrl}/Flag/none`, { method: 'DELETE', headers: auth });
    expect(del.status).toBe(403);
  });

  it('refuses a wrong secret, and user-facing apps cannot use client credentials', async () => {
    expect((await tokenRequest(MODULE_CLIENT_ID, 'wrong-secret', MODULE_SCOPES.join(' '))).body.error).toBe(
      'invalid_client',
    );
    const app = await tokenRequest('periplan-tablet', '', 'system/Flag.rs');
    expect(app.status).toBeGreaterThanOrEqual(400);
  });

  it('keeps the generated secret under the data folder (0600), so a restart keeps it', async () => {
    const file = path.join(dataDir, 'ehr', 'ehr-auth', 'module-client.json');
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    const secret = ehr.moduleCredentials!.clientSecret;
    await ehr.close();
    ehr = await startEmbeddedEhr({ dataDir });
    expect(ehr.moduleCredentials!.clientSecret).toBe(secret);
    expect((await tokenRequest(MODULE_CLIENT_ID, secret, 'system/Flag.crus')).status).toBe(200);
  });
});
