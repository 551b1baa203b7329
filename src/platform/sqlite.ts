/**
 * The one place that opens a SQLite database (better-sqlite3). Every store uses it, so every database file
 * gets the same treatment:
 *
 * - its folder is 0700 and the file 0600, whatever the umask: they hold patients' answers and tokens. SQLite
 *   gives the -wal and -shm files the database file's mode; those present at open are chmod'ed as well;
 * - WAL journal, a busy timeout, and the `synchronous` level the store asks for (its durability contract);
 * - `PRAGMA quick_check` before use: a damaged file stops the start instead of losing writes later;
 * - a marker row (store name, schema version, instance id, created at) inside the database, and the same
 *   facts in a small manifest beside it (`data-folder.json`). Together they tell "never existed" from "existed
 *   and is now gone": a database the manifest lists must be there, non-empty and carry the same instance id.
 *
 * Why refuse instead of starting fresh: SQLite opens a 0-byte or missing file as a new, empty database
 * without a word. For the outbox that silently drops submissions the user was told are "saved, sending"; for
 * the EHR store every stored response. An operator must decide: restore the file from a backup, or move it
 * (and the manifest entry) aside to start empty on purpose. The error message says which file and how.
 */
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';

export const MANIFEST_FILE = 'data-folder.json';
const MARKER_TABLE = 'platform_marker';

export interface OpenSqliteOptions {
  /** Absolute or relative path of the database file; its folder is created (0700) if missing. */
  file: string;
  /** What the file holds, in plain words for messages and the marker row (e.g. "outbox"). */
  store: string;
  /** The store's schema version, recorded in the marker row. */
  schemaVersion?: number;
  /** `FULL` fsyncs the WAL at every commit; `NORMAL` leaves that to the store (e.g. the outbox's group commit). */
  synchronous: 'FULL' | 'NORMAL';
  busyTimeoutMs: number;
  foreignKeys?: boolean;
}

/** The data folder is not what it should be; the server must not start on it. */
export class DataIntegrityError extends Error {
  constructor(
    readonly file: string,
    problem: string,
  ) {
    super(
      `${problem}\n  File: ${file}\n  The server will not start on it, because that would silently lose or misreport data that was acknowledged.\n` +
        `  To recover: restore this file (and its -wal file, if any) from a backup. To start this store empty on purpose instead, move the file aside and remove its entry from ${path.join(path.dirname(file), MANIFEST_FILE)}.`,
    );
    this.name = 'DataIntegrityError';
  }
}

interface ManifestEntry {
  store: string;
  instanceId: string;
  createdAt: string;
  schemaVersion: number;
}

interface Manifest {
  databases: Record<string, ManifestEntry>;
}

interface MarkerRow {
  store: string;
  instance_id: string;
  created_at: string;
  schema_version: number;
}

/** Create the folder (0700) and tighten it if it already existed with looser permissions. */
export function ensurePrivateDir(dir: string): void {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  fs.chmodSync(dir, 0o700);
}

/** Write a file (0600) atomically: a crash leaves the old or the new content, never a torn one. */
export function writePrivateFileAtomic(file: string, content: string): void {
  const tmp = `${file}.${process.pid}.tmp`;
  const fd = fs.openSync(tmp, 'w', 0o600);
  try {
    fs.writeSync(fd, content);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.chmodSync(tmp, 0o600);
  fs.renameSync(tmp, file);
  const dirFd = fs.openSync(path.dirname(file), 'r');
  try {
    fs.fsyncSync(dirFd);
  } finally {
    fs.closeSync(dirFd);
  }
}

function readManifest(file: string): Manifest {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { databases: {} };
    throw err;
  }
  try {
    const parsed = JSON.parse(text) as Partial<Manifest>;
    if (
      typeof parsed !== 'object' ||
      parsed === null ||
      typeof parsed.databases !== 'object' ||
      parsed.databases === null
    )
      throw new Error('no "databases" object');
    return { databases: parsed.databases };
  } catch (err) {
    throw new DataIntegrityError(
      file,
      `The data folder's manifest cannot be read (${err instanceof Error ? err.message : String(err)}).`,
    );
  }
}

