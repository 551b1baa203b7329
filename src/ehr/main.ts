/**
 * `npm run ehr`: the sandbox EHR (FHIR store, SMART authorization server, launcher) on its own, so that
 * several module replicas share one FHIR server (each with FHIR_SERVER_URL = this EHR's `/ehr/fhir`) instead
 * of each starting an embedded one. APP_URL is the module's public URL (the load balancer's): the launcher
 * opens the app there and the app's redirect URI under it is the one registered.
 *
 * Same life as `npm start` (src/platform/lifecycle.ts): the port opens first (503 + Retry-After until the
 * store is open), `/healthz` and `/readyz` answer throughout, SIGTERM/SIGINT finish what is in flight and
 * close the store, exit 0 (bounded by SHUTDOWN_TIMEOUT_MS). See README "Beyond one machine".
 */
import compression from 'compression';
import express from 'express';
import helmet from 'helmet';
import { EhrConfigError, loadEhrConfig, type EhrConfig } from '../config/ehr.js';
import { fhirErrorHandler } from '../platform/http/errors.js';
import { requestLogger } from '../platform/http/request-log.js';
import { createLifecycle, openPort, stopOnSignals, type ReadinessChecks } from '../platform/lifecycle.js';
import { createLogger, type Logger } from '../platform/log.js';
import { DataIntegrityError, dataFolderGuard, ensurePrivateDir } from '../platform/sqlite.js';
import { notFound } from '../outcomes/index.js';
import { MODULE_CLIENT_ID } from './auth/backend-client.js';
import { createEmbeddedEhr, type EmbeddedEhr } from './index.js';

const STOP_LINGER_MS = 500;

async function main(): Promise<void> {
  process.umask(0o077);
  let config: EhrConfig;
  try {
    config = loadEhrConfig(process.env);
  } catch (err) {
    if (err instanceof EhrConfigError) return fail(err.message);
    throw err;
  }
  const log = createLogger(config.LOG_LEVEL);
  ensurePrivateDir(config.dataDir);

  const lifecycle = createLifecycle({ log, drainPrefixes: [] });
  const { server, port } = await openPort(lifecycle.handler, config.PORT, config.HOST);
  if (!config.PUBLIC_URL) config = { ...config, PORT: port, publicUrl: config.publicUrl.replace(/:\d+$/, `:${port}`) };
  process.on('unhandledRejection', (reason) => log.error('Unhandled promise rejection', reason));

  let ehr: EmbeddedEhr | undefined;
  const dataFolder = dataFolderGuard(config.dataDir);
  const started = (async () => {
    try {
      dataFolder.check();
      ehr = await createEmbeddedEhr({
        publicUrl: config.publicUrl,
        appUrl: config.appUrl,
        dataDir: config.dataDir,
        ...(config.SMART_CLIENT_SECRET ? { appClientSecret: config.SMART_CLIENT_SECRET } : {}),
        ...(config.MODULE_CLIENT_SECRET ? { moduleClientSecret: config.MODULE_CLIENT_SECRET } : {}),
      });
      dataFolder.record();
    } catch (err) {
      server.close();
      if (err instanceof DataIntegrityError) return fail(`Refusing to start: ${err.message}`);
      throw err;
    }
    const ready = ehr;
    lifecycle.markReady(ehrApp(ready, log), () => storeReadiness(ready));
    const secret = config.MODULE_CLIENT_SECRET
      ? 'MODULE_CLIENT_SECRET'
      : `in ${config.dataDir}/ehr/ehr-auth/module-client.json`;
    console.log(
      `Sandbox EHR ready: ${config.publicUrl}/ehr (launches open ${config.appUrl}/app/launch). FHIR base: ${ready.fhirBaseUrl} ` +
        `(module client ${MODULE_CLIENT_ID}, secret ${secret}; data in ${config.dataDir})`,
    );
  })();

  stopOnSignals({
    log,
    lifecycle,
    server,
    started,
    timeoutMs: config.SHUTDOWN_TIMEOUT_MS,
    lingerMs: STOP_LINGER_MS,
    close: async () => ehr?.close(),
  });
  await started;
}

/** The HTTP app: the EHR under /ehr, `/` redirecting there, an OperationOutcome 404 elsewhere. */
function ehrApp(ehr: EmbeddedEhr, log: Logger): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.use(helmet());
  app.use(compression());
  app.use(requestLogger(log));
  app.use('/ehr', ehr.router);
  app.get('/', (_req, res) => {
    res.redirect('/ehr');
  });
  app.use((req) => {
    throw notFound(`Nothing is served at ${req.path.slice(0, 200)}. The sandbox EHR is under /ehr (FHIR: /ehr/fhir).`);
  });
  app.use(fhirErrorHandler(log));
  return app;
}

/** /readyz: the FHIR store answers a read. */
async function storeReadiness(ehr: EmbeddedEhr): Promise<ReadinessChecks> {
  try {
    ehr.store.find('Patient', 'readiness-probe');
    return { store: { ok: true, detail: 'FHIR store answers' } };
  } catch (err) {
    return {
      store: {
        ok: false,
        detail: `The FHIR store does not answer: ${err instanceof Error ? err.message : String(err)}`,
      },
    };
  }
}

function fail(message: string): void {
  console.error(message);
  process.exit(1);
}

main().catch((err: unknown) => {
  console.error('Failed to start the EHR:', err instanceof Error ? (err.stack ?? err.message) : err);
  process.exit(1);
});
