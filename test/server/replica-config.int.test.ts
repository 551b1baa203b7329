/**
 * The settings replicas need, validated once at start like every key: the module's OUTBOX_LEASE_MS, and the
 * sandbox EHR run on its own (`npm run ehr`, src/config/ehr.ts), which registers the app at APP_URL — the load
 * balancer's URL — rather than at its own. The whole set behind HAProxy: test/replicas/replicas.int.test.ts.
 */
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { afterAll, describe, expect, it } from '@jest/globals';
import { loadEhrConfig } from '../../src/config/ehr.js';
import { loadConfig } from '../../src/config/index.js';
import { createEmbeddedEhr, type EmbeddedEhr } from '../../src/ehr/index.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

describe('OUTBOX_LEASE_MS', () => {
  it('is unset by default (the write path leases 4 × its timeout + 5 s), taken in milliseconds, refused below 1 s naming the key', () => {
    expect(loadConfig({}).OUTBOX_LEASE_MS).toBeUndefined();
    expect(loadConfig({ OUTBOX_LEASE_MS: '8000' }).OUTBOX_LEASE_MS).toBe(8000);
    expect(() => loadConfig({ OUTBOX_LEASE_MS: '500' })).toThrow(/OUTBOX_LEASE_MS/);
    expect(() => loadConfig({ OUTBOX_LEASE_MS: 'soon' })).toThrow(/OUTBOX_LEASE_MS/);
  });
});

describe('the sandbox EHR on its own', () => {
  it('needs APP_URL, and says so; defaults for the rest', () => {
    expect(() => loadEhrConfig({})).toThrow(/APP_URL/);
    expect(() => loadEhrConfig({ APP_URL: 'not a url' })).toThrow(/APP_URL/);
    const config = loadEhrConfig({ APP_URL: 'https://periplan.clinic.example/' });
    expect(config).toMatchObject({
      PORT: 3100,
      HOST: '127.0.0.1',
      appUrl: 'https://periplan.clinic.example',
      publicUrl: 'http://127.0.0.1:3100',
    });
    expect(config.dataDir).toBe(path.resolve('./data-ehr'));
    expect(() => loadEhrConfig({ APP_URL: 'http://127.0.0.1:8080', SMART_CLIENT_SECRET: 'short' })).toThrow(
      /SMART_CLIENT_SECRET/,
    );
  });

  it('registers the app at APP_URL: launches open APP_URL/app/launch with its own FHIR base as iss; only APP_URL/app/callback is a redirect URI', async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ehr-alone-'));
    const app = express();
    const server = http.createServer(app);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const ehrUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const appUrl = 'http://127.0.0.1:18080';
    const ehr: EmbeddedEhr = await createEmbeddedEhr({
      publicUrl: ehrUrl,
      appUrl,
      dataDir,
      appClientSecret: 'replica-config-app-secret-0123',
    });
    app.use('/ehr', ehr.router);
    cleanups.push(async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await ehr.close();
      fs.rmSync(dataDir, { recursive: true, force: true });
    });

    const created = await fetch(`${ehrUrl}/ehr/launches`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ practitioner: 'sandbox-clinician', patient: 'sandbox-patient-1', app: 'periplan-app' }),
    });
    expect(created.status).toBe(201);
    const launch = new URL(((await created.json()) as { url: string }).url);
    expect(`${launch.origin}${launch.pathname}`).toBe(`${appUrl}/app/launch`);
    expect(launch.searchParams.get('iss')).toBe(`${ehrUrl}/ehr/fhir`);

    // The authorization server sends the browser back only to the app's callback at APP_URL.
    const authorize = (redirect: string) =>
      fetch(
        `${ehrUrl}/ehr/auth/auth?${new URLSearchParams({ client_id: 'periplan-app', response_type: 'code', redirect_uri: redirect, scope: 'openid launch', state: 's', code_challenge: 'x'.repeat(43), code_challenge_method: 'S256', aud: `${ehrUrl}/ehr/fhir`, launch: launch.searchParams.get('launch')! })}`,
        { redirect: 'manual' },
      );
    const atApp = await authorize(`${appUrl}/app/callback`);
    expect(atApp.status).toBe(303);
    expect(atApp.headers.get('location') ?? '').not.toContain('error=');
    const atEhr = await authorize(`${ehrUrl}/app/callback`);
    expect(atEhr.status).toBeGreaterThanOrEqual(400);
  });
});
