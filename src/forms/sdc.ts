/**
 * SDC and core extension URLs the forms code reads, and small readers that never trust their input:
 * Questionnaires come from third parties and responses from the wire, so every accessor here accepts
 * `unknown` and returns `undefined` rather than throwing.
 */

export const SDC = 'http://hl7.org/fhir/uv/sdc/StructureDefinition';
export const EXT = {
  calculatedExpression: `${SDC}/sdc-questionnaire-calculatedExpression`,
  initialExpression: `${SDC}/sdc-questionnaire-initialExpression`,
  enableWhenExpression: `${SDC}/sdc-questionnaire-enableWhenExpression`,
  launchContext: `${SDC}/sdc-questionnaire-launchContext`,
  observationExtract: `${SDC}/sdc-questionnaire-observationExtract`,
  observationExtractCategory: `${SDC}/sdc-questionnaire-observation-extract-category`,
  variable: 'http://hl7.org/fhir/StructureDefinition/variable',
  minValue: 'http://hl7.org/fhir/StructureDefinition/minValue',
  maxValue: 'http://hl7.org/fhir/StructureDefinition/maxValue',
  minLength: 'http://hl7.org/fhir/StructureDefinition/minLength',
  unit: 'http://hl7.org/fhir/StructureDefinition/questionnaire-unit',
  itemControl: 'http://hl7.org/fhir/StructureDefinition/questionnaire-itemControl',
} as const;

export type Json = Record<string, unknown>;

export function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function asArray(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [];
}

export function asString(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

/** Own property only: a key such as `__proto__` or `constructor` never reaches Object.prototype. */
export function own(obj: unknown, key: string): unknown {
  return isObject(obj) && Object.prototype.hasOwnProperty.call(obj, key) ? obj[key] : undefined;
}

/** The extensions of an element with this URL. */
export function extensionsOf(element: unknown, url: string): Json[] {
  return asArray(own(element, 'extension')).filter((e): e is Json => isObject(e) && own(e, 'url') === url);
}

/** The `value[x]` of an element: [key, value] of the first own property named value + Uppercase. */
export function valueOf(element: unknown): [string, unknown] | undefined {
  if (!isObject(element)) return undefined;
  for (const key of Object.keys(element)) {
    if (key.length > 5 && key.startsWith('value') && key[5]! >= 'A' && key[5]! <= 'Z') return [key, element[key]];
  }
  return undefined;
}

export interface FhirPathExpressionExt {
  name?: string;
  language?: string;
  expression: string;
}

/** The FHIRPath expressions (valueExpression) of extensions with this URL. */
export function expressionsOf(element: unknown, url: string): FhirPathExpressionExt[] {
  const out: FhirPathExpressionExt[] = [];
  for (const ext of extensionsOf(element, url)) {
    const ve = own(ext, 'valueExpression');
    const expression = asString(own(ve, 'expression'));
    if (expression === undefined) continue;
    out.push({ expression, name: asString(own(ve, 'name')), language: asString(own(ve, 'language')) });
  }
  return out;
}

export function isFhirPath(e: FhirPathExpressionExt): boolean {
  return e.language === undefined || e.language === 'text/fhirpath';
}

/** JSON round trip: a deep copy that drops anything JSON cannot hold (fhirpath.js mutates its input). */
export function jsonClone<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}
