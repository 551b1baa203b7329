/**
 * The clinician app's sessions, pending launches, hand-off codes and drafts on PostgreSQL (`DATABASE_URL`),
 * shared by replicas: a launch begun on one replica completes on another, a draft saved through one resumes
 * through another. Same contract as the SQLite adapter (session-store.ts): only SHA-256 of states, codes and
 * handles are stored; taking a launch or a hand-off code is one `DELETE … RETURNING` (single use).
 */
import { createHash } from 'node:crypto';
import type { Migration, PostgresDatabase } from '../platform/postgres.js';
import type { ClinicianSession, PendingLaunch, SessionStore } from './session-store.js';

export const SESSION_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'launches, hand-offs, sessions, drafts',
    sql: `CREATE TABLE app_launch (state_hash TEXT PRIMARY KEY, body JSONB NOT NULL, created_at BIGINT NOT NULL);
    CREATE TABLE app_handoff (code_hash TEXT PRIMARY KEY, handle TEXT NOT NULL, created_at BIGINT NOT NULL);
    CREATE TABLE app_session (handle_hash TEXT PRIMARY KEY, body JSONB NOT NULL, expires_at BIGINT NOT NULL);
    CREATE INDEX app_session_expiry ON app_session (expires_at);
    CREATE TABLE app_draft (id TEXT PRIMARY KEY, issuer TEXT NOT NULL, patient TEXT NOT NULL, user_ref TEXT NOT NULL,
      response JSONB NOT NULL, updated_at TEXT NOT NULL);
    CREATE INDEX app_draft_owner ON app_draft (issuer, patient, user_ref, updated_at);`,
  },
];

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

/** Pending launches and hand-off codes: each taken once, by a single `DELETE … RETURNING`. */
function launchesAndHandoffs(
  db: PostgresDatabase,
): Pick<SessionStore, 'putLaunch' | 'takeLaunch' | 'putHandoff' | 'takeHandoff'> {
  return {
    async putLaunch(launch) {
      await db.query('DELETE FROM app_launch WHERE created_at < $1', [launch.createdAt - 60 * 60_000]);
      await db.query(
        'INSERT INTO app_launch (state_hash, body, created_at) VALUES ($1, $2, $3) ON CONFLICT (state_hash) DO UPDATE SET body = EXCLUDED.body, created_at = EXCLUDED.created_at',
        [sha256(launch.state), JSON.stringify(launch), launch.createdAt],
      );
    },
    async takeLaunch(state, maxAgeMs) {
      const row = (
        await db.query<{ body: PendingLaunch }>('DELETE FROM app_launch WHERE state_hash = $1 RETURNING body', [
          sha256(state),
        ])
      ).rows[0];
      if (!row) return undefined;
      return Date.now() - row.body.createdAt <= maxAgeMs ? row.body : undefined;
    },
    async putHandoff(code, handle, now) {
      await db.query('DELETE FROM app_handoff WHERE created_at < $1', [now - 10 * 60_000]);
      await db.query('INSERT INTO app_handoff (code_hash, handle, created_at) VALUES ($1, $2, $3)', [
        sha256(code),
        handle,
        now,
      ]);
    },
    async takeHandoff(code, maxAgeMs, now) {
      const row = (
        await db.query<{ handle: string; created_at: string }>(
          'DELETE FROM app_handoff WHERE code_hash = $1 RETURNING handle, created_at',
          [sha256(code)],
        )
      ).rows[0];
      return row && now - Number(row.created_at) <= maxAgeMs ? row.handle : undefined;
    },
  };
}

function sessions(
  db: PostgresDatabase,
): Pick<SessionStore, 'putSession' | 'getSession' | 'updateTokens' | 'deleteSession'> {
  return {
    async putSession(handle, session) {
      await db.query('DELETE FROM app_session WHERE expires_at < $1', [Date.now()]);
      await db.query(
        'INSERT INTO app_session (handle_hash, body, expires_at) VALUES ($1, $2, $3) ON CONFLICT (handle_hash) DO UPDATE SET body = EXCLUDED.body, expires_at = EXCLUDED.expires_at',
        [sha256(handle), JSON.stringify(session), session.expiresAt],
      );
    },
    async getSession(handle, now) {
      const row = (
        await db.query<{ body: ClinicianSession; expires_at: string }>(
          'SELECT body, expires_at FROM app_session WHERE handle_hash = $1',
          [sha256(handle)],
        )
      ).rows[0];
      if (!row || Number(row.expires_at) < now) return undefined;
      return row.body;
    },
    async updateTokens(handle, tokens) {
      // In place: a refresh on one replica never overwrites what another wrote into the session meanwhile.
      await db.query("UPDATE app_session SET body = jsonb_set(body, '{tokens}', $2::jsonb) WHERE handle_hash = $1", [
        sha256(handle),
        JSON.stringify(tokens),
      ]);
    },
    async deleteSession(handle) {
      await db.query('DELETE FROM app_session WHERE handle_hash = $1', [sha256(handle)]);
    },
  };
}

function drafts(db: PostgresDatabase): Pick<SessionStore, 'saveDraft' | 'findDraft' | 'deleteDraft'> {
  return {
    async saveDraft(d) {
      await db.query(
        `INSERT INTO app_draft (id, issuer, patient, user_ref, response, updated_at) VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (id) DO UPDATE SET issuer = EXCLUDED.issuer, patient = EXCLUDED.patient, user_ref = EXCLUDED.user_ref, response = EXCLUDED.response, updated_at = EXCLUDED.updated_at`,
        [d.id, d.issuer, d.patient, d.user, JSON.stringify(d.response), d.updatedAt],
      );
    },
    async findDraft(issuer, patient, user) {
      const row = (
        await db.query<{ id: string; response: fhir4.QuestionnaireResponse; updated_at: string }>(
          'SELECT id, response, updated_at FROM app_draft WHERE issuer = $1 AND patient = $2 AND user_ref = $3 ORDER BY updated_at DESC LIMIT 1',
          [issuer, patient, user],
        )
      ).rows[0];
      return row ? { id: row.id, issuer, patient, user, response: row.response, updatedAt: row.updated_at } : undefined;
    },
    async deleteDraft(id) {
      await db.query('DELETE FROM app_draft WHERE id = $1', [id]);
    },
  };
}

export async function openPostgresSessionStore(db: PostgresDatabase): Promise<SessionStore> {
  await db.migrate('clinician-app', SESSION_MIGRATIONS);
  return {
    ...launchesAndHandoffs(db),
    ...sessions(db),
    ...drafts(db),
    async close() {
      // The pool is shared by every store of this process: whoever opened it closes it.
    },
  };
}
