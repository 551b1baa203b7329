/**
 * The tablet's hand-off codes and sessions on PostgreSQL (`DATABASE_URL`), shared by replicas: a code staff
 * made through one replica is typed on a tablet that reaches another, and the tablet's later calls may reach
 * any of them. Same contract as the SQLite adapter (store.ts):
 *
 * - only SHA-256 of codes and handles is stored;
 * - a new code is `INSERT … ON CONFLICT DO NOTHING` (a code already in use is never overwritten: the caller
 *   makes another);
 * - taking a code is one `DELETE … RETURNING`: when two replicas take the same code at the same moment, one
 *   gets the row and the other gets nothing (the row lock makes the second wait, then find it gone);
 * - `lastSeenAt` and the raised EMERGENCY rules are written in place (`jsonb_set`), the rules under the row's
 *   lock, so each rule is raised once per session whichever replicas check at once.
 */
import type { Migration, PostgresDatabase } from '../platform/postgres.js';
import { sha256, stillShown, type Handoff, type TabletSession, type TabletStore } from './store.js';

export const TABLET_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'hand-off codes, tablet sessions',
    sql: `CREATE TABLE tablet_handoff (code_hash TEXT PRIMARY KEY, body JSONB NOT NULL, expires_at BIGINT NOT NULL);
    CREATE INDEX tablet_handoff_expiry ON tablet_handoff (expires_at);
    CREATE TABLE tablet_session (handle_hash TEXT PRIMARY KEY, body JSONB NOT NULL, expires_at BIGINT NOT NULL);
    CREATE INDEX tablet_session_expiry ON tablet_session (expires_at);`,
  },
];

export async function openPostgresTabletStore(db: PostgresDatabase): Promise<TabletStore> {
  await db.migrate('tablet', TABLET_MIGRATIONS);
  return {
    async putHandoff(code, h) {
      const result = await db.query(
        'INSERT INTO tablet_handoff (code_hash, body, expires_at) VALUES ($1, $2, $3) ON CONFLICT (code_hash) DO NOTHING',
        [sha256(code), JSON.stringify(h), h.expiresAt],
      );
      return result.rowCount === 1;
    },
    async takeHandoff(code, now) {
      const row = (
        await db.query<{ body: Handoff; expires_at: string }>(
          'DELETE FROM tablet_handoff WHERE code_hash = $1 RETURNING body, expires_at',
          [sha256(code)],
        )
      ).rows[0];
      if (!row || Number(row.expires_at) < now) return undefined;
      return row.body;
    },
    async cancelHandoff(code) {
      return ((await db.query('DELETE FROM tablet_handoff WHERE code_hash = $1', [sha256(code)])).rowCount ?? 0) > 0;
    },
    async liveHandoffs(now) {
      return (
        await db.query<{ body: Handoff }>(
          'SELECT body FROM tablet_handoff WHERE expires_at >= $1 ORDER BY expires_at',
          [now],
        )
      ).rows.map((r) => r.body);
    },
    async putSession(handle, s) {
      await db.query(
        'INSERT INTO tablet_session (handle_hash, body, expires_at) VALUES ($1, $2, $3) ON CONFLICT (handle_hash) DO UPDATE SET body = EXCLUDED.body, expires_at = EXCLUDED.expires_at',
        [sha256(handle), JSON.stringify(s), Math.max(s.expiresAt, s.submitUntil ?? 0)],
      );
    },
    async getSession(handle, now) {
      return getSession(db, handle, now);
    },
    async touchSession(handle, at) {
      await db.query(
        "UPDATE tablet_session SET body = jsonb_set(body, '{lastSeenAt}', to_jsonb($2::bigint)) WHERE handle_hash = $1",
        [sha256(handle), at],
      );
    },
    async markAlerted(handle, rules) {
      return markAlerted(db, handle, rules);
    },
    async liveSessions(now) {
      const rows = (
        await db.query<{ body: TabletSession }>(
          'SELECT body FROM tablet_session WHERE expires_at >= $1 ORDER BY expires_at',
          [now],
        )
      ).rows;
      return rows.map((r) => r.body).filter((s) => stillShown(s, now));
    },
    async deleteSession(handle) {
      await db.query('DELETE FROM tablet_session WHERE handle_hash = $1', [sha256(handle)]);
    },
    async purgeExpired(now) {
      await db.query('DELETE FROM tablet_handoff WHERE expires_at < $1', [now]);
      await db.query('DELETE FROM tablet_session WHERE expires_at < $1', [now]);
    },
    async close() {
      // The pool is shared by every store of this process: whoever opened it closes it.
    },
  };
}

/** The session while its row lives (see TabletStore.getSession). */
async function getSession(db: PostgresDatabase, handle: string, now: number): Promise<TabletSession | undefined> {
  const row = (
    await db.query<{ body: TabletSession; expires_at: string }>(
      'SELECT body, expires_at FROM tablet_session WHERE handle_hash = $1',
      [sha256(handle)],
    )
  ).rows[0];
  if (!row || Number(row.expires_at) < now) return undefined;
  return row.body;
}

/** Record the rules not yet raised for the session, under the row's lock, and return them (in the order given). */
async function markAlerted(db: PostgresDatabase, handle: string, rules: readonly string[]): Promise<string[]> {
  const hash = sha256(handle);
  return db.transaction(async (client) => {
    // FOR UPDATE: a second check of the same session (on any replica) waits here and then sees these rules.
    const row = (
      await client.query<{ body: TabletSession }>('SELECT body FROM tablet_session WHERE handle_hash = $1 FOR UPDATE', [
        hash,
      ])
    ).rows[0];
    if (!row) return [];
    const already = row.body.alerted ?? [];
    const fresh = [...new Set(rules)].filter((r) => !already.includes(r));
    if (fresh.length)
      await client.query(
        "UPDATE tablet_session SET body = jsonb_set(body, '{alerted}', $2::jsonb) WHERE handle_hash = $1",
        [hash, JSON.stringify([...already, ...fresh])],
      );
    return fresh;
  });
}
