/**
 * PlanDefinition/$apply (R4), for what the content uses. Pure and synchronous.
 *
 *   variables (the `variable` extension; nested PlanDefinitions inherit them and may add their own)
 *   -> each action: applicability conditions (FHIRPath; empty = unknown = does not apply)
 *   -> definitionCanonical: a PlanDefinition is applied in place (an action without a code is a
 *      transparent grouping: its fired actions join the parent's list); an ActivityDefinition produces
 *      proposals that go into CarePlan.contained and are referenced from the action
 *   -> every fired action that carries a code (a rule) gets its evidence: the patient's answers to the
 *      inputs it declares, the unknown items that could change it, its citations and its source
 *      PlanDefinition url|version.
 *
 * Output: a CarePlan (status draft, intent proposal) containing one RequestGroup whose actions are the fired
 * rules, most urgent first. The shape is documented in docs/rules.md.
 */
import type { FhirPathEnv } from '../fhirpath/index.js';
import type { KnowledgeBase } from '../knowledge/knowledge-base.js';
import { unprocessable } from '../outcomes/index.js';
import { applyActivityDefinition } from './activity.js';
import {
  baseEnvironment,
  evaluate,
  evaluateCondition,
  requireSomethingAbout,
  resolveSubject,
  selectResponse,
  withVariables,
  type Evaluator,
  type Subject,
} from './context.js';
import { checkAnswers, problemText } from './answers.js';
import { carePlanNarrative } from './narrative.js';
import {
  answerOrigin,
  basisExtensions,
  criterionExtensions,
  declaredCriteria,
  declaredInputs,
  indexResponse,
  inputsInBasisOrder,
  questionOf,
  unknownExtensions,
  type EvidenceSource,
  type MetCriterion,
} from './evidence.js';
import {
  EXT_COULD_CHANGE_ITEMS,
  EXT_SOURCE_PLAN_DEFINITION,
  PRIORITY_RANK,
  highestPriority,
  isPriority,
  type RequestPriority,
} from './vocabulary.js';

export interface ApplyOptions {
  /** `Patient/<id>`: the patient the plan is for; must be in `data` (or be the subject of a response in it). */
  subject: string;
  /** The Patient, the QuestionnaireResponse(s) and anything else the rules may read. */
  data: fhir4.FhirResource[];
  knowledge: KnowledgeBase;
  /** Clock for CarePlan.created and authoredOn, and the age fallback when a response has no `authored`. */
  now?: Date;
  /**
   * FHIRPath evaluator. Default: the compiled subset (src/fhirpath/compiled.ts), falling back to fhirpath.js
   * for the whole $apply whenever it cannot answer exactly. Set, it forces one of them with no fallback
   * (`compiled` then throws NotCompiled where it cannot answer): tests compare the two.
   */
  evaluator?: Evaluator;
}

/** Nested PlanDefinitions deeper than this are a content error (a cycle, most likely). */
const MAX_DEPTH = 8;

interface Run {
  knowledge: KnowledgeBase;
  subject: Subject;
  evidence: EvidenceSource;
  authoredOn: string;
  contained: fhir4.FhirResource[];
  usedIds: Set<string>;
  /** ActivityDefinition canonical -> the proposals already made from it, so each thing is proposed once. */
  proposals: Map<string, Proposal[]>;
}

interface Proposal {
  id: string;
  priority: RequestPriority | undefined;
  /** The resource as first produced, and its identity (see sameness), computed when first compared. */
  first: unknown;
  key?: string;
}

interface Scope {
  /** url|version of the PlanDefinition whose actions are being applied. */
  canonical: string;
  env: FhirPathEnv;
  /** Expression listing the unknown linkIds that could change a result (inherited from outer scopes). */
  couldChange: string | undefined;
  depth: number;
}

export function canonicalOf(resource: { url?: string; version?: string; id?: string; resourceType: string }): string {
  if (!resource.url) return `${resource.resourceType}/${resource.id ?? ''}`;
  return resource.version ? `${resource.url}|${resource.version}` : resource.url;
}

