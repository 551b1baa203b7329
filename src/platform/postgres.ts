/**
 * The one place that opens PostgreSQL (`DATABASE_URL`), for the module's own state when it is shared by
 * replicas: the outbox, the clinician app's sessions and drafts, the tablet's codes and sessions, the live
 * alerts. Every store gets the same treatment:
 *
 * - one `pg` pool per process, with a statement timeout (a stuck query fails instead of holding a request and a
 *   connection forever), an idle-in-transaction timeout and a connect timeout;
 * - versioned migrations, run at start by every store for itself (`migrate`), recorded in `periplan_migrations`
 *   (store, version). They run in one transaction under an advisory lock, so replicas starting at the same
 *   moment apply each migration once and none sees a half-made schema; a database already migrated further
 *   than this code knows stops the start (an older release must not write into a newer schema);
 * - start refusals that say what is wrong and where (no server, wrong password, no such database), like the
 *   SQLite opener's, instead of a stack trace from the driver.
 */
import pg from 'pg';

export interface Migration {
  /** 1, 2, 3 … in order; a released migration is never edited, a change is a new version. */
  version: number;
  name: string;
  sql: string;
}

export interface OpenPostgresOptions {
  url: string;
  /** Connections in the pool (default 10). */
  poolSize?: number;
  /** Longest a statement may run before the server cancels it, in ms (default 5000). */
  statementTimeoutMs?: number;
  /** Longest wait for a connection (new or from the pool), in ms (default 5000). */
  connectTimeoutMs?: number;
  /** Problems of idle connections (the pool replaces them); default: console.error. */
  onError?: (err: Error) => void;
}

export interface PostgresDatabase {
  readonly pool: pg.Pool;
  /** The URL without its password, for messages. */
  readonly safeUrl: string;
  readonly statementTimeoutMs: number;
  query<R extends pg.QueryResultRow = pg.QueryResultRow>(sql: string, params?: unknown[]): Promise<pg.QueryResult<R>>;
  /** `fn` in one transaction on one connection: committed when it resolves, rolled back when it throws. */
  transaction<T>(fn: (client: pg.PoolClient) => Promise<T>): Promise<T>;
  /** Apply the store's migrations not yet applied (idempotent; safe when replicas start together). */
  migrate(store: string, migrations: readonly Migration[]): Promise<void>;
  /** A connection of its own, outside the pool's statement timeout rules, for LISTEN (the caller releases it). */
  connectDedicated(): Promise<pg.Client>;
  close(): Promise<void>;
}

/** PostgreSQL is not what the module needs; the server must not start on it. */
export class PostgresStartError extends Error {
  constructor(
    readonly safeUrl: string,
    problem: string,
    hint: string,
  ) {
    super(
      `${problem}\n  Database: ${safeUrl}\n  The server will not start without it: the outbox, sessions and tablet codes live there.\n  ${hint}`,
    );
    this.name = 'PostgresStartError';
  }
}

/** One advisory lock key for every store's migrations (any constant other code of this database does not use). */
const MIGRATION_LOCK = 727_372_001;

export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(an unparseable URL)';
  }
}

function explain(err: unknown, safeUrl: string): PostgresStartError {
  const code = (err as { code?: unknown }).code;
  const message = err instanceof Error ? err.message : String(err);
  switch (code) {
    case 'ECONNREFUSED':
      return new PostgresStartError(
        safeUrl,
        `PostgreSQL refuses connections (${message}).`,
        'Start PostgreSQL, or correct the host and port in DATABASE_URL.',
      );
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return new PostgresStartError(
        safeUrl,
        `The host of DATABASE_URL cannot be resolved (${message}).`,
        'Correct the host in DATABASE_URL.',
      );
    case '28P01':
    case '28000':
      return new PostgresStartError(
        safeUrl,
        `PostgreSQL refused the credentials (${message}).`,
        "Correct the user and password in DATABASE_URL, or the server's pg_hba.conf.",
      );
    case '3D000':
      return new PostgresStartError(
        safeUrl,
        `The database does not exist (${message}).`,
        'Create it (createdb, or CREATE DATABASE) and give the user in DATABASE_URL the right to create tables in it.',
      );
    case '42501':
      return new PostgresStartError(
        safeUrl,
        `The user lacks a privilege the module needs (${message}).`,
        'Grant it CREATE and USAGE on the schema (the module creates its own tables at start).',
      );
    default:
      if (/timeout/i.test(message))
        return new PostgresStartError(
          safeUrl,
          `PostgreSQL did not answer in time (${message}).`,
          'Check that the server is up and reachable from here.',
        );
      return new PostgresStartError(
        safeUrl,
        `PostgreSQL cannot be used: ${message}${typeof code === 'string' ? ` (${code})` : ''}.`,
        "Check DATABASE_URL and the server's log.",
      );
  }
}

