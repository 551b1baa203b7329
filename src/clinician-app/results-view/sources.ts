/** The first step of the results view: what the CarePlan contains and the live resources, indexed for lookup. */
import { SUBMISSION_ITEM_SYSTEM, submissionId } from '../../submission/build-bundle.js';
import type { ResultsInput } from './types.js';

const RULE_SYSTEM = 'https://periplan.app/fhir/CodeSystem/back-pain-rule';

/** The identifier value the write path gives each item of a submission (see build-bundle.ts). */
export function itemIdentifierValue(responseKey: string, localId: string): string {
  return `${submissionId(responseKey)}#${localId}`;
}

export interface ResultSources {
  /** The CarePlan's contained resources by id (the `$apply` RequestGroup and what its actions propose). */
  contained: Map<string, fhir4.FhirResource>;
  group: fhir4.RequestGroup | undefined;
  /** The live resource written for an item of the submission, by its item identifier. */
  liveItem(localId: string): fhir4.ServiceRequest | fhir4.Flag | undefined;
  decisions: ResultsInput['decisions'];
}

export function indexSources(input: ResultsInput): ResultSources {
  const contained = new Map((input.carePlan.contained ?? []).map((r) => [r.id ?? '', r as fhir4.FhirResource]));
  const group = [...contained.values()].find((r): r is fhir4.RequestGroup => r.resourceType === 'RequestGroup');
  const liveByIdentifier = new Map<string, fhir4.ServiceRequest | fhir4.Flag>();
  for (const r of input.live) {
    for (const id of r.identifier ?? [])
      if (id.system === SUBMISSION_ITEM_SYSTEM && id.value) liveByIdentifier.set(id.value, r);
  }
  return {
    contained,
    group,
    liveItem: (localId) => liveByIdentifier.get(itemIdentifierValue(input.responseKey, localId)),
    decisions: input.decisions,
  };
}

/** A fired rule: an action of the RequestGroup with its rule's code. */
export interface RuleAction {
  action: fhir4.RequestGroupAction;
  coding: fhir4.Coding & { code: string };
}

/** The actions of the RequestGroup that are rules (others are skipped), in the engine's order. */
export function ruleActionsOf(group: fhir4.RequestGroup | undefined): RuleAction[] {
  return (group?.action ?? []).flatMap((action) => {
    const coding = action.code?.flatMap((c) => c.coding ?? []).find((c) => c.system === RULE_SYSTEM);
    return coding?.code ? [{ action, coding: coding as RuleAction['coding'] }] : [];
  });
}

/** The contained resources an action refers to (its own and its sub-actions'), in order. */
export function referencedResources(
  action: fhir4.RequestGroupAction,
  contained: ResultSources['contained'],
): fhir4.FhirResource[] {
  const refs = [action.resource?.reference, ...(action.action ?? []).map((a) => a.resource?.reference)].filter(
    (r): r is string => !!r,
  );
  return refs.flatMap((ref) => contained.get(ref.replace(/^#/, '')) ?? []);
}
