/**
 * The tablet's durable state: hand-off codes and tablet sessions, behind one async interface so that replicas
 * can share it. Default: SQLite under `${dataDir}/tablet` (this file). With DATABASE_URL: PostgreSQL
 * (store-postgres.ts). Only the SHA-256 of a code or a session handle is stored, so a copy of the database
 * gives no working code or handle. Taking a code is an atomic delete-and-return, which is what makes it single
 * use, whichever replica is asked. Both adapters pass test/tablet/store-contract.int.test.ts.
 *
 * The wrong-code counters are not here: they stay in memory per process (throttle.ts, docs/tablet.md).
 */
import { createHash } from 'node:crypto';
import path from 'node:path';
import type Database from 'better-sqlite3';
import { openSqlite } from '../platform/sqlite.js';

export interface Handoff {
  patientId: string;
  patientName?: string;
  staff: fhir4.Reference;
  expiresAt: number;
  /** When staff created the code (the staff view shows codes not yet typed on a tablet). */
  createdAt?: number;
  /** An opaque id of the hand-off (not the code): staff follow it from code to tablet session. */
  handoffId?: string;
  /** Ages the patient may type without being asked to check them (from the record's birth date, which is not kept). */
  expectedAge?: { low: number; high: number };
}

export interface TabletSession {
  patientId: string;
  patientName?: string;
  staff: fhir4.Reference;
  device: string;
  /** The hand-off whose code started this session. */
  handoffId?: string;
  claimedAt?: number;
  /** End of the session for every route but submit (questionnaire, check, ping). */
  expiresAt: number;
  /**
   * Until when `submit` is still accepted (at least `expiresAt`): before a first submit, the session's end plus
   * the submit grace period, so a submission queued offline is not lost; after it, the window for a retry.
   */
  submitUntil?: number;
  /** The identifier (`system|value`) of the response once submitted: a retry of the same one is allowed. */
  submittedKey?: string;
  /** EMERGENCY rules already raised to staff for this session (each is raised once). */
  alerted?: string[];
  /** The tablet's last API call: staff see a tablet that went quiet mid-form as offline. */
  lastSeenAt?: number;
}

export interface TabletStore {
  /**
   * Store a new code. False (nothing stored) when the code is already taken by another hand-off: the caller
   * makes a new code rather than overwrite one that staff already gave to a patient.
   */
  putHandoff(code: string, h: Handoff): Promise<boolean>;
  /** Single use: the row is gone after this call, whether or not it had expired. */
  takeHandoff(code: string, now: number): Promise<Handoff | undefined>;
  /** Revoke a code staff no longer need (the hand-off dialog's Cancel). True when it was still there. */
  cancelHandoff(code: string): Promise<boolean>;
  /** Codes staff created that no tablet has taken yet (never the codes themselves: only their hashes are kept). */
  liveHandoffs(now: number): Promise<Handoff[]>;
  /** The row lives until the later of the session's end and its submit window (then it is purged). */
  putSession(handle: string, s: TabletSession): Promise<void>;
  /**
   * The session while its row lives: it may already have ended for every route but submit (`expiresAt` in
   * the past, `submitUntil` not); the caller decides which of the two applies.
   */
  getSession(handle: string, now: number): Promise<TabletSession | undefined>;
  /** `lastSeenAt`, in place: never overwrites what another request wrote into the session meanwhile. */
  touchSession(handle: string, at: number): Promise<void>;
  /**
   * Record EMERGENCY rules as raised for the session and return those that were not yet (in the order given):
   * one atomic step, so two checks at once (on one replica or two) raise each rule once.
   */
  markAlerted(handle: string, rules: readonly string[]): Promise<string[]>;
  /**
   * What staff see (never the answers): sessions not yet ended, and ended ones never submitted whose submit
   * window is still open (an offline tablet may still be holding those answers).
   */
  liveSessions(now: number): Promise<TabletSession[]>;
  deleteSession(handle: string): Promise<void>;
  purgeExpired(now: number): Promise<void>;
  close(): Promise<void>;
}

export const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

/** Sessions staff still see (the rows of `liveSessions`, filtered the same way by both adapters). */
export function stillShown(s: TabletSession, now: number): boolean {
  return s.expiresAt >= now || (!s.submittedKey && (s.submitUntil ?? 0) >= now);
}

