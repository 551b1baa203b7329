/**
 * Structural validation of one value against one Medplum type schema — Medplum 4.5.2's `ResourceValidator`
 * and `Crawler` (`@medplum/core` src/typeschema/validation.ts and crawler.ts, Apache-2.0) merged into one
 * walk, with the waste taken out and nothing else changed:
 *
 * - Medplum visits every element the schema defines, for every object, present or not; for each it
 *   resolves the element definition again (`getElementDefinition`), builds `name[x]` candidate names for
 *   every type of the element (≈50 for `value[x]`), builds a path string and allocates a typed value.
 *   Here a per-schema plan maps each JSON key to the elements it can hold, and only the elements the object
 *   has, the required ones (for "Missing required property") and those that cannot be matched by key are
 *   visited, in Medplum's order. Candidate names are computed once per element definition.
 * - The choice-of-type test of a key (`isChoiceOfType`, a regex split per key), the constraints evaluated
 *   per element and the parsed FHIRPath are computed once, not per object; `isEmpty` does not allocate.
 * - Property access (`typed-values.ts`) resolves definitions once per schema / element.
 * - The invariants met on nearly every element (`ext-1`, `qrs-1`, `rqg-1`, `dom-2/4/5`) are compiled to the
 *   steps Medplum's FHIRPath engine takes for them (`invariants.ts`); all others use the engine.
 * - `checkObjectForNull` builds a path string only for what it reports.
 *
 * Everything that decides an issue — which checks run, in which order, with which message and path — is
 * Medplum's code, copied, or Medplum's exported functions called as Medplum calls them. The differential
 * test (test/validation/differential.slow.test.ts) compares this with Medplum's own `validateResource` /
 * `validateTypedValue` on thousands of resources, valid and broken, and requires identical issue lists.
 * A Medplum upgrade must re-run it (and re-copy validation.ts if it changed).
 *
 * Medplum throws an OperationOutcomeError when there are errors and returns the issues otherwise; this
 * returns the issues in both cases (the caller normalises them the same way either way).
 */
import {
  arrayify,
  createConstraintIssue,
  createOperationOutcomeIssue,
  createProcessingIssue,
  createStructureIssue,
  deepEquals,
  deepIncludes,
  evalFhirPathTyped,
  getDataType,
  getNestedProperty,
  HTTP_HL7_ORG,
  isPrimitiveType,
  isReference,
  isResource,
  LRUCache,
  matchDiscriminant,
  PropertyType,
  toTypedValue,
  tryGetDataType,
  UCUM,
  validationRegexes,
  fhirTypeToJsType,
} from '@medplum/core';
import type {
  InternalSchemaElement,
  InternalTypeSchema,
  SlicingRules,
  SliceDefinition,
  TypedValue,
} from '@medplum/core';
import type { OperationOutcomeIssue as MedplumIssue, Resource } from '@medplum/fhirtypes';
import { isObjectPrototype } from '../platform/json.js';
import { compiledInvariant } from './invariants.js';
import {
  candidatesOf,
  isEmpty,
  nestedProperty,
  propertyValue,
  memoPerElements,
  resolveElement,
} from './typed-values.js';

type TypedValueWithPath = TypedValue & { path: string };
type Constraint = NonNullable<InternalSchemaElement['constraints']>[number];
type FhirPathAtom = Parameters<typeof evalFhirPathTyped>[0];

/** Medplum's list of constraints it does not evaluate (validation.ts `skippedConstraintKeys`). */
const SKIPPED_CONSTRAINT_KEYS: Record<string, boolean> = {
  'ele-1': true,
  'dom-3': true,
  'org-1': true,
  'sdf-19': true,
};

/** Same size and role as Medplum's own `fhirPathCache` (parsed invariant expressions). */
const fhirPathCache = new LRUCache<Exclude<FhirPathAtom, string>>(1_000);

// --- Per-definition facts, computed once (definitions are replaced, never mutated, when types are loaded) ---

