/**
 * Property access on typed values — Medplum 4.5.2's `getTypedPropertyValue` / `getTypedPropertyValueWithSchema`
 * (`@medplum/core` src/fhirpath/utils.ts, Apache-2.0) and `isEmpty` (src/utils.ts) — with the element
 * definition resolved once per schema and its candidate property names once per element, instead of on
 * every call. Same results, same (Medplum-style) edits of primitive-extension input; used by the compiled
 * validator (`structure.ts`) and the compiled invariants (`invariants.ts`).
 */
import {
  getElementDefinitionFromElements,
  getNestedProperty,
  getTypedPropertyValue,
  isResource,
  tryGetDataType,
} from '@medplum/core';
import type { InternalSchemaElement, InternalTypeSchema, TypedValue } from '@medplum/core';

/**
 * `compute(elements, key)`, remembered per element table (a schema's, which lives as long as the definitions)
 * and key: these lookups are pure functions of the two. Keys that may come from the input rather than from a
 * schema need `limit`, so that no input can grow the memo without bound.
 */
export function memoPerElements<V>(
  compute: (elements: Record<string, InternalSchemaElement>, key: string) => V | undefined,
  limit = Number.POSITIVE_INFINITY,
): (elements: Record<string, InternalSchemaElement>, key: string) => V | undefined {
  const memo = new WeakMap<object, Map<string, V | null>>();
  return (elements, key) => {
    let byKey = memo.get(elements);
    if (!byKey) {
      byKey = new Map();
      memo.set(elements, byKey);
    }
    let found = byKey.get(key);
    if (found === undefined) {
      found = compute(elements, key) ?? null;
      if (byKey.size < limit) byKey.set(key, found);
    }
    return found ?? undefined;
  };
}

/** `getElementDefinitionFromElements(elements, name)` for the schema's own element names. */
export const resolveElement = memoPerElements((elements, name) => getElementDefinitionFromElements(elements, name));

/**
 * The JSON property names under which `getTypedPropertyValueWithSchema` looks for an element (one per type,
 * `value[x]` -> `valueString`, ..., each followed by its `_` primitive-extension twin), computed as it
 * does; and for elements with many types (`value[x]` has ≈50) each name's type position, so that an object
 * can be matched by its own few keys instead of probing ≈100 absent names.
 */
interface Candidates {
  names: string[];
  position?: Map<string, number>;
}
const MANY_TYPES = 6;
const candidateNames = new WeakMap<InternalSchemaElement, Candidates>();
export function candidatesOf(element: InternalSchemaElement): Candidates {
  let candidates = candidateNames.get(element);
  if (!candidates) {
    const names: string[] = [];
    const last = element.path.substring(element.path.lastIndexOf('.') + 1);
    for (const type of element.type ?? []) {
      const name = last.replace('[x]', capitalize(type.code));
      names.push(name, '_' + name);
    }
    candidates = { names };
    // Matching by own keys is only equivalent when no name can be found on Object.prototype instead.
    if (names.length > 2 * MANY_TYPES && names.every((n) => !(n in Object.prototype))) {
      candidates.position = new Map(names.map((n, i) => [n, i >> 1]));
    }
    candidateNames.set(element, candidates);
  }
  return candidates;
}

/**
 * utils.ts `isEmpty` (and `isPopulated`): the same answer without allocating `Object.keys(v)` to count the
 * keys (the first own enumerable string key is enough).
 */
export function isEmpty(v: unknown): boolean {
  if (v === null || v === undefined) return true;
  const t = typeof v;
  if (t === 'string') return v === '';
  if (t !== 'object') return false;
  const o = v as { length?: unknown };
  if ('length' in o && (o.length as number) > 0) return false;
  for (const k in o) if (Object.hasOwn(o, k)) return false;
  return true;
}

function capitalize(word: string): string {
  return word ? word.charAt(0).toUpperCase() + word.substring(1) : '';
}

/**
 * `getTypedPropertyValue(parent, key)` (fhirpath/utils.ts) for a key without dots, with the element resolved
 * once per schema and its candidate property names once per element.
 */
