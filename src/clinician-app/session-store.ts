/**
 * Server-side state of the clinician app, behind one interface so that replicas can share it:
 *
 *   - pending launches: the PKCE verifier, nonce and issuer of an authorization in flight, keyed by the
 *     OAuth `state` (this is what binds the callback to the launch; no cookie is needed, see index.ts);
 *   - hand-offs: single-use codes (60 s) that let the page that the callback redirects to pick up its
 *     session handle without the handle ever appearing in a URL;
 *   - sessions: the tokens (never sent to the browser), launch context and CSRF token, keyed by the SHA-256
 *     of the opaque handle, so a copy of the database does not give working handles;
 *   - drafts: in-progress QuestionnaireResponses, per issuer + patient + user, kept across restarts.
 *
 * Default: SQLite under `dataDir` (a restart keeps everything). With DATABASE_URL: PostgreSQL, shared by replicas
 * (session-store-postgres.ts). Every method is a single-key operation, and `takeLaunch` / `takeHandoff` are
 * atomic "get and delete" (DELETE … RETURNING). Both adapters pass test/clinician-app/session-store-contract.int.test.ts.
 */
import { createHash } from 'node:crypto';
import path from 'node:path';
import type Database from 'better-sqlite3';
import { openSqlite } from '../platform/sqlite.js';

export interface PendingLaunch {
  state: string;
  issuer: string; // the FHIR base (`iss`, and `aud`)
  codeVerifier: string;
  nonce: string;
  launch?: string;
  createdAt: number;
}

export interface StoredTokens {
  access_token: string;
  refresh_token?: string;
  id_token?: string;
  scope?: string;
  /** Epoch ms. */
  expiresAt?: number;
}

export interface ClinicianSession {
  issuer: string;
  tokens: StoredTokens;
  csrf: string;
  patient?: string;
  encounter?: string;
  /** Relative reference, e.g. `Practitioner/sandbox-clinician`. */
  fhirUser?: string;
  needPatientBanner: boolean;
  smartStyleUrl?: string;
  createdAt: number;
  /** Epoch ms after which the handle stops working even if tokens could be refreshed. */
  expiresAt: number;
}

export interface Draft {
  id: string;
  issuer: string;
  patient: string;
  user: string;
  response: fhir4.QuestionnaireResponse;
  updatedAt: string;
}

export interface SessionStore {
  putLaunch(launch: PendingLaunch): Promise<void>;
  /** Atomic get-and-delete; undefined when unknown or older than `maxAgeMs`. */
  takeLaunch(state: string, maxAgeMs: number): Promise<PendingLaunch | undefined>;
  putHandoff(code: string, handle: string, now: number): Promise<void>;
  takeHandoff(code: string, maxAgeMs: number, now: number): Promise<string | undefined>;
  putSession(handle: string, session: ClinicianSession): Promise<void>;
  getSession(handle: string, now: number): Promise<ClinicianSession | undefined>;
  updateTokens(handle: string, tokens: StoredTokens): Promise<void>;
  deleteSession(handle: string): Promise<void>;
  saveDraft(draft: Draft): Promise<void>;
  findDraft(issuer: string, patient: string, user: string): Promise<Draft | undefined>;
  deleteDraft(id: string): Promise<void>;
  close(): Promise<void>;
}

/**
 * Whose draft it is: a draft belongs to one EHR (the issuer), one patient and one signed-in user. A launch
 * without `fhirUser` is filed under the one user 'unknown'. Every lookup and save goes through these two, so
 * that a save and the next lookup can never disagree on the key.
 */
export const draftUser = (session: Pick<ClinicianSession, 'fhirUser'>): string => session.fhirUser ?? 'unknown';

/** This session's user's draft for `patient`, if any. */
export function findSessionDraft(
  store: SessionStore,
  session: Pick<ClinicianSession, 'issuer' | 'fhirUser'>,
  patient: string,
): Promise<Draft | undefined> {
  return store.findDraft(session.issuer, patient, draftUser(session));
}

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

function createSessionTables(db: Database.Database): void {
  db.exec(`
    CREATE TABLE IF NOT EXISTS launches (state_hash TEXT PRIMARY KEY, body TEXT NOT NULL, created_at INTEGER NOT NULL);
    CREATE TABLE IF NOT EXISTS handoffs (code_hash TEXT PRIMARY KEY, handle TEXT NOT NULL, created_at INTEGER NOT NULL);
    CREATE TABLE IF NOT EXISTS sessions (handle_hash TEXT PRIMARY KEY, body TEXT NOT NULL, expires_at INTEGER NOT NULL);
    CREATE TABLE IF NOT EXISTS drafts (id TEXT PRIMARY KEY, issuer TEXT NOT NULL, patient TEXT NOT NULL, user_ref TEXT NOT NULL,
      response TEXT NOT NULL, updated_at TEXT NOT NULL);
    CREATE INDEX IF NOT EXISTS drafts_owner ON drafts (issuer, patient, user_ref);
  `);
}

