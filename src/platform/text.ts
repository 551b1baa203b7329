/**
 * Text of a value of unknown shape, for messages and logs: strings as they are, other primitives as `String`
 * gives them, null and undefined as '', anything else as JSON (not "[object Object]", which tells no one
 * what was sent).
 */
export function printable(value: unknown): string {
  if (typeof value === 'string') return value;
  if (value === undefined || value === null) return '';
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return String(value);
  if (typeof value === 'symbol' || typeof value === 'function') return value.toString();
  try {
    return JSON.stringify(value) ?? '';
  } catch {
    return Object.prototype.toString.call(value);
  }
}
