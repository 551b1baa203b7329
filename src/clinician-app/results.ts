/**
 * Turns what the write path stored (the CarePlan with its contained $apply RequestGroup, plus the live Flags
 * and ServiceRequests) into what the clinician sees: every fired rule with its tier, the patient's answers
 * that triggered it, unknown answers that could change it, citations, rule id and PlanDefinition version,
 * and the live state of each proposal. Pure: no I/O.
 *
 * A pipeline of small named steps (`results-view/`): index the sources, take the fired rules, make each rule's
 * view (its evidence and its proposals), order them by tier, then the self-management plan and the open Flags
 * no rule shows.
 */
import { evidenceOf } from './results-view/evidence.js';
import { otherOpenFlagsOf, proposalsOf, selfManagementOf } from './results-view/proposals.js';
import { indexSources, ruleActionsOf, type ResultSources, type RuleAction } from './results-view/sources.js';
import { TIERS, type ResultsInput, type ResultsView, type RuleView } from './results-view/types.js';

export { decisionOf } from './results-view/decisions.js';
export { itemIdentifierValue } from './results-view/sources.js';
export * from './results-view/types.js';

const INTENDED_USE = 'Decision support for clinicians; not a diagnosis; not for emergencies by patients.';

/** One fired rule as the page shows it: tier, words, what it read and what it proposes. */
export function ruleView(rule: RuleAction, sources: ResultSources): RuleView {
  const { action, coding } = rule;
  const tier = action.prefix ?? 'ROUTINE';
  const t = TIERS[tier] ?? TIERS.ROUTINE!;
  return {
    actionId: action.id ?? coding.code,
    ruleId: coding.code,
    ...(coding.display ? { ruleDisplay: coding.display } : {}),
    tier,
    tierWords: t.words,
    tierColour: t.colour,
    ...(action.priority ? { priority: action.priority } : {}),
    title: action.title ?? coding.display ?? coding.code,
    description: action.description ?? '',
    ...evidenceOf(action),
    proposals: proposalsOf(rule, sources),
  };
}

/** Most urgent first; rules of one tier keep the engine's order. */
export function byTier(rules: RuleView[]): RuleView[] {
  return [...rules].sort((a, b) => (TIERS[a.tier]?.rank ?? 9) - (TIERS[b.tier]?.rank ?? 9));
}

/** Which PlanDefinition, when, and the intended-use statement (the engine's own words when it gave them). */
export function resultsHeader(
  input: ResultsInput,
  group: fhir4.RequestGroup | undefined,
): Pick<ResultsView, 'planDefinition' | 'intendedUse' | 'created' | 'responseAuthored'> {
  const { carePlan } = input;
  const note = group?.note?.[0]?.text ?? carePlan.description ?? '';
  return {
    ...(carePlan.instantiatesCanonical?.[0] ? { planDefinition: carePlan.instantiatesCanonical[0] } : {}),
    intendedUse: note.startsWith(INTENDED_USE) ? INTENDED_USE : note || INTENDED_USE,
    ...(carePlan.created ? { created: carePlan.created } : {}),
    ...(input.responseAuthored ? { responseAuthored: input.responseAuthored } : {}),
  };
}

export function buildResultsView(input: ResultsInput): ResultsView {
  const sources = indexSources(input);
  const fired = ruleActionsOf(sources.group);
  const rules = byTier(fired.map((rule) => ruleView(rule, sources)));
  return {
    ...resultsHeader(input, sources.group),
    rules,
    selfManagement: fired.flatMap((rule) => selfManagementOf(rule, sources)),
    otherOpenFlags: otherOpenFlagsOf(input.live, rules),
  };
}

/** Pain severity and exercise frequency per completed response, oldest first (for the chart). */
export function historyPoints(responses: fhir4.QuestionnaireResponse[]) {
  const find = (
    items: fhir4.QuestionnaireResponseItem[] | undefined,
    linkId: string,
  ): fhir4.QuestionnaireResponseItemAnswer | undefined => {
    for (const it of items ?? []) {
      if (it.linkId === linkId) return it.answer?.[0];
      const inner = find(it.item, linkId);
      if (inner) return inner;
    }
    return undefined;
  };
  return responses
    .filter((r) => r.status === 'completed' || r.status === 'amended')
    .map((r) => ({
      id: r.id,
      authored: r.authored,
      painSeverity: find(r.item, 'pain-severity')?.valueInteger,
      walkingDays: find(r.item, 'walking-days-per-week')?.valueInteger,
      strengthSessions: find(r.item, 'strength-sessions-per-week')?.valueInteger,
    }))
    .filter((p) => p.authored)
    .sort((a, b) => (a.authored! < b.authored! ? -1 : 1));
}