/**
 * How to crawl objects against one schema (`elements`) whose own type resolves properties in `lookup`
 * (the same schema except at a profile's root): the element names in Medplum's crawl order; for each JSON
 * key that can hold an element, the elements it belongs to; and which elements must be visited whatever
 * keys the object has (required ones, for their "Missing required property"; dotted or unresolvable ones,
 * which take Medplum's general path).
 */
interface CrawlPlan {
  keys: string[];
  visitAlways: Uint8Array;
  byName?: Map<string, number[]>;
}
const plans = new WeakMap<object, Map<object | null, CrawlPlan>>();
/** The plan's always-visited elements plus those the object has a value for (by index into the plan's keys). */
function elementsToVisit(
  visitAlways: Uint8Array,
  byName: Map<string, number[]>,
  value: Record<string, unknown>,
): Uint8Array {
  const visit = visitAlways.slice();
  for (const key in value) {
    const indices = byName.get(key);
    if (indices && value[key] !== undefined) for (const i of indices) visit[i] = 1;
  }
  return visit;
}

function planOf(
  elements: Record<string, InternalSchemaElement>,
  lookup: Record<string, InternalSchemaElement> | undefined,
): CrawlPlan {
  let byLookup = plans.get(elements);
  if (!byLookup) {
    byLookup = new Map();
    plans.set(elements, byLookup);
  }
  let plan = byLookup.get(lookup ?? null);
  if (!plan) {
    const keys = Object.keys(elements);
    const visitAlways = new Uint8Array(keys.length);
    const byName = new Map<string, number[]>();
    keys.forEach((key, i) => {
      const resolved = lookup && !key.includes('.') ? resolveElement(lookup, key) : undefined;
      if ((elements[key]?.min ?? 1) > 0 || !resolved) visitAlways[i] = 1;
      if (!resolved) return;
      for (const name of candidatesOf(resolved).names) {
        const list = byName.get(name);
        if (list) list.push(i);
        else byName.set(name, [i]);
      }
    });
    // Keys are matched as own properties, which is what Medplum's `value[name]` reads unless a name is
    // also found on Object.prototype.
    const safe = [...byName.keys()].every((name) => !(name in Object.prototype));
    plan = { keys, visitAlways, byName: safe ? byName : undefined };
    byLookup.set(lookup ?? null, plan);
  }
  return plan;
}

/** The constraints Medplum evaluates (severity error, not skipped), per constraint list. */
const checked = new WeakMap<Constraint[], Constraint[]>();
function checkedConstraints(constraints: Constraint[]): Constraint[] {
  let list = checked.get(constraints);
  if (!list) {
    list = constraints.filter((c) => c.severity === 'error' && !(c.key in SKIPPED_CONSTRAINT_KEYS));
    checked.set(constraints, list);
  }
  return list;
}

// --- The validator ---

/**
 * Validate `root` (a typed value: FHIR type name and JSON value) against `schema`: Medplum's
 * `new ResourceValidator(root, options).validate()` where `schema` is what its constructor would pick
 * (`getDataType(root.type)`, or the parsed profile). Returns Medplum-shaped issues; never throws for
 * invalid content (it throws where Medplum throws an unexpected error).
 */
export function validateStructure(root: TypedValue, schema: InternalTypeSchema): MedplumIssue[] {
  return new StructureValidator(root, schema).validate();
}

class StructureValidator {
  private readonly issues: MedplumIssue[] = [];
  private readonly currentResource: Resource[] = [];

  constructor(
    private readonly root: TypedValue,
    private readonly schema: InternalTypeSchema,
  ) {
    if (isResource(root.value)) this.currentResource.push(root.value);
  }

  validate(): MedplumIssue[] {
    this.constraintsCheck({ ...this.root, path: this.schema.path }, this.schema);
    checkObjectForNull(this.root.value as Record<string, unknown>, this.schema.path, this.issues);
    this.crawlObject({ ...this.root, path: this.schema.path }, this.schema, this.schema.path);
    return this.issues;
  }

  // --- crawl (crawler.ts `Crawler`, visiting present elements only) ---

