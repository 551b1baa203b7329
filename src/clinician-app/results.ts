/**
 * Turns what the write path stored (the CarePlan with its contained $apply RequestGroup, plus the live Flags
 * and ServiceRequests) into what the clinician sees: every fired rule with its tier, the patient's answers
 * that triggered it, unknown answers that could change it, citations, rule id and PlanDefinition version,
 * and the live state of each proposal. Pure: no I/O.
 */
import { SUBMISSION_ITEM_SYSTEM, SUBMISSION_RULE_SYSTEM, submissionId } from '../submission/build-bundle.js';
import { rulesOfFlag, SCREEN_INCOMPLETE_FLAG_ID, SCREEN_INCOMPLETE_RULE } from '../submission/worklist-tags.js';

const RULE_SYSTEM = 'https://periplan.app/fhir/CodeSystem/back-pain-rule';
const EXT = 'https://periplan.app/fhir/StructureDefinition/';

export const TIERS: Record<string, { words: string; rank: number; colour: string }> = {
  EMERGENCY: { words: 'Emergency', rank: 0, colour: 'emergency' },
  URGENT: { words: 'Urgent', rank: 1, colour: 'urgent' },
  SOON: { words: 'Soon', rank: 2, colour: 'soon' },
  ROUTINE: { words: 'Routine', rank: 3, colour: 'routine' },
  INFORMATION: { words: 'Information', rank: 4, colour: 'info' },
  'SELF-CARE': { words: 'Self-care', rank: 5, colour: 'selfcare' },
};

/**
 * One answer behind a flag. `question` and `answer` are the rules' own words (the Questionnaire's text and
 * option display, from the basis `text`), never the display a client put in the response; `separator` is
 * " " after a question ending in "?" or ":" (no stray "?:"), else ": "; `source` says where it came from.
 */
export interface BasisView { linkId: string; question: string; separator: string; answer: string; source?: string; authored?: string }
/** A criterion that made the rule fire: one line in the rules' words ("… Yes → suspected cauda equina"). */
export interface CriterionView { meaning: string; text: string; linkIds: string[]; source?: string }
export interface DecisionView {
  decision: 'accepted' | 'dismissed';
  who?: string;
  when?: string;
  reason?: string;
  note?: string;
  /** The Provenance of the decision (what an undo names), and whether this clinician may still undo it. */
  provenance?: string;
  undoable?: boolean;
}
/** What a clinician recorded as having happened to the patient of a Flag (the act that closed it). */
export interface OutcomeView { code: string; display: string; who?: string; when?: string; note?: string; provenance?: string; undoable?: boolean }
export interface ProposalView {
  kind: 'ServiceRequest' | 'Flag';
  /** `ServiceRequest/<id>` on the FHIR server, when it has been written. */
  target?: string;
  display: string;
  status?: string;
  decidable: boolean;
  decision?: DecisionView;
  /** Flags: open until a clinician records what happened to the patient (`outcome` once recorded). */
  outcomeNeeded?: boolean;
  outcome?: OutcomeView;
}
export interface RuleView {
  actionId: string;
  ruleId: string;
  ruleDisplay?: string;
  tier: string;
  tierWords: string;
  tierColour: string;
  priority?: string;
  title: string;
  description: string;
  /** What made it fire (every criterion met); `basis` is every answer it read, the criteria's items first. */
  criteria: CriterionView[];
  basis: BasisView[];
  unknowns: { linkId: string; question: string; reason?: string }[];
  citations: { label?: string; display?: string; citation?: string; url?: string }[];
  sourcePlanDefinition?: string;
  proposals: ProposalView[];
}
export interface ResultsView {
  planDefinition?: string;
  intendedUse: string;
  created?: string;
  responseAuthored?: string;
  rules: RuleView[];
  selfManagement: { title: string; lines: string[] }[];
  /**
   * The patient's other open Flags, raised by none of this response's rules: a flag of an earlier version
   * that an amendment no longer fires (it stays open until a clinician records an outcome), or a tablet's
   * early alert. Listed so they can be closed from here, by an outcome like any other.
   */
  otherOpenFlags: (ProposalView & { ruleId?: string; since?: string })[];
}

