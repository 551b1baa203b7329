/**
 * The live-alert hub's contract, over both adapters (in process, PostgreSQL LISTEN/NOTIFY): every subscriber
 * hears every alert, in order, until it unsubscribes; a listener that fails keeps it from nobody. Over
 * PostgreSQL, "two replicas" are two hubs on one database (two pools, two listening connections): an alert
 * published on one reaches the subscribers of the other, also one too large for a notification's payload,
 * and also one published while the other's listening connection was cut (it reconnects and reads it).
 */
import { afterEach, describe, expect, it, jest } from '@jest/globals';
import { eventually } from '../support/poll.js';
import pg from 'pg';
import { createInProcessAlertHub, type AlertHub } from '../../src/tablet/alerts.js';
import { openPostgresAlertHub, type PostgresAlertHub } from '../../src/tablet/alerts-postgres.js';
import type { TabletAlert } from '../../src/tablet/contract.js';
import { openPostgres, type PostgresDatabase } from '../../src/platform/postgres.js';
import { createTestDatabase, testPostgresUrl } from '../support/postgres-database.js';

interface Hubs {
  open(): Promise<AlertHub>;
  close(): Promise<void>;
}

const adapters: [string, () => Promise<Hubs>][] = [
  [
    'in process',
    async () => {
      const hubs: AlertHub[] = [];
      return {
        async open() {
          const h = createInProcessAlertHub();
          hubs.push(h);
          return h;
        },
        async close() {
          for (const h of hubs) await h.close();
        },
      };
    },
  ],
  ['postgres', async () => postgresHubs(await createTestDatabase('alerts'))],
];

function postgresHubs(url: string, warnings: string[] = []) {
  const pools: PostgresDatabase[] = [];
  const hubs: PostgresAlertHub[] = [];
  return {
    async open() {
      const db = await openPostgres({ url });
      pools.push(db);
      const hub = await openPostgresAlertHub(db, {
        reconnectDelayMs: 50,
        maxReconnectDelayMs: 200,
        log: { warn: (m) => warnings.push(m) },
      });
      hubs.push(hub);
      return hub;
    },
    async close() {
      for (const h of hubs) await h.close();
      await Promise.all(pools.map((p) => p.close()));
    },
  };
}

let n = 0;
const alert = (patient: string, over: Partial<TabletAlert> = {}): TabletAlert => ({
  id: `alert-${++n}`,
  patient: { reference: `Patient/${patient}`, display: 'Ana' },
  device: 'bay-1',
  staff: { reference: 'Practitioner/dr-ü', display: 'Dr Ü' },
  rules: ['RF-01'],
  at: '2026-03-01T08:00:00.000Z',
  ...over,
});

describe.each(adapters)('alert hub contract: %s', (_name, makeHubs) => {
  let hubs: Hubs | undefined;
  afterEach(async () => {
    await hubs?.close();
    hubs = undefined;
  });

  it('every subscriber of the replica that raised it hears each alert at once, in order, until it unsubscribes', async () => {
    hubs = await makeHubs();
    const hub = await hubs.open();
    const first: TabletAlert[] = [];
    const second: TabletAlert[] = [];
    const offFirst = hub.subscribe((a) => first.push(a));
    hub.subscribe((a) => second.push(a));
    const [x, y] = [alert('p-1'), alert('p-2', { rules: ['RF-01', 'RF-07'] })];
    await hub.publish(x);
    await hub.publish(y);
    expect(first).toEqual([x, y]);
    expect(second).toEqual([x, y]);
    offFirst();
    const z = alert('p-3');
    await hub.publish(z);
    expect(first).toEqual([x, y]);
    expect(second).toEqual([x, y, z]);
  });

  it('a listener that throws keeps the alert from no other listener', async () => {
    hubs = await makeHubs();
    const hub = await hubs.open();
    const heard: TabletAlert[] = [];
    const quiet = jest.spyOn(console, 'error').mockImplementation(() => undefined);
    try {
      hub.subscribe(() => {
        throw new Error('a stream that broke');
      });
      hub.subscribe((a) => heard.push(a));
      const x = alert('p-1');
      await expect(hub.publish(x)).resolves.toBeUndefined();
      expect(heard).toEqual([x]);
    } finally {
      quiet.mockRestore();
    }
  });

  it('after close, nothing is delivered', async () => {
    hubs = await makeHubs();
    const hub = await hubs.open();
    const heard: TabletAlert[] = [];
    hub.subscribe((a) => heard.push(a));
    await hub.close();
    await hub.publish(alert('p-1')).catch(() => undefined);
    expect(heard).toEqual([]);
  });
});