  private crawlObject(obj: TypedValueWithPath, schema: InternalTypeSchema, path: string): void {
    const objIsResource = isResource(obj.value);
    if (objIsResource) this.currentResource.push(obj.value);
    // getTypedPropertyValue resolves elements in the schema of the value's own type (for a profile's root,
    // the base type), which is not necessarily `schema`.
    const lookup = obj.value ? tryGetDataType(obj.type) : undefined;
    const plan = planOf(schema.elements, lookup?.elements);
    const value = obj.value as Record<string, unknown> | undefined;
    if (plan.byName && value && typeof value === 'object' && isObjectPrototype(Object.getPrototypeOf(value))) {
      // Visit, in schema order, the elements the object has, the required ones and the ones that cannot be
      // told apart by key; every other element is absent and not required, so Medplum reports nothing for it.
      const visit = elementsToVisit(plan.visitAlways, plan.byName, value);
      for (let i = 0; i < plan.keys.length; i++)
        if (visit[i]) this.crawlProperty(obj, plan.keys[i]!, schema, path, lookup);
    } else {
      for (const key of plan.keys) this.crawlProperty(obj, key, schema, path, lookup);
    }
    this.checkAdditionalProperties(obj, schema.elements, obj.path);
    if (objIsResource) this.currentResource.pop();
  }

  private crawlProperty(
    parent: TypedValueWithPath,
    key: string,
    schema: InternalTypeSchema,
    path: string,
    lookup: InternalTypeSchema | undefined,
  ): void {
    let propertyValues: (TypedValueWithPath | TypedValueWithPath[])[];
    if (key.includes('.')) {
      propertyValues = getNestedProperty(parent, key, { withPath: true });
    } else {
      const value = propertyValue(parent, key, lookup);
      if (value === undefined) {
        // Medplum: a `{ type: 'undefined' }` value, which visitProperty only checks for `min > 0`.
        const element = schema.elements[key];
        if (!element) throw new Error(`Missing element validation schema for ${key}`);
        if (element.min > 0)
          this.issues.push(createStructureIssue(childPath(parent.path, key), 'Missing required property'));
        return;
      }
      propertyValues = [withPath(value, parent.path, key)];
    }
    const propertyPath = `${path}.${key}`;
    this.visitProperty(key, propertyPath, propertyValues, schema);
    for (const propertyValue of propertyValues) {
      if (!propertyValue) continue;
      for (const value of arrayify(propertyValue)!) {
        if (!isPrimitiveType(value.type)) this.crawlObject(value, getDataType(value.type), propertyPath);
      }
    }
  }

  // --- ResourceValidator (validation.ts), unchanged but for the cached lookups ---

  private visitProperty(
    key: string,
    path: string,
    propertyValues: (TypedValueWithPath | TypedValueWithPath[])[],
    schema: InternalTypeSchema,
  ): void {
    const element = schema.elements[key];
    if (!element) throw new Error(`Missing element validation schema for ${key}`);

    for (const value of propertyValues) {
      if (!this.checkPresence(value, element, path)) return;
      const values = this.valuesOfCardinality(value, element, path);
      if (!values) return;

      if (values.length < element.min || values.length > element.max) {
        this.issues.push(
          createStructureIssue(
            element.path,
            `Invalid number of values: expected ${element.min}..${Number.isFinite(element.max) ? element.max : '*'}, but found ${values.length}`,
          ),
        );
      }

      if (!matchesSpecifiedValue(value, element)) {
        this.issues.push(createStructureIssue(path, 'Value did not match expected pattern'));
      }

      const sliceCounts: Record<string, number> | undefined = element.slicing
        ? Object.fromEntries(element.slicing.slices.map((s) => [s.name, 0]))
        : undefined;
      for (const v of values) {
        this.constraintsCheck(v, element);
        this.referenceTypeCheck(v, element);
        this.checkPropertyValue(v);
        const sliceName = checkSliceElement(v, element.slicing);
        if (sliceName && sliceCounts) sliceCounts[sliceName]! += 1;
      }
      this.validateSlices(element.slicing?.slices, sliceCounts, path);
    }
  }

