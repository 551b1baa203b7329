/**
 * The tablet's live alerts across replicas, over PostgreSQL `LISTEN/NOTIFY`. Each alert is a row of
 * `tablet_alert` (kept one hour) and a notification on `periplan_tablet_alerts`, sent in the same transaction
 * (PostgreSQL delivers it at commit). The notification carries the alert itself when it fits well under the
 * 8000-byte payload limit, else only the row's number, which the listeners read.
 *
 * Every replica listens on a dedicated connection (LISTEN needs a session of its own; a pooled connection
 * goes back to the pool). When that connection is lost (PostgreSQL restarted, a network cut), the replica
 * connects again with a growing delay and first reads the alerts it missed meanwhile (rows after the last it
 * saw, of the last ten minutes), so a worklist on it still hears them. The replica that raises an alert gives
 * it to its own subscribers at once, not through the database: they hear it even while PostgreSQL is away.
 */
import { randomBytes } from 'node:crypto';
import type pg from 'pg';
import type { Migration, PostgresDatabase } from '../platform/postgres.js';
import { createLocalFanOut, type AlertHub } from './alerts.js';
import type { TabletAlert } from './contract.js';

export const ALERT_CHANNEL = 'periplan_tablet_alerts';
/** PostgreSQL refuses a payload of 8000 bytes or more; a margin for the envelope. */
const INLINE_LIMIT_BYTES = 7900;

export const ALERT_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'live alerts',
    sql: `CREATE TABLE tablet_alert (
      seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      origin TEXT NOT NULL,
      body JSONB NOT NULL,
      created_at TIMESTAMPTZ NOT NULL DEFAULT now()
    );
    CREATE INDEX tablet_alert_created ON tablet_alert (created_at);`,
  },
];

/** What a notification says: the row, who raised it, and the alert when it fits. */
interface Envelope {
  seq: number;
  origin: string;
  alert?: TabletAlert;
}

export interface PostgresAlertHubOptions {
  /** First delay before connecting again after the listening connection is lost (default 500 ms; doubles up to `maxReconnectDelayMs`). */
  reconnectDelayMs?: number;
  maxReconnectDelayMs?: number;
  log?: { warn(message: string): void };
}

export interface PostgresAlertHub extends AlertHub {
  /** The listening connection is up (alerts of other replicas arrive). */
  readonly listening: boolean;
}

/** One hub's state: its identity among the replicas, the listening connection, and what it delivered. */
interface HubState {
  db: PostgresDatabase;
  warn: (message: string) => void;
  origin: string;
  local: ReturnType<typeof createLocalFanOut>;
  /** Rows already given to subscribers (a row may come both by notification and by the catch-up read). */
  delivered: Set<number>;
  lastSeq: number;
  client: pg.Client | undefined;
  listening: boolean;
  closed: boolean;
  firstDelay: number;
  maxDelay: number;
  delay: number;
  timer: NodeJS.Timeout | undefined;
}

export async function openPostgresAlertHub(
  db: PostgresDatabase,
  options: PostgresAlertHubOptions = {},
): Promise<PostgresAlertHub> {
  await db.migrate('tablet-alerts', ALERT_MIGRATIONS);
  const firstDelay = options.reconnectDelayMs ?? 500;
  const state: HubState = {
    db,
    warn: (m: string) => (options.log ? options.log.warn(m) : console.warn(m)),
    origin: randomBytes(9).toString('base64url'),
    local: createLocalFanOut(),
    delivered: new Set<number>(),
    lastSeq: 0,
    client: undefined,
    listening: false,
    closed: false,
    firstDelay,
    maxDelay: options.maxReconnectDelayMs ?? 30_000,
    delay: firstDelay,
    timer: undefined,
  };

  await connect(state, false);

  return {
    get listening() {
      return state.listening;
    },
    async publish(alert) {
      state.local.emit(alert);
      await insertAndNotify(db, state.origin, alert);
    },
    subscribe: (listener) => state.local.subscribe(listener),
    close: () => closeHub(state),
  };
}

function deliver(state: HubState, seq: number, alert: TabletAlert): void {
  const { delivered } = state;
  if (delivered.has(seq)) return;
  delivered.add(seq);
  // Bounded: the oldest numbers go first (a Set keeps insertion order).
  if (delivered.size > 1000) delivered.delete(delivered.values().next().value as number);
  state.lastSeq = Math.max(state.lastSeq, seq);
  state.local.emit(alert);
}

