/**
 * A real server for the clinician app's tests, composed the way the lead's server will be: the embedded
 * sandbox EHR at /ehr (reached over HTTP only), the write path, and the app router at /app, on port 0 (or a
 * given port, to "restart" the same server on the same data).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import express from 'express';
import compression from 'compression';
import helmet from 'helmet';
import { createClinicianApp } from '../../src/clinician-app/index.js';
import { createEmbeddedEhr, type EmbeddedEhr } from '../../src/ehr/index.js';
import { loadKnowledge } from '../../src/knowledge/index.js';
import { createWritePath, resolveProposal, type WritePath } from '../../src/submission/index.js';

export const APP_SECRET = 'clinician-app-test-secret-0123456789';
const REPO = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');

export interface AppHarness {
  baseUrl: string;
  port: number;
  dataDir: string;
  ehr: EmbeddedEhr;
  writePath: WritePath;
  /** Simulate a network outage of the EHR's FHIR API (connections are dropped). */
  setFhirOutage(down: boolean): void;
  app: Awaited<ReturnType<typeof createClinicianApp>>;
  close(options?: { keepData?: boolean }): Promise<void>;
}

export async function startAppHarness(options: { dataDir?: string; port?: number } = {}): Promise<AppHarness> {
  const dataDir = options.dataDir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'clinician-app-'));
  const server = express();
  // As the lead's createApp (src/app.ts) does: helmet and compression for everything; the app router sets its
  // own CSP, and compression leaves its pre-compressed assets alone.
  server.use(helmet());
  server.use(compression());
  const http: Server = await new Promise((resolve, reject) => {
    const s = server.listen(options.port ?? 0, '127.0.0.1', () => resolve(s));
    s.once('error', reject);
  });
  const port = (http.address() as AddressInfo).port;
  const baseUrl = `http://127.0.0.1:${port}`;
  const knowledge = await loadKnowledge(REPO);
  const ehr = await createEmbeddedEhr({ publicUrl: baseUrl, dataDir, appClientSecret: APP_SECRET });
  const writePath = createWritePath({
    knowledge,
    dataDir: path.join(dataDir, 'write-path'),
    fhirBaseUrl: ehr.fhirBaseUrl,
    moduleCredentials: ehr.auth.moduleClient,
    pollMs: 500,
    log: { info: () => undefined, warn: () => undefined, error: (m) => console.error(m) },
  });
  const app = await createClinicianApp({
    publicUrl: baseUrl,
    dataDir,
    knowledge,
    clientId: 'periplan-app',
    clientSecret: APP_SECRET,
    submission: writePath,
    resolveProposal,
    allowedIssuers: [ehr.fhirBaseUrl],
  });
  let outage = false;
  server.use('/ehr/fhir', (req, _res, next) => (outage && !req.path.startsWith('/.well-known') && req.path !== '/metadata' ? req.socket.destroy() : next()));
  server.use('/ehr', ehr.router);
  server.use('/app', app.router);
  await writePath.start();
  return {
    baseUrl,
    port,
    dataDir,
    ehr,
    writePath,
    app,
    setFhirOutage(down) {
      outage = down;
    },
    async close(closeOptions = {}) {
      http.closeAllConnections();
      await new Promise<void>((resolve) => http.close(() => resolve()));
      await writePath.stop();
      await app.close();
      await ehr.close();
      if (!closeOptions.keepData) fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** `npx tsx test/clinician-app/harness.ts` serves the sandbox with the app for manual checks. */
if (process.argv[1] && path.resolve(process.argv[1]) === path.resolve(new URL(import.meta.url).pathname)) {
  const h = await startAppHarness({ port: Number(process.env.PORT ?? 0) });
  console.log(`sandbox EHR launcher: ${h.baseUrl}/ehr`);
}
