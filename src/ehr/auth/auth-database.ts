/**
 * Durable state of the SMART authorization server, in one SQLite file under the data folder:
 * - `oidc`: everything oidc-provider persists (sessions, interactions, grants, codes, access and
 *   refresh tokens), through the adapter interface the library defines (one row per model + id);
 * - `launch`: short-lived EHR launch contexts created by the launcher, keyed by the opaque `launch` id;
 * - `grant_context`: the SMART launch context (patient, encounter, fhirUser, banner, style) bound to a
 *   grant, read when a token is issued or verified.
 * Restarting the server keeps issued tokens valid, because nothing lives only in memory.
 *
 * Secrets at rest: the id of every oidc-provider model except Grant *is* a bearer secret (an opaque access or
 * refresh token, an authorization code, the value of a session or interaction cookie), and its payload repeats
 * it as `jti`. Rows are therefore keyed by SHA-256(id) and stored without `jti`, which `find(id)` puts back
 * from the id it was asked for: whoever reads the file gets no token they could present. (The ids are 256-bit
 * random values, so an unsalted hash cannot be reversed by guessing.) Grant ids are not credentials and stay
 * as they are, because tokens and `grant_context` refer to them.
 */
import { createHash } from 'node:crypto';
import type Database from 'better-sqlite3';
import type { Adapter, AnyObject } from 'oidc-provider';
import { openSqlite } from '../../platform/sqlite.js';

/** Launch context as the EHR (launcher) knows it. */
export interface LaunchContext {
  /** Patient id. */
  patient: string;
  /** Practitioner id of the signed-in clinician. */
  practitioner: string;
  encounter?: string;
  needPatientBanner: boolean;
  smartStyleUrl?: string;
  /** The client the launch was created for; another client cannot use it. */
  clientId?: string;
}

/** What a grant carries besides scopes; becomes token-response parameters and the AccessContext. */
export interface GrantContext {
  patient?: string;
  encounter?: string;
  /** Practitioner id of the user. */
  practitioner: string;
  needPatientBanner: boolean;
  smartStyleUrl?: string;
}

const GRANTABLE = new Set([
  'AccessToken',
  'AuthorizationCode',
  'RefreshToken',
  'DeviceCode',
  'BackchannelAuthenticationRequest',
]);
const nowSeconds = () => Math.floor(Date.now() / 1000);
/** Models whose id is not a secret (kept in clear: other rows refer to it). */
const CLEAR_ID_MODELS = new Set(['Grant']);
/** `PRAGMA user_version` once ids are stored hashed. */
const HASHED_IDS_VERSION = 1;

/** The key a model's row is stored under: SHA-256 of the id for every model whose id is a secret. */
export function storedId(model: string, id: string): string {
  return CLEAR_ID_MODELS.has(model) ? id : createHash('sha256').update(id).digest('base64url');
}

export class AuthDatabase {
  private readonly db: Database.Database;

