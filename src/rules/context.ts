/**
 * What an $apply evaluates against: the subject Patient, the newest intake QuestionnaireResponse, and the
 * FHIRPath environment (%subject, %patient, %response, %resource, %now, then the content's named variables).
 */
import { compileExpression, NotCompiled } from '../fhirpath/compiled.js';
import { compileFhirPath, FhirPathError, type CompileOptions, type FhirPathEnv } from '../fhirpath/index.js';
import { badRequest, unprocessable } from '../outcomes/index.js';
import { EXT_VARIABLE } from './vocabulary.js';

const SUBJECT_PARAM = "Parameters.parameter.where(name = 'subject').value";
const DATA_PARAM = "Parameters.parameter.where(name = 'data').resource";

export interface Subject {
  /** `Patient/<id>` */
  reference: string;
  id: string;
  patient: fhir4.Patient | undefined;
}

/** Accepts `Patient/<id>` (the $apply `subject` parameter). */
export function resolveSubject(subject: string, data: readonly fhir4.FhirResource[]): Subject {
  const match = /^(?:.*\/)?Patient\/([A-Za-z0-9\-.]{1,64})$/.exec(subject.trim());
  if (!match)
    throw badRequest(
      `subject must be a Patient reference such as "Patient/123"; got ${JSON.stringify(subject)}.`,
      SUBJECT_PARAM,
    );
  const id = match[1]!;
  const reference = `Patient/${id}`;
  const patient = data.find((r): r is fhir4.Patient => r.resourceType === 'Patient' && r.id === id);
  return { reference, id, patient };
}

function refersTo(ref: fhir4.Reference | undefined, subject: Subject): boolean {
  const r = ref?.reference;
  return r === subject.reference || (r !== undefined && r.endsWith(`/${subject.reference}`));
}

const USABLE_STATUSES = new Set(['completed', 'amended']);

/**
 * The newest completed (or amended) response by this subject to one of the given Questionnaires (by
 * canonical url, any version). With no questionnaire urls, any questionnaire counts.
 */
export function selectResponse(
  data: readonly fhir4.FhirResource[],
  subject: Subject,
  questionnaireUrls: readonly string[],
): fhir4.QuestionnaireResponse | undefined {
  let best: fhir4.QuestionnaireResponse | undefined;
  for (const r of data) {
    if (r.resourceType !== 'QuestionnaireResponse' || !USABLE_STATUSES.has(r.status) || !refersTo(r.subject, subject))
      continue;
    const url = (r.questionnaire ?? '').split('|')[0] ?? '';
    if (questionnaireUrls.length > 0 && !questionnaireUrls.includes(url)) continue;
    // Later-authored wins; ties (or missing dates) go to the later entry in `data`.
    if (!best || (r.authored ?? '') >= (best.authored ?? '')) best = r;
  }
  return best;
}

/** Fails fast when the input cannot describe the subject at all. */
export function requireSomethingAbout(subject: Subject, response: fhir4.QuestionnaireResponse | undefined): void {
  if (!subject.patient && !response) {
    throw unprocessable({
      code: 'not-found',
      diagnostics: `The data holds neither ${subject.reference} nor a completed intake QuestionnaireResponse for it; there is nothing to apply the rules to.`,
      expression: DATA_PARAM,
    });
  }
}

/**
 * Which FHIRPath evaluator an $apply uses, for every expression of that $apply: `compiled` (the fast subset
 * in src/fhirpath/compiled.ts, over plain JSON) or `fhirpath.js` (the reference, over its typed nodes). The
 * two never mix in one environment: their values have different representations. The engine tries
 * `compiled` first and re-runs the whole $apply with `fhirpath.js` when the compiled one cannot answer.
 * Stored on the base environment under a symbol, so every environment extended from it inherits it.
 */
export type Evaluator = 'compiled' | 'fhirpath.js';
const EVALUATOR = Symbol('evaluator');

function evaluatorOf(env: FhirPathEnv): Evaluator {
  return (env as { [EVALUATOR]?: Evaluator })[EVALUATOR] ?? 'fhirpath.js';
}

/**
 * `unusable`: linkIds of single-answer items whose answer was not usable (answers.ts). Content reads them
 * as `%unusableItems` so that such an item is unknown even when a valid code remains beside a bad one.
 */