function onNotification(state: HubState, message: pg.Notification): void {
  if (message.channel !== ALERT_CHANNEL || !message.payload) return;
  let envelope: Envelope;
  try {
    envelope = JSON.parse(message.payload) as Envelope;
  } catch {
    return;
  }
  if (envelope.origin === state.origin || typeof envelope.seq !== 'number') return;
  if (envelope.alert) return deliver(state, envelope.seq, envelope.alert);
  state.db
    .query<{ body: TabletAlert }>('SELECT body FROM tablet_alert WHERE seq = $1', [envelope.seq])
    .then((r) => r.rows[0] && deliver(state, envelope.seq, r.rows[0].body))
    .catch((err: unknown) =>
      state.warn(`tablet alerts: an alert of another replica could not be read: ${(err as Error).message}`),
    );
}

function lost(state: HubState, c: pg.Client, why: string): void {
  if (state.client !== c) return;
  state.client = undefined;
  state.listening = false;
  c.removeAllListeners('notification');
  c.end().catch(() => undefined);
  if (state.closed) return;
  state.warn(
    `tablet alerts: the PostgreSQL listening connection was lost (${why}); alerts of other replicas arrive again once it is back (retrying in ${state.delay} ms)`,
  );
  schedule(state);
}

function schedule(state: HubState): void {
  if (state.closed || state.timer) return;
  state.timer = setTimeout(() => {
    state.timer = undefined;
    connect(state).catch((err: unknown) => {
      state.warn(
        `tablet alerts: listening on PostgreSQL failed (${(err as Error).message}); retrying in ${state.delay} ms`,
      );
      schedule(state);
    });
  }, state.delay);
  state.timer.unref();
  state.delay = Math.min(state.delay * 2, state.maxDelay);
}

/** Listen first, then read what was missed: nothing can fall between the two. */
async function connect(state: HubState, catchUp = true): Promise<void> {
  const { db } = state;
  const c = await db.connectDedicated();
  if (state.closed) {
    await c.end().catch(() => undefined);
    return;
  }
  c.on('notification', (message: pg.Notification) => onNotification(state, message));
  c.on('error', (err) => lost(state, c, err.message));
  c.on('end', () => lost(state, c, 'connection ended'));
  state.client = c;
  try {
    await c.query(`LISTEN ${ALERT_CHANNEL}`);
  } catch (err) {
    lost(state, c, (err as Error).message);
    throw err;
  }
  if (catchUp) {
    const missed = await db.query<{ seq: string; body: TabletAlert }>(
      "SELECT seq, body FROM tablet_alert WHERE seq > $1 AND origin <> $2 AND created_at > now() - interval '10 minutes' ORDER BY seq",
      [state.lastSeq, state.origin],
    );
    for (const row of missed.rows) deliver(state, Number(row.seq), row.body);
  } else {
    // The first start hears what is raised from now on only.
    state.lastSeq = Number(
      (await db.query<{ seq: string | null }>('SELECT max(seq) AS seq FROM tablet_alert')).rows[0]?.seq ?? 0,
    );
  }
  state.listening = state.client === c;
  if (state.listening) state.delay = state.firstDelay;
}

/** The alert's row and its notification, in one transaction (PostgreSQL delivers the notification at commit). */
async function insertAndNotify(db: PostgresDatabase, origin: string, alert: TabletAlert): Promise<void> {
  const body = JSON.stringify(alert);
  await db.transaction(async (tx) => {
    await tx.query("DELETE FROM tablet_alert WHERE created_at < now() - interval '1 hour'");
    const seq = Number(
      (
        await tx.query<{ seq: string }>('INSERT INTO tablet_alert (origin, body) VALUES ($1, $2) RETURNING seq', [
          origin,
          body,
        ])
      ).rows[0]!.seq,
    );
    const inline = JSON.stringify({ seq, origin, alert } satisfies Envelope);
    const payload =
      Buffer.byteLength(inline) < INLINE_LIMIT_BYTES ? inline : JSON.stringify({ seq, origin } satisfies Envelope);
    await tx.query('SELECT pg_notify($1, $2)', [ALERT_CHANNEL, payload]);
  });
}

async function closeHub(state: HubState): Promise<void> {
  state.closed = true;
  if (state.timer) clearTimeout(state.timer);
  state.timer = undefined;
  state.local.clear();
  const c = state.client;
  state.client = undefined;
  state.listening = false;
  if (c) {
    c.removeAllListeners('notification');
    await c.end().catch(() => undefined);
  }
}
