/**
 * Content shared by every request and every patient (the knowledge artifacts, the R4 definitions): a caller
 * that wrote into it (a library resolving its variables in place, a route adding a field) would change what
 * every later patient gets, so its owners freeze it: in strict-mode code such a write throws instead of leaking.
 */

/** Freeze `value` and everything reachable from it (plain JSON: objects and arrays). Returns `value`. */
export function deepFreeze<T>(value: T): T {
  const pending: unknown[] = [value];
  while (pending.length > 0) {
    const node = pending.pop();
    if (node === null || typeof node !== 'object' || Object.isFrozen(node)) continue;
    Object.freeze(node);
    for (const child of Object.values(node)) if (child !== null && typeof child === 'object') pending.push(child);
  }
  return value;
}
