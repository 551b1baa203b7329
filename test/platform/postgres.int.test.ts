/**
 * The one PostgreSQL opener: versioned migrations (once, in order, also when replicas start together), refusal
 * of a schema newer than the code, and start refusals that name the problem. Real PostgreSQL (the run's cluster).
 */
import net from 'node:net';
import { afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import {
  openPostgres,
  PostgresStartError,
  type Migration,
  type PostgresDatabase,
} from '../../src/platform/postgres.js';
import { createTestDatabase, testPostgresUrl } from '../support/postgres-database.js';

const MIGRATIONS: Migration[] = [
  { version: 1, name: 'widgets', sql: 'CREATE TABLE widget (id INTEGER PRIMARY KEY)' },
  { version: 2, name: 'widget names', sql: 'ALTER TABLE widget ADD COLUMN name TEXT' },
];

describe('openPostgres', () => {
  let url: string;
  const open: PostgresDatabase[] = [];
  beforeAll(async () => {
    url = await createTestDatabase('platform');
  });
  afterEach(async () => {
    await Promise.all(open.splice(0).map((db) => db.close()));
  });
  const opened = async (u = url) => {
    const db = await openPostgres({ url: u });
    open.push(db);
    return db;
  };

  it('applies migrations once, in order, and records them; a second start applies nothing', async () => {
    const store = `s${Date.now().toString(36)}a`;
    const sql = (m: Migration) => ({ ...m, sql: m.sql.replaceAll('widget', `${store}_widget`) });
    const db = await opened();
    await db.migrate(store, MIGRATIONS.map(sql).reverse());
    await db.migrate(store, MIGRATIONS.map(sql));
    const rows = await db.query<{ version: number; name: string }>(
      'SELECT version, name FROM periplan_migrations WHERE store = $1 ORDER BY version',
      [store],
    );
    expect(rows.rows).toEqual([
      { version: 1, name: 'widgets' },
      { version: 2, name: 'widget names' },
    ]);
    await db.query(`INSERT INTO ${store}_widget (id, name) VALUES (1, 'a')`);
  });

  it('replicas starting at the same moment apply each migration exactly once (advisory lock)', async () => {
    const store = `s${Date.now().toString(36)}b`;
    // Not idempotent on purpose: a second run of version 1 would fail with "relation already exists".
    const migrations = MIGRATIONS.map((m) => ({ ...m, sql: m.sql.replaceAll('widget', `${store}_widget`) }));
    const replicas = await Promise.all(Array.from({ length: 6 }, () => opened()));
    await Promise.all(replicas.map((db) => db.migrate(store, migrations)));
    const rows = await replicas[0]!.query<{ n: string }>(
      'SELECT COUNT(*) AS n FROM periplan_migrations WHERE store = $1',
      [store],
    );
    expect(rows.rows[0]!.n).toBe('2');
  });

  it('refuses to start on tables a newer release migrated', async () => {
    const store = `s${Date.now().toString(36)}c`;
    const migrations = MIGRATIONS.map((m) => ({ ...m, sql: m.sql.replaceAll('widget', `${store}_widget`) }));
    const db = await opened();
    await db.migrate(store, migrations);
    await expect(db.migrate(store, migrations.slice(0, 1))).rejects.toThrow(
      /schema version 2, newer than this release knows \(1\)/,
    );
  });

  it('names the problem when there is no server, no such database, or a bad URL', async () => {
    const port = await new Promise<number>((resolve) => {
      const s = net.createServer().listen(0, '127.0.0.1', () => {
        const p = (s.address() as net.AddressInfo).port;
        s.close(() => resolve(p));
      });
    });
    const refused = openPostgres({ url: `postgres://someone:secret@127.0.0.1:${port}/x` });
    await expect(refused).rejects.toBeInstanceOf(PostgresStartError);
    await expect(refused).rejects.toThrow(
      /refuses connections[\s\S]*Database: postgres:\/\/someone:\*\*\*@127\.0\.0\.1/,
    );
    await expect(refused).rejects.not.toThrow(/secret/);

    const missing = new URL(testPostgresUrl());
    missing.pathname = '/no_such_database';
    await expect(openPostgres({ url: missing.toString() })).rejects.toThrow(
      /The database does not exist[\s\S]*CREATE DATABASE/,
    );
  });

  it('cancels a statement that runs past the statement timeout', async () => {
    const db = await openPostgres({ url, statementTimeoutMs: 200 });
    open.push(db);
    await expect(db.query('SELECT pg_sleep(5)')).rejects.toThrow(/statement timeout/);
  });
});