  constructor(file: string) {
    // synchronous is SQLite's default for WAL (FULL): what this file held before it came through openSqlite.
    this.db = openSqlite({ file, store: 'EHR authorization', synchronous: 'FULL', busyTimeoutMs: 5000 });
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS oidc (
        model TEXT NOT NULL, id TEXT NOT NULL, payload TEXT NOT NULL, expires_at INTEGER,
        grant_id TEXT, uid TEXT, user_code TEXT,
        PRIMARY KEY (model, id));
      CREATE INDEX IF NOT EXISTS oidc_grant ON oidc (grant_id);
      CREATE INDEX IF NOT EXISTS oidc_uid ON oidc (model, uid);
      CREATE INDEX IF NOT EXISTS oidc_user_code ON oidc (model, user_code);
      CREATE TABLE IF NOT EXISTS launch (
        id TEXT PRIMARY KEY, context TEXT NOT NULL, expires_at INTEGER NOT NULL, used_at INTEGER);
      CREATE TABLE IF NOT EXISTS grant_context (grant_id TEXT PRIMARY KEY, context TEXT NOT NULL, created_at INTEGER NOT NULL);
    `);
    this.hashStoredIds();
  }

  /** A database written before ids were hashed: hash them now, once (the tokens in it stay valid). */
  private hashStoredIds(): void {
    if ((this.db.pragma('user_version', { simple: true }) as number) >= HASHED_IDS_VERSION) return;
    this.db.transaction(() => {
      const rows = this.db.prepare('SELECT model, id FROM oidc').all() as { model: string; id: string }[];
      const rekey = this.db.prepare(
        "UPDATE oidc SET id = ?, payload = json_remove(payload, '$.jti') WHERE model = ? AND id = ?",
      );
      for (const row of rows)
        if (!CLEAR_ID_MODELS.has(row.model)) rekey.run(storedId(row.model, row.id), row.model, row.id);
      this.db.pragma(`user_version = ${HASHED_IDS_VERSION}`);
    })();
    // The clear ids may linger in freed pages and the WAL: rewrite the file without them.
    this.db.pragma('wal_checkpoint(TRUNCATE)');
    this.db.exec('VACUUM');
  }

  close(): void {
    if (this.db.open) this.db.close();
  }

  /** Drops expired rows. Called now and then; lookups also ignore expired rows on their own. */
  sweep(): void {
    const now = nowSeconds();
    this.db.prepare('DELETE FROM oidc WHERE expires_at IS NOT NULL AND expires_at < ?').run(now);
    this.db.prepare('DELETE FROM launch WHERE expires_at < ?').run(now - 24 * 3600);
    // A grant context outlives its grant only until the next sweep.
    this.db
      .prepare(`DELETE FROM grant_context WHERE grant_id NOT IN (SELECT id FROM oidc WHERE model = 'Grant')`)
      .run();
  }

  /** oidc-provider adapter factory: `adapter: (model) => db.adapterFor(model)`. */
  adapterFor(model: string): Adapter {
    const db = this.db;
    const clearId = CLEAR_ID_MODELS.has(model);
    const key = (id: string) => storedId(model, id);
    // `jti` is the id itself: dropped on the way in, restored on the way out (from the id that was looked up).
    const live = (row: { id: string; payload: string } | undefined, id?: string) => {
      if (!row) return undefined;
      const payload = JSON.parse(row.payload) as AnyObject;
      if (clearId) return payload;
      return id === undefined ? payload : { ...payload, jti: id };
    };
    const notExpired = '(expires_at IS NULL OR expires_at >= ?)';
    return {
      async upsert(id, payload, expiresIn) {
        const expiresAt = typeof expiresIn === 'number' ? nowSeconds() + expiresIn : null;
        const grantId = GRANTABLE.has(model) && typeof payload.grantId === 'string' ? payload.grantId : null;
        const stored = clearId ? payload : Object.fromEntries(Object.entries(payload).filter(([k]) => k !== 'jti'));
        db.prepare(
          `INSERT INTO oidc (model, id, payload, expires_at, grant_id, uid, user_code) VALUES (?, ?, ?, ?, ?, ?, ?)
           ON CONFLICT (model, id) DO UPDATE SET payload = excluded.payload, expires_at = excluded.expires_at,
             grant_id = excluded.grant_id, uid = excluded.uid, user_code = excluded.user_code`,
        ).run(model, key(id), JSON.stringify(stored), expiresAt, grantId, str(payload.uid), str(payload.userCode));
      },
      async find(id) {
        return live(
          db
            .prepare(`SELECT id, payload FROM oidc WHERE model = ? AND id = ? AND ${notExpired}`)
            .get(model, key(id), nowSeconds()) as { id: string; payload: string } | undefined,
          id,
        );
      },
      // Interactions and sessions found by uid: oidc-provider reads their `jti` only to destroy or save them
      // again, which it does through the id it already holds (the cookie's).
      async findByUid(uid) {
        return live(
          db
            .prepare(`SELECT id, payload FROM oidc WHERE model = ? AND uid = ? AND ${notExpired}`)
            .get(model, uid, nowSeconds()) as { id: string; payload: string } | undefined,
        );
      },
      async findByUserCode(userCode) {
        return live(
          db
            .prepare(`SELECT id, payload FROM oidc WHERE model = ? AND user_code = ? AND ${notExpired}`)
            .get(model, userCode, nowSeconds()) as { id: string; payload: string } | undefined,
        );
      },
      async consume(id) {
        db.prepare(`UPDATE oidc SET payload = json_set(payload, '$.consumed', ?) WHERE model = ? AND id = ?`).run(
          nowSeconds(),
          model,
          key(id),
        );
      },
      async destroy(id) {
        db.prepare('DELETE FROM oidc WHERE model = ? AND id = ?').run(model, key(id));
      },
      async revokeByGrantId(grantId) {
        db.prepare('DELETE FROM oidc WHERE grant_id = ?').run(grantId);
      },
    };
  }

  saveLaunch(id: string, context: LaunchContext, ttlSeconds: number): void {
    this.db
      .prepare('INSERT INTO launch (id, context, expires_at) VALUES (?, ?, ?)')
      .run(id, JSON.stringify(context), nowSeconds() + ttlSeconds);
  }

  /** The launch context while it is unexpired and unused; undefined otherwise. */
  findLaunch(id: string): LaunchContext | undefined {
    const row = this.db
      .prepare('SELECT context FROM launch WHERE id = ? AND expires_at >= ? AND used_at IS NULL')
      .get(id, nowSeconds()) as { context: string } | undefined;
    return row ? (JSON.parse(row.context) as LaunchContext) : undefined;
  }

  /** Marks a launch used; false when it was already used or has expired (so two tabs cannot share one). */
  useLaunch(id: string): boolean {
    const result = this.db
      .prepare('UPDATE launch SET used_at = ? WHERE id = ? AND used_at IS NULL AND expires_at >= ?')
      .run(nowSeconds(), id, nowSeconds());
    return result.changes === 1;
  }

  saveGrantContext(grantId: string, context: GrantContext): void {
    this.db
      .prepare('INSERT OR REPLACE INTO grant_context (grant_id, context, created_at) VALUES (?, ?, ?)')
      .run(grantId, JSON.stringify(context), nowSeconds());
  }

  grantContext(grantId: string): GrantContext | undefined {
    const row = this.db.prepare('SELECT context FROM grant_context WHERE grant_id = ?').get(grantId) as
      { context: string } | undefined;
    return row ? (JSON.parse(row.context) as GrantContext) : undefined;
  }
}

function str(value: unknown): string | null {
  return typeof value === 'string' ? value : null;
}
