/**
 * Search over the knowledge artifacts (FHIR R4 search, the subset the contract pins):
 * - `url` (uri, exact; `url|version` canonical form too), `version` (token), `status` (token),
 *   `name` (string: case-insensitive starts-with; `:exact` and `:contains` modifiers), `_id`.
 *   Comma = OR within one parameter; a repeated parameter = AND.
 * - `_summary=true|text|data|count|false`, `_count` (page size, default 20, max 200) and `_offset` paging
 *   with self/first/previous/next/last links. Paging is stateless (offsets), so any replica can serve
 *   any page and links never expire.
 * - Unknown parameters: lenient by default (ignored and reported in an OperationOutcome entry with
 *   `search.mode = outcome`); `Prefer: handling=strict` turns them into a 400.
 */
import { badRequest, issue, operationOutcome } from '../outcomes/index.js';
import { parseCanonical, type CanonicalResource, type KnowledgeBase } from '../knowledge/index.js';
import { printable } from '../platform/text.js';
import { r4DefinitionBundle } from '../validation/r4-files.js';

export const SEARCH_PARAMS = [
  { name: 'url', type: 'uri' },
  { name: 'version', type: 'token' },
  { name: 'status', type: 'token' },
  { name: 'name', type: 'string' },
] as const;
/** Result parameters understood besides the search parameters. */
const CONTROL_PARAMS = new Set(['_summary', '_count', '_offset', '_id', '_format', '_pretty']);

export const DEFAULT_PAGE_SIZE = 20;
export const MAX_PAGE_SIZE = 200;

export type Summary = 'true' | 'text' | 'data' | 'count' | 'false';
const SUMMARY_VALUES: readonly Summary[] = ['true', 'text', 'data', 'count', 'false'];

export type Query = Record<string, unknown>;

export interface SearchOptions {
  /** Absolute URL of the type endpoint, e.g. `http://127.0.0.1:3000/fhir/Questionnaire`, for links. */
  typeUrl: string;
  /** Absolute base for fullUrls, e.g. `http://127.0.0.1:3000/fhir`. */
  fhirBase: string;
  strict: boolean;
}

/** All values of one query parameter (Express gives a string or an array of strings). */
function values(query: Query, name: string): string[] {
  const v = query[name];
  if (v === undefined) return [];
  if (Array.isArray(v)) return v.map(String);
  return [printable(v)];
}

function single(query: Query, name: string): string | undefined {
  const all = values(query, name);
  if (all.length > 1) throw badRequest(`The parameter ${name} may be given only once.`);
  return all[0];
}

export function parseSummary(query: Query): Summary | undefined {
  const raw = single(query, '_summary');
  if (raw === undefined) return undefined;
  if (!(SUMMARY_VALUES as readonly string[]).includes(raw)) {
    throw badRequest(`_summary must be one of ${SUMMARY_VALUES.join(', ')}; got '${raw.slice(0, 40)}'.`);
  }
  return raw as Summary;
}

function parseNonNegativeInt(query: Query, name: string, fallback: number, max: number): number {
  const raw = single(query, name);
  if (raw === undefined) return fallback;
  if (!/^\d{1,9}$/.test(raw))
    throw badRequest(`${name} must be a non-negative whole number; got '${raw.slice(0, 40)}'.`);
  return Math.min(Number(raw), max);
}

type Matcher = (r: CanonicalResource) => boolean;

