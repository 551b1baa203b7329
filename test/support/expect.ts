/**
 * jest's `expect` with an optional second argument: a message printed above the matcher's own when the
 * assertion fails. A table-driven test checks hundreds of cases with one `expect` line; the message says which
 * case failed (the file, the rule, the item), which jest's own `expect(value)` cannot.
 */
import { expect as jestExpect } from '@jest/globals';

type JestExpect = typeof jestExpect;

function prefixed(error: unknown, message: string): unknown {
  if (!(error instanceof Error)) return error;
  // Read before the message changes: V8 may format `stack` on first read, from the message of that moment.
  const stack = error.stack ?? '';
  const original = error.message;
  error.message = `${message}\n\n${original}`;
  // jest prints the stack, which begins with the message; the frames inside this module are noise.
  error.stack = stack
    .replace(original, () => error.message)
    .split('\n')
    .filter((line) => !line.includes('/test/support/expect.'))
    .join('\n');
  return error;
}

const isPromise = (value: unknown): value is Promise<unknown> =>
  typeof (value as { then?: unknown } | null)?.then === 'function';

/** Every matcher reached from `target` (through `.not`, `.resolves`, `.rejects`) reports `message` on failure. */
function withMessage<T extends object>(target: T, message: string): T {
  return new Proxy(target, {
    get(object, key, receiver) {
      const value: unknown = Reflect.get(object, key, receiver);
      if (typeof value === 'function') {
        return (...args: unknown[]): unknown => {
          try {
            const result: unknown = (value as (...a: unknown[]) => unknown).apply(object, args);
            if (isPromise(result)) return result.catch((error: unknown) => Promise.reject(prefixed(error, message)));
            return result;
          } catch (error) {
            throw prefixed(error, message);
          }
        };
      }
      if (value !== null && typeof value === 'object') return withMessage(value, message);
      return value;
    },
  });
}

function expectWithMessage<T>(actual: T, message?: string): ReturnType<typeof jestExpect<T>> {
  const matchers = jestExpect(actual);
  return message === undefined ? matchers : withMessage(matchers, message);
}

export const expect: JestExpect & (<T>(actual: T, message?: string) => ReturnType<typeof jestExpect<T>>) =
  Object.assign(expectWithMessage, jestExpect);
