/**
 * Test harness: a real Express server on port 0 with the SMART auth server mounted as the lead will
 * (`/ehr/auth`, `/ehr/fhir/.well-known/...`, launcher at `/ehr`), the real FHIR store router at
 * `/ehr/fhir` with `authorizeRequest` as its hook (two patients, a Flag each), and a cookie-keeping
 * "browser" that follows redirects and submits the sandbox sign-in form.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import express from 'express';
import helmet from 'helmet';
import * as oidc from 'openid-client';
import { createSmartAuth, sandboxClients, type SmartAuth, type SmartAuthOptions } from '../../../src/ehr/auth/index.js';
import { createLauncherRouter } from '../../../src/ehr/launcher/index.js';
import { createFhirStoreRouter, openFhirStore, type FhirStore } from '../../../src/ehr/store/index.js';

export const APP_SECRET = 'test-app-secret-0123456789abcdef';

export const directory = {
  async listPatients() {
    return [
      { id: 'pat-a', name: 'Alice Archer', birthDate: '1974-02-11' },
      { id: 'pat-b', name: 'Beatrice Brown', birthDate: '1970-09-30' },
    ];
  },
  async listPractitioners() {
    return [
      { id: 'dr-jones', name: 'Dr Emma Jones', role: 'GP' },
      { id: 'physio-lee', name: 'Sam Lee', role: 'Physiotherapist' },
    ];
  },
};

export interface Harness {
  app: express.Express;
  port: number;
  baseUrl: string;
  issuer: string;
  fhirBaseUrl: string;
  auth: SmartAuth;
  dataDir: string;
  /** `keepData`: leave the data folder for a restart (see restart.server.test.ts). */
  close(options?: { keepData?: boolean }): Promise<void>;
}