/** One search parameter occurrence (possibly comma-separated alternatives) -> predicate. */
function matcherFor(key: string, raw: string): Matcher | undefined {
  const [name, modifier] = key.split(':') as [string, string | undefined];
  const alternatives = raw
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  if (alternatives.length === 0) throw badRequest(`The parameter ${key} has no value.`);
  const anyOf =
    (test: (r: CanonicalResource, value: string) => boolean): Matcher =>
    (r) =>
      alternatives.some((v) => test(r, v));
  const noModifier = () => {
    if (modifier !== undefined) throw badRequest(`The modifier :${modifier} is not supported on ${name}.`);
  };
  switch (name) {
    case 'url':
      noModifier();
      return anyOf((r, v) => {
        const { url, version } = parseCanonical(v);
        return r.url === url && (version === undefined || r.version === version);
      });
    case 'version':
      noModifier();
      return anyOf((r, v) => r.version === v);
    case 'status':
      noModifier();
      return anyOf((r, v) => r.status === v);
    case '_id':
      noModifier();
      return anyOf((r, v) => r.id === v);
    case 'name': {
      const fold = (s: string) => s.normalize('NFD').replace(/\p{M}/gu, '').toLowerCase();
      if (modifier === undefined) return anyOf((r, v) => r.name !== undefined && fold(r.name).startsWith(fold(v)));
      if (modifier === 'exact') return anyOf((r, v) => r.name === v);
      if (modifier === 'contains') return anyOf((r, v) => r.name !== undefined && fold(r.name).includes(fold(v)));
      throw badRequest(`The modifier :${modifier} is not supported on name (use :exact or :contains).`);
    }
    default:
      return undefined;
  }
}

/** The query's search parameters: their matchers, the pairs used (for page links), and the unknown names. */
function readSearchParams(query: Query): { matchers: Matcher[]; used: Array<[string, string]>; ignored: string[] } {
  const matchers: Matcher[] = [];
  const used: Array<[string, string]> = [];
  const ignored: string[] = [];
  for (const key of Object.keys(query)) {
    const known = SEARCH_PARAMS.some((p) => p.name === key.split(':')[0]) || key === '_id';
    if (!known) {
      if (!CONTROL_PARAMS.has(key)) ignored.push(key);
      continue;
    }
    for (const raw of values(query, key)) {
      const m = matcherFor(key, raw);
      if (m) {
        matchers.push(m);
        used.push([key, raw]);
      }
    }
  }
  return { matchers, used, ignored };
}

/** The paging links of a searchset: self, first, previous and next where they exist, last. */
function pageLinks(
  linkFor: (pageOffset: number) => string,
  offset: number,
  count: number,
  total: number,
): fhir4.BundleLink[] {
  const lastOffset = count === 0 ? 0 : Math.max(0, Math.floor((total - 1) / count) * count);
  const links: fhir4.BundleLink[] = [
    { relation: 'self', url: linkFor(offset) },
    { relation: 'first', url: linkFor(0) },
  ];
  if (count > 0 && offset > 0) links.push({ relation: 'previous', url: linkFor(Math.max(0, offset - count)) });
  if (count > 0 && offset + count < total) links.push({ relation: 'next', url: linkFor(offset + count) });
  links.push({ relation: 'last', url: linkFor(lastOffset) });
  return links;
}

/** Search one artifact type; returns a searchset Bundle. */
export function searchArtifacts(
  knowledge: KnowledgeBase,
  type: CanonicalResource['resourceType'],
  query: Query,
  options: SearchOptions,
): fhir4.Bundle {
  const summary = parseSummary(query);
  const count = parseNonNegativeInt(query, '_count', DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE);
  const offset = parseNonNegativeInt(query, '_offset', 0, Number.MAX_SAFE_INTEGER);

  const { matchers, used, ignored } = readSearchParams(query);
  if (ignored.length > 0 && options.strict) {
    throw badRequest(
      `Unknown search parameter(s): ${ignored.map((k) => k.slice(0, 60)).join(', ')} (Prefer: handling=strict). Supported: ${SEARCH_PARAMS.map((p) => p.name).join(', ')}, _id, _summary, _count, _offset.`,
    );
  }

  const matches = knowledge.ofType(type).filter((r) => matchers.every((m) => m(r)));
  const bundle: fhir4.Bundle = { resourceType: 'Bundle', type: 'searchset', total: matches.length };

  const linkFor = (pageOffset: number) => {
    const params = new URLSearchParams(used);
    if (summary !== undefined) params.set('_summary', summary);
    params.set('_count', String(count));
    params.set('_offset', String(pageOffset));
    return `${options.typeUrl}?${params.toString()}`;
  };
  if (summary !== 'count') {
    bundle.link = pageLinks(linkFor, offset, count, matches.length);
    bundle.entry = matches.slice(offset, offset + count).map((r) => ({
      fullUrl: `${options.fhirBase}/${r.resourceType}/${r.id}`,
      resource: applySummary(r, summary),
      search: { mode: 'match' },
    }));
  }
  if (ignored.length > 0) {
    (bundle.entry ??= []).push({
      resource: operationOutcome([
        issue({
          severity: 'warning',
          code: 'not-supported',
          diagnostics: `Ignored unknown search parameter(s): ${ignored.map((k) => k.slice(0, 60)).join(', ')}. Send 'Prefer: handling=strict' to get an error instead.`,
        }),
      ]),
      search: { mode: 'outcome' },
    });
  }
  return bundle;
}

