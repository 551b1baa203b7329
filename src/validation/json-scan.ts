/**
 * The pre-scan every input gets before Medplum sees it. Medplum checks unknown properties with the `in`
 * operator, so keys such as `__proto__` or `constructor` slip through (they are "in" every object); it also
 * recurses, so a cycle or 50 000 levels of nesting would overflow the stack.
 */
import { issue } from '../outcomes/index.js';
import { isPlainPrototype } from '../platform/json.js';
import { printable } from '../platform/text.js';

/** Deepest JSON nesting accepted (the most `MAX_JSON_DEPTH` may be configured to). Real content stays far
 * below it; the HTTP layer's own limit usually rejects such bodies before they get here. */
export const MAX_VALIDATION_DEPTH = 1000;

const PROTOTYPE_KEYS = new Set(Object.getOwnPropertyNames(Object.prototype));

type ScanFrame = { value: unknown; path: string; depth: number; exit?: object };

/**
 * Walk the input once (iteratively, so no stack overflow) and report what JSON-from-the-wire can contain but
 * the validator must not be trusted with: keys naming Object.prototype members, values JSON cannot hold,
 * cycles (only possible for in-process objects) and nesting deeper than MAX_VALIDATION_DEPTH.
 */
export function scanJson(
  root: object,
  rootName: string,
  isResourceType: (type: string) => boolean,
): fhir4.OperationOutcomeIssue[] {
  const out: fhir4.OperationOutcomeIssue[] = [];
  const onPath = new WeakSet<object>();
  const stack: ScanFrame[] = [{ value: root, path: rootName, depth: 0 }];
  while (stack.length > 0 && out.length < 50) {
    const { value, path, depth, exit } = stack.pop()!;
    if (exit) {
      onPath.delete(exit);
      continue;
    }
    if (value === null || typeof value !== 'object') {
      const problem = scalarProblem(value, path);
      if (problem) out.push(problem);
      continue;
    }
    if (depth > MAX_VALIDATION_DEPTH) {
      // The full path would be kilobytes long; the resource type is enough to say where.
      out.push(
        issue({
          code: 'too-costly',
          diagnostics: `Nested more than ${MAX_VALIDATION_DEPTH} levels deep (at ${path.slice(0, 120)}…)`,
          expression: rootName,
        }),
      );
      return out;
    }
    const problem = objectProblem(value, path, depth, onPath, isResourceType);
    if (problem) {
      out.push(problem);
      continue;
    }
    onPath.add(value);
    stack.push({ value: undefined, path, depth, exit: value });
    pushChildren(value, path, depth, stack, out);
  }
  return out;
}

/** Strings, booleans, null and finite numbers are JSON; anything else that is not an object is not. */
function scalarProblem(value: unknown, path: string): fhir4.OperationOutcomeIssue | undefined {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return undefined;
  if (typeof value === 'number') {
    return Number.isFinite(value)
      ? undefined
      : issue({ code: 'structure', diagnostics: 'Invalid number (not finite)', expression: path });
  }
  return issue({
    code: 'structure',
    diagnostics: `Invalid value: ${typeof value === 'undefined' ? 'undefined' : `a ${typeof value}`} is not JSON`,
    expression: path,
  });
}

/** A cycle, an object that is not plain JSON, or a nested resource of no R4 type; undefined when none. */
function objectProblem(
  value: object,
  path: string,
  depth: number,
  onPath: WeakSet<object>,
  isResourceType: (type: string) => boolean,
): fhir4.OperationOutcomeIssue | undefined {
  if (onPath.has(value))
    return issue({ code: 'structure', diagnostics: 'Circular structure: an object contains itself', expression: path });
  if (Array.isArray(value)) return undefined;
  if (!isPlainPrototype(Object.getPrototypeOf(value)))
    return issue({ code: 'structure', diagnostics: 'Invalid value: not a plain JSON object', expression: path });
  const rt = (value as { resourceType?: unknown }).resourceType;
  if (depth > 0 && rt !== undefined && (typeof rt !== 'string' || !isResourceType(rt))) {
    return issue({
      code: 'structure',
      diagnostics: `Unknown resourceType ${JSON.stringify(printable(rt).slice(0, 100))}: not a FHIR R4 resource type`,
      expression: `${path}.resourceType`,
    });
  }
  return undefined;
}