function couldChangeOf(element: { extension?: fhir4.Extension[] }): string | undefined {
  return element.extension?.find((e) => e.url === EXT_COULD_CHANGE_ITEMS)?.valueExpression?.expression;
}

/** Questionnaires the PlanDefinition depends on (relatedArtifact depends-on), by url without version. */
function intakeUrls(pd: fhir4.PlanDefinition): string[] {
  return (pd.relatedArtifact ?? [])
    .filter((a) => a.type === 'depends-on' && a.resource && /\/Questionnaire\/[^/|]+(\|.*)?$/.test(a.resource))
    .map((a) => a.resource!.split('|')[0]!);
}

export function applyPlanDefinition(planDefinition: fhir4.PlanDefinition, options: ApplyOptions): fhir4.CarePlan {
  const now = options.now ?? new Date();
  if (options.evaluator !== undefined) return applyWith(planDefinition, options, now, options.evaluator);
  try {
    return applyWith(planDefinition, options, now, 'compiled');
  } catch {
    // The compiled evaluator could not answer (or anything else failed): fhirpath.js decides, errors included.
    return applyWith(planDefinition, options, now, 'fhirpath.js');
  }
}

function applyWith(
  planDefinition: fhir4.PlanDefinition,
  options: ApplyOptions,
  now: Date,
  evaluator: Evaluator,
): fhir4.CarePlan {
  const subject = resolveSubject(options.subject, options.data);
  const submitted = selectResponse(options.data, subject, intakeUrls(planDefinition));
  requireSomethingAbout(subject, submitted);

  const questionnaire = intakeQuestionnaire(planDefinition, submitted, options.knowledge);
  // Every answer is checked against its item before any rule reads it: an answer that is not a valid
  // option (or number) of its item is unknown, never "no" (answers.ts).
  const { response, problems, unusable } = checkAnswers(questionnaire, submitted);
  const run: Run = {
    knowledge: options.knowledge,
    subject,
    evidence: { response, items: indexResponse(response), questionnaire, problems, origin: answerOrigin(response) },
    authoredOn: now.toISOString(),
    contained: [],
    usedIds: new Set(['request-group']),
    proposals: new Map(),
  };

  const canonical = canonicalOf(planDefinition);
  const env = withVariables(
    planDefinition,
    baseEnvironment(subject, response, now, evaluator, unusable),
    `PlanDefinition ${canonical}`,
  );
  const actions = applyActions(
    planDefinition.action ?? [],
    { canonical, env, couldChange: couldChangeOf(planDefinition), depth: 0 },
    run,
    undefined,
  );
  // Most urgent first; definition order within a tier (Array.prototype.sort is stable).
  actions.sort((a, b) => rank(b.priority) - rank(a.priority));

  const intendedUse = planDefinition.usage;
  const notes: fhir4.Annotation[] = intendedUse ? [{ text: intendedUse }] : [];
  const warnings = problems.map((p) => problemText(p, questionOf(run.evidence, p.linkId)));
  const priority = highestPriority(collectPriorities(actions));
  const requestGroup: fhir4.RequestGroup = {
    resourceType: 'RequestGroup',
    id: 'request-group',
    instantiatesCanonical: [canonical],
    status: 'draft',
    intent: 'proposal',
    ...(priority ? { priority } : {}),
    subject: { reference: subject.reference },
    authoredOn: run.authoredOn,
    ...(notes.length ? { note: notes } : {}),
    ...(actions.length ? { action: actions } : {}),
  };
  const rules: fhir4.RequestGroupAction[] = [];
  const collectRules = (list: fhir4.RequestGroupAction[]) =>
    list.forEach((a) => (a.code ? rules.push(a) : collectRules(a.action ?? [])));
  collectRules(actions);
  return {
    resourceType: 'CarePlan',
    text: carePlanNarrative(
      planDefinition.title,
      intendedUse,
      response ? (response.authored ?? 'an undated response') : undefined,
      rules,
      warnings,
    ),
    contained: [requestGroup, ...run.contained],
    instantiatesCanonical: [canonical],
    status: 'draft',
    intent: 'proposal',
    ...(planDefinition.title ? { title: planDefinition.title } : {}),
    ...(intendedUse ? { description: intendedUse } : {}),
    subject: { reference: subject.reference },
    created: run.authoredOn,
    ...(response?.id ? { supportingInfo: [{ reference: `QuestionnaireResponse/${response.id}` }] } : {}),
    activity: [{ reference: { reference: '#request-group' } }],
    ...(notes.length || warnings.length ? { note: [...notes, ...warnings.map((text) => ({ text }))] } : {}),
  };
}

