/** The decision on a proposal, and the outcome recorded on a Flag, as the results page shows them. */
import type { DecisionRecord, DecisionView, OutcomeView } from './types.js';

const STATUS_REASON = 'http://hl7.org/fhir/StructureDefinition/request-statusReason';

/**
 * The decision on a live proposal: the write path marks an accepted proposal `completed` (and creates the
 * order) and a dismissed one `revoked`, with the coded reason in `request-statusReason` and the note.
 */
export function decisionOf(resource: fhir4.ServiceRequest, record?: DecisionRecord): DecisionView | undefined {
  if (resource.status === 'draft') return undefined;
  const dismissed = resource.status === 'revoked' || resource.status === 'entered-in-error';
  const { who, when, note } = decidedBy(resource, record);
  return {
    decision: dismissed ? 'dismissed' : 'accepted',
    ...withoutEmpty({ who, when, reason: reasonWords(resource), note }),
    ...undoOf(record),
  };
}

/** Who decided and when: the recorded Provenance, else the last note's author and time, else the last update. */
function decidedBy(resource: fhir4.ServiceRequest, record: DecisionRecord | undefined) {
  const lastNote = resource.note?.[resource.note.length - 1];
  return {
    who: record?.who ?? lastNote?.authorReference?.display ?? lastNote?.authorReference?.reference,
    when: record?.when ?? lastNote?.time ?? resource.meta?.lastUpdated,
    note: lastNote?.text,
  };
}

/** The coded reason of a dismissal, in words. */
function reasonWords(resource: fhir4.ServiceRequest): string | undefined {
  const reason = resource.extension?.find((e) => e.url === STATUS_REASON)?.valueCodeableConcept;
  return reason?.coding?.[0]?.display ?? reason?.coding?.[0]?.code;
}

/** The act an undo names, and whether this clinician may still undo it. */
function undoOf(record: DecisionRecord | undefined): { provenance?: string; undoable?: boolean } {
  return record?.provenance ? { provenance: record.provenance, undoable: !!record.undoable } : {};
}

/** The fields that have a value (an empty string is no value), in their order. */
function withoutEmpty<T extends Record<string, string | undefined>>(fields: T): Partial<Record<keyof T, string>> {
  return Object.fromEntries(Object.entries(fields).filter(([, v]) => v)) as Partial<Record<keyof T, string>>;
}

export function outcomeOf(record: DecisionRecord | undefined): { outcome: OutcomeView } | Record<string, never> {
  if (!record?.outcome) return {};
  const { code, display, note } = record.outcome;
  return {
    outcome: { code, display, ...withoutEmpty({ note, who: record.who, when: record.when }), ...undoOf(record) },
  };
}
