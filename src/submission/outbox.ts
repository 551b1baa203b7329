/**
 * The durable outbox: a submission is written here (fsync'd by SQLite) BEFORE the user is told
 * "saved", and stays until the FHIR server has acknowledged it. A background sender retries with
 * backoff. Sending is idempotent at the FHIR server (every entry is a conditional create keyed on
 * identifiers derived from the response), so a retry after a lost acknowledgement never duplicates.
 *
 * Two adapters behind one async interface: SQLite under DATA_DIR (one machine, the default) and PostgreSQL
 * (`DATABASE_URL`, shared by replicas: outbox-postgres.ts). Both pass the same contract tests
 * (test/submission/outbox-contract.int.test.ts); docs/write-path.md tells how claims and leases work.
 */
import fs from 'node:fs';
import path from 'node:path';
import type Database from 'better-sqlite3';
import { openSqlite } from '../platform/sqlite.js';

export type OutboxStatus = 'pending' | 'sent' | 'failed';

export interface OutboxEntry {
  id: number;
  /** Idempotency key (the QuestionnaireResponse identifier): one entry per key, ever. */
  key: string;
  bundle: fhir4.Bundle;
  status: OutboxStatus;
  attempts: number;
  createdAt: string;
  nextAttemptAt: string;
  lastError?: string;
  sentAt?: string;
  /** The server's transaction-response Bundle once sent. */
  response?: fhir4.Bundle;
}

export interface Outbox {
  /**
   * Store durably: the promise resolves once the entry is on disk (SQLite: without blocking the event loop on
   * the disk, concurrent submissions sharing one fsync; PostgreSQL: committed). When the key already exists,
   * the existing entry is returned unchanged. The new entry is leased for `leaseMs` so that the caller can try
   * it at once without a background sender (of any replica) racing it; if the caller dies, a sender picks it
   * up when the lease ends.
   */
  add(
    key: string,
    bundle: fhir4.Bundle,
    options?: { now?: Date; leaseMs?: number },
  ): Promise<{ entry: OutboxEntry; created: boolean }>;
  get(key: string): Promise<OutboxEntry | undefined>;
  /** The entry's current state (status, attempts, errors, response), keeping its already parsed bundle. */
  refresh(entry: OutboxEntry): Promise<OutboxEntry>;
  /**
   * Entries due for sending, leased until `now + leaseMs`: no other sender (of this or another replica)
   * takes them before the lease ends, and a sender that crashed holding them loses them when it does.
   */
  claimDue(now: Date, limit: number, leaseMs: number): Promise<OutboxEntry[]>;
  markSent(id: number, response: fhir4.Bundle, now?: Date): Promise<void>;
  markRetry(id: number, error: string, nextAttemptAt: Date): Promise<void>;
  /** Give up (a 4xx that no retry can fix); kept for staff to see. */
  markFailed(id: number, error: string): Promise<void>;
  list(status?: OutboxStatus, limit?: number): Promise<OutboxEntry[]>;
  counts(): Promise<Record<OutboxStatus, number>>;
  close(): Promise<void>;
}

interface Row {
  id: number;
  key: string;
  bundle: string;
  status: OutboxStatus;
  attempts: number;
  created_at: string;
  next_attempt_at: string;
  last_error: string | null;
  sent_at: string | null;
  response: string | null;
}

function toEntry(r: Row, parsedBundle?: fhir4.Bundle): OutboxEntry {
  const e: OutboxEntry = {
    id: r.id,
    key: r.key,
    bundle: parsedBundle ?? (JSON.parse(r.bundle) as fhir4.Bundle),
    status: r.status,
    attempts: r.attempts,
    createdAt: r.created_at,
    nextAttemptAt: r.next_attempt_at,
  };
  if (r.last_error !== null) e.lastError = r.last_error;
  if (r.sent_at !== null) e.sentAt = r.sent_at;
  if (r.response !== null) e.response = JSON.parse(r.response) as fhir4.Bundle;
  return e;
}

