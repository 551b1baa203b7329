/**
 * A database of its own for one test file (or one test) in the run's PostgreSQL cluster, so that files running
 * in parallel never see each other's rows. Fails loudly, naming the set-up script, when there is no cluster.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';

export function testPostgresUrl(): string {
  const url = process.env.PERIPLAN_TEST_POSTGRES_URL;
  if (!url) {
    throw new Error(
      'PERIPLAN_TEST_POSTGRES_URL is not set: the PostgreSQL test cluster was not started. Run the tests through jest (`npm test` or `npm run jest -- <file>`: its globalSetup starts it) after `bash scripts/setup-system.sh`.',
    );
  }
  return url;
}

/** CREATE DATABASE with a fresh name; returns its URL. */
export async function createTestDatabase(prefix = 't'): Promise<string> {
  const admin = testPostgresUrl();
  const name = `${prefix.replace(/[^a-z0-9_]/gi, '_').toLowerCase()}_${randomBytes(6).toString('hex')}`;
  const client = new pg.Client({ connectionString: admin });
  await client.connect();
  try {
    await client.query(`CREATE DATABASE ${name}`);
  } finally {
    await client.end();
  }
  const url = new URL(admin);
  url.pathname = `/${name}`;
  return url.toString();
}
