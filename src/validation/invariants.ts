/**
 * The invariants met on nearly every element of the module's resources, compiled by hand to the steps
 * Medplum 4.5.2's FHIRPath engine takes for them (`@medplum/core` src/fhirpath/atoms.ts and functions.ts).
 */
import { isResource, tryGetDataType } from '@medplum/core';
import type { InternalSchemaElement, TypedValue } from '@medplum/core';
import type { Resource } from '@medplum/fhirtypes';
import { isEmpty, propertyValue } from './typed-values.js';

type Constraint = NonNullable<InternalSchemaElement['constraints']>[number];

/**
 * `extension.exists() != value.exists()` and the like, as Medplum's FHIRPath engine evaluates them on a
 * single context value: each path step is `SymbolAtom.eval` (no variable of that name exists; a resource
 * whose type is the step's name is itself; else `getTypedPropertyValue`), `exists()` is "non-empty and no
 * empty item", `!=` on two booleans is inequality, `and` evaluates both sides (no short cut: a step that
 * throws throws either way). Only these exact key + expression pairs are compiled; any other invariant,
 * or one of these with a different expression, goes through the FHIRPath engine.
 */
const COMPILED_INVARIANTS: Record<string, (context: TypedValue) => boolean> = {
  'ext-1|extension.exists() != value.exists()': (c) => stepExists(c, 'extension') !== stepExists(c, 'value'),
  'qrs-1|(answer.exists() and item.exists()).not()': (c) => {
    const answer = stepExists(c, 'answer');
    const item = stepExists(c, 'item');
    return !(answer && item);
  },
  'rqg-1|resource.exists() != action.exists()': (c) => stepExists(c, 'resource') !== stepExists(c, 'action'),
  // Every DomainResource (each resource validated, each contained one):
  'dom-2|contained.contained.empty()': (c) => isEmptyCollection(steps([c], ['contained', 'contained'])),
  'dom-4|contained.meta.versionId.empty() and contained.meta.lastUpdated.empty()': (c) => {
    const versionIdEmpty = isEmptyCollection(steps([c], ['contained', 'meta', 'versionId']));
    const lastUpdatedEmpty = isEmptyCollection(steps([c], ['contained', 'meta', 'lastUpdated']));
    return versionIdEmpty && lastUpdatedEmpty;
  },
  'dom-5|contained.meta.security.empty()': (c) => isEmptyCollection(steps([c], ['contained', 'meta', 'security'])),
};

const compiledInvariants = new WeakMap<Constraint, ((context: TypedValue) => boolean) | null>();
export function compiledInvariant(constraint: Constraint): ((context: TypedValue) => boolean) | undefined {
  let compiled = compiledInvariants.get(constraint);
  if (compiled === undefined) {
    compiled = Object.hasOwn(COMPILED_INVARIANTS, `${constraint.key}|${constraint.expression}`)
      ? COMPILED_INVARIANTS[`${constraint.key}|${constraint.expression}`]!
      : null;
    compiledInvariants.set(constraint, compiled);
  }
  return compiled ?? undefined;
}

/** FHIRPath `name.exists()` on the single value `context` (functions.ts `exists`: non-empty, no empty item). */
function stepExists(context: TypedValue, name: string): boolean {
  const list = step([context], name);
  return list.length > 0 && list.every((e) => !isEmpty(e.value));
}

/** FHIRPath `empty()` (functions.ts): no item, or only empty ones. */
function isEmptyCollection(input: TypedValue[]): boolean {
  return input.length === 0 || input.every((e) => isEmpty(e.value));
}

function steps(input: TypedValue[], names: string[]): TypedValue[] {
  let current = input;
  for (const name of names) current = step(current, name);
  return current;
}

/**
 * One path step (atoms.ts `SymbolAtom.eval` for a name that is no variable): for each input item, the item
 * itself when it is a resource of that type, else its property; flattened; items without a value dropped.
 */
function step(input: TypedValue[], name: string): TypedValue[] {
  const out: TypedValue[] = [];
  for (const item of input) {
    const value = item.value as unknown;
    let found: TypedValue | TypedValue[] | undefined;
    if (!value || typeof value !== 'object') found = undefined;
    else if (isResource(value, name as Resource['resourceType'])) found = item;
    else found = propertyValue(item, name, tryGetDataType(item.type));
    if (Array.isArray(found)) {
      for (const e of found) if (e?.value !== undefined) out.push(e);
    } else if (found?.value !== undefined) {
      out.push(found);
    }
  }
  return out;
}