const INTENDED_USE = 'Decision support for clinicians; not a diagnosis; not for emergencies by patients.';

function valueText(ext: fhir4.Extension): string {
  const e = ext as unknown as Record<string, unknown>;
  if (ext.valueCoding) return ext.valueCoding.display ?? ext.valueCoding.code ?? '';
  if (ext.valueQuantity) return `${ext.valueQuantity.value ?? ''} ${ext.valueQuantity.unit ?? ''}`.trim();
  for (const k of Object.keys(e)) if (k.startsWith('value')) return String(e[k]);
  return '';
}

function sub(ext: fhir4.Extension, url: string): fhir4.Extension[] {
  return (ext.extension ?? []).filter((x) => x.url === url);
}

/** The identifier value the write path gives each item of a submission (see build-bundle.ts). */
export function itemIdentifierValue(responseKey: string, localId: string): string {
  return `${submissionId(responseKey)}#${localId}`;
}

const STATUS_REASON = 'http://hl7.org/fhir/StructureDefinition/request-statusReason';

/** Who decided and when, from the Provenance the write path records with each decision. */
export interface DecisionRecord {
  who?: string;
  when?: string;
  provenance?: string;
  undoable?: boolean;
  /** A flag outcome: its code, display and the clinician's note. */
  outcome?: { code: string; display: string; note?: string };
}

/**
 * The decision on a live proposal: the write path marks an accepted proposal `completed` (and creates the
 * order) and a dismissed one `revoked`, with the coded reason in `request-statusReason` and the note.
 */
export function decisionOf(resource: fhir4.ServiceRequest, record?: DecisionRecord): DecisionView | undefined {
  if (resource.status === 'draft') return undefined;
  const dismissed = resource.status === 'revoked' || resource.status === 'entered-in-error';
  const reason = resource.extension?.find((e) => e.url === STATUS_REASON)?.valueCodeableConcept;
  const lastNote = resource.note?.[resource.note.length - 1];
  const who = record?.who ?? lastNote?.authorReference?.display ?? lastNote?.authorReference?.reference;
  const when = record?.when ?? lastNote?.time ?? resource.meta?.lastUpdated;
  const reasonText = reason?.coding?.[0]?.display ?? reason?.coding?.[0]?.code;
  return {
    decision: dismissed ? 'dismissed' : 'accepted',
    ...(who ? { who } : {}),
    ...(when ? { when } : {}),
    ...(reasonText ? { reason: reasonText } : {}),
    ...(lastNote?.text ? { note: lastNote.text } : {}),
    ...(record?.provenance ? { provenance: record.provenance, undoable: !!record.undoable } : {}),
  };
}

function outcomeOf(record: DecisionRecord | undefined): { outcome: OutcomeView } | Record<string, never> {
  if (!record?.outcome) return {};
  return {
    outcome: {
      code: record.outcome.code,
      display: record.outcome.display,
      ...(record.outcome.note ? { note: record.outcome.note } : {}),
      ...(record.who ? { who: record.who } : {}),
      ...(record.when ? { when: record.when } : {}),
      ...(record.provenance ? { provenance: record.provenance, undoable: !!record.undoable } : {}),
    },
  };
}

