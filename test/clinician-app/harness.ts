/**
 * A real server for the clinician app's tests, composed exactly as `npm start` composes it (createModuleServer
 * from src/server.ts): the embedded sandbox EHR at /ehr (reached over HTTP only), the write path, the tablet
 * at /tablet and the app at /app, on port 0 (or a given port, to "restart" the same server on the same data).
 */
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { createLogger } from '../../src/platform/log.js';
import { loadConfig } from '../../src/config/index.js';
import type { EmbeddedEhr } from '../../src/ehr/index.js';
import { loadKnowledge, type KnowledgeBase } from '../../src/knowledge/index.js';
import { createModuleServer, type ModuleServer } from '../../src/server.js';
import type { WritePath } from '../../src/submission/index.js';
import { startPersonalityProxy, type Personality } from '../support/fhir-personality.js';

/** A fixed app secret (not a random one per start) so that a restarted server accepts the same sessions. */
export const APP_SECRET = 'clinician-app-test-secret-0123456789';
const REPO = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');

/**
 * The repository's knowledge, loaded once per test file however many harnesses it starts: its resources are
 * deep-frozen, so sharing it cannot carry one harness's changes into another, and each load costs ≈0.5 s.
 */
let repoKnowledge: Promise<KnowledgeBase> | undefined;

export interface AppHarness {
  baseUrl: string;
  port: number;
  dataDir: string;
  ehr: EmbeddedEhr;
  writePath: WritePath;
  tablet: ModuleServer['tablet'];
  /** Simulate a network outage of the EHR's FHIR API (connections are dropped). */
  setFhirOutage(down: boolean): void;
  /** Watch every request that reaches the server (method and URL, as it arrives); returns the unsubscribe. */
  onRequest(listener: (req: http.IncomingMessage) => void): () => void;
  app: ModuleServer['clinicianApp'];
  close(options?: { keepData?: boolean }): Promise<void>;
}

/** Marks the personality proxy's own requests, so that the harness hands them to the app instead of the proxy. */
const FROM_PERSONALITY = 'x-test-fhir-personality';

/**
 * `personality`: every request to the EHR's FHIR API (the app's reads, the write path, the tests' own) goes
 * through a FHIR server personality proxy (test/support/fhir-personality.ts) first. `knowledge`: the knowledge base to
 * serve (default: the repository's content, loaded here).
 */
export async function startAppHarness(
  options: {
    dataDir?: string;
    port?: number;
    now?: () => Date;
    env?: Record<string, string>;
    knowledge?: KnowledgeBase;
    personality?: Personality;
  } = {},
): Promise<AppHarness> {
  const dataDir = options.dataDir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'clinician-app-'));
  const server = http.createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', resolve);
  });
  const port = (server.address() as AddressInfo).port;
  const baseUrl = `http://127.0.0.1:${port}`;
  const config = loadConfig({
    PORT: String(port),
    DATA_DIR: dataDir,
    CONTENT_DIR: REPO,
    LOG_LEVEL: 'silent',
    SMART_CLIENT_SECRET: APP_SECRET,
    ...options.env,
  });
  const composed = await createModuleServer(config, {
    knowledge: options.knowledge ?? (await (repoKnowledge ??= loadKnowledge(REPO))),
    logger: createLogger('silent'),
    ...(options.now ? { now: options.now } : {}),
  });
  let outage = false;
  const listeners = new Set<(req: http.IncomingMessage) => void>();
  const proxy = options.personality
    ? await startPersonalityProxy(`${baseUrl}/ehr/fhir`, options.personality, {
        upstreamHeaders: { [FROM_PERSONALITY]: '1' },
      })
    : undefined;
  server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
    // The outage cuts the EHR's FHIR API only; its discovery documents stay up (as a flaky network would).
    const url = req.url ?? '';
    for (const listener of listeners) listener(req);
    if (
      outage &&
      url.startsWith('/ehr/fhir') &&
      !url.startsWith('/ehr/fhir/.well-known') &&
      !url.startsWith('/ehr/fhir/metadata')
    )
      return req.socket.destroy();
    if (proxy && url.startsWith('/ehr/fhir') && !req.headers[FROM_PERSONALITY]) {
      const upstream = http.request(
        { host: '127.0.0.1', port: proxy.port, method: req.method, path: url, headers: req.headers },
        (answer) => {
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(res);
        },
      );
      upstream.on('error', () => req.socket.destroy());
      req.pipe(upstream);
      return;
    }
    composed.app(req, res);
  });
  await composed.start();
  return {
    baseUrl,
    port,
    dataDir,
    ehr: composed.ehr!,
    writePath: composed.writePath,
    tablet: composed.tablet,
    app: composed.clinicianApp,
    setFhirOutage(down) {
      outage = down;
    },
    onRequest(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    async close(closeOptions = {}) {
      await proxy?.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await composed.close();
      if (!closeOptions.keepData) fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** `npx tsx test/clinician-app/harness.ts` serves the sandbox with the app for manual checks. */
if (process.argv[1] && path.resolve(process.argv[1]) === path.resolve(new URL(import.meta.url).pathname)) {
  const h = await startAppHarness({ port: Number(process.env.PORT ?? 0) });
  console.log(`sandbox EHR launcher: ${h.baseUrl}/ehr`);
}