  /** The values as a list when the element's cardinality (array or single) matches; else an issue. */
  private valuesOfCardinality(
    value: TypedValueWithPath | TypedValueWithPath[],
    element: InternalSchemaElement,
    path: string,
  ): TypedValueWithPath[] | undefined {
    if (element.isArray) {
      if (Array.isArray(value)) return value;
      this.issues.push(createStructureIssue(path, 'Expected array of values for property'));
      return undefined;
    }
    if (!Array.isArray(value)) return [value];
    this.issues.push(createStructureIssue(path, 'Expected single value for property'));
    return undefined;
  }

  private checkPresence(
    value: TypedValueWithPath | TypedValueWithPath[],
    field: InternalSchemaElement,
    path: string,
  ): boolean {
    if (!Array.isArray(value) && value.value === undefined) {
      if (field.min > 0) this.issues.push(createStructureIssue(value.path, 'Missing required property'));
      return false;
    }
    if (isEmpty(value)) {
      this.issues.push(createStructureIssue(path, 'Invalid empty value'));
      return false;
    }
    return true;
  }

  private checkPropertyValue(value: TypedValueWithPath): void {
    if (isPrimitiveType(value.type)) {
      this.validatePrimitiveType(value);
    } else if (isEmpty(value.value)) {
      this.issues.push(createStructureIssue(value.path, `Invalid empty non-primitive value`));
    }
  }

  private validateSlices(
    slices: SliceDefinition[] | undefined,
    counts: Record<string, number> | undefined,
    path: string,
  ): void {
    if (!slices || !counts) return;
    for (const slice of slices) {
      const sliceCardinality = counts[slice.name]!;
      if (sliceCardinality < slice.min || sliceCardinality > slice.max) {
        this.issues.push(
          createStructureIssue(
            path,
            `Incorrect number of values provided for slice '${slice.name}': expected ${slice.min}..${Number.isFinite(slice.max) ? slice.max : '*'}, but found ${sliceCardinality}`,
          ),
        );
      }
    }
  }

  private checkAdditionalProperties(
    parent: TypedValueWithPath,
    properties: Record<string, InternalSchemaElement>,
    path: string,
  ): void {
    const object = parent.value as Record<string, unknown> | undefined;
    if (!object) return;
    const choiceOfTypeElements: Record<string, string> = {};
    for (const key of Object.keys(object)) {
      if (key === 'resourceType') continue;
      const choiceOfTypeElementName = isChoiceOfType(parent, key, properties);
      if (choiceOfTypeElementName) {
        let relatedElementName: string;
        let requiredRelatedElementName: string;
        if (choiceOfTypeElementName.startsWith('_')) {
          relatedElementName = choiceOfTypeElementName.slice(1);
          requiredRelatedElementName = key.slice(1);
        } else {
          relatedElementName = '_' + choiceOfTypeElementName;
          requiredRelatedElementName = '_' + key;
        }
        if (
          relatedElementName in choiceOfTypeElements &&
          choiceOfTypeElements[relatedElementName] !== requiredRelatedElementName
        ) {
          this.issues.push(
            createOperationOutcomeIssue(
              'warning',
              'structure',
              `Type of primitive extension does not match the type of property "${choiceOfTypeElementName.startsWith('_') ? choiceOfTypeElementName.slice(1) : choiceOfTypeElementName}"`,
              choiceOfTypeElementName,
            ),
          );
        }
        if (choiceOfTypeElements[choiceOfTypeElementName]) {
          this.issues.push(
            createOperationOutcomeIssue(
              'warning',
              'structure',
              `Conflicting choice of type properties: "${key}", "${choiceOfTypeElements[choiceOfTypeElementName]}"`,
              key,
            ),
          );
        }
        choiceOfTypeElements[choiceOfTypeElementName] = key;
        continue;
      }
      if (!(key in properties) && !(key.startsWith('_') && key.slice(1) in properties)) {
        this.issues.push(createStructureIssue(`${path}.${key}`, `Invalid additional property "${key}"`));
      }
    }
  }

