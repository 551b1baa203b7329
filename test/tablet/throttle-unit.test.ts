/**
 * The wrong-code counter on its own (no HTTP): per key, a window per key on an injected clock, the longest
 * wait of the keys over their limit, and a bounded number of keys (a client inventing tablet names cannot
 * grow memory without end).
 */
import { describe, expect, it } from '@jest/globals';
import { createClaimThrottle } from '../../src/tablet/throttle.js';

describe('createClaimThrottle', () => {
  it('counts per key; the wait is the longest of the keys over their limit; a window ends by the clock', () => {
    let t = 0;
    const throttle = createClaimThrottle({ limit: 2, windowMs: 600_000, now: () => t });
    expect(throttle.fail(['address a', 'device x'])).toBe(0);
    t = 60_000;
    expect(throttle.fail(['address a', 'device y'])).toBe(0);
    // Third wrong code for address a (its window began at 0): 9 minutes left; device y is still under.
    t = 60_000;
    expect(throttle.fail(['address a', 'device y'])).toBe(540);
    expect(throttle.fail(['address b', 'device y'])).toBe(600); // device y's window began at 60 s: all 10 minutes left
    t = 600_000;
    expect(throttle.fail(['address a'])).toBe(0); // a new window
    t = 660_000; // every other window (begun at 0 or 60 s) is over
    throttle.prune();
    expect(throttle.size).toBe(1);
  });

  it('keeps at most maxKeys keys, forgetting the oldest window first', () => {
    let t = 0;
    const throttle = createClaimThrottle({ limit: 1, windowMs: 600_000, now: () => t, maxKeys: 3 });
    for (const name of ['a', 'b', 'c', 'd', 'e']) {
      t += 1;
      throttle.fail([`device ${name}`]);
    }
    expect(throttle.size).toBe(3);
    // 'a' was forgotten (a first wrong code again), 'e' is remembered (its second is over the limit).
    expect(throttle.fail(['device e'])).toBeGreaterThan(0);
    expect(throttle.fail(['device a'])).toBe(0);
  });
});
