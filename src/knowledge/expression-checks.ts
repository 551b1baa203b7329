/**
 * Every FHIRPath expression in a content resource must compile against the R4 model and call only
 * functions FHIRPath (fhirpath.js 5.2) knows; in Questionnaires every `%variable` must be in scope (SDC
 * built-ins, launch context, sourceQueries, `variable` extensions on the item or its ancestors). A typo in an
 * expression otherwise surfaces only when a patient reaches that item or a rule runs, which is too late.
 *
 * Found: the Expression datatype wherever it occurs (calculatedExpression, initialExpression,
 * enableWhenExpression, answerExpression, variable, PlanDefinition/ActivityDefinition condition and
 * dynamicValue ...), embedded `{{ }}` FHIRPath in x-fhir-query, `dynamicValue.path`, and
 * ElementDefinition constraints in StructureDefinitions.
 */
import { compileFhirPath } from '../fhirpath/index.js';

export interface ExpressionProblem {
  expression: string;
  message: string;
}

/** Functions of fhirpath.js 5.2.2 (its invocation table), plus the SDC/terminology helpers it accepts. */
const KNOWN_FUNCTIONS = new Set([
  ...'resolve memberOf empty not exists all allTrue anyTrue allFalse anyFalse subsetOf supersetOf isDistinct distinct count where extension select coalesce sort aggregate sum min max avg weight ordinal single first last type ofType is as tail take skip combine union intersect exclude iif trace defineVariable toInteger toLong toDecimal toString toDate toDateTime toTime toBoolean toQuantity hasValue getValue htmlChecks htmlchecks pathname convertsToBoolean convertsToInteger convertsToLong convertsToDecimal convertsToString convertsToDate convertsToDateTime convertsToTime convertsToQuantity indexOf lastIndexOf substring startsWith endsWith contains upper lower replace matches matchesFull replaceMatches length toChars join split trim encode decode escape unescape abs ceiling exp floor ln log power round sqrt truncate lowBoundary highBoundary now today timeOfDay yearOf monthOf dayOf hourOf minuteOf secondOf millisecondOf timezoneOffsetOf dateOf timeOf repeat children descendants comparable mod div or and xor implies'.split(
    ' ',
  ),
]);

/** Variables every SDC/FHIRPath evaluation has (FHIRPath spec, SDC spec, fhirpath.js). */
const BUILT_IN_VARIABLES = new Set([
  'resource',
  'rootResource',
  'context',
  'questionnaire',
  'qitem',
  'ucum',
  'sct',
  'loinc',
  'factory',
  'terminologies',
  'server',
  'sdc',
  'this',
  'index',
  'total',
]);

const FHIRPATH_LANGUAGES = new Set(['text/fhirpath']);
const QUERY_LANGUAGE = 'application/x-fhir-query';
const VARIABLE_EXTENSION = 'http://hl7.org/fhir/StructureDefinition/variable';
const LAUNCH_CONTEXT_EXTENSION = 'http://hl7.org/fhir/uv/sdc/StructureDefinition/sdc-questionnaire-launchContext';
/** SDC sourceQueries: the contained batch Bundle's results are `%<its id>`. */
const SOURCE_QUERIES_EXTENSION = 'http://hl7.org/fhir/uv/sdc/StructureDefinition/sdc-questionnaire-sourceQueries';

/** Remove string literals, delimited identifiers and comments so that only code remains. */
function codeOnly(expression: string): string {
  return expression
    .replace(/'(?:[^'\\]|\\.)*'/g, "''")
    .replace(/`(?:[^`\\]|\\.)*`/g, 'x')
    .replace(/\/\*[\s\S]*?\*\//g, ' ')
    .replace(/\/\/[^\n]*/g, ' ');
}

/** Function names called that FHIRPath does not define (calls on `%factory.` / `%terminologies.` excluded). */
export function unknownFunctions(expression: string): string[] {
  const code = codeOnly(expression);
  const out: string[] = [];
  for (const m of code.matchAll(/([%A-Za-z_][\w-]*)\s*\(/g)) {
    const name = m[1]!;
    if (name.startsWith('%')) continue;
    const before = code.slice(0, m.index);
    if (/%[\w-]+\s*\.\s*$/.test(before)) continue; // method of an environment object (%factory.Coding(...))
    if (!KNOWN_FUNCTIONS.has(name)) out.push(name);
  }
  return [...new Set(out)];
}

/** `%name` variables an expression uses (without the `%`, delimited names unquoted). */
export function variablesUsed(expression: string): string[] {
  const noStrings = expression.replace(/'(?:[^'\\]|\\.)*'/g, "''");
  const out = new Set<string>();
  for (const m of noStrings.matchAll(/%(?:`([^`]+)`|'([^']+)'|([A-Za-z_][\w-]*))/g)) out.add(m[1] ?? m[2] ?? m[3]!);
  return [...out];
}

