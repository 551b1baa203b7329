/**
 * What a fired rule proposes, with its live state: each ServiceRequest (decidable while a draft) and Flag
 * (open until a clinician records what happened), the patient advice of the self-management plan, and the
 * patient's open Flags that none of this response's rules raised.
 */
import { SUBMISSION_RULE_SYSTEM } from '../../submission/build-bundle.js';
import { rulesOfFlag, SCREEN_INCOMPLETE_FLAG_ID, SCREEN_INCOMPLETE_RULE } from '../../submission/worklist-tags.js';
import { decisionOf, outcomeOf } from './decisions.js';
import { referencedResources, type ResultSources, type RuleAction } from './sources.js';
import type { ProposalView, ResultsView, RuleView } from './types.js';

const flagWords = (flag: fhir4.Flag) => `Flag: ${flag.code?.text ?? flag.code?.coding?.[0]?.display ?? 'flag'}`;

export function serviceRequestProposal(local: fhir4.ServiceRequest, sources: ResultSources): ProposalView {
  const live = sources.liveItem(local.id!) as fhir4.ServiceRequest | undefined;
  const decision = live ? decisionOf(live, sources.decisions?.get(`ServiceRequest/${live.id}`)) : undefined;
  return {
    kind: 'ServiceRequest',
    ...(live?.id ? { target: `ServiceRequest/${live.id}` } : {}),
    display: local.code?.text ?? local.code?.coding?.[0]?.display ?? 'Proposed request',
    ...(live?.status ? { status: live.status } : {}),
    decidable: !!live && live.status === 'draft',
    ...(decision ? { decision } : {}),
  };
}

/** The Flag a contained Task is about (the Task's input names it), if it is contained too. */
function flagOfTask(task: fhir4.Task, sources: ResultSources): fhir4.Flag | undefined {
  const flagRef = task.input?.find((i) => i.valueReference?.reference)?.valueReference?.reference;
  return flagRef ? (sources.contained.get(flagRef.replace(/^#/, '')) as fhir4.Flag | undefined) : undefined;
}

export function flagProposal(flag: fhir4.Flag, sources: ResultSources): ProposalView {
  const live = sources.liveItem(flag.id!) as fhir4.Flag | undefined;
  return {
    kind: 'Flag',
    ...(live?.id ? { target: `Flag/${live.id}` } : {}),
    display: flagWords(flag),
    ...(live?.status ? { status: live.status } : {}),
    decidable: false,
    outcomeNeeded: live?.status === 'active',
    ...(live && live.status !== 'active' ? outcomeOf(sources.decisions?.get(`Flag/${live.id}`)) : {}),
  };
}

/**
 * An incomplete red-flag screen has a worklist Flag the write path adds (not in the CarePlan): shown with its
 * rule too, so it can be closed from her results.
 */
export function screenIncompleteProposal(sources: ResultSources): ProposalView | undefined {
  const live = sources.liveItem(SCREEN_INCOMPLETE_FLAG_ID) as fhir4.Flag | undefined;
  if (live?.resourceType !== 'Flag') return undefined;
  return {
    kind: 'Flag',
    target: `Flag/${live.id}`,
    display: 'Flag: Red-flag screen incomplete',
    status: live.status,
    decidable: false,
    outcomeNeeded: live.status === 'active',
    ...(live.status !== 'active' ? outcomeOf(sources.decisions?.get(`Flag/${live.id}`)) : {}),
  };
}

function proposalOf(local: fhir4.FhirResource, sources: ResultSources): ProposalView | undefined {
  if (local.resourceType === 'ServiceRequest') return serviceRequestProposal(local, sources);
  if (local.resourceType !== 'Task') return undefined;
  const flag = flagOfTask(local, sources);
  return flag ? flagProposal(flag, sources) : undefined;
}

/** The proposals of one fired rule, in the order of its action's references. */
export function proposalsOf({ action, coding }: RuleAction, sources: ResultSources): ProposalView[] {
  const proposals = referencedResources(action, sources.contained).flatMap((local) => proposalOf(local, sources) ?? []);
  const screen = coding.code === SCREEN_INCOMPLETE_RULE ? screenIncompleteProposal(sources) : undefined;
  return screen ? [...proposals, screen] : proposals;
}

const isPatientAdvice = (r: fhir4.FhirResource): r is fhir4.CommunicationRequest =>
  r.resourceType === 'CommunicationRequest' &&
  !!r.category?.some((c) => c.coding?.some((k) => k.code === 'instruction'));

/** The patient advice of one fired rule (its self-management plan sections). */
export function selfManagementOf(
  { action, coding }: RuleAction,
  sources: ResultSources,
): ResultsView['selfManagement'] {
  return referencedResources(action, sources.contained)
    .filter(isPatientAdvice)
    .map((advice) => ({
      title: action.title ?? coding.display ?? coding.code,
      lines: (advice.payload ?? []).map((p) => p.contentString ?? '').filter(Boolean),
    }));
}

function otherOpenFlag(f: fhir4.Flag): ResultsView['otherOpenFlags'][number] {
  const ruleId =
    rulesOfFlag(f).join(', ') || f.identifier?.find((i) => i.system === SUBMISSION_RULE_SYSTEM)?.value?.split('#')[1];
  return {
    kind: 'Flag' as const,
    target: `Flag/${f.id}`,
    display: flagWords(f),
    status: f.status,
    decidable: false,
    outcomeNeeded: true,
    ...(ruleId ? { ruleId } : {}),
    ...(f.period?.start ? { since: f.period.start } : {}),
  };
}

/** The patient's active Flags that no rule of this response shows. */
export function otherOpenFlagsOf(
  live: (fhir4.ServiceRequest | fhir4.Flag)[],
  rules: RuleView[],
): ResultsView['otherOpenFlags'] {
  const shown = new Set(rules.flatMap((r) => r.proposals.map((p) => p.target)).filter((t): t is string => !!t));
  return live
    .filter((r): r is fhir4.Flag => r.resourceType === 'Flag' && r.status === 'active' && !shown.has(`Flag/${r.id}`))
    .map(otherOpenFlag);
}