  private constraintsCheck(value: TypedValueWithPath, field: InternalTypeSchema | InternalSchemaElement): void {
    const constraints = field.constraints;
    if (!constraints) return;
    for (const constraint of checkedConstraints(constraints)) {
      if (!this.isExpressionTrue(constraint, value)) {
        this.issues.push(createConstraintIssue(value.path, constraint));
        return;
      }
    }
  }

  private referenceTypeCheck(value: TypedValueWithPath, field: InternalSchemaElement): void {
    if (value.type !== 'Reference') return;
    const reference = value.value as unknown;
    if (!isReference(reference)) return;
    if (reference.reference.startsWith('#')) return;
    const referenceResourceType = reference.reference.includes('?')
      ? reference.reference.split('?')[0]
      : reference.reference.split('/')[0];
    if (!referenceResourceType) return;
    const targetProfiles = field.type.find((t) => t.code === 'Reference')?.targetProfile;
    if (!targetProfiles) return;

    const hl7BaseUrl = HTTP_HL7_ORG + '/fhir/StructureDefinition/';
    const hl7AllResourcesUrl = hl7BaseUrl + 'Resource';
    const hl7ResourceTypeUrl = hl7BaseUrl + referenceResourceType;
    const medplumBaseUrl = 'https://medplum.com/fhir/StructureDefinition/';
    const medplumResourceTypeUrl = medplumBaseUrl + referenceResourceType;
    for (const targetProfile of targetProfiles) {
      if (
        targetProfile === hl7AllResourcesUrl ||
        targetProfile === hl7ResourceTypeUrl ||
        targetProfile === medplumResourceTypeUrl
      )
        return;
      if (!targetProfile.startsWith(hl7BaseUrl) && !targetProfile.startsWith(medplumBaseUrl)) return;
    }
    this.issues.push(
      createOperationOutcomeIssue(
        'warning',
        'structure',
        `Invalid reference: got "${referenceResourceType}", expected "${targetProfiles.join('", "')}"`,
        value.path,
      ),
    );
  }

  private isExpressionTrue(constraint: Constraint, value: TypedValueWithPath): boolean {
    const compiled = compiledInvariant(constraint);
    if (compiled) {
      try {
        return compiled(value);
      } catch (e: unknown) {
        this.issues.push(
          createProcessingIssue(value.path, 'Error evaluating invariant expression', e as Error, {
            fhirpath: constraint.expression,
          }),
        );
        return false;
      }
    }
    const variables: Record<string, TypedValue> = { '%context': value, '%ucum': toTypedValue(UCUM) };
    if (this.currentResource.length > 0)
      variables['%resource'] = toTypedValue(this.currentResource[this.currentResource.length - 1]);
    if (isResource(this.root.value)) variables['%rootResource'] = this.root;
    try {
      const evalValues = evalFhirPathTyped(constraint.expression, [value], variables, fhirPathCache);
      return evalValues.length === 1 && evalValues[0]!.value === true;
    } catch (e: unknown) {
      this.issues.push(
        createProcessingIssue(value.path, 'Error evaluating invariant expression', e as Error, {
          fhirpath: constraint.expression,
        }),
      );
      return false;
    }
  }

  private validatePrimitiveType(typedValue: TypedValueWithPath): void {
    const [primitiveValue, extensionElement] = unpackPrimitiveElement(typedValue);
    const path = typedValue.path;
    if (primitiveValue) {
      const { type } = primitiveValue;
      const value: unknown = primitiveValue.value;
      if (!(type in fhirTypeToJsType)) {
        this.issues.push(createStructureIssue(path, `Invalid JSON type: ${type} is not a valid FHIR type`));
        return;
      }
      const expectedType = fhirTypeToJsType[type as keyof typeof fhirTypeToJsType];
      if (typeof value !== expectedType) {
        if (value !== null)
          this.issues.push(
            createStructureIssue(path, `Invalid JSON type: expected ${expectedType}, but got ${typeof value}`),
          );
        return;
      }
      if (expectedType === 'string') this.validateString(value as string, type, path);
      else if (expectedType === 'number') this.validateNumber(value as number, type, path);
    }
    if (extensionElement) {
      // Medplum: crawlTypedValue(extensionElement, this, { schema: getDataType('Element'), initialPath: path })
      this.crawlObject({ ...extensionElement, path }, getDataType('Element'), path);
    }
  }