/** Compile one FHIRPath expression; problems as messages (empty when fine). */
export function checkFhirPath(expression: string, inScope?: (name: string) => boolean): string[] {
  const problems: string[] = [];
  try {
    compileFhirPath(expression);
  } catch (err) {
    problems.push(`FHIRPath does not compile: ${firstLine(err instanceof Error ? err.message : String(err))}`);
    return problems;
  }
  const unknown = unknownFunctions(expression);
  if (unknown.length > 0)
    problems.push(
      `FHIRPath ${JSON.stringify(expression)} calls unknown function${unknown.length > 1 ? 's' : ''} ${unknown.join(', ')}()`,
    );
  if (inScope) {
    const missing = variablesUsed(expression).filter((v) => !inScope(v));
    if (missing.length > 0)
      problems.push(
        `FHIRPath ${JSON.stringify(expression)} uses %${missing.join(', %')}, not defined here (no variable or launchContext of that name in scope)`,
      );
  }
  return problems;
}

function firstLine(s: string): string {
  const line = s.split('\n')[0] ?? s;
  return line.length > 300 ? `${line.slice(0, 300)}…` : line;
}

interface Scope {
  names: Set<string>;
  parent?: Scope;
}

function hasName(scope: Scope | undefined, name: string): boolean {
  for (let s = scope; s; s = s.parent) if (s.names.has(name)) return true;
  return false;
}

type DefiningExtension = {
  url?: unknown;
  valueExpression?: { name?: unknown };
  valueReference?: { reference?: unknown };
  extension?: Array<{ url?: unknown; valueCoding?: { code?: unknown }; valueId?: unknown }>;
};

function definedVariables(node: Record<string, unknown>): Set<string> {
  const names = new Set<string>();
  const exts = Array.isArray(node.extension) ? (node.extension as unknown[]) : [];
  for (const e of exts) for (const name of namesDefinedBy(e as DefiningExtension | null)) names.add(name);
  return names;
}

/** The variable a `variable` extension names, the contained Bundle of sourceQueries, a launchContext's names. */
function namesDefinedBy(ext: DefiningExtension | null): string[] {
  const url = ext?.url;
  if (url === VARIABLE_EXTENSION) {
    const name = ext!.valueExpression?.name;
    return typeof name === 'string' ? [name] : [];
  }
  if (url === SOURCE_QUERIES_EXTENSION) {
    const ref = ext!.valueReference?.reference;
    return typeof ref === 'string' && ref.startsWith('#') ? [ref.slice(1)] : [];
  }
  if (url === LAUNCH_CONTEXT_EXTENSION) return launchContextNames(ext!);
  return [];
}

function launchContextNames(ext: DefiningExtension): string[] {
  const names: string[] = [];
  for (const sub of ext.extension ?? []) {
    if (sub.url !== 'name') continue;
    const name = sub.valueCoding?.code ?? sub.valueId;
    if (typeof name === 'string') names.push(name);
  }
  return names;
}

type InScope = ((name: string) => boolean) | undefined;

/** All expression problems of one resource, each with the FHIRPath to the element that holds it. */
export function checkExpressions(resource: { resourceType: string } & Record<string, unknown>): ExpressionProblem[] {
  const out: ExpressionProblem[] = [];
  const checkVariables = resource.resourceType === 'Questionnaire';

  const visit = (node: unknown, path: string, scope: Scope | undefined, key: string): void => {
    if (Array.isArray(node)) {
      node.forEach((v, i) => visit(v, `${path}[${i}]`, scope, key));
      return;
    }
    if (node === null || typeof node !== 'object') return;
    const obj = node as Record<string, unknown>;
    // Questionnaire variables are visible in the element that defines them and everything below it.
    const isScopeNode = checkVariables && (path === resource.resourceType || key === 'item');
    const here: Scope | undefined = isScopeNode ? { names: definedVariables(obj), parent: scope } : scope;
    const inScope = checkVariables ? inScopeOf(here) : undefined;
    out.push(...elementProblems(obj, path, key, inScope));
    for (const [k, v] of Object.entries(obj)) {
      if (k === 'contained' || k === 'snapshot') continue; // contained: own checks; snapshot: inherited HL7 constraints
      visit(v, `${path}.${k}`, here, k);
    }
  };
  visit(resource, resource.resourceType, undefined, '');
  return out;
}

