/**
 * `npm start`: load configuration and content (either wrong -> exit 1 with the reason), then serve.
 *
 * The port is open from the first moment, with src/platform/lifecycle.ts as its only request handler: while
 * the stores open and the EHR starts, requests get 503 + Retry-After (never silence); `/healthz` and `/readyz`
 * answer throughout. SIGTERM/SIGINT: refuse new work, finish what is in flight (its calls to the embedded
 * EHR included), stop the outbox sender, close the stores, exit 0 — within SHUTDOWN_TIMEOUT_MS, else exit 1.
 * See docs/operations.md.
 */
import fs from 'node:fs';
import { createLogger } from './platform/log.js';
import { ConfigError, loadConfig, type Config } from './config/index.js';
import { ContentError, loadKnowledge, type KnowledgeBase } from './knowledge/index.js';
import { FhirClient, httpStatusOf } from './platform/fhir-client/index.js';
import { createLifecycle, openPort, stopOnSignals, type ReadinessChecks } from './platform/lifecycle.js';
import { DataIntegrityError, dataFolderGuard, ensurePrivateDir } from './platform/sqlite.js';
import { seedSandboxIntakes } from './sandbox/seed-intakes.js';
import { createModuleServer, type ModuleServer } from './server.js';

/** Below this much free space in DATA_DIR, /readyz says not ready: writes are about to fail (SQLITE_FULL). */
const MIN_FREE_BYTES = 16 * 1024 * 1024;
const EHR_PROBE_TIMEOUT_MS = 2000;
/** After the work in flight is done, how long idle keep-alive connections may still bring a request (answered 503). */
const STOP_LINGER_MS = 500;

async function main(): Promise<void> {
  // Everything this process creates is private to its user (patients' answers, tokens, keys), whatever the
  // umask of the shell or supervisor that started it. The stores also chmod their files (platform/sqlite.ts).
  process.umask(0o077);
  let config: Config;
  try {
    config = loadConfig(process.env);
  } catch (err) {
    if (err instanceof ConfigError) return fail(err.message);
    throw err;
  }
  const log = createLogger(config.LOG_LEVEL);

  let knowledge: KnowledgeBase;
  try {
    knowledge = await loadKnowledge(config.contentDir);
  } catch (err) {
    if (err instanceof ContentError) return fail(`Invalid content in ${config.contentDir}:\n${err.message}`);
    throw err;
  }
  ensurePrivateDir(config.dataDir);

  const lifecycle = createLifecycle({ log, drainPrefixes: ['/ehr'] });
  // With PORT=0 the real port is known only now; links and the CapabilityStatement must carry it.
  const { server, port } = await openPort(lifecycle.handler, config.PORT, config.HOST);
  if (!config.PUBLIC_URL) config = { ...config, PORT: port, publicUrl: config.publicUrl.replace(/:\d+$/, `:${port}`) };

  // A stray rejection in some library must not take the server down for everyone; log it and carry on.
  process.on('unhandledRejection', (reason) => log.error('Unhandled promise rejection', reason));

  let composed: ModuleServer | undefined;
  const dataFolder = dataFolderGuard(config.dataDir);
  const started = (async () => {
    try {
      dataFolder.check();
      composed = await createModuleServer(config, { knowledge, logger: log });
      dataFolder.record();
    } catch (err) {
      server.close();
      if (err instanceof DataIntegrityError) return fail(`Refusing to start: ${err.message}`);
      throw err;
    }
    const app = composed.app;
    // The write path reads the EHR's CapabilityStatement over HTTP: with the embedded EHR that is this server,
    // so the EHR's routes are served from here on; everything else waits for the end of the start.
    lifecycle.serveEarly(app);
    await composed.start();
    if (composed.ehr) {
      const ehr = composed.ehr;
      // A first look with something in it: three sandbox patients arrive with an intake already submitted.
      const seeded = await seedSandboxIntakes({
        writePath: composed.writePath,
        contentDir: config.contentDir,
        readPatient: (id) => ehr.store.find('Patient', id) as fhir4.Patient | undefined,
      });
      if (seeded > 0) log.info(`Sandbox: submitted ${seeded} example intakes for seeded patients.`);
    }
    const ready = composed;
    lifecycle.markReady(app, () => readinessChecks(ready, config, knowledge));
    // The first URL is the one to open; the FHIR API's is named for developers.
    const open = composed.ehr
      ? `${config.publicUrl}/ehr (sandbox EHR: pick a patient and launch the app)`
      : `${config.publicUrl}/app/ (EHR: ${composed.fhirBaseUrl})`;
    console.log(
      `PeriPlan back-pain module ready: ${open}. FHIR API: ${config.publicUrl}/fhir/metadata (${knowledge.all().length} content resources; data in ${config.dataDir})`,
    );
  })();

  stopOnSignals({
    log,
    lifecycle,
    server,
    started,
    timeoutMs: config.SHUTDOWN_TIMEOUT_MS,
    lingerMs: STOP_LINGER_MS,
    // Submissions in flight and the background sender finish while the EHR routes still serve them.
    finishWork: async () => composed?.writePath.stop(),
    close: async () => composed?.close(),
  });
  await started;
}