const NO_QUESTIONNAIRE: fhir4.Questionnaire = Object.freeze({ resourceType: 'Questionnaire', status: 'unknown' });

/**
 * The intake Questionnaire the answers are checked against: the version the response names, else the
 * one the PlanDefinition depends on. Without it no answer can be checked, so nothing is decided on them.
 */
function intakeQuestionnaire(
  planDefinition: fhir4.PlanDefinition,
  response: fhir4.QuestionnaireResponse | undefined,
  knowledge: KnowledgeBase,
): fhir4.Questionnaire {
  const dependsOn = (planDefinition.relatedArtifact ?? []).find(
    (a) => a.type === 'depends-on' && a.resource && /\/Questionnaire\//.test(a.resource),
  )?.resource;
  const candidates = [response?.questionnaire, response?.questionnaire?.split('|')[0], dependsOn].filter(
    (c): c is string => typeof c === 'string' && c !== '',
  );
  for (const c of candidates) {
    const found = knowledge.resolve(c, 'Questionnaire');
    if (found) return found;
  }
  // No answers to check: an empty Questionnaire (unknown items are then named by linkId).
  if (!response) return NO_QUESTIONNAIRE;
  throw unprocessable({
    code: 'not-found',
    diagnostics: `The intake Questionnaire (${candidates[0] ?? 'none declared'}) is not in the knowledge base, so the answers cannot be checked against it; no rule was applied.`,
  });
}

function rank(p: string | undefined): number {
  return isPriority(p) ? PRIORITY_RANK[p] : -1;
}

function collectPriorities(actions: fhir4.RequestGroupAction[]): RequestPriority[] {
  const out: RequestPriority[] = [];
  for (const a of actions) {
    if (a.code && isPriority(a.priority)) out.push(a.priority);
    out.push(...collectPriorities(a.action ?? []));
  }
  return out;
}

/** The action an action is nested in: its children's ids derive from its id, their priority from its. */
interface ParentAction {
  id: string;
  priority: RequestPriority | undefined;
}

function applyActions(
  actions: fhir4.PlanDefinitionAction[],
  scope: Scope,
  run: Run,
  parent: ParentAction | undefined,
): fhir4.RequestGroupAction[] {
  const out: fhir4.RequestGroupAction[] = [];
  actions.forEach((action, index) => {
    const where = `action ${action.id ?? index} of PlanDefinition ${scope.canonical}`;
    const applies = (action.condition ?? [])
      .filter((c) => c.kind === 'applicability' && c.expression?.expression)
      .every((c) => evaluateCondition(c.expression!.expression!, scope.env, `the applicability condition of ${where}`));
    if (!applies) return;
    out.push(...applyAction(action, index, scope, run, parent, where));
  });
  return out;
}

function applyAction(
  action: fhir4.PlanDefinitionAction,
  index: number,
  scope: Scope,
  run: Run,
  parent: ParentAction | undefined,
  where: string,
): fhir4.RequestGroupAction[] {
  const id = wantedId(action, index, parent);
  const priority = isPriority(action.priority) ? action.priority : parent?.priority;
  const couldChange = couldChangeOf(action) ?? scope.couldChange;
  const definition = action.definitionCanonical ? resolveDefinition(action.definitionCanonical, run, where) : undefined;
  const includesPlan = definition?.resourceType === 'PlanDefinition';

  // A PlanDefinition included by reference: apply it here with the variables in scope plus its own.
  const nested = includesPlan ? applyIncludedPlan(definition, scope, run, { id, priority }, couldChange, where) : [];
  if (includesPlan && !action.code)
    return [...nested, ...applyActions(action.action ?? [], { ...scope, couldChange }, run, { id, priority })];

  const result = requestGroupAction(action, uniqueId(id, run), priority);
  if (action.code) recordRule(result, action, scope, run, couldChange, where);

  if (definition?.resourceType === 'ActivityDefinition')
    result.resource = { reference: `#${propose(definition, result.id!, priority, action, scope, run)}` };

  const children = [
    ...nested,
    ...applyActions(action.action ?? [], { ...scope, couldChange }, run, { id: result.id!, priority }),
  ];
  if (children.length) result.action = children;
  return [result];
}