/** Which `%names` a Questionnaire expression may use here: built-ins, ValueSet/extension constants, variables. */
function inScopeOf(here: Scope | undefined): (name: string) => boolean {
  return (name) =>
    BUILT_IN_VARIABLES.has(name) || name.startsWith('vs-') || name.startsWith('ext-') || hasName(here, name);
}

/** The problems of the expressions one element holds: an Expression, a dynamicValue path, a constraint. */
function elementProblems(
  obj: Record<string, unknown>,
  path: string,
  key: string,
  inScope: InScope,
): ExpressionProblem[] {
  const out: ExpressionProblem[] = [];
  if (typeof obj.expression === 'string' && typeof obj.language === 'string')
    out.push(...expressionElementProblems(obj.expression, obj.language, path, inScope));
  if (key === 'dynamicValue' && typeof obj.path === 'string') {
    for (const message of checkFhirPath(obj.path))
      out.push({ expression: `${path}.path`, message: `dynamicValue.path: ${message}` });
  }
  if (key === 'constraint' && typeof obj.expression === 'string' && typeof obj.key === 'string') {
    for (const message of checkFhirPath(obj.expression))
      out.push({ expression: `${path}.expression`, message: `constraint ${obj.key}: ${message}` });
  }
  return out;
}

/** A FHIRPath Expression, or the FHIRPath embedded in an x-fhir-query's `{{...}}`. */
function expressionElementProblems(
  expression: string,
  language: string,
  path: string,
  inScope: InScope,
): ExpressionProblem[] {
  const out: ExpressionProblem[] = [];
  if (FHIRPATH_LANGUAGES.has(language)) {
    for (const message of checkFhirPath(expression, inScope)) out.push({ expression: `${path}.expression`, message });
  } else if (language === QUERY_LANGUAGE) {
    for (const m of expression.matchAll(/\{\{([\s\S]*?)\}\}/g)) {
      for (const message of checkFhirPath(m[1]!.trim(), inScope))
        out.push({ expression: `${path}.expression`, message: `in x-fhir-query: ${message}` });
    }
  }
  return out;
}

/**
 * What the rules engine puts in the FHIRPath environment of decision content (src/rules/context.ts:
 * %subject, %patient, %response, %resource, %now; %action inside dynamicValues), besides named variables.
 */
export const DECISION_ENVIRONMENT = new Set([
  'itemByLinkId',
  'itemsByAnswerCoding',
  'unusableItems',
  'subject',
  'patient',
  'response',
  'resource',
  'rootResource',
  'context',
  'now',
  'action',
  'ucum',
  'sct',
  'loinc',
  'factory',
  'terminologies',
]);

/** Names the `variable` extensions of a resource define, anywhere in it. */
export function variablesDefined(resource: object): string[] {
  const out: string[] = [];
  const walk = (node: unknown): void => {
    if (Array.isArray(node)) return node.forEach(walk);
    if (!node || typeof node !== 'object') return;
    const obj = node as { url?: unknown; valueExpression?: { name?: unknown } };
    if (obj.url === VARIABLE_EXTENSION && typeof obj.valueExpression?.name === 'string')
      out.push(obj.valueExpression.name);
    Object.values(node).forEach(walk);
  };
  walk(resource);
  return out;
}

/**
 * Decision content (PlanDefinition, ActivityDefinition, Library): every `%name` must be provided by the
 * engine or defined by a `variable` extension somewhere in the decision content (`known`). A misspelt
 * variable would otherwise make a rule fail, or never fire, only when a patient's data reaches it.
 */
export function checkDecisionVariables(
  resource: { resourceType: string },
  known: ReadonlySet<string>,
): ExpressionProblem[] {
  const out: ExpressionProblem[] = [];
  const visit = (node: unknown, path: string): void => {
    if (Array.isArray(node)) return node.forEach((v, i) => visit(v, `${path}[${i}]`));
    if (!node || typeof node !== 'object') return;
    const obj = node as Record<string, unknown>;
    if (typeof obj.expression === 'string' && obj.language === 'text/fhirpath') {
      const missing = variablesUsed(obj.expression).filter((v) => !known.has(v) && !DECISION_ENVIRONMENT.has(v));
      if (missing.length > 0) {
        out.push({
          expression: `${path}.expression`,
          message: `FHIRPath ${JSON.stringify(obj.expression)} uses %${missing.join(', %')}, which neither the rules engine nor any variable extension defines`,
        });
      }
    }
    for (const [k, v] of Object.entries(obj)) if (k !== 'contained') visit(v, `${path}.${k}`);
  };
  visit(resource, resource.resourceType);
  return out;
}