describe('alert hub over PostgreSQL: several replicas', () => {
  let hubs: ReturnType<typeof postgresHubs> | undefined;
  let url: string;
  const warnings: string[] = [];
  afterEach(async () => {
    await hubs?.close();
    hubs = undefined;
  });
  const replicas = async (count: number) => {
    url = await createTestDatabase('alerts_replicas');
    hubs = postgresHubs(url, warnings);
    const out: PostgresAlertHub[] = [];
    for (let i = 0; i < count; i++) out.push((await hubs.open()) as PostgresAlertHub);
    return out;
  };

  it('an alert raised on one replica reaches the subscribers of every other, once, interleaving patients', async () => {
    const [a, b, c] = await replicas(3);
    const heard = new Map<string, TabletAlert[]>([
      ['a', []],
      ['b', []],
      ['c', []],
    ]);
    a!.subscribe((x) => heard.get('a')!.push(x));
    b!.subscribe((x) => heard.get('b')!.push(x));
    c!.subscribe((x) => heard.get('c')!.push(x));
    const fromA = alert('p-1');
    const fromB = alert('p-2', { device: 'bay-2', rules: ['RF-07'] });
    await Promise.all([a!.publish(fromA), b!.publish(fromB)]);
    await eventually(() => {
      for (const [, list] of heard) expect(list).toHaveLength(2);
    });
    for (const [, list] of heard) expect([...list].sort((p, q) => p.id.localeCompare(q.id))).toEqual([fromA, fromB]);
    // Nothing more arrives later (each replica hears its own alert once, not again through the database).
    await new Promise((r) => setTimeout(r, 200));
    for (const [, list] of heard) expect(list).toHaveLength(2);
  });

  it('an alert too large for a notification payload (8000 bytes) travels as the number of its row', async () => {
    const [a, b] = await replicas(2);
    const heard: TabletAlert[] = [];
    b!.subscribe((x) => heard.push(x));
    const big = alert('p-1', { staff: { reference: 'Practitioner/dr-ü', display: 'Ü'.repeat(6000) } });
    await a!.publish(big);
    await eventually(() => expect(heard).toEqual([big]));
  });

  it('a replica whose listening connection was cut connects again and still hears the alerts raised meanwhile', async () => {
    const [a, b] = await replicas(2);
    const heard: TabletAlert[] = [];
    b!.subscribe((x) => heard.push(x));
    const database = new URL(url).pathname.slice(1);
    // From the cluster's own database: this one refuses new connections for a while.
    const admin = new pg.Client({ connectionString: testPostgresUrl() });
    await admin.connect();
    try {
      // Both replicas' listening connections go (a network cut) and cannot come back yet; the alert is raised
      // (on a pooled connection still open) while they are away, so only reading what was missed brings it.
      await admin.query(`ALTER DATABASE ${database} ALLOW_CONNECTIONS false`);
      const cut = await admin.query(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND query LIKE 'LISTEN%'",
        [database],
      );
      expect(cut.rows.length).toBe(2);
      await eventually(() => expect(b!.listening).toBe(false));
      const during = alert('p-1');
      await a!.publish(during);
      await eventually(
        () => expect(warnings.filter((w) => /listening on PostgreSQL failed/.test(w)).length).toBeGreaterThanOrEqual(2),
        { timeout: 10_000 },
      );
      expect(heard).toEqual([]);
      await admin.query(`ALTER DATABASE ${database} ALLOW_CONNECTIONS true`);
      await eventually(() => expect(b!.listening).toBe(true), { timeout: 10_000 });
      await eventually(() => expect(heard).toEqual([during]), { timeout: 10_000 });
      const after = alert('p-2');
      await a!.publish(after);
      await eventually(() => expect(heard).toEqual([during, after]));
    } finally {
      await admin.end();
    }
  });
});