export function openSqliteOutbox(dataDir: string): Outbox {
  const file = path.join(dataDir, 'outbox.sqlite');
  // An acknowledged submission must survive power loss, not just a process kill. SQLite's synchronous=FULL
  // would fsync the WAL inside every commit, blocking the event loop for the disk (3-8 ms here, per
  // submission). Instead commits are NORMAL (in the WAL, in the OS cache: they survive kill -9) and what must
  // survive power loss — a new submission, before the user is told "saved" — is made durable by fsyncing the
  // WAL file itself (`durable()` below: in the thread pool, shared by concurrent submissions). Same guarantee
  // as FULL; checkpoints fsync the WAL and database as they always do.
  const db = openSqlite({ file, store: 'outbox', synchronous: 'NORMAL', busyTimeoutMs: 5000 });
  createOutboxTable(db);
  const sql = prepareOutboxStatements(db);
  const wal = walSync(file, dataDir);

  const claim = db.transaction((nowIso: string, limit: number, leaseUntil: string) => {
    const rows = sql.due.all(nowIso, limit);
    for (const r of rows) sql.lease.run(leaseUntil, r.id);
    return rows;
  });

  return {
    async add(key, bundle, options = {}) {
      const result = insertEntry(sql, key, bundle, options);
      // Also when the key existed: that row may still be waiting for its own fsync.
      await wal.durable();
      return result;
    },
    async get(key) {
      const row = sql.byKey.get(key);
      return row ? toEntry(row) : undefined;
    },
    async refresh(entry) {
      const row = sql.stateById.get(entry.id);
      return row ? toEntry({ ...row, bundle: '' }, entry.bundle) : entry;
    },
    async claimDue(now, limit, leaseMs) {
      const leaseUntil = new Date(now.getTime() + leaseMs).toISOString();
      // The rows were read before their lease was written: report the lease, as the PostgreSQL adapter does.
      return claim(now.toISOString(), limit, leaseUntil).map((r) => toEntry({ ...r, next_attempt_at: leaseUntil }));
    },
    // "Sent", "retry later", "failed" and leases are bookkeeping that sending makes true again if a power loss
    // takes them: a resend finds the submission's Provenance and writes nothing (a failed one fails again).
    // They are not fsync'd on their own (the next durable() or checkpoint covers them).
    async markSent(id, response, now = new Date()) {
      sql.sent.run(now.toISOString(), JSON.stringify(response), id);
    },
    async markRetry(id, error, nextAttemptAt) {
      sql.retry.run(error.slice(0, 2000), nextAttemptAt.toISOString(), id);
    },
    async markFailed(id, error) {
      sql.failed.run(error.slice(0, 2000), id);
    },
    async list(status, limit = 100) {
      return (status ? sql.allByStatus.all(status, limit) : sql.all.all(limit)).map((r) => toEntry(r));
    },
    async counts() {
      const out: Record<OutboxStatus, number> = { pending: 0, sent: 0, failed: 0 };
      for (const r of sql.countRows.all()) out[r.status] = r.n;
      return out;
    },
    async close() {
      wal.close();
      db.close();
    },
  };
}

function createOutboxTable(db: Database.Database): void {
  db.exec(`CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    key TEXT NOT NULL UNIQUE,
    bundle TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    next_attempt_at TEXT NOT NULL,
    last_error TEXT,
    sent_at TEXT,
    response TEXT
  );
  CREATE INDEX IF NOT EXISTS outbox_due ON outbox(status, next_attempt_at);`);
}

type OutboxStatements = ReturnType<typeof prepareOutboxStatements>;

