import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from '@jest/globals';
import { openSqliteOutbox, type Outbox } from '../../src/submission/outbox.js';
import { classifyWriteError, createOutboxSender, nextDelayMs } from '../../src/submission/sender.js';

const bundle = (n: number): fhir4.Bundle => ({
  resourceType: 'Bundle',
  type: 'transaction',
  entry: [{ request: { method: 'POST', url: `Basic?n=${n}` } }],
});
const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'outbox-'));
const opened: Outbox[] = [];
const open = (dir: string) => {
  const o = openSqliteOutbox(dir);
  opened.push(o);
  return o;
};
afterEach(async () => {
  while (opened.length) await opened.pop()?.close();
});

describe('sqlite outbox', () => {
  it('keeps one entry per idempotency key', async () => {
    const o = open(tmp());
    const a = await o.add('qr-1', bundle(1));
    const b = await o.add('qr-1', bundle(2));
    expect(a.created).toBe(true);
    expect(b.created).toBe(false);
    expect(b.entry.id).toBe(a.entry.id);
    expect(b.entry.bundle).toEqual(bundle(1));
    expect(await o.counts()).toEqual({ pending: 1, sent: 0, failed: 0 });
  });

  it('add: concurrent submissions share fsyncs, each resolves with its own entry, one per key, all on disk', async () => {
    const dir = tmp();
    const o = open(dir);
    const results = await Promise.all([
      ...Array.from({ length: 20 }, (_, i) => o.add(`k-${i}`, bundle(i))),
      o.add('k-3', bundle(99)),
    ]);
    expect(results.filter((r) => r.created)).toHaveLength(20);
    expect(results[20]).toMatchObject({ created: false, entry: { id: results[3]!.entry.id, bundle: bundle(3) } });
    expect(new Set(results.map((r) => r.entry.id)).size).toBe(20);
    // The returned entry is the stored one, and a sent mark is visible through refresh.
    await o.markSent(results[0]!.entry.id, {
      resourceType: 'Bundle',
      type: 'transaction-response',
      entry: [{ response: { status: '201', location: 'QuestionnaireResponse/1/_history/1' } }],
    });
    expect(await o.refresh(results[0]!.entry)).toMatchObject({
      status: 'sent',
      attempts: 1,
      bundle: bundle(0),
      response: { type: 'transaction-response' },
    });
    expect(await o.get('k-5')).toEqual(results[5]!.entry);
    await o.close();
    opened.pop();
    expect(await open(dir).counts()).toEqual({ pending: 19, sent: 1, failed: 0 });
  });

  it('leases a new entry so the background sender does not race the first attempt', async () => {
    const o = open(tmp());
    const now = new Date('2026-01-01T00:00:00Z');
    await o.add('k', bundle(1), { now, leaseMs: 10_000 });
    expect(await o.claimDue(new Date(now.getTime() + 9_999), 10, 1000)).toHaveLength(0);
    const claimed = await o.claimDue(new Date(now.getTime() + 10_000), 10, 60_000);
    expect(claimed.map((e) => e.key)).toEqual(['k']);
    // claimed entries are leased: a second sender sees nothing until the lease ends
    expect(await o.claimDue(new Date(now.getTime() + 10_001), 10, 60_000)).toHaveLength(0);
  });

  it('survives reopening (durable on disk)', async () => {
    const dir = tmp();
    const o = open(dir);
    await o.add('a', bundle(1));
    await o.close();
    opened.pop();
    const again = open(dir);
    expect((await again.get('a'))?.bundle).toEqual(bundle(1));
  });
});

