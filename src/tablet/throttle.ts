/**
 * Counting WRONG hand-off codes, per key (a client address, a tablet's name), in a fixed window per key. It
 * never sees a correct code: the claim route takes a valid code before it asks anything here, so a person
 * typing wrong codes on one tablet (or behind the same proxy or NAT) can never lock another tablet out of
 * its own valid code. In memory, per process; the clock is injected (tests move it, nothing sleeps).
 */

export interface ClaimThrottleOptions {
  /** Wrong codes allowed per key within `windowMs`; the next one is answered 429. */
  limit: number;
  windowMs: number;
  now: () => number;
  /** Most keys remembered at once (a client inventing tablet names cannot grow memory without end). */
  maxKeys?: number;
}

export interface ClaimThrottle {
  /**
   * Count one wrong code against each key. Returns the seconds until every key that is over its limit is
   * allowed again (0: not throttled, answer "wrong code" as usual).
   */
  fail(keys: readonly string[]): number;
  /** Drop windows that are over. */
  prune(): void;
  readonly size: number;
}

export function createClaimThrottle(options: ClaimThrottleOptions): ClaimThrottle {
  const { limit, windowMs, now } = options;
  const maxKeys = options.maxKeys ?? 10_000;
  const windows = new Map<string, { count: number; since: number }>();

  return {
    fail(keys) {
      const at = now();
      let waitMs = 0;
      for (const key of keys) {
        let w = windows.get(key);
        if (!w || at - w.since >= windowMs) {
          windows.delete(key);
          if (windows.size >= maxKeys) {
            // Oldest first (Map keeps insertion order): forget the window that has run longest.
            const oldest = windows.keys().next().value;
            if (oldest !== undefined) windows.delete(oldest);
          }
          w = { count: 0, since: at };
          windows.set(key, w);
        }
        w.count++;
        if (w.count > limit) waitMs = Math.max(waitMs, w.since + windowMs - at);
      }
      return waitMs > 0 ? Math.ceil(waitMs / 1000) : 0;
    },
    prune() {
      const at = now();
      for (const [key, w] of windows) if (at - w.since >= windowMs) windows.delete(key);
    },
    get size() {
      return windows.size;
    },
  };
}