  private validateString(str: string, type: string, path: string): void {
    if (!str.trim()) {
      this.issues.push(createStructureIssue(path, 'String must contain non-whitespace content'));
      return;
    }
    if (str.length > 1024 * 1024) {
      this.issues.push(createStructureIssue(path, 'String cannot be larger than 1 MB'));
      return;
    }
    const regex = validationRegexes[type];
    if (regex && !regex.exec(str)) this.issues.push(createStructureIssue(path, 'Invalid ' + type + ' format'));
  }

  private validateNumber(n: number, type: string, path: string): void {
    if (Number.isNaN(n) || !Number.isFinite(n)) {
      this.issues.push(createStructureIssue(path, 'Invalid numeric value'));
    } else if (isIntegerType(type) && !Number.isInteger(n)) {
      this.issues.push(createStructureIssue(path, 'Expected number to be an integer'));
    } else if (type === PropertyType.positiveInt && n <= 0) {
      this.issues.push(createStructureIssue(path, 'Expected number to be positive'));
    } else if (type === PropertyType.unsignedInt && n < 0) {
      this.issues.push(createStructureIssue(path, 'Expected number to be non-negative'));
    }
  }
}

function childPath(parentPath: string | undefined, key: string): string {
  return (parentPath ? parentPath + '.' : '') + key;
}

/** crawler.ts `withPath`. */
function withPath(
  tv: TypedValue | TypedValue[],
  parentPath: string | undefined,
  key: string,
): TypedValueWithPath | TypedValueWithPath[] {
  const parentPrefix = parentPath ? parentPath + '.' : '';
  // Medplum copies (`{ ...v, path }`); the typed values here were just created for this property, so the
  // path is added to them instead.
  if (Array.isArray(tv)) {
    for (let idx = 0; idx < tv.length; idx++) (tv[idx] as TypedValueWithPath).path = `${parentPrefix}${key}[${idx}]`;
    return tv as TypedValueWithPath[];
  }
  (tv as TypedValueWithPath).path = `${parentPrefix}${key}`;
  return tv as TypedValueWithPath;
}

function isIntegerType(propertyType: string): boolean {
  return (
    propertyType === PropertyType.integer ||
    propertyType === PropertyType.positiveInt ||
    propertyType === PropertyType.unsignedInt
  );
}

/**
 * validation.ts `isChoiceOfType`: the `name[x]` element a JSON key belongs to. Medplum splits the key
 * before each capital letter (`/(?=[A-Z])/g`) and tries the growing prefixes; the same prefixes are tried
 * here without the split.
 */
function isChoiceOfType(
  typedValue: TypedValue,
  key: string,
  propertyDefinitions: Record<string, InternalSchemaElement>,
): string | undefined {
  const choice = choiceElementOf(propertyDefinitions, key);
  if (!choice) return undefined;
  const typedPropertyValue = propertyValue(typedValue, choice.testProperty, tryGetDataType(typedValue.type));
  return typedPropertyValue ? choice.name : undefined;
}

interface ChoiceOfKey {
  /** `value[x]`, or `_value[x]` for a primitive-extension key */
  name: string;
  testProperty: string;
}
/**
 * The key-only half of `isChoiceOfType`: the first prefix of the key, split before capital letters (Medplum
 * splits with `/(?=[A-Z])/g` and tries the growing prefixes), that names a `[x]` element. Remembered per
 * schema (a pure function of key and schema); the keys come from the input, so at most 2000 per schema.
 */
