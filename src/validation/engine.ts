/**
 * Which structural validator `validateResource` runs: the compiled one (`structure.ts`, the default) or
 * Medplum's own `validateResource` / `validateTypedValue` together with the module's earlier passes (the
 * reference). Production code never switches; the differential test and `bench/validate.ts` run the same
 * inputs through both and compare.
 */
let reference = false;

/** True while `withMedplumReference` is running. */
export function usingMedplumReference(): boolean {
  return reference;
}

/** Run `fn` with validation going through the reference path (Medplum's validator, the original passes). */
export function withMedplumReference<T>(fn: () => T): T {
  const previous = reference;
  reference = true;
  try {
    return fn();
  } finally {
    reference = previous;
  }
}
