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

export function createProposalSupport(deps: { ehr: EhrAccess }) {
  const { ehr } = deps;

  /**
   * Who decided each resolved proposal, or recorded the outcome of each closed Flag, and when: the author
   * agent of the latest act's Provenance (an undo or the submission's own Provenance is not a decision).
   * `undoable(authorReference, recorded)` says whether the signed-in clinician may still undo it.
   */
  async function decisionRecords(
    ref: SessionRef,
    decided: (fhir4.ServiceRequest | fhir4.Flag)[],
    undoable: (author: string | undefined, recorded: string | undefined) => boolean = () => false,
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
      if (prov?.resourceType !== 'Provenance') continue;
      const act = actOf(prov);
      if (act === 'undo' || (!act && prov.activity?.coding?.some((c) => c.code === 'CREATE'))) continue;
      const author = prov.agent?.find((a) => a.type?.coding?.some((c) => c.code === 'author'))?.who;
      let who = author?.display ?? author?.reference;
      if (author?.reference && /^Practitioner\//.test(author.reference)) {
        if (!names.has(author.reference)) {
          const p = await ehr.json<fhir4.Practitioner>(ref, author.reference).catch(() => undefined);
          names.set(author.reference, p ? humanName(p) : author.reference);
        }
        who = names.get(author.reference);
      }
      for (const t of prov.target ?? []) {
        const target = t.reference?.replace(/\/_history\/.*$/, '');
        if (
          target &&
          targets.includes(target) &&
          (!out.get(target)?.when || (prov.recorded ?? '') > out.get(target)!.when!)
        ) {
          const outcome =
            act === 'flag-outcome' ? prov.activity?.coding?.find((c) => c.system === FLAG_OUTCOME_SYSTEM) : undefined;
          const note = prov.reason?.[0]?.text;
          out.set(target, {
            ...(who ? { who } : {}),
            ...(prov.recorded ? { when: prov.recorded } : {}),
            ...(act && prov.id ? { provenance: prov.id, undoable: undoable(author?.reference, prov.recorded) } : {}),
            ...(outcome?.code
              ? { outcome: { code: outcome.code, display: outcome.display ?? outcome.code, ...(note ? { note } : {}) } }
              : {}),
          });
        }
      }
    }
    return out;
  }

  return { decisionRecords };
}