export function baseEnvironment(
  subject: Subject,
  response: fhir4.QuestionnaireResponse | undefined,
  now: Date,
  evaluator: Evaluator = 'fhirpath.js',
  unusable: readonly string[] = [],
): FhirPathEnv {
  // fhirpath.js rejects undefined variables, so absent resources are empty collections.
  const patient = subject.patient ?? [];
  const { byLinkId, byAnswerCoding } = evaluator === 'compiled' ? indexPlainItems(response) : indexItems(response);
  const env: FhirPathEnv = {
    itemByLinkId: byLinkId,
    itemsByAnswerCoding: byAnswerCoding,
    unusableItems: [...unusable],
    subject: patient,
    patient,
    response: response ?? [],
    resource: response ?? patient,
    now: now.toISOString(),
  };
  Object.defineProperty(env, EVALUATOR, { value: evaluator });
  return env;
}

const ITEMS_THREE_LEVELS = '%response.item.combine(%response.item.item).combine(%response.item.item.item)';

/**
 * The response's items (three levels, like the content's %items) indexed once per $apply, so content looks
 * an item up by navigation instead of scanning every item with where() (fhirpath.js costs microseconds per
 * element). Values are fhirpath.js typed nodes, so `.answer.value` resolves value[x] as usual:
 *   %itemByLinkId.`weight-kg`               = %items.where(linkId = 'weight-kg') (and unanswered ones)
 *   %itemsByAnswerCoding.`<system>|<code>`  = items with an answer value whose system and code match
 */
function indexItems(response: fhir4.QuestionnaireResponse | undefined): {
  byLinkId: Record<string, unknown[]>;
  byAnswerCoding: Record<string, unknown[]>;
} {
  // No prototype: a linkId such as "constructor" is just a key.
  const byLinkId = Object.create(null) as Record<string, unknown[]>;
  const byAnswerCoding = Object.create(null) as Record<string, unknown[]>;
  if (!response) return { byLinkId, byAnswerCoding };
  for (const node of compileFhirPath(ITEMS_THREE_LEVELS, { keepTypes: true })(response, { response })) {
    const item = (node as { data?: fhir4.QuestionnaireResponseItem }).data;
    if (!isIndexableItem(item)) continue;
    (byLinkId[item.linkId] ??= []).push(node);
    for (const key of answerCodings(item)) (byAnswerCoding[key] ??= []).push(node);
  }
  return { byLinkId, byAnswerCoding };
}

/** fhirpath.js would take an object with these keys for a resource or a converted node. */
function isIndexableItem(
  item: fhir4.QuestionnaireResponseItem | undefined,
): item is fhir4.QuestionnaireResponseItem & { linkId: string } {
  return !!item && typeof item.linkId === 'string' && item.linkId !== 'resourceType' && item.linkId !== '__path__';
}

/** `system|code` of each distinct answer value with a system and a code. */
function answerCodings(item: fhir4.QuestionnaireResponseItem): Set<string> {
  const codings = new Set<string>();
  for (const answer of item.answer ?? []) {
    const value = answer.valueCoding ?? answer.valueQuantity; // the answer types with system and code
    if (typeof value?.system === 'string' && typeof value.code === 'string')
      codings.add(`${value.system}|${value.code}`);
  }
  return codings;
}

/** The same indexes for the compiled evaluator: plain items, in Maps (which it reads by key). */
function indexPlainItems(response: fhir4.QuestionnaireResponse | undefined): {
  byLinkId: Map<string, unknown[]>;
  byAnswerCoding: Map<string, unknown[]>;
} {
  const byLinkId = new Map<string, unknown[]>();
  const byAnswerCoding = new Map<string, unknown[]>();
  if (!response) return { byLinkId, byAnswerCoding };
  const push = (map: Map<string, unknown[]>, key: string, item: unknown) => {
    const list = map.get(key);
    if (list) list.push(item);
    else map.set(key, [item]);
  };
  for (const found of compileExpression(ITEMS_THREE_LEVELS)([response], { response })) {
    const item = found as fhir4.QuestionnaireResponseItem;
    if (
      typeof item !== 'object' ||
      typeof item.linkId !== 'string' ||
      item.linkId === 'resourceType' ||
      item.linkId === '__path__'
    )
      continue;
    push(byLinkId, item.linkId, item);
    const codings = new Set<string>();
    for (const answer of item.answer ?? []) {
      const value = answer.valueCoding ?? answer.valueQuantity;
      if (typeof value?.system === 'string' && typeof value.code === 'string')
        codings.add(`${value.system}|${value.code}`);
    }
    for (const key of codings) push(byAnswerCoding, key, item);
  }
  return { byLinkId, byAnswerCoding };
}

