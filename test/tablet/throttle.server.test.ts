/**
 * The wrong-code limit of `POST /tablet/api/claim` over real HTTP: it counts wrong codes per client address
 * and per tablet name, never refuses a valid code, answers 429 with Retry-After as an OperationOutcome, and
 * (with TRUST_PROXY) tells clients behind a reverse proxy apart by X-Forwarded-For. The tablet's clock is
 * injected: the 10-minute window passes by moving it, not by waiting.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startTabletHarness, STAFF, type TabletHarness } from './harness.js';

const LIMIT = 3;
const WINDOW_MS = 10 * 60_000;

interface Clock {
  now: () => number;
  advance(ms: number): void;
}
function fixedClock(start = Date.UTC(2026, 10, 24, 9, 0, 0)): Clock {
  let t = start;
  return { now: () => t, advance: (ms) => (t += ms) };
}

async function claim(
  h: TabletHarness,
  code: string,
  { device, forwardedFor }: { device?: string; forwardedFor?: string } = {},
) {
  const res = await fetch(`${h.baseUrl}/tablet/api/claim`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', ...(forwardedFor ? { 'X-Forwarded-For': forwardedFor } : {}) },
    body: JSON.stringify({ code, ...(device ? { device } : {}) }),
  });
  return {
    status: res.status,
    retryAfter: res.headers.get('retry-after'),
    body: (await res.json()) as Record<string, unknown>,
  };
}

/** Wrong codes that look like real ones (so the format check does not answer them). */
const wrong = (i: number) => `ZZZZZZ${'23456789'[i % 8]}${'ABCDEFGH'[Math.floor(i / 8) % 8]}`;

describe('wrong hand-off codes (no proxy)', () => {
  const clock = fixedClock();
  let h: TabletHarness;
  beforeAll(async () => {
    h = await startTabletHarness({ maxFailedClaims: LIMIT, now: clock.now });
  }, 60_000);
  afterAll(async () => {
    await h?.close();
  });

  it('wrong codes from one address, then a valid code from the same address: accepted', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < LIMIT + 3; i++) statuses.push((await claim(h, wrong(i), { device: 'bay-3' })).status);
    expect(statuses).toEqual([404, 404, 404, 429, 429, 429]);
    // Another tablet behind the same address, and the very tablet that typed the wrong codes: valid codes work.
    for (const device of ['bay-1', 'bay-3']) {
      const { code } = await h.tablet.createHandoff({ patientId: 'sandbox-patient-1', staff: STAFF });
      const ok = await claim(h, code, { device });
      expect(ok.status).toBe(201);
      expect(ok.body.session).toEqual(expect.any(String));
    }
    clock.advance(WINDOW_MS);
  });

  it('many wrong codes: 429 with Retry-After, an OperationOutcome; once the window is over, wrong codes are 404 again', async () => {
    for (let i = 0; i < LIMIT; i++) expect((await claim(h, wrong(i))).status).toBe(404);
    clock.advance(4 * 60_000);
    const throttled = await claim(h, wrong(LIMIT));
    expect(throttled.status).toBe(429);
    // The window began at the first wrong code: 6 of its 10 minutes are left.
    expect(throttled.retryAfter).toBe(String(6 * 60));
    expect(throttled.body).toMatchObject({
      resourceType: 'OperationOutcome',
      issue: [{ severity: 'error', code: 'throttled', expression: ['code'] }],
    });
    clock.advance(6 * 60_000 - 1);
    expect((await claim(h, wrong(LIMIT + 1))).retryAfter).toBe('1');
    clock.advance(1);
    expect((await claim(h, wrong(LIMIT + 2))).status).toBe(404);
    clock.advance(WINDOW_MS);
  });

  it('without TRUST_PROXY, X-Forwarded-For is ignored: a client cannot escape its limit by naming another address', async () => {
    for (let i = 0; i < LIMIT; i++) expect((await claim(h, wrong(i), { forwardedFor: '10.1.0.7' })).status).toBe(404);
    expect((await claim(h, wrong(LIMIT), { forwardedFor: '10.1.0.8' })).status).toBe(429);
    expect((await claim(h, wrong(LIMIT + 1), { forwardedFor: '10.1.0.9' })).status).toBe(429);
    clock.advance(WINDOW_MS);
  });

  it('a valid code is taken once, and expires by the same clock', async () => {
    const { code } = await h.tablet.createHandoff({ patientId: 'sandbox-patient-2', staff: STAFF });
    clock.advance(10 * 60_000 + 1);
    expect((await claim(h, code)).status).toBe(404);
    const fresh = await h.tablet.createHandoff({ patientId: 'sandbox-patient-2', staff: STAFF });
    clock.advance(10 * 60_000);
    expect((await claim(h, fresh.code)).status).toBe(201);
    expect((await claim(h, fresh.code)).status).toBe(404);
    clock.advance(WINDOW_MS);
  });
});

describe('wrong hand-off codes behind a reverse proxy (TRUST_PROXY=loopback)', () => {
  const clock = fixedClock();
  let h: TabletHarness;
  beforeAll(async () => {
    h = await startTabletHarness({ maxFailedClaims: LIMIT, now: clock.now, trustProxy: 'loopback' });
  }, 60_000);
  afterAll(async () => {
    await h?.close();
  });

  it('X-Forwarded-For tells the clients apart: one client over its limit, another client still gets "wrong code"', async () => {
    for (let i = 0; i <= LIMIT; i++) await claim(h, wrong(i), { forwardedFor: '10.1.0.7' });
    expect((await claim(h, wrong(9), { forwardedFor: '10.1.0.7' })).status).toBe(429);
    expect((await claim(h, wrong(10), { forwardedFor: '10.1.0.8' })).status).toBe(404);
    const { code } = await h.tablet.createHandoff({ patientId: 'sandbox-patient-3', staff: STAFF });
    expect((await claim(h, code, { forwardedFor: '10.1.0.7' })).status).toBe(201);
    clock.advance(WINDOW_MS);
  });

  it('per tablet name too: one name guessing from many addresses is throttled', async () => {
    const statuses: number[] = [];
    for (let i = 0; i <= LIMIT; i++)
      statuses.push((await claim(h, wrong(i), { device: 'bay-9', forwardedFor: `10.2.0.${i + 1}` })).status);
    expect(statuses).toEqual([404, 404, 404, 429]);
    // A different tablet name from a fresh address is not.
    expect((await claim(h, wrong(20), { device: 'bay-2', forwardedFor: '10.2.0.50' })).status).toBe(404);
    clock.advance(WINDOW_MS);
  });
});
