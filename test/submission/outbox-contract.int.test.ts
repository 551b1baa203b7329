/**
 * The outbox contract, run over both adapters: SQLite (one machine) and PostgreSQL (replicas). "Two instances"
 * are two outboxes on one database (two connections, or two pools: two replicas). Every time is injected.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from '@jest/globals';
import { openPostgres, type PostgresDatabase } from '../../src/platform/postgres.js';
import { openSqliteOutbox, type Outbox, type OutboxEntry } from '../../src/submission/outbox.js';
import { openPostgresOutbox } from '../../src/submission/outbox-postgres.js';
import { createOutboxSender } from '../../src/submission/sender.js';
import { createTestDatabase } from '../support/postgres-database.js';

/** A database for one test; `open` gives another instance (replica) on it each time it is called. */
interface Database {
  open(): Promise<Outbox>;
  close(): Promise<void>;
}

const adapters: [string, () => Promise<Database>][] = [
  [
    'sqlite',
    async () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'outbox-contract-'));
      const open: Outbox[] = [];
      return {
        async open() {
          const o = openSqliteOutbox(dir);
          open.push(o);
          return o;
        },
        async close() {
          for (const o of open) await o.close();
          fs.rmSync(dir, { recursive: true, force: true });
        },
      };
    },
  ],
  [
    'postgres',
    async () => {
      const url = await createTestDatabase('outbox');
      const pools: PostgresDatabase[] = [];
      return {
        async open() {
          const db = await openPostgres({ url });
          pools.push(db);
          return openPostgresOutbox(db);
        },
        async close() {
          await Promise.all(pools.map((p) => p.close()));
        },
      };
    },
  ],
];

const bundle = (n: number): fhir4.Bundle => ({
  resourceType: 'Bundle',
  type: 'transaction',
  entry: [
    {
      request: { method: 'POST', url: `Basic?n=${n}` },
      resource: { resourceType: 'Basic', id: `n-${n}`, code: { text: `Ärztin ✓ ${n}` } } as fhir4.Basic,
    },
  ],
});
const T0 = new Date('2026-03-01T08:00:00.000Z');
const at = (ms: number) => new Date(T0.getTime() + ms);