const choiceElementOf = memoPerElements(
  (propertyDefinitions, key) => findChoiceElement(key, propertyDefinitions),
  2000,
);

function findChoiceElement(
  key: string,
  propertyDefinitions: Record<string, InternalSchemaElement>,
): ChoiceOfKey | undefined {
  let prefix = '';
  if (key.startsWith('_')) {
    key = key.slice(1);
    prefix = '_';
  }
  for (let i = key.length === 0 ? 0 : 1; i <= key.length; i++) {
    if (i < key.length) {
      const c = key.charCodeAt(i);
      if (c < 65 || c > 90) continue; // not A-Z: no split here
    }
    const testProperty = key.slice(0, i);
    if (propertyDefinitions[testProperty + '[x]']) return { name: prefix + testProperty + '[x]', testProperty };
  }
  return undefined;
}

/** validation.ts `checkObjectForNull`, building a property's path only when it reports it. */
function checkObjectForNull(obj: Record<string, unknown>, path: string, issues: MedplumIssue[]): void {
  for (const key of Object.keys(obj)) {
    const value = obj[key];
    if (value === null) {
      issues.push(createStructureIssue(`${path}.${key}`, 'Invalid null value'));
    } else if (Array.isArray(value)) {
      let propertyPath: string | undefined;
      for (let i = 0; i < value.length; i++) {
        const item = value[i] as unknown;
        if (item === undefined) {
          issues.push(createStructureIssue(`${(propertyPath ??= `${path}.${key}`)}[${i}]`, 'Invalid undefined value'));
        } else if (item === null) {
          const partnerKey = key.startsWith('_') ? key.slice(1) : `_${key}`;
          if (!(obj[partnerKey] as Record<number, unknown> | undefined)?.[i])
            issues.push(createStructureIssue(`${(propertyPath ??= `${path}.${key}`)}[${i}]`, 'Invalid null value'));
        } else if (item) {
          checkObjectForNull(item as Record<string, unknown>, `${(propertyPath ??= `${path}.${key}`)}[${i}]`, issues);
        }
      }
    } else if (typeof value === 'object') {
      checkObjectForNull(value as Record<string, unknown>, `${path}.${key}`, issues);
    }
  }
}

function matchesSpecifiedValue(value: TypedValue | TypedValue[], element: InternalSchemaElement): boolean {
  if (!element.pattern && !element.fixed) return true;
  const typeAndValue = Array.isArray(value)
    ? value.map((v) => ({ type: v.type, value: v.value as unknown }))
    : { type: value.type, value: value.value as unknown };
  if (element.pattern && !deepIncludes(typeAndValue, element.pattern)) return false;
  if (element.fixed && !deepEquals(typeAndValue, element.fixed)) return false;
  return true;
}

function checkSliceElement(value: TypedValue, slicingRules: SlicingRules | undefined): string | undefined {
  if (!slicingRules) return undefined;
  for (const slice of slicingRules.slices) {
    if (
      slicingRules.discriminator.every((discriminator) =>
        arrayify(nestedProperty(value, discriminator.path))?.some((v) => matchDiscriminant(v, discriminator, slice)),
      )
    ) {
      return slice.name;
    }
  }
  return undefined;
}

function unpackPrimitiveElement(v: TypedValue): [TypedValue | undefined, TypedValue | undefined] {
  if (typeof v.value !== 'object' || !v.value) return [v, undefined];
  const primitiveValue = (v.value as object).valueOf();
  if (primitiveValue === v.value) return [undefined, { type: 'Element', value: v.value as unknown }];
  const primitiveKeys = new Set(Object.keys(primitiveValue));
  const extensionEntries = Object.entries(v.value as object).filter(([k]) => !primitiveKeys.has(k));
  const extensionElement = extensionEntries.length > 0 ? Object.fromEntries(extensionEntries) : undefined;
  return [
    { type: v.type, value: primitiveValue },
    { type: 'Element', value: extensionElement },
  ];
}