/** Queue an array's items, or an object's properties (reporting keys that name Object.prototype members). */
function pushChildren(
  value: object,
  path: string,
  depth: number,
  stack: ScanFrame[],
  out: fhir4.OperationOutcomeIssue[],
): void {
  if (Array.isArray(value)) {
    for (let i = value.length - 1; i >= 0; i--)
      stack.push({ value: value[i], path: `${path}[${i}]`, depth: depth + 1 });
    return;
  }
  for (const key of Object.keys(value)) {
    const childPath = `${path}.${key}`;
    if (PROTOTYPE_KEYS.has(key)) {
      out.push(
        issue({ code: 'structure', diagnostics: `Invalid property ${JSON.stringify(key)}`, expression: childPath }),
      );
      continue;
    }
    const child = (value as Record<string, unknown>)[key];
    if (child === undefined) continue; // an in-memory object's absent optional property, as JSON.stringify drops it
    stack.push({ value: child, path: childPath, depth: depth + 1 });
  }
}

/**
 * The usual case in one pass: when `root` is plain JSON that `scanJson` would find nothing wrong with,
 * return a copy of it equal to `JSON.parse(JSON.stringify(root))` (absent-valued properties dropped, -0
 * written as 0); otherwise `undefined`, and the caller runs `scanJson` (and the JSON round trip) as before.
 * It gives up on anything unusual (stricter than scanJson, never looser), so its copy is only ever used for
 * input that scanJson passes.
 */
export function plainJsonCopy(
  root: object,
  isResourceType: (type: string) => boolean,
): Record<string, unknown> | undefined {
  const copy = copyValue(root, 0, isResourceType);
  return copy === GIVE_UP ? undefined : (copy as Record<string, unknown>);
}

const GIVE_UP = Symbol('give up');

function copyValue(value: unknown, depth: number, isResourceType: (type: string) => boolean): unknown {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return value;
  if (typeof value === 'number') return Number.isFinite(value) ? (value === 0 ? 0 : value) : GIVE_UP;
  if (typeof value !== 'object' || depth > MAX_VALIDATION_DEPTH) return GIVE_UP;
  return Array.isArray(value) ? copyArray(value, depth, isResourceType) : copyObject(value, depth, isResourceType);
}

function copyArray(value: unknown[], depth: number, isResourceType: (type: string) => boolean): unknown {
  if (Object.getPrototypeOf(value) !== Array.prototype) return GIVE_UP;
  const out: unknown[] = new Array<unknown>(value.length);
  for (let i = 0; i < value.length; i++) {
    const item = value[i];
    if (item === undefined) return GIVE_UP;
    const copied = copyValue(item, depth + 1, isResourceType);
    if (copied === GIVE_UP) return GIVE_UP;
    out[i] = copied;
  }
  return out;
}

function copyObject(value: object, depth: number, isResourceType: (type: string) => boolean): unknown {
  if (!isPlainPrototype(Object.getPrototypeOf(value))) return GIVE_UP;
  const source = value as Record<string, unknown>;
  if (
    depth > 0 &&
    source.resourceType !== undefined &&
    (typeof source.resourceType !== 'string' || !isResourceType(source.resourceType))
  )
    return GIVE_UP;
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(source)) {
    if (PROTOTYPE_KEYS.has(key)) return GIVE_UP;
    const child = source[key];
    if (child === undefined) continue;
    const copied = copyValue(child, depth + 1, isResourceType);
    if (copied === GIVE_UP) return GIVE_UP;
    out[key] = copied;
  }
  return out;
}