export function buildResultsView(input: {
  carePlan: fhir4.CarePlan;
  responseKey: string;
  responseAuthored?: string;
  live: (fhir4.ServiceRequest | fhir4.Flag)[];
  /** Keyed by `ServiceRequest/<id>` and `Flag/<id>`. */
  decisions?: Map<string, DecisionRecord>;
}): ResultsView {
  const { carePlan, responseKey } = input;
  const contained = new Map((carePlan.contained ?? []).map((r) => [r.id ?? '', r as fhir4.FhirResource]));
  const group = [...contained.values()].find((r): r is fhir4.RequestGroup => r.resourceType === 'RequestGroup');
  const liveByIdentifier = new Map<string, fhir4.ServiceRequest | fhir4.Flag>();
  for (const r of input.live) {
    for (const id of r.identifier ?? []) if (id.system === SUBMISSION_ITEM_SYSTEM && id.value) liveByIdentifier.set(id.value, r);
  }

  const rules: RuleView[] = [];
  const selfManagement: ResultsView['selfManagement'] = [];
  for (const action of group?.action ?? []) {
    const coding = action.code?.flatMap((c) => c.coding ?? []).find((c) => c.system === RULE_SYSTEM);
    if (!coding?.code) continue;
    const tier = action.prefix ?? 'ROUTINE';
    const t = TIERS[tier] ?? TIERS.ROUTINE!;
    const exts = action.extension ?? [];
    const criteria = exts.filter((x) => x.url === `${EXT}ext-criterion`).map((x): CriterionView => {
      const source = sub(x, 'source')[0]?.valueString;
      const meaning = sub(x, 'meaning')[0]?.valueString ?? '';
      return { meaning, text: sub(x, 'text')[0]?.valueString ?? meaning, linkIds: sub(x, 'linkId').map((l) => l.valueString ?? ''), ...(source ? { source } : {}) };
    });
    const basis = exts.filter((x) => x.url === `${EXT}ext-basis`).map((x): BasisView => {
      const question = (sub(x, 'question')[0]?.valueString ?? '').trim();
      const text = sub(x, 'text')[0]?.valueString;
      const source = sub(x, 'source')[0]?.valueString;
      return {
        linkId: sub(x, 'linkId')[0]?.valueString ?? '',
        question,
        separator: /[?:.!]$/.test(question) ? ' ' : ': ',
        // The engine words the answer from the Questionnaire in `text`; the recorded value's display is the client's.
        answer: text !== undefined && text.startsWith(question) ? text.slice(question.length).replace(/^:?\s+/, '') : sub(x, 'answer').map(valueText).join(', '),
        ...(source ? { source } : {}),
        ...(sub(x, 'authored')[0]?.valueDateTime ? { authored: sub(x, 'authored')[0]!.valueDateTime } : {}),
      };
    });
    const unknowns = exts.filter((x) => x.url === `${EXT}ext-unknown-item`).map((x) => ({
      linkId: sub(x, 'linkId')[0]?.valueString ?? '',
      question: sub(x, 'question')[0]?.valueString ?? '',
      ...(sub(x, 'reason')[0]?.valueString ? { reason: sub(x, 'reason')[0]!.valueString } : {}),
    }));
    const refs = [action.resource?.reference, ...(action.action ?? []).map((a) => a.resource?.reference)].filter((r): r is string => !!r);
    const proposals: ProposalView[] = [];
    for (const ref of refs) {
      const local = contained.get(ref.replace(/^#/, ''));
      if (!local) continue;
      if (local.resourceType === 'ServiceRequest') {
        const live = liveByIdentifier.get(itemIdentifierValue(responseKey, local.id!)) as fhir4.ServiceRequest | undefined;
        const decision = live ? decisionOf(live, input.decisions?.get(`ServiceRequest/${live.id}`)) : undefined;
        proposals.push({
          kind: 'ServiceRequest',
          ...(live?.id ? { target: `ServiceRequest/${live.id}` } : {}),
          display: local.code?.text ?? local.code?.coding?.[0]?.display ?? 'Proposed request',
          ...(live?.status ? { status: live.status } : {}),
          decidable: !!live && live.status === 'draft',
          ...(decision ? { decision } : {}),
        });
      } else if (local.resourceType === 'Task') {
        const flagRef = local.input?.find((i) => i.valueReference?.reference)?.valueReference?.reference;
        const flag = flagRef ? (contained.get(flagRef.replace(/^#/, '')) as fhir4.Flag | undefined) : undefined;
        if (!flag) continue;
        const live = liveByIdentifier.get(itemIdentifierValue(responseKey, flag.id!)) as fhir4.Flag | undefined;
        proposals.push({
          kind: 'Flag',
          ...(live?.id ? { target: `Flag/${live.id}` } : {}),
          display: `Flag: ${flag.code?.text ?? flag.code?.coding?.[0]?.display ?? 'flag'}`,
          ...(live?.status ? { status: live.status } : {}),
          decidable: false,
          outcomeNeeded: live?.status === 'active',
          ...(live && live.status !== 'active' ? outcomeOf(input.decisions?.get(`Flag/${live.id}`)) : {}),
        });
      } else if (local.resourceType === 'CommunicationRequest') {
        const isPatientAdvice = local.category?.some((c) => c.coding?.some((k) => k.code === 'instruction'));
        if (isPatientAdvice) {
          selfManagement.push({
            title: action.title ?? coding.display ?? coding.code,
            lines: (local.payload ?? []).map((p) => p.contentString ?? '').filter(Boolean),
          });
        }
      }
    }
    // An incomplete red-flag screen has a worklist Flag the write path adds (not in the CarePlan): show it
    // here too, so it can be closed from her results.
    if (coding.code === SCREEN_INCOMPLETE_RULE) {
      const live = liveByIdentifier.get(itemIdentifierValue(responseKey, SCREEN_INCOMPLETE_FLAG_ID)) as fhir4.Flag | undefined;
      if (live?.resourceType === 'Flag') {
        proposals.push({
          kind: 'Flag',
          target: `Flag/${live.id}`,
          display: 'Flag: Red-flag screen incomplete',
          status: live.status,
          decidable: false,
          outcomeNeeded: live.status === 'active',
          ...(live.status !== 'active' ? outcomeOf(input.decisions?.get(`Flag/${live.id}`)) : {}),
        });
      }
    }
    rules.push({
      actionId: action.id ?? coding.code,
      ruleId: coding.code,
      ...(coding.display ? { ruleDisplay: coding.display } : {}),
      tier,
      tierWords: t.words,
      tierColour: t.colour,
      ...(action.priority ? { priority: action.priority } : {}),
      title: action.title ?? coding.display ?? coding.code,
      description: action.description ?? '',
      criteria,
      basis,
      unknowns,
      citations: (action.documentation ?? []).map((d) => ({
        ...(d.label ? { label: d.label } : {}),
        ...(d.display ? { display: d.display } : {}),
        ...(d.citation ? { citation: d.citation } : {}),
        ...(d.url && /^https?:\/\//.test(d.url) ? { url: d.url } : {}),
      })),
      ...(exts.find((x) => x.url === `${EXT}ext-source-plan-definition`)?.valueCanonical
        ? { sourcePlanDefinition: exts.find((x) => x.url === `${EXT}ext-source-plan-definition`)!.valueCanonical }
        : {}),
      proposals,
    });
  }
  rules.sort((a, b) => (TIERS[a.tier]?.rank ?? 9) - (TIERS[b.tier]?.rank ?? 9));
  const shown = new Set(rules.flatMap((r) => r.proposals.map((p) => p.target)).filter((t): t is string => !!t));
  const otherOpenFlags = input.live
    .filter((r): r is fhir4.Flag => r.resourceType === 'Flag' && r.status === 'active' && !shown.has(`Flag/${r.id}`))
    .map((f) => {
      const ruleId = rulesOfFlag(f).join(', ') || f.identifier?.find((i) => i.system === SUBMISSION_RULE_SYSTEM)?.value?.split('#')[1];
      return {
        kind: 'Flag' as const,
        target: `Flag/${f.id}`,
        display: `Flag: ${f.code?.text ?? f.code?.coding?.[0]?.display ?? 'flag'}`,
        status: f.status,
        decidable: false,
        outcomeNeeded: true,
        ...(ruleId ? { ruleId } : {}),
        ...(f.period?.start ? { since: f.period.start } : {}),
      };
    });
  const note = group?.note?.[0]?.text ?? carePlan.description ?? '';
  return {
    ...(carePlan.instantiatesCanonical?.[0] ? { planDefinition: carePlan.instantiatesCanonical[0] } : {}),
    intendedUse: note.startsWith(INTENDED_USE) ? INTENDED_USE : note || INTENDED_USE,
    ...(carePlan.created ? { created: carePlan.created } : {}),
    ...(input.responseAuthored ? { responseAuthored: input.responseAuthored } : {}),
    rules,
    selfManagement,
    otherOpenFlags,
  };
}

/** Pain severity and exercise frequency per completed response, oldest first (for the chart). */
export function historyPoints(responses: fhir4.QuestionnaireResponse[]) {
  const find = (items: fhir4.QuestionnaireResponseItem[] | undefined, linkId: string): fhir4.QuestionnaireResponseItemAnswer | undefined => {
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
