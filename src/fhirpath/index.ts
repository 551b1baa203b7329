/**
 * FHIRPath against the R4 model, compiled once.
 *
 * fhirpath.js pitfalls handled here (see stack notes): without the R4 model `answer.value` silently
 * misbehaves; `evaluate` mutates its input, so expressions are compiled once and cached; some errors
 * are thrown as strings, so everything thrown is normalised to `FhirPathError`.
 */
import fhirpath from 'fhirpath';
import r4Model from 'fhirpath/fhir-context/r4/index.js';

export type FhirPathEnv = Record<string, unknown>;
export type CompiledFhirPath = (resource: unknown, env?: FhirPathEnv) => unknown[];

export interface CompileOptions {
  /**
   * Keep fhirpath.js's typed nodes in the result instead of converting it to plain JSON. Only for values
   * that are fed back into later expressions as `%variables` (a rule engine's named expressions): they
   * then keep their FHIR type without being converted and re-wrapped on every `%name` access, and the
   * input resource is not annotated. Never hand such a result to callers as data.
   */
  keepTypes?: boolean;
}

export class FhirPathError extends Error {
  readonly expression: string;
  constructor(expression: string, cause: unknown) {
    super(`FHIRPath expression ${JSON.stringify(expression)} failed: ${describe(cause)}`);
    this.name = 'FhirPathError';
    this.expression = expression;
  }
}

function describe(cause: unknown): string {
  if (cause instanceof Error) return cause.message;
  return String(cause);
}

const cache = new Map<string, CompiledFhirPath>();
const typedCache = new Map<string, CompiledFhirPath>();

/** Compile (or fetch from cache) an expression. Throws FhirPathError when it does not parse. */
export function compileFhirPath(expression: string, options?: CompileOptions): CompiledFhirPath {
  const keepTypes = options?.keepTypes === true;
  const store = keepTypes ? typedCache : cache;
  const hit = store.get(expression);
  if (hit) return hit;
  let fn: (resource: unknown, env?: FhirPathEnv) => unknown[];
  try {
    fn = fhirpath.compile(expression, r4Model, { resolveInternalTypes: !keepTypes });
  } catch (err) {
    throw new FhirPathError(expression, err);
  }
  const compiled: CompiledFhirPath = (resource, env) => {
    try {
      return fn(resource, env ?? {});
    } catch (err) {
      throw new FhirPathError(expression, err);
    }
  };
  store.set(expression, compiled);
  return compiled;
}

/** Evaluate once (compiled and cached). */
export function evaluateFhirPath(resource: unknown, expression: string, env?: FhirPathEnv): unknown[] {
  return compileFhirPath(expression)(resource, env);
}