/** The tables (created if missing) and the prepared statements of the SQLite adapter. */
function prepareTabletStatements(db: Database.Database) {
  db.exec(`
    CREATE TABLE IF NOT EXISTS handoff (code_hash TEXT PRIMARY KEY, body TEXT NOT NULL, expires_at INTEGER NOT NULL);
    CREATE TABLE IF NOT EXISTS session (handle_hash TEXT PRIMARY KEY, body TEXT NOT NULL, expires_at INTEGER NOT NULL);
  `);
  const insertHandoff = db.prepare(
    'INSERT INTO handoff (code_hash, body, expires_at) VALUES (?, ?, ?) ON CONFLICT (code_hash) DO NOTHING',
  );
  const takeHandoff = db.prepare<[string], { body: string; expires_at: number }>(
    'DELETE FROM handoff WHERE code_hash = ? RETURNING body, expires_at',
  );
  const putSession = db.prepare('INSERT OR REPLACE INTO session (handle_hash, body, expires_at) VALUES (?, ?, ?)');
  const getSession = db.prepare<[string], { body: string; expires_at: number }>(
    'SELECT body, expires_at FROM session WHERE handle_hash = ?',
  );
  const deleteSession = db.prepare('DELETE FROM session WHERE handle_hash = ?');
  // json_set in place: a touch never overwrites what another request wrote into the session meanwhile.
  const touchSession = db.prepare("UPDATE session SET body = json_set(body, '$.lastSeenAt', ?) WHERE handle_hash = ?");
  const setAlerted = db.prepare("UPDATE session SET body = json_set(body, '$.alerted', json(?)) WHERE handle_hash = ?");
  const liveHandoffs = db.prepare<[number], { body: string }>(
    'SELECT body FROM handoff WHERE expires_at >= ? ORDER BY expires_at',
  );
  const liveSessions = db.prepare<[number], { body: string }>(
    'SELECT body FROM session WHERE expires_at >= ? ORDER BY expires_at',
  );
  const purge = [
    db.prepare('DELETE FROM handoff WHERE expires_at < ?'),
    db.prepare('DELETE FROM session WHERE expires_at < ?'),
  ];
  // Read and write in one immediate transaction: no other connection to the file can write in between.
  const markAlerted = db.transaction((hash: string, rules: readonly string[]): string[] => {
    const row = getSession.get(hash);
    if (!row) return [];
    const already = (JSON.parse(row.body) as TabletSession).alerted ?? [];
    const fresh = [...new Set(rules)].filter((r) => !already.includes(r));
    if (fresh.length) setAlerted.run(JSON.stringify([...already, ...fresh]), hash);
    return fresh;
  });

  return {
    insertHandoff,
    takeHandoff,
    putSession,
    getSession,
    deleteSession,
    touchSession,
    liveHandoffs,
    liveSessions,
    purge,
    markAlerted,
  };
}

/** The SQLite adapter (the default): `${dataDir}/tablet/tablet.sqlite`. Opening errors are thrown at once. */
export function openSqliteTabletStore(dataDir: string): TabletStore {
  const dir = path.join(dataDir, 'tablet');
  const file = path.join(dir, 'tablet.sqlite');
  // 5 s busy timeout: better-sqlite3's default, which this store ran with before.
  const db = openSqlite({ file, store: 'tablet', synchronous: 'FULL', busyTimeoutMs: 5000 });
  const sql = prepareTabletStatements(db);

  return {
    async putHandoff(code, h) {
      return sql.insertHandoff.run(sha256(code), JSON.stringify(h), h.expiresAt).changes === 1;
    },
    async takeHandoff(code, now) {
      const row = sql.takeHandoff.get(sha256(code));
      if (!row || row.expires_at < now) return undefined;
      return JSON.parse(row.body) as Handoff;
    },
    async cancelHandoff(code) {
      return sql.takeHandoff.get(sha256(code)) !== undefined;
    },
    async liveHandoffs(now) {
      return sql.liveHandoffs.all(now).map((r) => JSON.parse(r.body) as Handoff);
    },
    async putSession(handle, s) {
      sql.putSession.run(sha256(handle), JSON.stringify(s), Math.max(s.expiresAt, s.submitUntil ?? 0));
    },
    async getSession(handle, now) {
      const row = sql.getSession.get(sha256(handle));
      if (!row || row.expires_at < now) return undefined;
      return JSON.parse(row.body) as TabletSession;
    },
    async touchSession(handle, at) {
      sql.touchSession.run(at, sha256(handle));
    },
    async markAlerted(handle, rules) {
      return sql.markAlerted.immediate(sha256(handle), rules);
    },
    async liveSessions(now) {
      return sql.liveSessions
        .all(now)
        .map((r) => JSON.parse(r.body) as TabletSession)
        .filter((s) => stillShown(s, now));
    },
    async deleteSession(handle) {
      sql.deleteSession.run(sha256(handle));
    },
    async purgeExpired(now) {
      for (const p of sql.purge) p.run(now);
    },
    async close() {
      db.close();
    },
  };
}
