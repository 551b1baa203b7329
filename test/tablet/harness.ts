/**
 * A real server for the tablet's tests: the embedded sandbox EHR at /ehr (reached over HTTP only), the write
 * path (module credential), and the tablet router at /tablet, on port 0.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import express from 'express';
import compression from 'compression';
import helmet from 'helmet';
import { createEmbeddedEhr, type EmbeddedEhr } from '../../src/ehr/index.js';
import { loadKnowledge, type KnowledgeBase } from '../../src/knowledge/index.js';
import { createWritePath, type WritePath } from '../../src/submission/index.js';
import { unauthorized } from '../../src/outcomes/index.js';
import { loadConfig } from '../../src/config/index.js';
import { createTablet, type Tablet, type TabletOptions } from '../../src/tablet/index.js';

const REPO = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');
export const STAFF: fhir4.Reference = { reference: 'Practitioner/sandbox-clinician', display: 'Sandbox clinician' };

/**
 * The knowledge base, loaded once per test file and shared by its harnesses (a file that starts several, each
 * with other tablet timers, does not read and index the same content again). Nothing changes it once loaded.
 */
let knowledgeLoaded: Promise<KnowledgeBase> | undefined;
const knowledgeOfThisFile = () => (knowledgeLoaded ??= loadKnowledge(REPO));

export interface TabletHarness {
  baseUrl: string;
  ehr: EmbeddedEhr;
  writePath: WritePath;
  tablet: Tablet;
  /** Simulate a network outage of the tablet API (connections are dropped); `pageToo`: of the page and its files as well. */
  setTabletOutage(down: boolean, options?: { pageToo?: boolean }): void;
  close(): Promise<void>;
}

/**
 * `now`: the tablet's clock (tests move it instead of sleeping); `trustProxy`: a TRUST_PROXY value, read by the
 * same configuration code as `npm start` and set as Express `trust proxy` as src/app.ts does.
 */
export async function startTabletHarness(
  options: Partial<
    Pick<TabletOptions, 'idleTimeoutMs' | 'codeTtlMs' | 'maxFailedClaims' | 'sessionTtlMs' | 'submitGraceMs' | 'now'>
  > & { port?: number; trustProxy?: string } = {},
): Promise<TabletHarness> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tablet-'));
  const server = express();
  server.set('trust proxy', loadConfig({ TRUST_PROXY: options.trustProxy }).TRUST_PROXY);
  server.use(helmet());
  server.use(compression());
  const http: Server = await new Promise((resolve, reject) => {
    const s = server.listen(options.port ?? 0, '127.0.0.1', () => resolve(s));
    s.once('error', reject);
  });
  const baseUrl = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
  const knowledge = await knowledgeOfThisFile();
  const ehr = await createEmbeddedEhr({ publicUrl: baseUrl, dataDir });
  const writePath = createWritePath({
    knowledge,
    dataDir: path.join(dataDir, 'write-path'),
    fhirBaseUrl: ehr.fhirBaseUrl,
    moduleCredentials: ehr.auth.moduleClient,
    pollMs: 500,
    log: { info: () => undefined, warn: () => undefined, error: (m) => console.error(m) },
  });
  const tablet = await createTablet({
    publicUrl: baseUrl,
    dataDir,
    knowledge,
    writePath,
    ...(options.idleTimeoutMs ? { idleTimeoutMs: options.idleTimeoutMs } : {}),
    ...(options.codeTtlMs ? { codeTtlMs: options.codeTtlMs } : {}),
    ...(options.maxFailedClaims ? { maxFailedClaims: options.maxFailedClaims } : {}),
    ...(options.sessionTtlMs ? { sessionTtlMs: options.sessionTtlMs } : {}),
    ...(options.submitGraceMs ? { submitGraceMs: options.submitGraceMs } : {}),
    ...(options.now ? { now: options.now } : {}),
    // Tests stand in for the clinician app's staff session with a fixed header.
    authorizeStaff: (req) => {
      if (req.header('x-test-staff') !== 'yes') throw unauthorized('Staff only.');
      return STAFF;
    },
  });
  let outage: 'none' | 'api' | 'all' = 'none';
  server.use('/tablet', (req, _res, next) =>
    outage === 'all' || (outage === 'api' && req.path.startsWith('/api/')) ? req.socket.destroy() : next(),
  );
  server.use('/ehr', ehr.router);
  server.use('/tablet', tablet.router);
  await writePath.start();
  return {
    baseUrl,
    ehr,
    writePath,
    tablet,
    setTabletOutage(down, { pageToo = false } = {}) {
      outage = !down ? 'none' : pageToo ? 'all' : 'api';
    },
    async close() {
      http.closeAllConnections();
      await new Promise<void>((resolve) => http.close(() => resolve()));
      await writePath.stop();
      await tablet.close();
      await ehr.close();
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** `npx tsx test/tablet/harness.ts` serves the tablet and prints a code for sandbox-patient-1. */
if (process.argv[1] && path.resolve(process.argv[1]) === path.resolve(new URL(import.meta.url).pathname)) {
  const h = await startTabletHarness({ port: Number(process.env.PORT ?? 0) });
  console.log(
    `tablet: ${h.baseUrl}/tablet/?device=bay-1  code: ${(await h.tablet.createHandoff({ patientId: 'sandbox-patient-1', patientName: 'Ana', staff: STAFF })).code}`,
  );
}
