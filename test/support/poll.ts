/**
 * Waiting for something another process, a browser or a timer will do: `poll(read).toBe(x)` reads again every
 * `interval` ms until the matcher passes, and fails with the matcher's own message after `timeout` ms.
 * `eventually(check)` does the same for a block of assertions. The timeout bounds a wait for a result; it is
 * never what a test asserts.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { expect } from '@jest/globals';

export interface PollOptions {
  /** How long to keep trying, in ms (default 5 s: a busy two-core machine is slow; a pass returns at once). */
  timeout?: number;
  /** Pause between tries, in ms. */
  interval?: number;
}

/** Runs `check` until it neither throws nor rejects, and returns its result; rethrows its last error at `timeout`. */
export async function eventually<T>(
  check: () => T | Promise<T>,
  { timeout = 5_000, interval = 50 }: PollOptions = {},
): Promise<T> {
  const deadline = performance.now() + timeout;
  for (;;) {
    try {
      return await check();
    } catch (error) {
      if (performance.now() >= deadline) throw error;
    }
    await sleep(interval);
  }
}

type AsyncMatchers<T> = ReturnType<typeof expect<T>>['resolves'];

/** `expect`'s matchers (and `.not`), each applied to a fresh `read()` until it passes or `timeout` runs out. */
export function poll<T>(read: () => T | Promise<T>, options: PollOptions = {}): AsyncMatchers<Awaited<T>> {
  const matchers = (negated: boolean): object =>
    new Proxy(
      {},
      {
        get(_target, name) {
          if (name === 'not') return matchers(!negated);
          // Not a thenable: `await poll(read)` without a matcher is a mistake, not a wait for a `then` matcher.
          if (typeof name !== 'string' || name === 'then') return undefined;
          return (...args: unknown[]) =>
            eventually(async () => {
              const subject = expect(await read());
              const chosen = (negated ? subject.not : subject) as unknown as Record<string, (...a: unknown[]) => void>;
              chosen[name]!(...args);
            }, options);
        },
      },
    );
  return matchers(false) as AsyncMatchers<Awaited<T>>;
}
