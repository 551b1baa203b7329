/**
 * `npm start`: load configuration and content (either wrong -> exit 1 with the reason), then serve.
 * Graceful shutdown on SIGTERM/SIGINT: stop accepting, let in-flight requests finish, then exit.
 */
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createLogger } from './api/log.js';
import { ConfigError, loadConfig, type Config } from './config/index.js';
import { ContentError, loadKnowledge } from './knowledge/index.js';
import { seedSandboxIntakes } from './sandbox/seed-intakes.js';
import { createModuleServer, type ModuleServer } from './server.js';

async function main(): Promise<void> {
  let config: Config;
  try {
    config = loadConfig(process.env);
  } catch (err) {
    if (err instanceof ConfigError) return fail(err.message);
    throw err;
  }
  const log = createLogger(config.LOG_LEVEL);

  let knowledge;
  try {
    knowledge = await loadKnowledge(config.contentDir);
  } catch (err) {
    if (err instanceof ContentError) return fail(`Invalid content in ${config.contentDir}:\n${err.message}`);
    throw err;
  }
  fs.mkdirSync(config.dataDir, { recursive: true });

  const server = http.createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.PORT, config.HOST, () => resolve());
  });
  // With PORT=0 the real port is known only now; links and the CapabilityStatement must carry it.
  const port = (server.address() as AddressInfo).port;
  if (!config.PUBLIC_URL) config = { ...config, PORT: port, publicUrl: config.publicUrl.replace(/:\d+$/, `:${port}`) };
  let composed: ModuleServer;
  try {
    composed = await createModuleServer(config, { knowledge, logger: log });
  } catch (err) {
    server.close();
    throw err;
  }
  server.on('request', composed.app);
  // The write path reads the EHR's CapabilityStatement over HTTP: with the embedded EHR that is this server.
  await composed.start();
  if (composed.ehr) {
    const ehr = composed.ehr;
    // A first look with something in it: three sandbox patients arrive with an intake already submitted.
    const seeded = await seedSandboxIntakes({ writePath: composed.writePath, contentDir: config.contentDir, readPatient: (id) => ehr.store.find('Patient', id) as fhir4.Patient | undefined });
    if (seeded > 0) log.info(`Sandbox: submitted ${seeded} example intakes for seeded patients.`);
  }
  // The first URL is the one to open; the FHIR API's is named for developers.
  const open = composed.ehr ? `${config.publicUrl}/ehr (sandbox EHR: pick a patient and launch the app)` : `${config.publicUrl}/app/ (EHR: ${composed.fhirBaseUrl})`;
  console.log(
    `PeriPlan back-pain module ready: ${open}. FHIR API: ${config.publicUrl}/fhir/metadata (${knowledge.all().length} content resources; data in ${config.dataDir})`,
  );

  // A stray rejection in some library must not take the server down for everyone; log it and carry on.
  process.on('unhandledRejection', (reason) => log.error('Unhandled promise rejection', reason));

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info(`${signal}: shutting down`);
    server.close(() => {
      composed
        .close()
        .catch((err: unknown) => log.error('Shutdown failed', err))
        .finally(() => process.exit(0));
    });
    server.closeIdleConnections();
    // In-flight requests get a few seconds; then we go regardless.
    setTimeout(() => process.exit(0), 5000).unref();
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

function fail(message: string): void {
  console.error(message);
  process.exit(1);
}

main().catch((err: unknown) => {
  console.error('Failed to start:', err instanceof Error ? (err.stack ?? err.message) : err);
  process.exit(1);
});
