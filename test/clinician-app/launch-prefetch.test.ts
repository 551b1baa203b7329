/**
 * The reads a launch starts ahead: each used once, none after the session wrote something, none once expired,
 * and a failed read reaches whoever takes it (never an unhandled rejection).
 */
import { describe, expect, it } from '@jest/globals';
import { createLaunchPrefetch } from '../../src/clinician-app/launch-prefetch.js';

describe('launch prefetch', () => {
  it('gives a read once, to its own session only', async () => {
    const prefetch = createLaunchPrefetch();
    let reads = 0;
    void prefetch.put('a', 'patient', async () => ({ id: `p${++reads}` }));
    expect(prefetch.take('b', 'patient')).toBeUndefined();
    expect(await prefetch.take('a', 'patient')).toEqual({ id: 'p1' });
    expect(prefetch.take('a', 'patient')).toBeUndefined();
    expect(reads).toBe(1);
    prefetch.close();
  });

  it('drops what a session read ahead once it writes', () => {
    const prefetch = createLaunchPrefetch();
    void prefetch.put('a', 'intakes', async () => []);
    void prefetch.put('a', 'populate', async () => ({}));
    prefetch.forget('a');
    expect(prefetch.take('a', 'intakes')).toBeUndefined();
    expect(prefetch.take('a', 'populate')).toBeUndefined();
    prefetch.close();
  });

  it('keeps nothing past its lifetime', () => {
    let now = 1_000;
    const prefetch = createLaunchPrefetch({ ttlMs: 20_000, now: () => now });
    void prefetch.put('a', 'patient', async () => ({}));
    now += 20_000;
    expect(prefetch.take('a', 'patient')).toBeUndefined();
    prefetch.close();
  });

  it("a failed read is the taker's error", async () => {
    const prefetch = createLaunchPrefetch();
    void prefetch.put('a', 'patient', async () => {
      throw new Error('The EHR has no such record (404)');
    });
    await new Promise((resolve) => setTimeout(resolve, 0)); // had it been unhandled, it would be by now
    await expect(prefetch.take('a', 'patient')).rejects.toThrow('404');
    prefetch.close();
  });
});