describe('outbox sender', () => {
  it('retries transient failures with backoff, then marks the entry sent exactly once', async () => {
    const o = open(tmp());
    const calls: fhir4.Bundle[] = [];
    let failuresLeft = 2;
    const sender = createOutboxSender({
      outbox: o,
      backoff: { baseMs: 1, maxMs: 2 },
      writer: {
        async write(b) {
          calls.push(b);
          if (failuresLeft-- > 0) throw Object.assign(new Error('HTTP 503'), { response: { status: 503, data: '' } });
          return { resourceType: 'Bundle', type: 'transaction-response' };
        },
      },
    });
    const { entry } = await o.add('k', bundle(1), { leaseMs: 0 });
    expect(await sender.sendEntry(entry)).toBe('retry');
    // A fixed `now` drains one batch (without it, drain goes on while entries are due).
    const later = () => new Date(Date.now() + 100);
    expect(await sender.drain(later())).toBe(1);
    expect((await o.get('k'))?.status).toBe('pending');
    expect(await sender.drain(later())).toBe(1);
    expect((await o.get('k'))?.status).toBe('sent');
    expect((await o.get('k'))?.attempts).toBe(3);
    expect(calls).toHaveLength(3);
    expect(await sender.drain(later())).toBe(0);
  });

  it('marks a permanent 4xx failed with the server message, and never retries it', async () => {
    const o = open(tmp());
    const sender = createOutboxSender({
      outbox: o,
      writer: {
        async write() {
          throw Object.assign(new Error('HTTP 422'), {
            response: {
              status: 422,
              data: JSON.stringify({
                resourceType: 'OperationOutcome',
                issue: [{ severity: 'error', code: 'invalid', diagnostics: 'bad flag' }],
              }),
            },
          });
        },
      },
    });
    const { entry } = await o.add('k', bundle(1), { leaseMs: 0 });
    expect(await sender.sendEntry(entry)).toBe('failed');
    expect(await o.get('k')).toMatchObject({ status: 'failed', lastError: 'FHIR server answered 422: bad flag' });
    expect(await sender.drain(new Date(Date.now() + 3_600_000))).toBe(0);
  });
});

describe('error classification and backoff', () => {
  it.each([
    [500, true],
    [503, true],
    [429, true],
    [408, true],
    [400, false],
    [409, false],
    [422, false],
  ])('HTTP %i transient=%s', (status, transient) => {
    expect(classifyWriteError({ response: { status } }).transient).toBe(transient);
  });
  it('treats connection errors, timeouts and 401 as transient, 403 as permanent', () => {
    expect(classifyWriteError(new TypeError('fetch failed'))).toEqual({
      transient: true,
      message: 'FHIR server unreachable: fetch failed',
    });
    expect(classifyWriteError(Object.assign(new Error('t'), { name: 'TimeoutError' }))).toEqual({
      transient: true,
      message: 'FHIR server unreachable: no answer in time',
    });
    expect(classifyWriteError({ response: { status: 401 } }).transient).toBe(true);
    expect(classifyWriteError({ response: { status: 403 } }).transient).toBe(false);
  });
  it("never retries a refusal of the user's own token with the module's credential", () => {
    for (const status of [401, 403]) {
      const failure = classifyWriteError({ response: { status } }, { userToken: true });
      expect(failure.transient).toBe(false);
      expect(failure.message).toMatch(/refused the user's credentials/);
    }
    expect(classifyWriteError({ response: { status: 503 } }, { userToken: true }).transient).toBe(true);
  });

  it('the background sender drains everything due, then keeps polling', async () => {
    const o = open(tmp());
    const sent: string[] = [];
    const sender = createOutboxSender({
      outbox: o,
      pollMs: 5,
      writer: {
        async write(b) {
          sent.push(String(b.entry?.[0]?.request?.url));
          return { resourceType: 'Bundle', type: 'transaction-response' };
        },
      },
    });
    for (let n = 0; n < 30; n++) await o.add(`k${n}`, bundle(n), { leaseMs: 0 });
    sender.start();
    for (let i = 0; i < 400 && (await o.counts()).sent < 30; i++) await new Promise((r) => setTimeout(r, 5));
    await o.add('late', bundle(99), { leaseMs: 0 });
    for (let i = 0; i < 400 && (await o.counts()).sent < 31; i++) await new Promise((r) => setTimeout(r, 5));
    await sender.stop();
    expect(await o.counts()).toEqual({ pending: 0, sent: 31, failed: 0 });
    expect(new Set(sent).size).toBe(31);
    expect(sent).toHaveLength(31);
  });
  it('doubles the delay up to the cap, with bounded jitter', () => {
    const p = { baseMs: 1000, maxMs: 8000 };
    expect(nextDelayMs(1, p, () => 0.5)).toBe(1000);
    expect(nextDelayMs(3, p, () => 0.5)).toBe(4000);
    expect(nextDelayMs(10, p, () => 0.5)).toBe(8000);
    expect(nextDelayMs(1, p, () => 0)).toBe(800);
    expect(nextDelayMs(1, p, () => 1)).toBe(1200);
  });
});
