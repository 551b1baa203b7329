/**
 * The whole server (`node src/main.ts`, as under a supervisor) started with DATABASE_URL: a `$submit` is queued
 * in the PostgreSQL outbox and delivered to the EHR, `/readyz` reports PostgreSQL and the outbox backlog read
 * from it, and a DATABASE_URL that cannot be used stops the start with a message that says why. Real
 * PostgreSQL (the run's cluster), real HTTP.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { loadConfig } from '../../src/config/index.js';
import { MODULE_CLIENT_ID, MODULE_SCOPES } from '../../src/ehr/auth/backend-client.js';
import { clientCredentialsTokenSource } from '../../src/submission/module-token.js';
import { submissionFor } from '../submission/support/fixtures.js';
import { PROJECT_ROOT } from '../api/support/app.js';
import { createTestDatabase } from '../support/postgres-database.js';

const MODULE_SECRET = 'postgres-state-test-module-secret-0123';
const children = new Set<ChildProcess>();
const temps: string[] = [];
let databaseUrl: string;
let db: pg.Client;

beforeAll(async () => {
  databaseUrl = await createTestDatabase('server');
  db = new pg.Client({ connectionString: databaseUrl });
  await db.connect();
});
afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  for (const d of temps) fs.rmSync(d, { recursive: true, force: true });
  await db?.end();
});

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

function startServer(env: Record<string, string>) {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'periplan-pg-server-'));
  temps.push(dataDir);
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    cwd: PROJECT_ROOT,
    env: { ...process.env, LOG_LEVEL: 'warn', MODULE_CLIENT_SECRET: MODULE_SECRET, DATA_DIR: dataDir, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  let out = '';
  child.stdout!.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr!.on('data', (b: Buffer) => (out += b.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, dataDir, output: () => out, exited };
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 90_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

interface Readiness {
  status: string;
  checks: Record<string, { ok: boolean; detail: string; waiting?: number; failed?: number }>;
}

describe('DATABASE_URL', () => {
  it('is validated: a postgres:// URL is taken, anything else is refused naming the key', () => {
    expect(loadConfig({ DATABASE_URL: 'postgres://module:secret@db.example:5432/periplan' }).DATABASE_URL).toBe(
      'postgres://module:secret@db.example:5432/periplan',
    );
    expect(loadConfig({ DATABASE_URL: 'postgresql://module@db.example/periplan' }).DATABASE_STATEMENT_TIMEOUT_MS).toBe(
      5000,
    );
    expect(loadConfig({}).DATABASE_URL).toBeUndefined();
    expect(() => loadConfig({ DATABASE_URL: 'mysql://db.example/periplan' })).toThrow(
      /DATABASE_URL: expected postgres:\/\//,
    );
    expect(() => loadConfig({ DATABASE_URL: 'periplan' })).toThrow(/DATABASE_URL/);
  });

  it('the whole server keeps its outbox in PostgreSQL: $submit is queued there and delivered to the EHR; /readyz reports PostgreSQL and the backlog from it', async () => {
    const port = await freePort();
    const server = startServer({ PORT: String(port), DATABASE_URL: databaseUrl });
    const base = `http://127.0.0.1:${port}`;
    const readyz = async () => (await (await fetch(`${base}/readyz`)).json()) as Readiness;
    try {
      await until('ready', async () => ((await fetch(`${base}/readyz`)).status === 200 ? true : undefined)).catch(
        (err: Error) => {
          throw new Error(`${err.message}; the server said:\n${server.output()}`);
        },
      );
      const ready = await readyz();
      expect(ready.checks.postgres).toMatchObject({ ok: true, detail: expect.stringContaining(`127.0.0.1`) });
      expect(ready.checks.stores?.detail).toMatch(/outbox \(PostgreSQL\)/);
      expect(ready.checks.outbox).toMatchObject({ ok: true, waiting: 0, failed: 0 });

      const fhirBaseUrl = `${base}/ehr/fhir`;
      const token = await clientCredentialsTokenSource({
        fhirBaseUrl,
        clientId: MODULE_CLIENT_ID,
        clientSecret: MODULE_SECRET,
        scopes: MODULE_SCOPES,
      }).getToken();
      const { response } = submissionFor('RF-01', 'sandbox-patient-1', 1);
      const key = `${response.identifier!.system}|${response.identifier!.value}`;
      const res = await fetch(`${base}/fhir/QuestionnaireResponse/$submit`, {
        method: 'POST',
        headers: { 'content-type': 'application/fhir+json', authorization: `Bearer ${token}` },
        body: JSON.stringify(response),
      });
      expect([201, 202]).toContain(res.status);
      // The entry is in PostgreSQL (not in a SQLite file of the data folder) and reaches the EHR.
      const row = await until(
        'sent',
        async () => {
          const r = (
            await db.query<{ status: string; attempts: number }>('SELECT status, attempts FROM outbox WHERE key = $1', [
              key,
            ])
          ).rows[0];
          return r?.status === 'sent' ? r : undefined;
        },
        30_000,
      );
      expect(row.attempts).toBeGreaterThanOrEqual(1);
      expect(fs.existsSync(path.join(server.dataDir, 'write-path', 'outbox.sqlite'))).toBe(false);
      const found = (await (
        await fetch(`${fhirBaseUrl}/QuestionnaireResponse?identifier=${encodeURIComponent(key)}`, {
          headers: { authorization: `Bearer ${token}` },
        })
      ).json()) as fhir4.Bundle;
      expect(found.entry).toHaveLength(1);

      // A backlog another replica left (an entry leased far ahead, so no sender takes it now) is what /readyz reports.
      await db.query(
        'INSERT INTO outbox (key, bundle, created_at, next_attempt_at) VALUES (\'urn:test:backlog|1\', \'{"resourceType":"Bundle","type":"transaction"}\', now(), now() + interval \'1 day\')',
      );
      await db.query(
        "INSERT INTO outbox (key, bundle, status, created_at, next_attempt_at, last_error) VALUES ('urn:test:backlog|2', '{}', 'failed', now(), now(), 'refused')",
      );
      expect((await readyz()).checks.outbox).toMatchObject({ ok: true, waiting: 1, failed: 1 });

      server.child.kill('SIGTERM');
      expect(await server.exited).toBe(0);
    } finally {
      if (server.child.exitCode === null) server.child.kill('SIGKILL');
    }
    // The migrations ran once and are recorded.
    const migrations = await db.query<{ store: string; version: number }>(
      'SELECT store, version FROM periplan_migrations ORDER BY store',
    );
    expect(migrations.rows).toEqual([
      { store: 'clinician-app', version: 1 },
      { store: 'outbox', version: 1 },
      { store: 'tablet', version: 1 },
      { store: 'tablet-alerts', version: 1 },
    ]);
    expect(fs.existsSync(path.join(server.dataDir, 'clinician-app', 'clinician-app.sqlite'))).toBe(false);
    expect(fs.existsSync(path.join(server.dataDir, 'tablet', 'tablet.sqlite'))).toBe(false);
  }, 180_000);

  it('a database that cannot be used stops the start, saying what is wrong and where (password hidden)', async () => {
    const missing = new URL(databaseUrl);
    missing.pathname = '/no_such_database';
    missing.password = 'hunter2';
    const server = startServer({ PORT: String(await freePort()), DATABASE_URL: missing.toString() });
    expect(await server.exited).toBe(1);
    expect(server.output()).toMatch(
      /The database does not exist[\s\S]*Database: postgres:\/\/postgres:\*\*\*@127\.0\.0\.1:\d+\/no_such_database/,
    );
    expect(server.output()).not.toMatch(/hunter2/);
  }, 120_000);
});