/**
 * An environment that adds bindings to `env` without copying it (the named variables make it large and it
 * is extended per dynamicValue). fhirpath.js looks variables up with `in` and `[]`, which see inherited ones.
 */
export function extendEnvironment(env: FhirPathEnv, bindings: FhirPathEnv): FhirPathEnv {
  return Object.assign(Object.create(env) as FhirPathEnv, bindings);
}

/** Evaluate an expression from content; failures become a 422 naming where in the content it sits. */
export function evaluate(expression: string, env: FhirPathEnv, where: string, options?: CompileOptions): unknown[] {
  if (evaluatorOf(env) === 'compiled') return evaluateCompiled(expression, env, options);
  try {
    return compileFhirPath(expression, options)(env.resource ?? {}, env);
  } catch (err) {
    const reason = err instanceof FhirPathError ? err.message : String(err);
    throw unprocessable({
      code: 'processing',
      diagnostics: `Could not evaluate ${where} against the supplied data: ${reason}`,
    });
  }
}

/**
 * The compiled evaluator. It throws NotCompiled for whatever it does not answer exactly as fhirpath.js;
 * that, like any other failure here, makes the engine re-run the $apply with fhirpath.js.
 */
function evaluateCompiled(expression: string, env: FhirPathEnv, options?: CompileOptions): unknown[] {
  const root = env.resource;
  const result = compileExpression(expression)(Array.isArray(root) ? root : [root], env);
  // Variables feed later expressions; anything else leaves the engine as data, where fhirpath.js would
  // hand out its own copies of objects: only primitives are returned from here, in a fresh array.
  if (options?.keepTypes) return result;
  if (result.some((v) => typeof v === 'object')) throw new NotCompiled('an object as a result');
  return result.slice();
}

/** `%name` alone: a condition that is one named expression (how the content writes every rule). */
const VARIABLE_ONLY = /^%([A-Za-z_][A-Za-z0-9_]*)$/;

/** The variable's value when it is already a plain boolean collection (what `%name` would yield), else undefined. */
function booleanVariable(expression: string, env: FhirPathEnv): unknown[] | undefined {
  const name = VARIABLE_ONLY.exec(expression)?.[1];
  const value = name === undefined ? undefined : env[name];
  return Array.isArray(value) && value.every((v) => typeof v === 'boolean') ? value : undefined;
}

/** Applicability: true only when the expression yields exactly `true` (empty = unknown = not applicable). */
export function evaluateCondition(expression: string, env: FhirPathEnv, where: string): boolean {
  // The named expressions already decided `%rf03`; reading it gives what fhirpath.js would return.
  const out = booleanVariable(expression, env) ?? evaluate(expression, env, where);
  if (out.length === 0) return false;
  if (out.length === 1 && typeof out[0] === 'boolean') return out[0];
  throw unprocessable({
    code: 'processing',
    diagnostics: `${where} must yield a single boolean; it yielded ${JSON.stringify(out).slice(0, 200)}.`,
  });
}

interface NamedExpression {
  name: string;
  expression: string;
}

/** The `variable` extensions of each content resource, read once (content is immutable once loaded). */
const variablesOf = new WeakMap<fhir4.DomainResource, NamedExpression[]>();

function namedExpressions(resource: fhir4.DomainResource): NamedExpression[] {
  let found = variablesOf.get(resource);
  if (!found) {
    found = (resource.extension ?? [])
      .filter((e) => e.url === EXT_VARIABLE && e.valueExpression?.name && e.valueExpression.expression)
      .map((e) => ({ name: e.valueExpression!.name!, expression: e.valueExpression!.expression! }));
    variablesOf.set(resource, found);
  }
  return found;
}

/**
 * Named expressions (the `variable` extension), evaluated in order; each sees the ones before it. Their
 * values keep fhirpath.js's typed nodes (they only feed later expressions, which then need not re-wrap
 * them); whatever leaves the engine goes through a normal evaluation and is plain JSON.
 */
export function withVariables(resource: fhir4.DomainResource, env: FhirPathEnv, owner: string): FhirPathEnv {
  const variables = namedExpressions(resource);
  if (variables.length === 0) return env;
  const next = extendEnvironment(env, {});
  for (const { name, expression } of variables) {
    next[name] = evaluate(expression, next, `variable %${name} of ${owner}`, { keepTypes: true });
  }
  return next;
}