export function propertyValue(
  parent: TypedValue,
  key: string,
  lookup: InternalTypeSchema | undefined,
): TypedValue | TypedValue[] | undefined {
  if (!parent.value) return undefined;
  const element = lookup ? resolveElement(lookup.elements, key) : undefined;
  if (!element) return getTypedPropertyValue(parent, key);
  return propertyValueWithSchema(parent, element);
}

/** fhirpath/utils.ts `getTypedPropertyValueWithSchema`, reading the precomputed candidate names. */
function propertyValueWithSchema(
  typedValue: TypedValue,
  element: InternalSchemaElement,
): TypedValue | TypedValue[] | undefined {
  const value = typedValue.value as Record<string, unknown>;
  const types = element.type;
  if (!types || types.length === 0) return undefined;
  const { names, position } = candidatesOf(element);
  const first =
    position && Object.getPrototypeOf(value) === Object.prototype
      ? firstPresentByPosition(value, names, position)
      : firstPresentInOrder(value, names, types.length);
  if (first < 0) return undefined; // nothing present: an empty value
  const primitiveExtension = value[names[2 * first + 1]!];
  const resultValue = primitiveExtension
    ? withPrimitiveExtension(value[names[2 * first]!], primitiveExtension)
    : value[names[2 * first]!];
  if (isEmpty(resultValue)) return undefined;
  let resultType = types[first]!.code;
  if (resultType === 'Element' || resultType === 'BackboneElement') resultType = types[0]!.code;
  if (Array.isArray(resultValue)) return resultValue.map((v: unknown) => toTypedValueWithType(v, resultType));
  return toTypedValueWithType(resultValue, resultType);
}

/**
 * The first type (in definition order) with a value or a primitive extension, found from the object's own
 * keys; -1 when none.
 */
function firstPresentByPosition(
  value: Record<string, unknown>,
  names: string[],
  position: Map<string, number>,
): number {
  let first = -1;
  for (const key in value) {
    const i = position.get(key);
    if (
      i !== undefined &&
      (first < 0 || i < first) &&
      (value[names[2 * i]!] !== undefined || value[names[2 * i + 1]!] !== undefined)
    )
      first = i;
  }
  return first;
}

/** The same, trying each type's names in definition order. */
function firstPresentInOrder(value: Record<string, unknown>, names: string[], typeCount: number): number {
  for (let i = 0; i < typeCount; i++)
    if (value[names[2 * i]!] !== undefined || value[names[2 * i + 1]!] !== undefined) return i;
  return -1;
}

/** The value with its primitive extension (`_name`) merged in, item by item for lists. */
function withPrimitiveExtension(resultValue: unknown, primitiveExtension: unknown): unknown {
  if (Array.isArray(resultValue)) {
    const list = resultValue.slice();
    const extensions = primitiveExtension as unknown[];
    for (let i = 0; i < Math.max(list.length, extensions.length); i++)
      list[i] = assignPrimitiveExtension(list[i], extensions[i]);
    return list;
  }
  if (!resultValue && Array.isArray(primitiveExtension)) {
    const list = primitiveExtension.slice();
    for (let i = 0; i < primitiveExtension.length; i++)
      list[i] = assignPrimitiveExtension(undefined, primitiveExtension[i]);
    return list;
  }
  return assignPrimitiveExtension(resultValue, primitiveExtension);
}

function toTypedValueWithType(value: unknown, type: string): TypedValue {
  if (type === 'Resource' && isResource(value)) type = value.resourceType;
  return { type, value };
}

/** fhirpath/utils.ts `assignPrimitiveExtension` and `safeAssign` (which, like Medplum, edit the input). */
function assignPrimitiveExtension(target: unknown, primitiveExtension: unknown): unknown {
  if (primitiveExtension) {
    if (typeof primitiveExtension !== 'object') throw new Error('Primitive extension must be an object');
    const source = primitiveExtension as Record<string, unknown>;
    Reflect.deleteProperty(source, '__proto__');
    Reflect.deleteProperty(source, 'constructor');
    return Object.assign(target ?? {}, source);
  }
  return target;
}

/** crawler.ts `getNestedProperty(value, path)` (no paths), with the fast lookup for a single step. */
export function nestedProperty(value: TypedValue, path: string): (TypedValue | TypedValue[] | undefined)[] {
  if (path === '$this' || path.includes('.')) return getNestedProperty(value, path);
  return [propertyValue(value, path, tryGetDataType(value.type))];
}
