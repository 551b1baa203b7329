/**
 * What the app does around a submission besides the write path itself: superseding the undecided proposals
 * of an amended response, and who decided each proposal and when (from the write path's Provenance). The
 * worklist search tags of Flags are the write path's job (src/submission/worklist-tags.ts).
 */
import { SUBMISSION_ITEM_SYSTEM } from '../submission/build-bundle.js';
import type { EhrAccess, SessionRef } from './ehr-access.js';
import type { ResolveProposal } from './index.js';
import { itemIdentifierValue, type DecisionRecord } from './results.js';

function humanName(p: fhir4.Practitioner | undefined): string {
  const n = p?.name?.[0];
  if (!n) return 'Unnamed';
  return n.text ?? [...(n.prefix ?? []), ...(n.given ?? []), n.family].filter(Boolean).join(' ');
}

export function createProposalSupport(deps: { ehr: EhrAccess; resolveProposal?: ResolveProposal; reasonCodes: fhir4.Coding[] }) {
  const { ehr, reasonCodes } = deps;
  const options = { resolveProposal: deps.resolveProposal };

  /**
   * After an amendment: the proposals of the amended response that nobody decided are dismissed as
   * "duplicate" (the amended response made its own), through the same write path as a clinician's
   * decision, so they leave the worklist and the audit trail says why.
   */
  async function supersede(ref: SessionRef, pid: string, oldResponseId: string, amendedAt: string) {
    if (!options.resolveProposal) return;
    const old = await ehr.json<fhir4.QuestionnaireResponse>(ref, `QuestionnaireResponse/${oldResponseId}`);
    if (!old.identifier?.value || old.subject?.reference !== `Patient/${pid}`) return;
    const prefix = itemIdentifierValue(`${old.identifier.system ?? ''}|${old.identifier.value}`, '');
    const b = await ehr.json<fhir4.Bundle>(ref, `ServiceRequest?subject=Patient/${pid}&_count=500`);
    const open = (b.entry ?? [])
      .map((e) => e.resource as fhir4.ServiceRequest)
      .filter((r) => r.intent === 'proposal' && r.status === 'draft' && r.identifier?.some((i) => i.system === SUBMISSION_ITEM_SYSTEM && i.value?.startsWith(prefix)));
    const reason = reasonCodes.find((r) => r.code === 'duplicate');
    const token = await ehr.accessToken(ref);
    for (const sr of open) {
      await options.resolveProposal(
        { baseUrl: ref.session.issuer, getToken: async () => token },
        {
          target: `ServiceRequest/${sr.id}`,
          decision: 'dismiss',
          ...(reason ? { reason } : {}),
          note: `Superseded by the amended response of ${amendedAt}.`,
          who: { reference: ref.session.fhirUser ?? 'Practitioner/unknown' },
          bearerToken: token,
        },
      );
    }
  }

  /** Who decided each resolved proposal and when: the author agent of the Provenance the write path wrote. */
  async function decisionRecords(ref: SessionRef, decided: fhir4.ServiceRequest[]): Promise<Map<string, DecisionRecord>> {
    const out = new Map<string, DecisionRecord>();
    if (!decided.length) return out;
    const targets = decided.map((r) => `ServiceRequest/${r.id}`);
    const b = await ehr.json<fhir4.Bundle>(ref, `Provenance?target=${encodeURIComponent(targets.join(','))}&_count=200`);
    const names = new Map<string, string>();
    for (const e of b.entry ?? []) {
      const prov = e.resource as fhir4.Provenance;
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
        if (target && targets.includes(target) && (!out.get(target)?.when || (prov.recorded ?? '') > out.get(target)!.when!)) {
          out.set(target, { ...(who ? { who } : {}), ...(prov.recorded ? { when: prov.recorded } : {}) });
        }
      }
    }
    return out;
  }

  return { supersede, decisionRecords };
}