function chmodIfPresent(file: string): void {
  try {
    fs.chmodSync(file, 0o600);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}

/** A database the manifest records must still be there, and not emptied. */
function checkRecordedFileExists(file: string, store: string, recorded: ManifestEntry | undefined): void {
  const size = fs.existsSync(file) ? fs.statSync(file).size : undefined;
  if (recorded && size === undefined) {
    throw new DataIntegrityError(
      file,
      `The ${store} database is missing, but this data folder held it (created ${recorded.createdAt}).`,
    );
  }
  if (recorded && size === 0) {
    throw new DataIntegrityError(
      file,
      `The ${store} database is empty (0 bytes), but this data folder held data in it (created ${recorded.createdAt}).`,
    );
  }
}

function openDatabaseFile(file: string, store: string): Database.Database {
  try {
    return new Database(file);
  } catch (err) {
    throw new DataIntegrityError(
      file,
      `The ${store} database cannot be opened: ${err instanceof Error ? err.message : String(err)}.`,
    );
  }
}

/** Open (or create) a database as described above. Throws DataIntegrityError when it must not be used. */
export function openSqlite(options: OpenSqliteOptions): Database.Database {
  const file = path.resolve(options.file);
  const dir = path.dirname(file);
  const name = path.basename(file);
  ensurePrivateDir(dir);
  const manifestFile = path.join(dir, MANIFEST_FILE);
  const manifest = readManifest(manifestFile);
  const recorded = manifest.databases[name];

  checkRecordedFileExists(file, options.store, recorded);
  const db = openDatabaseFile(file, options.store);
  try {
    // Before the first write creates -wal/-shm: SQLite gives them the database file's mode.
    fs.chmodSync(file, 0o600);
    chmodIfPresent(`${file}-wal`);
    chmodIfPresent(`${file}-shm`);
    db.pragma(`busy_timeout = ${Math.max(0, Math.floor(options.busyTimeoutMs))}`);
    db.pragma('journal_mode = WAL');
    db.pragma(`synchronous = ${options.synchronous}`);
    if (options.foreignKeys) db.pragma('foreign_keys = ON');
    const check = db.pragma('quick_check', { simple: false }) as Array<{ quick_check: string }>;
    const problems = check.map((r) => r.quick_check).filter((r) => r !== 'ok');
    if (problems.length > 0) {
      throw new DataIntegrityError(
        file,
        `The ${options.store} database is damaged (SQLite quick_check: ${problems.slice(0, 3).join('; ').slice(0, 500)}).`,
      );
    }
    chmodIfPresent(`${file}-wal`);
    chmodIfPresent(`${file}-shm`);
    const entry = checkMarker(db, file, options, recorded);
    if (!recorded) {
      manifest.databases[name] = entry;
      writePrivateFileAtomic(manifestFile, `${JSON.stringify(manifest, null, 2)}\n`);
    }
    return db;
  } catch (err) {
    db.close();
    if (err instanceof DataIntegrityError) throw err;
    const code = (err as { code?: unknown }).code;
    if (code === 'SQLITE_NOTADB' || code === 'SQLITE_CORRUPT') {
      throw new DataIntegrityError(
        file,
        `The ${options.store} database is damaged (${String(code)}: ${err instanceof Error ? err.message : ''}).`,
      );
    }
    throw err;
  }
}

/** The marker row: read it and compare with the manifest, or write it into a new (or older, unmarked) database. */
function checkMarker(
  db: Database.Database,
  file: string,
  options: OpenSqliteOptions,
  recorded: ManifestEntry | undefined,
): ManifestEntry {
  const hasTable =
    db
      .prepare<[string], { n: number }>("SELECT COUNT(*) AS n FROM sqlite_master WHERE type = 'table' AND name = ?")
      .get(MARKER_TABLE)!.n > 0;
  const marker = hasTable
    ? db
        .prepare<[], MarkerRow>(`SELECT store, instance_id, created_at, schema_version FROM ${MARKER_TABLE} LIMIT 1`)
        .get()
    : undefined;
  if (recorded) {
    if (!marker)
      throw new DataIntegrityError(
        file,
        `The ${options.store} database has no marker row, but this data folder recorded one (instance ${recorded.instanceId}): the file was replaced.`,
      );
    if (marker.instance_id !== recorded.instanceId) {
      throw new DataIntegrityError(
        file,
        `The ${options.store} database belongs to instance ${marker.instance_id}, but this data folder recorded instance ${recorded.instanceId}: the file was replaced.`,
      );
    }
    return recorded;
  }
  if (marker)
    return {
      store: marker.store,
      instanceId: marker.instance_id,
      createdAt: marker.created_at,
      schemaVersion: marker.schema_version,
    };
  // New file, or one written before markers existed (it is adopted: it passed quick_check and is all we have).
  const entry: ManifestEntry = {
    store: options.store,
    instanceId: randomUUID(),
    createdAt: new Date().toISOString(),
    schemaVersion: options.schemaVersion ?? 1,
  };
  db.exec(
    `CREATE TABLE IF NOT EXISTS ${MARKER_TABLE} (store TEXT NOT NULL, instance_id TEXT NOT NULL, created_at TEXT NOT NULL, schema_version INTEGER NOT NULL)`,
  );
  db.prepare(`INSERT INTO ${MARKER_TABLE} (store, instance_id, created_at, schema_version) VALUES (?, ?, ?, ?)`).run(
    entry.store,
    entry.instanceId,
    entry.createdAt,
    entry.schemaVersion,
  );
  // The marker must be on disk before the manifest names it (whatever `synchronous` the store runs with).
  db.pragma('wal_checkpoint(FULL)');
  return entry;
}

export const INSTANCE_FILE = 'instance.json';

interface InstanceRecord {
  instanceId: string;
  createdAt: string;
  /** Folders (relative to the data folder) holding a database manifest. */
  databaseFolders: string[];
}

/**
 * The data folder as a whole: `DATA_DIR/instance.json` lists the folders that held databases, so that a whole
 * folder gone (with its manifest) also stops the start, not only a file missing from a folder that is still
 * there. Call `check` before opening the stores and `record` once they are open.
 */
export function dataFolderGuard(dataDir: string) {
  const file = path.join(path.resolve(dataDir), INSTANCE_FILE);
  const read = (): InstanceRecord | undefined => {
    let text: string;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
    try {
      const parsed = JSON.parse(text) as InstanceRecord;
      if (typeof parsed.instanceId !== 'string' || !Array.isArray(parsed.databaseFolders))
        throw new Error('instanceId or databaseFolders missing');
      return parsed;
    } catch (err) {
      throw new DataIntegrityError(
        file,
        `The data folder's instance record cannot be read (${err instanceof Error ? err.message : String(err)}).`,
      );
    }
  };
  return {
    check(): void {
      const record = read();
      for (const folder of record?.databaseFolders ?? []) {
        const manifest = path.join(path.dirname(file), folder, MANIFEST_FILE);
        if (!fs.existsSync(manifest)) {
          throw new DataIntegrityError(
            path.join(path.dirname(file), folder),
            `The folder ${folder} of the data folder is gone or emptied, but this data folder held databases in it (instance ${record!.instanceId}, created ${record!.createdAt}).`,
          );
        }
      }
    },
    record(): void {
      const root = path.dirname(file);
      const found: string[] = [];
      const walk = (dir: string, depth: number) => {
        if (fs.existsSync(path.join(dir, MANIFEST_FILE))) found.push(path.relative(root, dir) || '.');
        if (depth === 0) return;
        for (const entry of fs.readdirSync(dir, { withFileTypes: true }))
          if (entry.isDirectory()) walk(path.join(dir, entry.name), depth - 1);
      };
      walk(root, 3);
      const previous = read();
      const next: InstanceRecord = {
        instanceId: previous?.instanceId ?? randomUUID(),
        createdAt: previous?.createdAt ?? new Date().toISOString(),
        databaseFolders: [...new Set([...(previous?.databaseFolders ?? []), ...found])].sort(),
      };
      if (JSON.stringify(next) !== JSON.stringify(previous))
        writePrivateFileAtomic(file, `${JSON.stringify(next, null, 2)}\n`);
    },
  };
}
