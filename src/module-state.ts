/**
 * Where the module's own state lives: with DATABASE_URL, in PostgreSQL (shared by every replica); without it,
 * each part opens its SQLite default under DATA_DIR itself (nothing is opened here). The sandbox EHR's store
 * is the EHR's, not the module's: it stays where the EHR keeps it.
 */
import type { Config } from './config/index.js';
import { openPostgres, type PostgresDatabase } from './platform/postgres.js';
import type { SessionStore } from './clinician-app/session-store.js';
import { openPostgresSessionStore } from './clinician-app/session-store-postgres.js';
import type { Outbox } from './submission/outbox.js';
import { openPostgresOutbox } from './submission/outbox-postgres.js';
import type { AlertHub } from './tablet/alerts.js';
import { openPostgresAlertHub } from './tablet/alerts-postgres.js';
import type { TabletStore } from './tablet/store.js';
import { openPostgresTabletStore } from './tablet/store-postgres.js';

export interface ModuleState {
  /** Set when the state is in PostgreSQL (for readiness and for closing last). */
  postgres?: PostgresDatabase;
  outbox?: Outbox;
  sessions?: SessionStore;
  /** The tablet's hand-off codes and sessions. */
  tablet?: TabletStore;
  /** The tablet's live alerts, heard by the worklists of every replica (LISTEN/NOTIFY). */
  alerts?: AlertHub;
  close(): Promise<void>;
}

export async function openModuleState(config: Config, log: { warn(message: string): void }): Promise<ModuleState> {
  if (!config.DATABASE_URL) return { close: async () => undefined };
  const postgres = await openPostgres({
    url: config.DATABASE_URL,
    poolSize: config.DATABASE_POOL_SIZE,
    statementTimeoutMs: config.DATABASE_STATEMENT_TIMEOUT_MS,
    onError: (err) => log.warn(`PostgreSQL: an idle connection failed (the pool replaces it): ${err.message}`),
  });
  try {
    const outbox = await openPostgresOutbox(postgres);
    const sessions = await openPostgresSessionStore(postgres);
    const tablet = await openPostgresTabletStore(postgres);
    const alerts = await openPostgresAlertHub(postgres, { log });
    return {
      postgres,
      outbox,
      sessions,
      tablet,
      alerts,
      async close() {
        // The tablet closes the store and hub it was given; closing the hub again is harmless, and keeps a
        // state that was never handed to a tablet from holding its listening connection open.
        await alerts.close();
        await postgres.close();
      },
    };
  } catch (err) {
    await postgres.close().catch(() => undefined);
    throw err;
  }
}