/** The action's own id, else one derived from its parent's id and its position. */
function wantedId(action: fhir4.PlanDefinitionAction, index: number, parent: ParentAction | undefined): string {
  return action.id ?? (parent ? `${parent.id}-${index + 1}` : `action-${index + 1}`);
}

/** The actions of an included PlanDefinition, with the variables in scope plus its own. */
function applyIncludedPlan(
  definition: fhir4.PlanDefinition,
  scope: Scope,
  run: Run,
  parent: ParentAction,
  couldChange: string | undefined,
  where: string,
): fhir4.RequestGroupAction[] {
  if (scope.depth >= MAX_DEPTH)
    throw unprocessable({
      code: 'processing',
      diagnostics: `${where}: PlanDefinitions nest deeper than ${MAX_DEPTH} (a cycle?).`,
    });
  const canonical = canonicalOf(definition);
  const env = withVariables(definition, scope.env, `PlanDefinition ${canonical}`);
  return applyActions(
    definition.action ?? [],
    { canonical, env, couldChange: couldChangeOf(definition) ?? couldChange, depth: scope.depth + 1 },
    run,
    parent,
  );
}

/** The RequestGroup action's own elements, copied from the PlanDefinition action. */
function requestGroupAction(
  action: fhir4.PlanDefinitionAction,
  id: string,
  priority: RequestPriority | undefined,
): fhir4.RequestGroupAction {
  const result: fhir4.RequestGroupAction = { id };
  if (action.prefix) result.prefix = action.prefix;
  if (action.title) result.title = action.title;
  if (action.description) result.description = action.description;
  if (action.textEquivalent) result.textEquivalent = action.textEquivalent;
  // The CarePlan is the caller's to change (the write path rewrites ids and references); the code and the
  // citations are the PlanDefinition's own, shared by every patient, so the CarePlan gets copies.
  if (action.code) result.code = structuredClone(action.code);
  if (priority) result.priority = priority;
  if (action.documentation) result.documentation = structuredClone(action.documentation);
  return result;
}

/** A rule that fired: record why it fired and what could still change it. */
function recordRule(
  result: fhir4.RequestGroupAction,
  action: fhir4.PlanDefinitionAction,
  scope: Scope,
  run: Run,
  couldChange: string | undefined,
  where: string,
): void {
  const extensions: fhir4.Extension[] = [{ url: EXT_SOURCE_PLAN_DEFINITION, valueCanonical: scope.canonical }];
  // Which of its declared criteria were met (content: ext-criterion): named first, then every answer it read.
  const met = metCriteria(action, scope, where);
  extensions.push(...criterionExtensions(met, run.evidence));
  extensions.push(...basisExtensions(inputsInBasisOrder(declaredInputs(action), met), run.evidence));
  if (couldChange) {
    const unknown = evaluate(couldChange, scope.env, `the could-change expression of ${where}`).filter(
      (x): x is string => typeof x === 'string',
    );
    extensions.push(...unknownExtensions(unknown, run.evidence));
  }
  result.extension = extensions;
  if (!action.textEquivalent && action.title)
    result.textEquivalent = [action.prefix, action.title].filter(Boolean).join(': ');
}

/** The criteria of a fired rule that are met, each with the items it read and its words for a derived value. */
function metCriteria(action: fhir4.PlanDefinitionAction, scope: Scope, where: string): MetCriterion[] {
  const out: MetCriterion[] = [];
  for (const c of declaredCriteria(action)) {
    const at = `the criterion "${c.meaning}" of ${where}`;
    if (!evaluateCondition(c.condition, scope.env, at)) continue;
    const computed = c.itemsExpression
      ? evaluate(c.itemsExpression, scope.env, `the items of ${at}`).filter((x): x is string => typeof x === 'string')
      : [];
    const detail = c.detail
      ? evaluate(c.detail, scope.env, `the detail of ${at}`).find((x): x is string => typeof x === 'string')
      : undefined;
    out.push({ meaning: c.meaning, linkIds: [...new Set([...c.items, ...computed])], ...(detail ? { detail } : {}) });
  }
  return out;
}

