/**
 * Required ValueSet bindings (e.g. `Questionnaire.status`, `item.type`, `enableWhen.operator`), which
 * Medplum's validator does not check. The lantana `fhir` package (FHIR.js 4.12) carries the R4 ValueSets
 * and checks codes against them offline.
 *
 * Only its binding verdicts are used: its structural checks disagree with the R4 definitions on some
 * choice-type elements (it reports `initial[0].value[x]` missing when `valueBoolean` is present), and
 * structure is Medplum's job here. Bindings to ValueSets it does not know are skipped, not failed.
 *
 * Speed: lantana's own walk builds a path string for every property of every type it passes (present or
 * not) and is ≈10× slower than the rest of the checks on large resources. `bindingsLookClean` walks the
 * same tree with lantana's own parsed definitions and ValueSets (indexed once into Sets) and only asks
 * lantana when it finds a code outside a required binding or a shape it does not model; a clean resource —
 * the usual case — never reaches lantana, and every verdict that is reported still comes from lantana.
 */
import fhirPackage from 'fhir';
import { issue } from '../outcomes/index.js';

interface LantanaMessage {
  location?: string;
  severity?: string;
  message?: string;
}
interface LantanaProperty {
  _name: string;
  _type: string;
  _multiple?: boolean;
  _valueSet?: string;
  _valueSetStrength?: string;
  _properties?: LantanaProperty[];
}
interface LantanaValueSet {
  systems: Array<{ uri: string; codes: Array<{ code: unknown }> }>;
}
interface LantanaParser {
  parsedStructureDefinitions: Record<string, { _properties?: LantanaProperty[] } | undefined>;
  parsedValueSets: Record<string, LantanaValueSet | undefined>;
}
interface LantanaFhir {
  parser: LantanaParser;
  validate(input: object, options: object): { valid: boolean; messages: LantanaMessage[] };
}

let lantana: LantanaFhir | undefined;

function validator(): LantanaFhir {
  if (!lantana) {
    const { Fhir } = fhirPackage as unknown as { Fhir: new () => LantanaFhir };
    lantana = new Fhir();
  }
  return lantana;
}

const BINDING_MESSAGE = /^Code "(.*)" (\((.*)\) )?not found in value set$/s;

/** Errors for codes outside a required binding. Never throws (a crash of the checker yields no issues). */
export function checkRequiredBindings(resource: object): fhir4.OperationOutcomeIssue[] {
  let messages: LantanaMessage[];
  try {
    if (bindingsLookClean(resource)) return [];
    messages = validator().validate(resource, { errorOnUnexpected: false }).messages;
  } catch {
    return [];
  }
  const out: fhir4.OperationOutcomeIssue[] = [];
  for (const m of messages) {
    if (m.severity !== 'error' || !m.message) continue;
    const match = BINDING_MESSAGE.exec(m.message);
    if (!match) continue;
    const system = match[3] ? ` from ${match[3]}` : '';
    out.push(
      issue({
        code: 'code-invalid',
        diagnostics: `Code ${JSON.stringify(match[1])}${system} is not in the required value set for this element`,
        expression: m.location,
      }),
    );
  }
  return out;
}

// --- The fast pre-check: mirrors lantana's Validator.validateNext / validateProperties (fhir 4.12) ---

/** lantana's `Constants.PrimitiveTypes` / `Constants.DataTypes`, which decide how it descends. */
const PRIMITIVE_TYPES = new Set([
  'instant',
  'time',
  'date',
  'dateTime',
  'decimal',
  'boolean',
  'integer',
  'base64Binary',
  'string',
  'uri',
  'url',
  'unsignedInt',
  'positiveInt',
  'code',
  'id',
  'oid',
  'markdown',
  'canonical',
  'Element',
]);

/** A ValueSet as lantana's `checkCode` reads it: codes per system (first entry of a system wins) and all codes. */
interface CodeIndex {
  bySystem: Map<string, Set<unknown>>;
  all: Set<unknown>;
}

const codeIndexes = new Map<string, CodeIndex | null>();
const propertyIndexes = new WeakMap<LantanaProperty[], Map<string, LantanaProperty[]>>();

function codeIndex(parser: LantanaParser, valueSetUrl: string): CodeIndex | null {
  let index = codeIndexes.get(valueSetUrl);
  if (index !== undefined) return index;
  const vs = parser.parsedValueSets[valueSetUrl];
  index = null;
  if (vs) {
    index = { bySystem: new Map(), all: new Set() };
    for (const system of vs.systems) {
      const codes = new Set(system.codes.map((c) => c.code));
      if (!index.bySystem.has(system.uri)) index.bySystem.set(system.uri, codes);
      for (const c of codes) index.all.add(c);
    }
  }
  codeIndexes.set(valueSetUrl, index);
  return index;
}

function byName(properties: LantanaProperty[]): Map<string, LantanaProperty[]> {
  let map = propertyIndexes.get(properties);
  if (!map) {
    map = new Map();
    for (const p of properties) {
      const list = map.get(p._name);
      if (list) list.push(p);
      else map.set(p._name, [p]);
    }
    propertyIndexes.set(properties, map);
  }
  return map;
}