function prepareOutboxStatements(db: Database.Database) {
  return {
    insert: db.prepare(
      `INSERT INTO outbox (key, bundle, created_at, next_attempt_at) VALUES (?, ?, ?, ?) ON CONFLICT(key) DO NOTHING`,
    ),
    byKey: db.prepare<[string], Row>(`SELECT * FROM outbox WHERE key = ?`),
    stateById: db.prepare<[number], Omit<Row, 'bundle'>>(
      `SELECT id, key, status, attempts, created_at, next_attempt_at, last_error, sent_at, response FROM outbox WHERE id = ?`,
    ),
    due: db.prepare<[string, number], Row>(
      `SELECT * FROM outbox WHERE status = 'pending' AND next_attempt_at <= ? ORDER BY id LIMIT ?`,
    ),
    lease: db.prepare(`UPDATE outbox SET next_attempt_at = ? WHERE id = ?`),
    sent: db.prepare(
      `UPDATE outbox SET status = 'sent', sent_at = ?, response = ?, attempts = attempts + 1, last_error = NULL WHERE id = ?`,
    ),
    retry: db.prepare(`UPDATE outbox SET attempts = attempts + 1, last_error = ?, next_attempt_at = ? WHERE id = ?`),
    failed: db.prepare(`UPDATE outbox SET status = 'failed', attempts = attempts + 1, last_error = ? WHERE id = ?`),
    all: db.prepare<[number], Row>(`SELECT * FROM outbox ORDER BY id DESC LIMIT ?`),
    allByStatus: db.prepare<[string, number], Row>(`SELECT * FROM outbox WHERE status = ? ORDER BY id DESC LIMIT ?`),
    countRows: db.prepare<[], { status: OutboxStatus; n: number }>(
      `SELECT status, COUNT(*) AS n FROM outbox GROUP BY status`,
    ),
  };
}

/**
 * Fsyncs of the outbox's WAL file. `durable()` is a group commit: it resolves once everything committed before
 * the call is on disk. An fsync already running may have started before this caller's commit, so callers
 * arriving meanwhile share the NEXT one.
 */
function walSync(file: string, dataDir: string): { durable: () => Promise<void>; close: () => void } {
  // The WAL file, opened once it exists (SQLite creates it on the first write); its directory entry is
  // fsync'd once too, so that a WAL created since the last boot is found after a power loss.
  let walFd: number | undefined;
  const wal = (): number => {
    if (walFd === undefined) {
      walFd = fs.openSync(`${file}-wal`, 'r+');
      const dir = fs.openSync(dataDir, 'r');
      try {
        fs.fsyncSync(dir);
      } finally {
        fs.closeSync(dir);
      }
    }
    return walFd;
  };
  let syncing: Promise<void> | undefined;
  let queued: Promise<void> | undefined;
  const durable = (): Promise<void> => {
    if (!syncing) {
      const fd = wal();
      syncing = new Promise<void>((resolve, reject) => fs.fsync(fd, (err) => (err ? reject(err) : resolve()))).finally(
        () => {
          syncing = undefined;
        },
      );
      return syncing;
    }
    queued ??= syncing
      .catch(() => undefined)
      .then(() => {
        queued = undefined;
        return durable();
      });
    return queued;
  };
  const close = () => {
    if (walFd !== undefined) fs.closeSync(walFd);
    walFd = undefined;
  };
  return { durable, close };
}

/** Insert a new entry, leased for the caller; the existing entry when the key is already there. */
function insertEntry(
  sql: OutboxStatements,
  key: string,
  bundle: fhir4.Bundle,
  options: { now?: Date; leaseMs?: number },
): { entry: OutboxEntry; created: boolean } {
  const now = options.now ?? new Date();
  const leaseUntil = new Date(now.getTime() + (options.leaseMs ?? 30_000));
  const info = sql.insert.run(key, JSON.stringify(bundle), now.toISOString(), leaseUntil.toISOString());
  // A new row holds exactly what was just written: no need to read back and re-parse the bundle.
  if (info.changes === 1) {
    const entry: OutboxEntry = {
      id: Number(info.lastInsertRowid),
      key,
      bundle,
      status: 'pending',
      attempts: 0,
      createdAt: now.toISOString(),
      nextAttemptAt: leaseUntil.toISOString(),
    };
    return { entry, created: true };
  }
  const row = sql.byKey.get(key);
  if (!row) throw new Error(`outbox: entry ${key} vanished after insert`);
  return { entry: toEntry(row), created: false };
}
