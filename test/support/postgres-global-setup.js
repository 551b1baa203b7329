// jest globalSetup: one throwaway PostgreSQL cluster for the run of the `int` project (`npm test` and a targeted
// `npm run jest -- <file>` alike; the fast project has no global setup). Its URL reaches the test files (and the
// servers they spawn) as PERIPLAN_TEST_POSTGRES_URL: jest starts its workers after this runs, and they inherit
// the environment. Each file makes its own database in it (test/support/postgres-database.ts), so files run in
// parallel. Already set (a PostgreSQL of one's own): used as is, nothing is started.
//
// Plain JavaScript: jest loads global setup through `require`, outside its ESM transform, so the TypeScript
// cluster module is loaded with tsx.
import { tsImport } from 'tsx/esm/api';

// globalSetup and globalTeardown run in jest's own process; the cluster is handed over on globalThis.
export const CLUSTER = Symbol.for('periplan.test.postgres-cluster');

export default async function setup() {
  if (process.env.PERIPLAN_TEST_POSTGRES_URL) return;
  /** @type {typeof import('./postgres-cluster.ts')} */
  const { startPostgresCluster } = await tsImport('./postgres-cluster.ts', import.meta.url);
  const cluster = await startPostgresCluster();
  globalThis[CLUSTER] = cluster;
  process.env.PERIPLAN_TEST_POSTGRES_URL = cluster.url;
  if (process.env.PERIPLAN_TEST_POSTGRES_VERBOSE)
    console.log(`PostgreSQL test cluster at ${cluster.url}, started in ${cluster.startMs} ms`);
}
