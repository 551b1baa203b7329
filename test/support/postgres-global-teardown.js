// jest globalTeardown: stops the PostgreSQL cluster postgres-global-setup.js started (none if the run used a
// PostgreSQL of its own).
import { CLUSTER } from './postgres-global-setup.js';

export default async function teardown() {
  const cluster = globalThis[CLUSTER];
  if (!cluster) return;
  delete globalThis[CLUSTER];
  delete process.env.PERIPLAN_TEST_POSTGRES_URL;
  await cluster.stop();
}