/** `fn` in one transaction on one pooled connection: committed when it resolves, rolled back when it throws. */
async function inTransaction<T>(pool: pg.Pool, fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    const result = await fn(client);
    await client.query('COMMIT');
    return result;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    client.release();
  }
}

/** Inside the migration transaction: apply the store's migrations not yet recorded, in version order. */
async function applyMigrations(
  client: pg.PoolClient,
  safeUrl: string,
  store: string,
  migrations: readonly Migration[],
): Promise<void> {
  const sorted = [...migrations].sort((a, b) => a.version - b.version);
  const known = sorted.at(-1)?.version ?? 0;
  // Held until COMMIT: a second replica waits here, then finds everything applied.
  await client.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
  await client.query(`CREATE TABLE IF NOT EXISTS periplan_migrations (
            store TEXT NOT NULL, version INTEGER NOT NULL, name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now(),
            PRIMARY KEY (store, version))`);
  const applied = await client.query<{ version: number }>('SELECT version FROM periplan_migrations WHERE store = $1', [
    store,
  ]);
  const done = new Set(applied.rows.map((r) => r.version));
  const newest = Math.max(0, ...done);
  if (newest > known) {
    throw new PostgresStartError(
      safeUrl,
      `The ${store} tables are at schema version ${newest}, newer than this release knows (${known}): a newer release migrated them.`,
      'Run the newer release, or restore the database from a backup taken before the upgrade.',
    );
  }
  for (const m of sorted) {
    if (done.has(m.version)) continue;
    await client.query(m.sql);
    await client.query('INSERT INTO periplan_migrations (store, version, name) VALUES ($1, $2, $3)', [
      store,
      m.version,
      m.name,
    ]);
  }
}

/** Open the pool and check that the database answers; throws PostgresStartError when it must not be used. */
export async function openPostgres(options: OpenPostgresOptions): Promise<PostgresDatabase> {
  const safeUrl = redactUrl(options.url);
  const statementTimeoutMs = options.statementTimeoutMs ?? 5000;
  const connectTimeoutMs = options.connectTimeoutMs ?? 5000;
  const clientConfig: pg.ClientConfig = {
    connectionString: options.url,
    connectionTimeoutMillis: connectTimeoutMs,
    application_name: 'periplan-module',
  };
  const pool = new pg.Pool({
    ...clientConfig,
    max: options.poolSize ?? 10,
    statement_timeout: statementTimeoutMs,
    // A transaction left open by a stalled request must not hold row locks (outbox claims) indefinitely.
    idle_in_transaction_session_timeout: Math.max(10_000, statementTimeoutMs * 2),
  });
  // Without a listener an idle connection's error (the server restarted) would end the process.
  pool.on(
    'error',
    options.onError ??
      ((err) => console.error('postgres: an idle connection failed (the pool replaces it):', err.message)),
  );
  try {
    await pool.query('SELECT 1');
  } catch (err) {
    await pool.end().catch(() => undefined);
    throw explain(err, safeUrl);
  }

  const transaction = <T>(fn: (client: pg.PoolClient) => Promise<T>): Promise<T> => inTransaction(pool, fn);

  return {
    pool,
    safeUrl,
    statementTimeoutMs,
    query: (sql, params) => pool.query(sql, params),
    transaction,
    async migrate(store, migrations) {
      try {
        await transaction((client) => applyMigrations(client, safeUrl, store, migrations));
      } catch (err) {
        if (err instanceof PostgresStartError) throw err;
        throw explain(err, safeUrl);
      }
    },
    async connectDedicated() {
      const client = new pg.Client(clientConfig);
      client.on('error', () => undefined);
      await client.connect();
      return client;
    },
    async close() {
      await pool.end();
    },
  };
}