describe.each(adapters)('outbox contract: %s', (_name, makeDatabase) => {
  let database: Database | undefined;
  afterEach(async () => {
    await database?.close();
    database = undefined;
  });
  const fresh = async () => {
    database = await makeDatabase();
    return database;
  };

  it('keeps one entry per key: a second add returns the first, unchanged', async () => {
    const o = await (await fresh()).open();
    const a = await o.add('qr-1', bundle(1), { now: T0 });
    const b = await o.add('qr-1', bundle(2), { now: at(5000) });
    expect(a.created).toBe(true);
    expect(b).toMatchObject({
      created: false,
      entry: {
        id: a.entry.id,
        key: 'qr-1',
        bundle: bundle(1),
        status: 'pending',
        attempts: 0,
        createdAt: T0.toISOString(),
      },
    });
    expect(await o.get('qr-1')).toEqual(a.entry);
    expect(await o.get('qr-2')).toBeUndefined();
    expect(await o.counts()).toEqual({ pending: 1, sent: 0, failed: 0 });
  });

  it('two instances adding the same keys at once store each key once', async () => {
    const db = await fresh();
    const [a, b] = await Promise.all([db.open(), db.open()]);
    const results = await Promise.all(
      Array.from({ length: 40 }, (_, i) => (i % 2 ? a : b).add(`k-${i % 20}`, bundle(i % 20), { now: T0 })),
    );
    expect(results.filter((r) => r.created)).toHaveLength(20);
    expect(new Set(results.map((r) => r.entry.id)).size).toBe(20);
    expect(await a.counts()).toEqual({ pending: 20, sent: 0, failed: 0 });
  });

  it('leases a new entry for its first attempt; then it is due', async () => {
    const o = await (await fresh()).open();
    await o.add('k', bundle(1), { now: T0, leaseMs: 10_000 });
    expect(await o.claimDue(at(9_999), 10, 1000)).toEqual([]);
    const claimed = await o.claimDue(at(10_000), 10, 60_000);
    expect(claimed.map((e) => [e.key, e.nextAttemptAt])).toEqual([['k', at(70_000).toISOString()]]);
  });

  it('a claim is leased: no other instance takes it before the lease ends; after it (a crashed sender) another does', async () => {
    const db = await fresh();
    const [a, b] = await Promise.all([db.open(), db.open()]);
    for (let i = 0; i < 5; i++) await a.add(`k-${i}`, bundle(i), { now: T0, leaseMs: 0 });
    const first = await a.claimDue(at(1000), 10, 30_000);
    expect(first.map((e) => e.key)).toEqual(['k-0', 'k-1', 'k-2', 'k-3', 'k-4']);
    expect(await b.claimDue(at(1000), 10, 30_000)).toEqual([]);
    expect(await b.claimDue(at(30_999), 10, 30_000)).toEqual([]);
    // `a` never reports back (it crashed): when its lease ends the entries are due again, for anyone.
    const retaken = await b.claimDue(at(31_000), 10, 30_000);
    expect(retaken.map((e) => e.key)).toEqual(['k-0', 'k-1', 'k-2', 'k-3', 'k-4']);
    expect(retaken.every((e) => e.attempts === 0 && e.status === 'pending')).toBe(true);
    expect(await a.claimDue(at(31_000), 10, 30_000)).toEqual([]);
  });

  it('claims in id order, at most `limit`', async () => {
    const o = await (await fresh()).open();
    for (let i = 0; i < 7; i++) await o.add(`k-${i}`, bundle(i), { now: at(i), leaseMs: 0 });
    expect((await o.claimDue(at(100), 3, 1000)).map((e) => e.key)).toEqual(['k-0', 'k-1', 'k-2']);
    expect((await o.claimDue(at(100), 10, 1000)).map((e) => e.key)).toEqual(['k-3', 'k-4', 'k-5', 'k-6']);
  });

  it('records sent, retry and failed; sent and failed entries are never claimed again', async () => {
    const db = await fresh();
    const o = await db.open();
    const [s, r, f] = [
      await o.add('s', bundle(1), { now: T0, leaseMs: 0 }),
      await o.add('r', bundle(2), { now: T0, leaseMs: 0 }),
      await o.add('f', bundle(3), { now: T0, leaseMs: 0 }),
    ];
    const response: fhir4.Bundle = {
      resourceType: 'Bundle',
      type: 'transaction-response',
      entry: [{ response: { status: '201', location: 'Basic/1/_history/1' } }],
    };
    await o.markSent(s.entry.id, response, at(1000));
    await o.markRetry(r.entry.id, 'FHIR server unreachable: ' + 'x'.repeat(3000), at(60_000));
    await o.markFailed(f.entry.id, 'FHIR server answered 422: bad flag');
    expect(await o.refresh(s.entry)).toMatchObject({
      status: 'sent',
      attempts: 1,
      sentAt: at(1000).toISOString(),
      response,
      bundle: bundle(1),
    });
    const retry = await o.refresh(r.entry);
    expect(retry).toMatchObject({ status: 'pending', attempts: 1, nextAttemptAt: at(60_000).toISOString() });
    expect(retry.lastError).toHaveLength(2000);
    expect(await o.get('f')).toMatchObject({
      status: 'failed',
      attempts: 1,
      lastError: 'FHIR server answered 422: bad flag',
    });
    // Another instance sees the same state.
    const other = await db.open();
    expect(await other.counts()).toEqual({ pending: 1, sent: 1, failed: 1 });
    expect(await other.claimDue(at(59_999), 10, 1000)).toEqual([]);
    expect((await other.claimDue(at(60_000), 10, 1000)).map((e) => e.key)).toEqual(['r']);
    expect(await other.claimDue(at(60_999), 10, 1000)).toEqual([]); // leased by the claim just made
    expect((await other.list()).map((e) => e.key)).toEqual(['f', 'r', 's']);
    expect((await other.list('failed')).map((e) => e.key)).toEqual(['f']);
    expect((await other.list(undefined, 2)).map((e) => e.key)).toEqual(['f', 'r']);
  });

  it('survives closing and reopening', async () => {
    const db = await fresh();
    const o = await db.open();
    await o.add('a', bundle(1), { now: T0 });
    await o.close();
    const again = await db.open();
    expect((await again.get('a'))?.bundle).toEqual(bundle(1));
  });

  it('two instances claiming 200 entries at once, 3 claimers each: every entry claimed exactly once', async () => {
    const db = await fresh();
    const [a, b] = await Promise.all([db.open(), db.open()]);
    for (let i = 0; i < 200; i++) await a.add(`k-${i}`, bundle(i), { now: T0, leaseMs: 0 });
    const claims: { by: string; entry: OutboxEntry }[] = [];
    const claimer = async (o: Outbox, by: string) => {
      for (;;) {
        const got = await o.claimDue(at(1000), 5, 60_000);
        if (got.length === 0) return;
        claims.push(...got.map((entry) => ({ by, entry })));
      }
    };
    await Promise.all([
      claimer(a, 'a'),
      claimer(b, 'b'),
      claimer(a, 'a'),
      claimer(b, 'b'),
      claimer(a, 'a'),
      claimer(b, 'b'),
    ]);
    const keys = claims.map((c) => c.entry.key);
    expect(keys.length - new Set(keys).size).toBe(0); // duplicates
    expect(new Set(keys).size).toBe(200);
  });

  it('two senders (two replicas) draining one outbox send every entry exactly once', async () => {
    const db = await fresh();
    const [a, b] = await Promise.all([db.open(), db.open()]);
    for (let i = 0; i < 120; i++) await a.add(`k-${i}`, bundle(i), { now: T0, leaseMs: 0 });
    const sent: string[] = [];
    const writer = (replica: string) => ({
      async write(bundleToSend: fhir4.Bundle): Promise<fhir4.Bundle> {
        sent.push(`${replica}:${String(bundleToSend.entry?.[0]?.request?.url)}`);
        await new Promise((r) => setImmediate(r));
        return { resourceType: 'Bundle', type: 'transaction-response' };
      },
    });
    const senders = [
      createOutboxSender({ outbox: a, writer: writer('a'), concurrency: 4, leaseMs: 60_000 }),
      createOutboxSender({ outbox: b, writer: writer('b'), concurrency: 4, leaseMs: 60_000 }),
    ];
    // A fixed `now` drains one batch per call: drain until neither finds anything due.
    for (let round = 0; round < 100; round++) {
      const attempted = await Promise.all(senders.map((s) => s.drain(at(1000))));
      if (attempted.every((n) => n === 0)) break;
    }
    const urls = sent.map((s) => s.split(':')[1]);
    expect(urls.length - new Set(urls).size).toBe(0);
    expect(new Set(urls).size).toBe(120);
    expect(await b.counts()).toEqual({ pending: 0, sent: 120, failed: 0 });
  });
});
