/**
 * The pre-scan every input gets before Medplum sees it. Medplum checks unknown properties with the `in`
 * operator, so keys such as `__proto__` or `constructor` slip through (they are "in" every object); it also
 * recurses, so a cycle or 50 000 levels of nesting would overflow the stack.
 */
import { issue } from '../outcomes/index.js';

/** Deepest JSON nesting accepted (the most `MAX_JSON_DEPTH` may be configured to). Real content stays far
 * below it; the HTTP layer's own limit usually rejects such bodies before they get here. */
export const MAX_VALIDATION_DEPTH = 1000;

const PROTOTYPE_KEYS = new Set(Object.getOwnPropertyNames(Object.prototype));

/**
 * Walk the input once (iteratively, so no stack overflow) and report what JSON-from-the-wire can contain but
 * the validator must not be trusted with: keys naming Object.prototype members, values JSON cannot hold,
 * cycles (only possible for in-process objects) and nesting deeper than MAX_VALIDATION_DEPTH.
 */
export function scanJson(root: object, rootName: string, isResourceType: (type: string) => boolean): fhir4.OperationOutcomeIssue[] {
  const out: fhir4.OperationOutcomeIssue[] = [];
  const onPath = new WeakSet<object>();
  const stack: Array<{ value: unknown; path: string; depth: number; exit?: object }> = [{ value: root, path: rootName, depth: 0 }];
  while (stack.length > 0 && out.length < 50) {
    const { value, path, depth, exit } = stack.pop()!;
    if (exit) {
      onPath.delete(exit);
      continue;
    }
    if (value === null || typeof value === 'string' || typeof value === 'boolean') continue;
    if (typeof value === 'number') {
      if (!Number.isFinite(value)) out.push(issue({ code: 'structure', diagnostics: 'Invalid number (not finite)', expression: path }));
      continue;
    }
    if (typeof value !== 'object') {
      out.push(issue({ code: 'structure', diagnostics: `Invalid value: ${typeof value === 'undefined' ? 'undefined' : `a ${typeof value}`} is not JSON`, expression: path }));
      continue;
    }
    if (depth > MAX_VALIDATION_DEPTH) {
      // The full path would be kilobytes long; the resource type is enough to say where.
      out.push(issue({ code: 'too-costly', diagnostics: `Nested more than ${MAX_VALIDATION_DEPTH} levels deep (at ${path.slice(0, 120)}…)`, expression: rootName }));
      return out;
    }
    if (onPath.has(value)) {
      out.push(issue({ code: 'structure', diagnostics: 'Circular structure: an object contains itself', expression: path }));
      continue;
    }
    const proto = Object.getPrototypeOf(value) as unknown;
    if (!Array.isArray(value) && proto !== Object.prototype && proto !== null) {
      out.push(issue({ code: 'structure', diagnostics: 'Invalid value: not a plain JSON object', expression: path }));
      continue;
    }
    const rt = Array.isArray(value) ? undefined : (value as { resourceType?: unknown }).resourceType;
    if (depth > 0 && rt !== undefined && (typeof rt !== 'string' || !isResourceType(rt))) {
      out.push(issue({ code: 'structure', diagnostics: `Unknown resourceType ${JSON.stringify(String(rt).slice(0, 100))}: not a FHIR R4 resource type`, expression: `${path}.resourceType` }));
      continue;
    }
    onPath.add(value);
    stack.push({ value: undefined, path, depth, exit: value });
    if (Array.isArray(value)) {
      for (let i = value.length - 1; i >= 0; i--) stack.push({ value: value[i], path: `${path}[${i}]`, depth: depth + 1 });
    } else {
      for (const key of Object.keys(value)) {
        const childPath = `${path}.${key}`;
        if (PROTOTYPE_KEYS.has(key)) {
          out.push(issue({ code: 'structure', diagnostics: `Invalid property ${JSON.stringify(key)}`, expression: childPath }));
          continue;
        }
        const child = (value as Record<string, unknown>)[key];
        if (child === undefined) continue; // an in-memory object's absent optional property, as JSON.stringify drops it
        stack.push({ value: child, path: childPath, depth: depth + 1 });
      }
    }
  }
  return out;
}

