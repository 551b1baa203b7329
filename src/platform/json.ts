/**
 * Plain JSON objects, judged by shape rather than by identity.
 *
 * `JSON.parse` makes objects whose prototype is `Object.prototype`, and the validator and the FHIRPath
 * evaluator refuse anything else (class instances, getters, Maps) as "not JSON". Which realm's
 * `Object.prototype` it is does not matter: an object made in another realm (a `vm` context such as a test
 * runner's sandbox, where Node's `structuredClone` answers with the main realm's objects) is as plain as one
 * made here.
 */

const nativeObjectSource = Function.prototype.toString.call(Object);

/** True for `null` (as `Object.create(null)` has) and for any realm's `Object.prototype`. */
export function isPlainPrototype(proto: unknown): boolean {
  if (proto === Object.prototype || proto === null) return true; // the common case, at the cost of one compare
  if (typeof proto !== 'object' || Object.getPrototypeOf(proto) !== null) return false;
  const constructor = (proto as { constructor?: unknown }).constructor;
  return typeof constructor === 'function' && Function.prototype.toString.call(constructor) === nativeObjectSource;
}

/** Some realm's `Object.prototype` (not `null`). */
export function isObjectPrototype(proto: unknown): boolean {
  return proto !== null && isPlainPrototype(proto);
}

/** An object as `JSON.parse` makes it (not an array, not a class instance), from this realm or another. */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return (
    value !== null &&
    typeof value === 'object' &&
    !Array.isArray(value) &&
    isPlainPrototype(Object.getPrototypeOf(value))
  );
}