/**
 * Apply an ActivityDefinition for an action and return the id of the proposal. Several rules proposing the
 * same thing (two rules wanting an MRI, three wanting a DXA) share one proposal at the highest of their
 * priorities, so the clinician accepts or dismisses it once; each rule action still references it. "The
 * same" means: same ActivityDefinition and the same resource apart from id, priority and timestamps (so
 * per-rule messages whose text differs stay separate).
 */
function propose(
  ad: fhir4.ActivityDefinition,
  actionId: string,
  priority: RequestPriority | undefined,
  action: fhir4.PlanDefinitionAction,
  scope: Scope,
  run: Run,
): string {
  const produce = (id: string) =>
    applyActivityDefinition(ad, {
      id,
      subjectReference: run.subject.reference,
      priority,
      authoredOn: run.authoredOn,
      env: scope.env,
      // `%action` for the dynamicValues: fhirpath.js writes into the objects it returns (a hidden `__path__`
      // holding this evaluation's context), so it is given a copy, never the PlanDefinition's own action.
      action: { ...structuredClone(action), ...(priority ? { priority } : {}) },
    });
  let produced = produce(actionId);
  const canonical = canonicalOf(ad);
  const earlier = run.proposals.get(canonical);
  // Identities are computed only when this ActivityDefinition already made a proposal in this $apply.
  let existing: Proposal | undefined;
  if (earlier) {
    const key = sameness(produced[0]);
    existing = earlier.find((p) => (p.key ??= sameness(p.first)) === key);
  }
  if (existing) {
    if (rank(priority) > rank(existing.priority)) {
      // Raise the shared proposal: re-produce it under its existing ids and replace it in place.
      produced = produce(existing.id);
      for (const r of produced) {
        const at = run.contained.findIndex((c) => c.id === r.id);
        if (at >= 0) run.contained[at] = r;
      }
      existing.priority = priority;
    }
    return existing.id;
  }
  for (const r of produced) if (r.id) run.usedIds.add(r.id);
  run.contained.push(...produced);
  const proposal: Proposal = { id: produced[0]!.id!, priority, first: produced[0] };
  if (earlier) earlier.push(proposal);
  else run.proposals.set(canonical, [proposal]);
  return proposal.id;
}

const VOLATILE = new Set(['id', 'priority', 'authoredOn']);

/** A resource's identity for de-duplication: everything but ids, priority, timestamps and local references. */
function sameness(resource: unknown): string {
  return JSON.stringify(resource, (key, value: unknown) => {
    if (VOLATILE.has(key)) return undefined;
    if (key === 'reference' && typeof value === 'string' && value.startsWith('#')) return '#';
    return value;
  });
}

function resolveDefinition(
  canonical: string,
  run: Run,
  where: string,
): fhir4.PlanDefinition | fhir4.ActivityDefinition {
  const found = run.knowledge.resolve(canonical);
  if (!found || (found.resourceType !== 'PlanDefinition' && found.resourceType !== 'ActivityDefinition')) {
    throw unprocessable({
      code: 'processing',
      diagnostics: `${where}: definitionCanonical ${canonical} does not resolve to a PlanDefinition or ActivityDefinition in the knowledge base.`,
    });
  }
  return found;
}

/** Ids are derived from content ids (rule ids), so output is stable; clashes get a numeric suffix. */
function uniqueId(wanted: string, run: Run, alreadyClaimed = false): string {
  const base = wanted.replace(/[^A-Za-z0-9\-.]/g, '-').slice(0, 60) || 'action';
  if (alreadyClaimed && run.usedIds.has(base)) return base;
  let id = base;
  for (let n = 2; run.usedIds.has(id); n++) id = `${base}-${n}`;
  run.usedIds.add(id);
  return id;
}
