/**
 * Who decided each proposal and when (from the Provenance the write path records with each decision).
 * Everything else around a submission is the write path's job: the worklist search tags of Flags
 * (src/submission/worklist-tags.ts) and superseding an amended version's undecided proposals (write-path.ts).
 */
import { actOf, FLAG_OUTCOME_SYSTEM } from '../submission/resolve-proposal.js';
import type { EhrAccess, SessionRef } from './ehr-access.js';
import type { DecisionRecord } from './results.js';

function humanName(p: fhir4.Practitioner | undefined): string {
  const n = p?.name?.[0];
  if (!n) return 'Unnamed';
  return n.text ?? [...(n.prefix ?? []), ...(n.given ?? []), n.family].filter(Boolean).join(' ');
}

type Undoable = (author: string | undefined, recorded: string | undefined) => boolean;

/** A clinician's act: not an undo, and not the submission's own Provenance (which records a CREATE). */
function isDecision(prov: fhir4.Provenance | undefined): prov is fhir4.Provenance {
  if (prov?.resourceType !== 'Provenance') return false;
  const act = actOf(prov);
  return !(act === 'undo' || (!act && prov.activity?.coding?.some((c) => c.code === 'CREATE')));
}

/** The act is later than the one recorded for the target so far (or none is). */
function isLater(prov: fhir4.Provenance, recordedSoFar: DecisionRecord | undefined): boolean {
  return !recordedSoFar?.when || (prov.recorded ?? '') > recordedSoFar.when;
}

/** Who, when, whether it can be undone, and (for a Flag) the coded outcome with its note. */
function decisionRecord(
  prov: fhir4.Provenance,
  who: string | undefined,
  author: fhir4.Reference | undefined,
  undoable: Undoable,
): DecisionRecord {
  const act = actOf(prov);
  const outcome =
    act === 'flag-outcome' ? prov.activity?.coding?.find((c) => c.system === FLAG_OUTCOME_SYSTEM) : undefined;
  const note = prov.reason?.[0]?.text;
  return {
    ...(who ? { who } : {}),
    ...(prov.recorded ? { when: prov.recorded } : {}),
    ...(act && prov.id ? { provenance: prov.id, undoable: undoable(author?.reference, prov.recorded) } : {}),
    ...(outcome?.code
      ? { outcome: { code: outcome.code, display: outcome.display ?? outcome.code, ...(note ? { note } : {}) } }
      : {}),
  };
}

export function createProposalSupport(deps: { ehr: EhrAccess }) {
  const { ehr } = deps;

  /** The author's name: a Practitioner's read once per call (`names`), else the display or reference. */
  async function whoActed(
    ref: SessionRef,
    author: fhir4.Reference | undefined,
    names: Map<string, string>,
  ): Promise<string | undefined> {
    if (!(author?.reference && /^Practitioner\//.test(author.reference))) return author?.display ?? author?.reference;
    if (!names.has(author.reference)) {
      const p = await ehr.json<fhir4.Practitioner>(ref, author.reference).catch(() => undefined);
      names.set(author.reference, p ? humanName(p) : author.reference);
    }
    return names.get(author.reference);
  }

  /**
   * Who decided each resolved proposal, or recorded the outcome of each closed Flag, and when: the author
   * agent of the latest act's Provenance (an undo or the submission's own Provenance is not a decision).
   * `undoable(authorReference, recorded)` says whether the signed-in clinician may still undo it.
   */
  async function decisionRecords(
    ref: SessionRef,
    decided: (fhir4.ServiceRequest | fhir4.Flag)[],
    undoable: Undoable = () => false,
  ): Promise<Map<string, DecisionRecord>> {
    const out = new Map<string, DecisionRecord>();
    if (!decided.length) return out;
    const targets = decided.map((r) => `${r.resourceType}/${r.id}`);
    const b = await ehr.json<fhir4.Bundle>(
      ref,
      `Provenance?target=${encodeURIComponent(targets.join(','))}&_count=200`,
    );
    const names = new Map<string, string>();
    for (const e of b.entry ?? []) {
      const prov = e.resource as fhir4.Provenance;
      if (!isDecision(prov)) continue;
      const author = prov.agent?.find((a) => a.type?.coding?.some((c) => c.code === 'author'))?.who;
      const who = await whoActed(ref, author, names);
      for (const t of prov.target ?? []) {
        const target = t.reference?.replace(/\/_history\/.*$/, '');
        if (target && targets.includes(target) && isLater(prov, out.get(target)))
          out.set(target, decisionRecord(prov, who, author, undoable));
      }
    }
    return out;
  }

  return { decisionRecords };
}