/** `port`: 0 (default) picks a free one; pass a previous harness's port to "restart" the same server. */
export async function startHarness(
  options: { ttl?: SmartAuthOptions['ttl']; dataDir?: string; port?: number } = {},
): Promise<Harness> {
  const app = express();
  // helmet's default Content-Security-Policy (no inline scripts), as the lead's server is expected to use.
  app.use(helmet());
  const server: Server = await new Promise((resolve, reject) => {
    const s = app.listen(options.port ?? 0, '127.0.0.1', () => resolve(s));
    s.once('error', reject);
  });
  const port = (server.address() as AddressInfo).port;
  const baseUrl = `http://127.0.0.1:${port}`;
  const dataDir = options.dataDir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'ehr-auth-'));
  const auth = await createSmartAuth({
    issuer: `${baseUrl}/ehr/auth`,
    fhirBaseUrl: `${baseUrl}/ehr/fhir`,
    dataDir,
    clients: sandboxClients(baseUrl, { appClientSecret: APP_SECRET }),
    directory,
    ttl: options.ttl,
  });
  app.use('/ehr/auth', auth.router);
  // The SMART configuration is public: mounted before the store, whose every route needs a token.
  app.use('/ehr/fhir', auth.wellKnownRouter);
  const store = openFhirStore({ dataDir, validate: false });
  seedStore(store);
  app.use(
    '/ehr/fhir',
    createFhirStoreRouter({
      store,
      authorize: auth.authorizeRequest,
      baseUrl: `${baseUrl}/ehr/fhir`,
      security: auth.capabilitySecurity(),
    }),
  );
  app.use('/ehr', createLauncherRouter({ auth }));
  return {
    app,
    port,
    baseUrl,
    issuer: `${baseUrl}/ehr/auth`,
    fhirBaseUrl: `${baseUrl}/ehr/fhir`,
    auth,
    dataDir,
    async close({ keepData = false } = {}) {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
      await auth.close();
      store.close();
      if (!keepData) fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** The directory's patients and practitioners as FHIR resources, and a Flag for each patient. */
function seedStore(store: FhirStore): void {
  for (const [id, family, given, birthDate] of [
    ['pat-a', 'Archer', 'Alice', '1974-02-11'],
    ['pat-b', 'Brown', 'Beatrice', '1970-09-30'],
  ] as const) {
    store.update({ resourceType: 'Patient', id, name: [{ family, given: [given] }], birthDate });
    store.update({
      resourceType: 'Flag',
      id: `flag-${id}`,
      status: 'active',
      code: { text: 'Back pain review' },
      subject: { reference: `Patient/${id}` },
    });
  }
  store.update({
    resourceType: 'Practitioner',
    id: 'dr-jones',
    name: [{ family: 'Jones', given: ['Emma'], prefix: ['Dr'] }],
  });
  store.update({ resourceType: 'Practitioner', id: 'physio-lee', name: [{ family: 'Lee', given: ['Sam'] }] });
}

/** openid-client configuration for one of the sandbox clients, found by OpenID discovery. */
export async function clientConfig(h: Harness, clientId: 'periplan-app' | 'periplan-tablet' | string, secret?: string) {
  const auth = secret ? oidc.ClientSecretBasic(secret) : oidc.None();
  return oidc.discovery(new URL(h.issuer), clientId, undefined, auth, { execute: [oidc.allowInsecureRequests] });
}

/** A minimal browser: keeps cookies (by name; paths ignored) and follows redirects one at a time. */
export class Browser {
  private readonly cookies = new Map<string, string>();

  async request(url: string, init: { method?: string; form?: Record<string, string> } = {}): Promise<Response> {
    const headers: Record<string, string> = { accept: 'text/html' };
    if (this.cookies.size) headers.cookie = [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
    let body: string | undefined;
    if (init.form) {
      headers['content-type'] = 'application/x-www-form-urlencoded';
      body = new URLSearchParams(init.form).toString();
    }
    const res = await fetch(url, { method: init.method ?? (body ? 'POST' : 'GET'), headers, body, redirect: 'manual' });
    for (const line of res.headers.getSetCookie()) {
      const [pair] = line.split(';');
      const eq = pair!.indexOf('=');
      const name = pair!.slice(0, eq).trim();
      const value = pair!.slice(eq + 1).trim();
      if (/expires=Thu, 01 Jan 1970/i.test(line) || value === '') this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
    return res;
  }

  /**
   * Follows redirects from `url` until one leaves the server for `stopAt` (the app's redirect URI) or a
   * page (non-redirect) is reached. Returns the final URL and the last response.
   */
  async follow(
    url: string,
    stopAt: string,
    init: { method?: string; form?: Record<string, string> } = {},
  ): Promise<{ url: string; res: Response }> {
    let current = url;
    let res = await this.request(current, init);
    for (let hops = 0; hops < 10 && res.status >= 300 && res.status < 400; hops++) {
      current = new URL(res.headers.get('location')!, current).href;
      if (current.startsWith(stopAt)) return { url: current, res };
      res = await this.request(current);
    }
    return { url: current, res };
  }
}

/** Extracts the sign-in form's action from the page HTML. */
export function formAction(html: string, baseUrl: string): string {
  const match = /<form method="post" action="([^"]+)">/.exec(html);
  if (!match) throw new Error(`no sign-in form in page:\n${html.slice(0, 500)}`);
  return new URL(
    match[1]!.replace(/&#(\d+);/g, (_m, c: string) => String.fromCharCode(Number(c))),
    baseUrl,
  ).href;
}

/** Completes an EHR launch for `launch` as the clinician app (openid-client) and returns the token response. */
export async function tokensForLaunch(h: Harness, launch: string, scope = 'launch openid fhirUser patient/Patient.rs') {
  const config = await clientConfig(h, 'periplan-app', APP_SECRET);
  const verifier = oidc.randomPKCECodeVerifier();
  const redirect = `${h.baseUrl}/app/callback`;
  const url = oidc.buildAuthorizationUrl(config, {
    redirect_uri: redirect,
    scope,
    launch,
    aud: h.fhirBaseUrl,
    code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    state: 'launch-state',
  });
  const { url: back } = await new Browser().follow(url.href, redirect);
  return oidc.authorizationCodeGrant(config, new URL(back), {
    pkceCodeVerifier: verifier,
    expectedState: 'launch-state',
  });
}
