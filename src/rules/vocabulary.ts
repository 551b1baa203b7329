/**
 * The URLs and codes the engine reads from content and writes into its output. Kept in one place so the
 * content (plandefinitions/), the docs (docs/rules.md) and API consumers agree on them.
 */

export const CANONICAL_BASE = 'https://periplan.app/fhir';

/** Extensions the engine reads from content. */
export const EXT_VARIABLE = 'http://hl7.org/fhir/StructureDefinition/variable';
export const EXT_CQF_EXPRESSION = 'http://hl7.org/fhir/StructureDefinition/cqf-expression';
/** On PlanDefinition.action.input (a DataRequirement): one linkId the rule reads; repeats. */
export const EXT_INPUT_ITEM = `${CANONICAL_BASE}/StructureDefinition/ext-input-item`;
/** On a PlanDefinition or action: FHIRPath giving the linkIds still unknown that could change the result. Inherited. */
export const EXT_COULD_CHANGE_ITEMS = `${CANONICAL_BASE}/StructureDefinition/ext-could-change-items`;
/** On an ActivityDefinition: reference to the contained resource that is the base of what it produces. */
export const EXT_TEMPLATE = `${CANONICAL_BASE}/StructureDefinition/ext-template`;

/** Extensions the engine writes on RequestGroup.action. */
export const EXT_BASIS = `${CANONICAL_BASE}/StructureDefinition/ext-basis`;
/** A rule's criterion: declared on a PlanDefinition action (content), and on the $apply action for each one met. */
export const EXT_CRITERION = `${CANONICAL_BASE}/StructureDefinition/ext-criterion`;
export const EXT_UNKNOWN_ITEM = `${CANONICAL_BASE}/StructureDefinition/ext-unknown-item`;
/**
 * On QuestionnaireResponse.item.answer: the answer was pre-filled from the record. Parts: `observation`
 * (Reference) and `date` (dateTime, the Observation's effective date), so the basis can say so.
 */
export const EXT_PREFILLED_FROM = `${CANONICAL_BASE}/StructureDefinition/ext-prefilled-from`;
/** R4 core: who answered one item, when not the response's author (e.g. a clinician correcting an answer). */
export const QR_ITEM_AUTHOR = 'http://hl7.org/fhir/StructureDefinition/questionnaireresponse-author';
/** On QuestionnaireResponse: the device the answers were collected on (the waiting-room tablet). */
export const RESPONSE_COLLECTION_DEVICE = `${CANONICAL_BASE}/StructureDefinition/ext-collection-device`;
export const EXT_SOURCE_PLAN_DEFINITION = `${CANONICAL_BASE}/StructureDefinition/ext-source-plan-definition`;

export const RULE_SYSTEM = `${CANONICAL_BASE}/CodeSystem/back-pain-rule`;
export const YES_NO_SYSTEM = 'http://terminology.hl7.org/CodeSystem/v2-0136';
export const DATA_ABSENT_SYSTEM = 'http://terminology.hl7.org/CodeSystem/data-absent-reason';

export type RequestPriority = 'routine' | 'urgent' | 'asap' | 'stat';

/** Higher is more urgent: EMERGENCY = stat, URGENT = asap, SOON = urgent, ROUTINE = routine. */
export const PRIORITY_RANK: Record<RequestPriority, number> = { routine: 0, urgent: 1, asap: 2, stat: 3 };

export function isPriority(value: unknown): value is RequestPriority {
  return typeof value === 'string' && value in PRIORITY_RANK;
}

export function highestPriority(priorities: Iterable<RequestPriority | undefined>): RequestPriority | undefined {
  let best: RequestPriority | undefined;
  for (const p of priorities) {
    if (p !== undefined && (best === undefined || PRIORITY_RANK[p] > PRIORITY_RANK[best])) best = p;
  }
  return best;
}
