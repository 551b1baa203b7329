/**
 * Every store opens SQLite through src/platform/sqlite.ts: a database the data folder held must be there,
 * non-empty, marked and undamaged, or the store refuses to open (and the server to start), naming the file.
 * Each case runs against each of the five real stores.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from '@jest/globals';
import { openSqliteSessionStore } from '../../src/clinician-app/session-store.js';
import { AuthDatabase } from '../../src/ehr/auth/auth-database.js';
import { openFhirStore } from '../../src/ehr/store/index.js';
import {
  DataIntegrityError,
  dataFolderGuard,
  INSTANCE_FILE,
  MANIFEST_FILE,
  openSqlite,
} from '../../src/platform/sqlite.js';
import { openSqliteOutbox } from '../../src/submission/outbox.js';
import { openSqliteTabletStore } from '../../src/tablet/store.js';

interface StoreCase {
  name: string;
  /** The database file, for a data folder. */
  file(dir: string): string;
  /** Open the store, write enough rows for several pages, read one back, close. */
  fill(dir: string): Promise<void> | void;
  /** Open and close (throws when the store refuses). */
  open(dir: string): void;
}

const padding = 'x'.repeat(600);

const stores: StoreCase[] = [
  {
    name: 'outbox',
    file: (dir) => path.join(dir, 'outbox.sqlite'),
    async fill(dir) {
      const o = openSqliteOutbox(dir);
      for (let i = 0; i < 40; i++)
        await o.add(`k-${i}`, { resourceType: 'Bundle', type: 'transaction', id: `${i}-${padding}` });
      expect((await o.counts()).pending).toBe(40);
      await o.close();
    },
    open: (dir) => void openSqliteOutbox(dir).close(),
  },
  {
    name: 'EHR FHIR store',
    file: (dir) => path.join(dir, 'fhir-store.sqlite'),
    fill(dir) {
      const s = openFhirStore({ dataDir: dir, validate: false });
      for (let i = 0; i < 40; i++)
        s.create({ resourceType: 'Basic', code: { text: `${i}-${padding}` } } as fhir4.Basic);
      expect(s.search('Basic', [['_count', '1']]).total).toBe(40);
      s.close();
    },
    open: (dir) => openFhirStore({ dataDir: dir, validate: false }).close(),
  },
  {
    name: 'EHR authorization',
    file: (dir) => path.join(dir, 'auth.sqlite'),
    fill(dir) {
      const db = new AuthDatabase(path.join(dir, 'auth.sqlite'));
      for (let i = 0; i < 40; i++)
        db.saveLaunch(
          `launch-${i}`,
          { patient: `p-${i}-${padding}`, practitioner: 'x', needPatientBanner: true },
          3600,
        );
      db.close();
    },
    open: (dir) => new AuthDatabase(path.join(dir, 'auth.sqlite')).close(),
  },
  {
    name: 'clinician app sessions',
    file: (dir) => path.join(dir, 'clinician-app.sqlite'),
    async fill(dir) {
      const s = openSqliteSessionStore(dir);
      for (let i = 0; i < 40; i++)
        await s.putLaunch({
          state: `s-${i}`,
          issuer: `https://ehr.example/${padding}`,
          codeVerifier: 'v',
          nonce: 'n',
          createdAt: 1_000_000 + i,
        });
      expect(await s.takeLaunch('s-3', Number.MAX_SAFE_INTEGER)).toMatchObject({ state: 's-3' });
      await s.close();
    },
    open: (dir) => void openSqliteSessionStore(dir).close(),
  },
  {
    name: 'tablet',
    file: (dir) => path.join(dir, 'tablet', 'tablet.sqlite'),
    async fill(dir) {
      const s = openSqliteTabletStore(dir);
      for (let i = 0; i < 40; i++)
        await s.putHandoff(`code-${i}`, {
          patientId: `p-${i}`,
          patientName: padding,
          staff: { display: 'staff' },
          expiresAt: 2_000_000_000_000,
        });
      expect(await s.takeHandoff('code-3', 1_000_000)).toMatchObject({ patientId: 'p-3' });
      await s.close();
    },
    open: (dir) => void openSqliteTabletStore(dir).close(),
  },
];

const dirs: string[] = [];
const tmp = () => {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'sqlite-open-'));
  dirs.push(d);
  return d;
};
afterEach(() => {
  while (dirs.length) fs.rmSync(dirs.pop()!, { recursive: true, force: true });
});

function refusal(open: () => void): DataIntegrityError {
  try {
    open();
  } catch (err) {
    if (err instanceof DataIntegrityError) return err;
    throw err;
  }
  throw new Error('the store opened');
}

