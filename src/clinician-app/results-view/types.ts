/** What the results page is given: the view of one submission's results (built by `buildResultsView`). */

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
export interface BasisView {
  linkId: string;
  question: string;
  separator: string;
  answer: string;
  source?: string;
  authored?: string;
}
/** A criterion that made the rule fire: one line in the rules' words ("… Yes → suspected cauda equina"). */
export interface CriterionView {
  meaning: string;
  text: string;
  linkIds: string[];
  source?: string;
}
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
export interface OutcomeView {
  code: string;
  display: string;
  who?: string;
  when?: string;
  note?: string;
  provenance?: string;
  undoable?: boolean;
}
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

/** Who decided and when, from the Provenance the write path records with each decision. */
export interface DecisionRecord {
  who?: string;
  when?: string;
  provenance?: string;
  undoable?: boolean;
  /** A flag outcome: its code, display and the clinician's note. */
  outcome?: { code: string; display: string; note?: string };
}

/** What the results are built from: the stored CarePlan of one submission and the patient's live resources. */
export interface ResultsInput {
  carePlan: fhir4.CarePlan;
  responseKey: string;
  responseAuthored?: string;
  live: (fhir4.ServiceRequest | fhir4.Flag)[];
  /** Keyed by `ServiceRequest/<id>` and `Flag/<id>`. */
  decisions?: Map<string, DecisionRecord>;
}