const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === 'object' && !Array.isArray(v);

/**
 * True when lantana would find no code outside a required binding in `resource`. False means "ask lantana"
 * (a code outside a binding, or input shaped in a way lantana handles specially: nulls, wrong cardinality).
 */
export function bindingsLookClean(resource: object): boolean {
  const parser = validator().parser;
  const rt = (resource as { resourceType?: unknown }).resourceType;
  const definition = typeof rt === 'string' ? parser.parsedStructureDefinitions[rt] : undefined;
  if (!definition?._properties) return false;
  return propertiesLookClean(parser, resource, definition._properties);
}

function inValueSet(index: CodeIndex, code: unknown, system: unknown): boolean {
  if (system) return typeof system === 'string' && (index.bySystem.get(system)?.has(code) ?? false);
  return index.all.has(code);
}

/** The ValueSet a bound property names, without its version. */
function valueSetUrl(property: LantanaProperty): string {
  return property._valueSet!.split('|')[0]!;
}

function codeableConceptOk(parser: LantanaParser, value: unknown, property: LantanaProperty): boolean {
  if (!isPlainObject(value)) return false;
  const coding = value.coding;
  if (coding === undefined) return true;
  if (!Array.isArray(coding) || !coding.every(isPlainObject)) return false;
  if (property._valueSetStrength !== 'required') return true;
  const index = codeIndex(parser, valueSetUrl(property));
  return !index || coding.every((c) => inValueSet(index, c.code, c.system));
}

function codingOk(parser: LantanaParser, value: unknown, property: LantanaProperty): boolean {
  if (!isPlainObject(value)) return false;
  if (property._valueSetStrength !== 'required') return true;
  const index = codeIndex(parser, valueSetUrl(property));
  return !index || inValueSet(index, value.code, value.system);
}

function codeOk(parser: LantanaParser, value: unknown, property: LantanaProperty): boolean {
  if (typeof value !== 'string') return false;
  if (property._valueSetStrength !== 'required') return true;
  const index = codeIndex(parser, valueSetUrl(property));
  return !index || index.all.has(value);
}

type CodesCheck = (parser: LantanaParser, value: unknown, property: LantanaProperty) => boolean;

/** The coded types a binding applies to; a binding on any other type is not checked here. */
const CODES_CHECKS = new Map<string, CodesCheck>([
  ['CodeableConcept', codeableConceptOk],
  ['Coding', codingOk],
  ['code', codeOk],
]);

function valueLooksClean(parser: LantanaParser, value: unknown, property: LantanaProperty): boolean {
  if (value === null || value === undefined) return false;
  if (!codesLookClean(parser, value, property)) return false;
  const type = property._type;
  if (PRIMITIVE_TYPES.has(type)) return true;
  if (type === 'Resource') return resourceLooksClean(parser, value);
  if (type === 'Reference' && !referenceLooksClean(value)) return false;
  return childrenLookClean(parser, value, property);
}

/** A bound coded value whose codes are in a required ValueSet (or whose ValueSet is unknown here). */
function codesLookClean(parser: LantanaParser, value: unknown, property: LantanaProperty): boolean {
  if (!property._valueSet) return true;
  const check = CODES_CHECKS.get(property._type);
  return check ? check(parser, value, property) : true;
}

/** lantana handles a Reference whose `reference` is not a string on its own terms. */
function referenceLooksClean(value: unknown): boolean {
  return !(isPlainObject(value) && value.reference !== undefined && typeof value.reference !== 'string');
}

/** A complex value, walked with its datatype's definition, else with the element's own child properties. */
function childrenLookClean(parser: LantanaParser, value: unknown, property: LantanaProperty): boolean {
  const type = property._type;
  const structure = parser.parsedStructureDefinitions[type];
  if (type !== 'xhtml' && type !== 'BackboneElement' && structure?._properties)
    return propertiesLookClean(parser, value, structure._properties);
  if (property._properties) return propertiesLookClean(parser, value, property._properties);
  return true;
}

/** A contained or Bundle-entry resource, walked with its own type's definition. */
function resourceLooksClean(parser: LantanaParser, value: unknown): boolean {
  if (!isPlainObject(value)) return false;
  const nested =
    typeof value.resourceType === 'string' ? parser.parsedStructureDefinitions[value.resourceType] : undefined;
  return nested?._properties ? propertiesLookClean(parser, value, nested._properties) : true;
}

function propertiesLookClean(parser: LantanaParser, obj: unknown, list: LantanaProperty[]): boolean {
  if (!isPlainObject(obj)) return false;
  const index = byName(list);
  for (const key of Object.keys(obj)) {
    const matching = index.get(key);
    if (!matching) continue;
    const value = obj[key];
    for (const property of matching) {
      if (property._multiple) {
        if (!Array.isArray(value)) continue; // lantana: "Property is not an array", no descent
        for (const v of value) if (!valueLooksClean(parser, v, property)) return false;
      } else if (Array.isArray(value) || !valueLooksClean(parser, value, property)) {
        return false;
      }
    }
  }
  return true;
}