function prepareSessionStatements(db: Database.Database) {
  return {
    putLaunch: db.prepare('INSERT OR REPLACE INTO launches (state_hash, body, created_at) VALUES (?, ?, ?)'),
    takeLaunch: db.prepare<[string], { body: string }>('DELETE FROM launches WHERE state_hash = ? RETURNING body'),
    pruneLaunches: db.prepare('DELETE FROM launches WHERE created_at < ?'),
    putHandoff: db.prepare('INSERT INTO handoffs (code_hash, handle, created_at) VALUES (?, ?, ?)'),
    takeHandoff: db.prepare<[string], { handle: string; created_at: number }>(
      'DELETE FROM handoffs WHERE code_hash = ? RETURNING handle, created_at',
    ),
    pruneHandoffs: db.prepare('DELETE FROM handoffs WHERE created_at < ?'),
    putSession: db.prepare('INSERT OR REPLACE INTO sessions (handle_hash, body, expires_at) VALUES (?, ?, ?)'),
    getSession: db.prepare<[string], { body: string; expires_at: number }>(
      'SELECT body, expires_at FROM sessions WHERE handle_hash = ?',
    ),
    deleteSession: db.prepare('DELETE FROM sessions WHERE handle_hash = ?'),
    pruneSessions: db.prepare('DELETE FROM sessions WHERE expires_at < ?'),
    saveDraft: db.prepare(
      'INSERT OR REPLACE INTO drafts (id, issuer, patient, user_ref, response, updated_at) VALUES (?, ?, ?, ?, ?, ?)',
    ),
    findDraft: db.prepare<[string, string, string], { id: string; response: string; updated_at: string }>(
      'SELECT id, response, updated_at FROM drafts WHERE issuer = ? AND patient = ? AND user_ref = ? ORDER BY updated_at DESC LIMIT 1',
    ),
    deleteDraft: db.prepare('DELETE FROM drafts WHERE id = ?'),
  };
}

export function openSqliteSessionStore(dataDir: string, fileName = 'clinician-app.sqlite'): SessionStore {
  const file = path.join(dataDir, fileName);
  // Holds access and refresh tokens: the opener makes it 0600 in a 0700 folder.
  const db = openSqlite({ file, store: 'clinician app sessions', synchronous: 'FULL', busyTimeoutMs: 10000 });
  createSessionTables(db);
  const q = prepareSessionStatements(db);

  return {
    async putLaunch(launch) {
      q.pruneLaunches.run(launch.createdAt - 60 * 60_000);
      q.putLaunch.run(sha256(launch.state), JSON.stringify(launch), launch.createdAt);
    },
    async takeLaunch(state, maxAgeMs) {
      const row = q.takeLaunch.get(sha256(state));
      if (!row) return undefined;
      const launch = JSON.parse(row.body) as PendingLaunch;
      return Date.now() - launch.createdAt <= maxAgeMs ? launch : undefined;
    },
    async putHandoff(code, handle, now) {
      q.pruneHandoffs.run(now - 10 * 60_000);
      q.putHandoff.run(sha256(code), handle, now);
    },
    async takeHandoff(code, maxAgeMs, now) {
      const row = q.takeHandoff.get(sha256(code));
      return row && now - row.created_at <= maxAgeMs ? row.handle : undefined;
    },
    async putSession(handle, session) {
      q.pruneSessions.run(Date.now());
      q.putSession.run(sha256(handle), JSON.stringify(session), session.expiresAt);
    },
    async getSession(handle, now) {
      const row = q.getSession.get(sha256(handle));
      if (!row || row.expires_at < now) return undefined;
      return JSON.parse(row.body) as ClinicianSession;
    },
    async updateTokens(handle, tokens) {
      const row = q.getSession.get(sha256(handle));
      if (!row) return;
      const session = JSON.parse(row.body) as ClinicianSession;
      q.putSession.run(sha256(handle), JSON.stringify({ ...session, tokens }), row.expires_at);
    },
    async deleteSession(handle) {
      q.deleteSession.run(sha256(handle));
    },
    async saveDraft(d) {
      q.saveDraft.run(d.id, d.issuer, d.patient, d.user, JSON.stringify(d.response), d.updatedAt);
    },
    async findDraft(issuer, patient, user) {
      const row = q.findDraft.get(issuer, patient, user);
      return row
        ? {
            id: row.id,
            issuer,
            patient,
            user,
            response: JSON.parse(row.response) as fhir4.QuestionnaireResponse,
            updatedAt: row.updated_at,
          }
        : undefined;
    },
    async deleteDraft(id) {
      q.deleteDraft.run(id);
    },
    async close() {
      db.close();
    },
  };
}
