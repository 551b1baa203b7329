/**
 * The outbox on PostgreSQL (`DATABASE_URL`), shared by every replica. Same contract as the SQLite adapter:
 *
 * - `add` is `INSERT … ON CONFLICT (key) DO NOTHING`: one entry per submission key, whichever replica (or
 *   retry) adds it first; committed (synchronous_commit) before the promise resolves;
 * - `claimDue` picks due rows `FOR UPDATE SKIP LOCKED` and moves their `next_attempt_at` to the end of a lease
 *   in the same statement: two replicas claiming at once get disjoint rows (neither waits on the other's
 *   locks), and a replica that crashes holding a claim loses it when the lease ends (the row is due again).
 */
import type { PostgresDatabase, Migration } from '../platform/postgres.js';
import type { Outbox, OutboxEntry, OutboxStatus } from './outbox.js';

export const OUTBOX_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'outbox',
    sql: `CREATE TABLE outbox (
      id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      key TEXT NOT NULL UNIQUE,
      bundle TEXT NOT NULL,
      status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'failed')),
      attempts INTEGER NOT NULL DEFAULT 0,
      created_at TIMESTAMPTZ NOT NULL,
      next_attempt_at TIMESTAMPTZ NOT NULL,
      last_error TEXT,
      sent_at TIMESTAMPTZ,
      response TEXT
    );
    CREATE INDEX outbox_due ON outbox (next_attempt_at, id) WHERE status = 'pending';
    CREATE INDEX outbox_status ON outbox (status, id);`,
  },
];

interface Row {
  id: string;
  key: string;
  bundle?: string;
  status: OutboxStatus;
  attempts: number;
  created_at: Date;
  next_attempt_at: Date;
  last_error: string | null;
  sent_at: Date | null;
  response: string | null;
}

function toEntry(r: Row, parsedBundle?: fhir4.Bundle): OutboxEntry {
  const e: OutboxEntry = {
    id: Number(r.id),
    key: r.key,
    bundle: parsedBundle ?? (JSON.parse(r.bundle ?? 'null') as fhir4.Bundle),
    status: r.status,
    attempts: r.attempts,
    createdAt: r.created_at.toISOString(),
    nextAttemptAt: r.next_attempt_at.toISOString(),
  };
  if (r.last_error !== null) e.lastError = r.last_error;
  if (r.sent_at !== null) e.sentAt = r.sent_at.toISOString();
  if (r.response !== null) e.response = JSON.parse(r.response) as fhir4.Bundle;
  return e;
}

/** Insert a new entry, leased for the caller; the existing entry when the key is already there. */
async function addEntry(
  db: PostgresDatabase,
  key: string,
  bundle: fhir4.Bundle,
  options: { now?: Date; leaseMs?: number },
): Promise<{ entry: OutboxEntry; created: boolean }> {
  const now = options.now ?? new Date();
  const leaseUntil = new Date(now.getTime() + (options.leaseMs ?? 30_000));
  const inserted = await db.query<{ id: string }>(
    'INSERT INTO outbox (key, bundle, created_at, next_attempt_at) VALUES ($1, $2, $3, $4) ON CONFLICT (key) DO NOTHING RETURNING id',
    [key, JSON.stringify(bundle), now, leaseUntil],
  );
  const id = inserted.rows[0]?.id;
  if (id !== undefined) {
    return {
      entry: {
        id: Number(id),
        key,
        bundle,
        status: 'pending',
        attempts: 0,
        createdAt: now.toISOString(),
        nextAttemptAt: leaseUntil.toISOString(),
      },
      created: true,
    };
  }
  const existing = await db.query<Row>('SELECT * FROM outbox WHERE key = $1', [key]);
  if (!existing.rows[0]) throw new Error(`outbox: entry ${key} vanished after insert`);
  return { entry: toEntry(existing.rows[0]), created: false };
}

/** Due entries, leased in the same statement; rows another sender holds locked are skipped, not waited for. */
async function claimDueEntries(
  db: PostgresDatabase,
  now: Date,
  limit: number,
  leaseMs: number,
): Promise<OutboxEntry[]> {
  const rows = await db.query<Row>(
    `WITH due AS (
       SELECT id FROM outbox WHERE status = 'pending' AND next_attempt_at <= $1 ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED
     )
     UPDATE outbox o SET next_attempt_at = $3 FROM due WHERE o.id = due.id RETURNING o.*`,
    [now, limit, new Date(now.getTime() + leaseMs)],
  );
  return rows.rows.map((r) => toEntry(r)).sort((a, b) => a.id - b.id);
}

/** The outbox in `db` (its migrations applied first). Closing it leaves the pool to its owner. */
export async function openPostgresOutbox(db: PostgresDatabase): Promise<Outbox> {
  await db.migrate('outbox', OUTBOX_MIGRATIONS);
  return {
    add: (key, bundle, options = {}) => addEntry(db, key, bundle, options),
    async get(key) {
      const row = (await db.query<Row>('SELECT * FROM outbox WHERE key = $1', [key])).rows[0];
      return row ? toEntry(row) : undefined;
    },
    async refresh(entry) {
      const row = (
        await db.query<Row>(
          'SELECT id, key, status, attempts, created_at, next_attempt_at, last_error, sent_at, response FROM outbox WHERE id = $1',
          [entry.id],
        )
      ).rows[0];
      return row ? toEntry(row, entry.bundle) : entry;
    },
    claimDue: (now, limit, leaseMs) => claimDueEntries(db, now, limit, leaseMs),
    async markSent(id, response, now = new Date()) {
      await db.query(
        "UPDATE outbox SET status = 'sent', sent_at = $1, response = $2, attempts = attempts + 1, last_error = NULL WHERE id = $3",
        [now, JSON.stringify(response), id],
      );
    },
    async markRetry(id, error, nextAttemptAt) {
      await db.query('UPDATE outbox SET attempts = attempts + 1, last_error = $1, next_attempt_at = $2 WHERE id = $3', [
        error.slice(0, 2000),
        nextAttemptAt,
        id,
      ]);
    },
    async markFailed(id, error) {
      await db.query("UPDATE outbox SET status = 'failed', attempts = attempts + 1, last_error = $1 WHERE id = $2", [
        error.slice(0, 2000),
        id,
      ]);
    },
    async list(status, limit = 100) {
      const rows = status
        ? await db.query<Row>('SELECT * FROM outbox WHERE status = $1 ORDER BY id DESC LIMIT $2', [status, limit])
        : await db.query<Row>('SELECT * FROM outbox ORDER BY id DESC LIMIT $1', [limit]);
      return rows.rows.map((r) => toEntry(r));
    },
    async counts() {
      const out: Record<OutboxStatus, number> = { pending: 0, sent: 0, failed: 0 };
      for (const r of (
        await db.query<{ status: OutboxStatus; n: string }>('SELECT status, COUNT(*) AS n FROM outbox GROUP BY status')
      ).rows)
        out[r.status] = Number(r.n);
      return out;
    },
    async close() {
      // The pool is shared by every store of this process: whoever opened it closes it.
    },
  };
}