/** What `/readyz` reports: each check with its figures; ready only when all pass. Run one after another. */
async function readinessChecks(
  composed: ModuleServer,
  config: Config,
  knowledge: KnowledgeBase,
): Promise<ReadinessChecks> {
  const checks: ReadinessChecks = {};
  const contentCount = knowledge.all().length;
  checks.content = {
    ok: contentCount > 0,
    detail: `${contentCount} content resources loaded`,
    resources: contentCount,
  };
  if (composed.state.postgres) checks.postgres = await postgresCheck(composed.state.postgres);
  Object.assign(checks, await storeChecks(composed));
  checks.disk = await diskCheck(config.dataDir);
  checks.ehr = await ehrCheck(composed.fhirBaseUrl);
  return checks;
}

type ReadinessCheck = ReadinessChecks[string];

const messageOf = (err: unknown) => (err instanceof Error ? err.message : String(err));

async function postgresCheck(postgres: NonNullable<ModuleServer['state']['postgres']>): Promise<ReadinessCheck> {
  const began = process.hrtime.bigint();
  try {
    await postgres.query('SELECT 1');
    const ms = Math.round(Number(process.hrtime.bigint() - began) / 1e6);
    return {
      ok: true,
      detail: `${postgres.safeUrl} answered in ${ms} ms (outbox, sessions, tablet, alerts)`,
      ms,
    };
  } catch (err) {
    return { ok: false, detail: `PostgreSQL does not answer: ${messageOf(err)}` };
  }
}

/** The outbox (and the EHR store, when embedded) answer; what the outbox holds when they do. */
async function storeChecks(composed: ModuleServer): Promise<{ stores: ReadinessCheck; outbox?: ReadinessCheck }> {
  try {
    const counts = await composed.writePath.outbox.counts();
    if (composed.ehr) composed.ehr.store.find('Patient', 'readiness-probe');
    const where = composed.state.postgres ? ' (PostgreSQL)' : '';
    return {
      stores: {
        ok: true,
        detail: composed.ehr ? `outbox${where} and EHR store answer` : `outbox${where} answers`,
      },
      outbox: {
        ok: true,
        detail: `${counts.pending} waiting to reach the EHR, ${counts.failed} refused by it`,
        waiting: counts.pending,
        failed: counts.failed,
      },
    };
  } catch (err) {
    return { stores: { ok: false, detail: `A store does not answer: ${messageOf(err)}` } };
  }
}

async function diskCheck(dataDir: string): Promise<ReadinessCheck> {
  try {
    const stats = await fs.promises.statfs(dataDir);
    const free = stats.bavail * stats.bsize;
    return {
      ok: free >= MIN_FREE_BYTES,
      detail:
        free >= MIN_FREE_BYTES
          ? `${Math.floor(free / 1048576)} MiB free in the data folder`
          : `Only ${Math.floor(free / 1024)} KiB free in the data folder: writes will fail (disk full).`,
      freeBytes: free,
    };
  } catch (err) {
    return { ok: false, detail: `Cannot read the free space of the data folder: ${messageOf(err)}` };
  }
}

async function ehrCheck(fhirBaseUrl: string): Promise<ReadinessCheck> {
  const started = process.hrtime.bigint();
  try {
    // Any answer is an answer (a status); only no answer at all is "cannot be reached".
    const status = await new FhirClient({ baseUrl: fhirBaseUrl, timeoutMs: EHR_PROBE_TIMEOUT_MS }).capabilities().then(
      () => 200,
      (err: unknown) => {
        const status = httpStatusOf(err);
        if (status === undefined) throw err;
        return status;
      },
    );
    const ok = status >= 200 && status < 300;
    const ms = Math.round(Number(process.hrtime.bigint() - started) / 1e6);
    return {
      ok,
      detail: ok ? `${fhirBaseUrl} answered in ${ms} ms` : `${fhirBaseUrl}/metadata answered ${status}`,
      status,
      ms,
    };
  } catch (err) {
    return {
      ok: false,
      detail: `${fhirBaseUrl} cannot be reached within ${EHR_PROBE_TIMEOUT_MS} ms (${messageOf(err)})`,
    };
  }
}

function fail(message: string): void {
  console.error(message);
  process.exit(1);
}

main().catch((err: unknown) => {
  console.error('Failed to start:', err instanceof Error ? (err.stack ?? err.message) : err);
  process.exit(1);
});