describe.each(stores)('opening the $name database', (store) => {
  it('a fresh folder opens, and opens again after a restart with its data', async () => {
    const dir = tmp();
    await store.fill(dir);
    expect(() => store.open(dir)).not.toThrow();
    const manifest = JSON.parse(fs.readFileSync(path.join(path.dirname(store.file(dir)), MANIFEST_FILE), 'utf8')) as {
      databases: Record<string, { instanceId: string }>;
    };
    expect(manifest.databases[path.basename(store.file(dir))]?.instanceId).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('refuses a database truncated to 0 bytes, naming the file', async () => {
    const dir = tmp();
    await store.fill(dir);
    fs.truncateSync(store.file(dir), 0);
    const err = refusal(() => store.open(dir));
    expect(err.message).toContain(store.file(dir));
    expect(err.message).toMatch(/empty \(0 bytes\)/);
    expect(err.message).toMatch(/restore this file/);
  });

  it('refuses a database damaged in the middle of the file', async () => {
    const dir = tmp();
    await store.fill(dir);
    const file = store.file(dir);
    const size = fs.statSync(file).size;
    expect(size).toBeGreaterThanOrEqual(4 * 4096);
    // Every page after the first two, overwritten with garbage; the header (page 1) stays valid.
    const fd = fs.openSync(file, 'r+');
    fs.writeSync(fd, Buffer.alloc(size - 2 * 4096, 0xa7), 0, size - 2 * 4096, 2 * 4096);
    fs.closeSync(fd);
    const err = refusal(() => store.open(dir));
    expect(err.message).toContain(file);
    expect(err.message).toMatch(/damaged/);
  });

  it('refuses when the file is gone but the folder recorded it', async () => {
    const dir = tmp();
    await store.fill(dir);
    for (const suffix of ['', '-wal', '-shm']) fs.rmSync(`${store.file(dir)}${suffix}`, { force: true });
    const err = refusal(() => store.open(dir));
    expect(err.message).toContain(store.file(dir));
    expect(err.message).toMatch(/missing/);
  });

  it('refuses a database from another instance put in its place', async () => {
    const dir = tmp();
    const other = tmp();
    await store.fill(dir);
    await store.fill(other);
    fs.copyFileSync(store.file(other), store.file(dir));
    expect(refusal(() => store.open(dir)).message).toMatch(/belongs to instance/);
  });
});

describe('openSqlite', () => {
  it('adopts a database written before markers existed, and then guards it like any other', () => {
    const dir = tmp();
    const file = path.join(dir, 'old.sqlite');
    // A plain better-sqlite3 file with data, as the stores wrote them before the opener existed.
    const legacy = new Database(file);
    legacy.exec("CREATE TABLE t (v TEXT); INSERT INTO t VALUES ('kept')");
    legacy.close();
    const adopted = openSqlite({ file, store: 'old', synchronous: 'FULL', busyTimeoutMs: 0 });
    expect(adopted.prepare('SELECT v FROM t').pluck().get()).toBe('kept');
    adopted.close();
    fs.truncateSync(file, 0);
    expect(() => openSqlite({ file, store: 'old', synchronous: 'FULL', busyTimeoutMs: 0 })).toThrow(DataIntegrityError);
  });

  it('makes the folder 0700 and the database, -wal and -shm files 0600 even under a permissive umask', () => {
    const previous = process.umask(0o000);
    try {
      const dir = path.join(tmp(), 'open-folder');
      fs.mkdirSync(dir, { mode: 0o777 });
      fs.chmodSync(dir, 0o777);
      const file = path.join(dir, 'x.sqlite');
      const db = openSqlite({ file, store: 'x', synchronous: 'NORMAL', busyTimeoutMs: 0 });
      db.exec('CREATE TABLE t (v TEXT); INSERT INTO t VALUES (1)');
      expect(fs.statSync(dir).mode & 0o777).toBe(0o700);
      for (const f of [file, `${file}-wal`, `${file}-shm`, path.join(dir, MANIFEST_FILE)])
        expect({ f, mode: fs.statSync(f).mode & 0o777 }).toEqual({ f, mode: 0o600 });
      db.close();
    } finally {
      process.umask(previous);
    }
  });
});

describe('the data folder as a whole', () => {
  it('a fresh folder passes; once recorded, a store folder deleted with its manifest refuses the start', async () => {
    const dir = tmp();
    const guard = dataFolderGuard(dir);
    expect(() => guard.check()).not.toThrow();
    await stores[0]!.fill(path.join(dir, 'write-path'));
    stores[4]!.fill(dir);
    guard.record();
    const record = JSON.parse(fs.readFileSync(path.join(dir, INSTANCE_FILE), 'utf8')) as { databaseFolders: string[] };
    expect(record.databaseFolders).toEqual(['tablet', 'write-path']);
    expect(fs.statSync(path.join(dir, INSTANCE_FILE)).mode & 0o777).toBe(0o600);
    expect(() => dataFolderGuard(dir).check()).not.toThrow();

    fs.rmSync(path.join(dir, 'write-path'), { recursive: true });
    const err = refusal(() => dataFolderGuard(dir).check());
    expect(err.message).toContain(path.join(dir, 'write-path'));
    expect(err.message).toMatch(/gone or emptied/);
  });
});