const SUBSETTED: fhir4.Coding = {
  system: 'http://terminology.hl7.org/CodeSystem/v3-ObservationValue',
  code: 'SUBSETTED',
  display: 'subsetted',
};

/** `_summary` on one resource (returns a copy; the knowledge base stays untouched). */
export function applySummary<T extends fhir4.FhirResource>(resource: T, summary: Summary | undefined): T {
  if (summary === undefined || summary === 'false' || summary === 'count') return resource;
  const source = resource as unknown as Record<string, unknown>;
  const elements = summaryElements(resource.resourceType);
  let keep: (key: string) => boolean;
  if (summary === 'true') keep = (k) => matchesElement(k, elements.summary);
  else if (summary === 'text')
    keep = (k) => k === 'text' || k === 'id' || k === 'meta' || matchesElement(k, elements.mandatory);
  else keep = (k) => k !== 'text';
  const out: Record<string, unknown> = { resourceType: resource.resourceType };
  for (const [k, v] of Object.entries(source)) if (k !== 'resourceType' && keep(k)) out[k] = v;
  const meta = (out.meta ?? {}) as fhir4.Meta;
  out.meta = { ...meta, tag: [...(meta.tag ?? []), SUBSETTED] };
  return out as unknown as T;
}

function matchesElement(key: string, names: ReadonlySet<string>): boolean {
  if (names.has(key)) return true;
  // Choice elements (`effective[x]`) appear as `effectivePeriod`, `effectiveDateTime`, ...
  for (const n of names) if (n.endsWith('[x]') && key.startsWith(n.slice(0, -3))) return true;
  return false;
}

interface ElementSets {
  summary: Set<string>;
  mandatory: Set<string>;
}
let elementIndex: Map<string, ElementSets> | undefined;

/** Top-level summary and mandatory elements per resource type, from the R4 StructureDefinitions (loaded once, lazily). */
function summaryElements(type: string): ElementSets {
  if (!elementIndex) {
    elementIndex = new Map();
    const bundle = r4DefinitionBundle('fhir/r4/profiles-resources.json');
    for (const entry of bundle.entry ?? []) {
      const sd = entry.resource as fhir4.StructureDefinition | undefined;
      if (sd?.resourceType !== 'StructureDefinition' || sd.kind !== 'resource') continue;
      const sets: ElementSets = { summary: new Set(['id', 'meta']), mandatory: new Set() };
      for (const el of sd.snapshot?.element ?? []) {
        const parts = el.path.split('.');
        if (parts.length !== 2) continue;
        if (el.isSummary) sets.summary.add(parts[1]!);
        if ((el.min ?? 0) > 0) sets.mandatory.add(parts[1]!);
      }
      elementIndex.set(sd.type, sets);
    }
  }
  return elementIndex.get(type) ?? { summary: new Set(['id', 'meta']), mandatory: new Set() };
}
