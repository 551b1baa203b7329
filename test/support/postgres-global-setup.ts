/**
 * vitest globalSetup: one throwaway PostgreSQL cluster for the whole run (`npm test` and a targeted
 * `npx vitest run …` alike). Its URL reaches the test files (and the servers they spawn) as
 * PERIPLAN_TEST_POSTGRES_URL; each file makes its own database in it (test/support/postgres-database.ts), so
 * files run in parallel. Already set (a PostgreSQL of one's own): used as is, nothing is started.
 */
import { startPostgresCluster, type PostgresCluster } from './postgres-cluster.js';

let cluster: PostgresCluster | undefined;

export async function setup(): Promise<void> {
  if (process.env.PERIPLAN_TEST_POSTGRES_URL) return;
  cluster = await startPostgresCluster();
  process.env.PERIPLAN_TEST_POSTGRES_URL = cluster.url;
  if (process.env.PERIPLAN_TEST_POSTGRES_VERBOSE)
    console.log(`PostgreSQL test cluster at ${cluster.url}, started in ${cluster.startMs} ms`);
}

export async function teardown(): Promise<void> {
  await cluster?.stop();
  cluster = undefined;
}
