/**
 * A throwaway PostgreSQL cluster for the test run: `initdb` into a temp folder, `pg_ctl start` on a free loopback
 * port (and a socket in the same folder), `stop` shuts it down and removes the folder. Plain async functions, no
 * test framework: jest's globalSetup calls them (test/support/postgres-global-setup.js), another runner can too.
 *
 * PostgreSQL refuses to run as root, so when the run is root the binaries run as the `postgres` user (Debian's
 * package creates it) and the folder is handed to that user. No test is skipped when PostgreSQL is missing: the
 * start fails naming the script that installs it.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface PostgresCluster {
  /** `postgres://postgres@127.0.0.1:PORT/postgres` (trust authentication on loopback). */
  url: string;
  port: number;
  dir: string;
  /** Milliseconds from initdb to accepting connections. */
  startMs: number;
  stop(): Promise<void>;
}

const SETUP_HINT = 'Install it with `bash scripts/setup-system.sh` (Debian package `postgresql`).';

/** The folder holding initdb and pg_ctl: PG_BIN, else the newest /usr/lib/postgresql/<version>/bin. */
export function findPostgresBin(): string {
  const fromEnv = process.env.PG_BIN;
  if (fromEnv) {
    if (!fs.existsSync(path.join(fromEnv, 'initdb')))
      throw new Error(`PG_BIN=${fromEnv} holds no initdb. ${SETUP_HINT}`);
    return fromEnv;
  }
  const root = '/usr/lib/postgresql';
  const versions = fs.existsSync(root)
    ? fs.readdirSync(root).filter((v) => fs.existsSync(path.join(root, v, 'bin', 'initdb')))
    : [];
  versions.sort((a, b) => Number(b) - Number(a));
  if (!versions[0])
    throw new Error(
      `PostgreSQL is not installed (no ${root}/<version>/bin/initdb): the tests of the PostgreSQL adapters need it. ${SETUP_HINT}`,
    );
  return path.join(root, versions[0], 'bin');
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

export async function startPostgresCluster(): Promise<PostgresCluster> {
  const began = Date.now();
  const bin = findPostgresBin();
  const isRoot = process.getuid?.() === 0;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'periplan-pg-'));
  const as = async (file: string, args: string[]) => {
    const cmd = path.join(bin, file);
    return isRoot ? run('runuser', ['-u', 'postgres', '--', cmd, ...args]) : run(cmd, args);
  };
  try {
    if (isRoot) {
      const { stdout } = await run('id', ['-u', 'postgres']).catch(() => {
        throw new Error(`There is no \`postgres\` user to run PostgreSQL as (this run is root). ${SETUP_HINT}`);
      });
      const uid = Number(stdout.trim());
      fs.chownSync(dir, uid, uid);
    }
    fs.chmodSync(dir, 0o700);
    const data = path.join(dir, 'db');
    await as('initdb', ['-D', data, '-A', 'trust', '-U', 'postgres', '--no-sync', '-E', 'UTF8', '--locale', 'C']);
    // The log lives inside the data folder: it must be writable by the postgres user or pg_ctl fails silently.
    const log = path.join(data, 'log');
    let port = 0;
    for (let attempt = 0; ; attempt++) {
      port = await freePort();
      try {
        await as('pg_ctl', [
          '-D',
          data,
          '-l',
          log,
          '-w',
          '-t',
          '30',
          '-o',
          `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200`,
          'start',
        ]);
        break;
      } catch (err) {
        // Another process may have taken the port between the probe and the start: try another one.
        if (attempt >= 2) {
          const tail = fs.existsSync(log) ? fs.readFileSync(log, 'utf8').slice(-2000) : '(no log)';
          throw new Error(`PostgreSQL did not start: ${err instanceof Error ? err.message : String(err)}\n${tail}`);
        }
      }
    }
    const stop = async () => {
      await as('pg_ctl', ['-D', data, '-m', 'immediate', 'stop']).catch(() => undefined);
      fs.rmSync(dir, { recursive: true, force: true });
    };
    return { url: `postgres://postgres@127.0.0.1:${port}/postgres`, port, dir, startMs: Date.now() - began, stop };
  } catch (err) {
    fs.rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}
