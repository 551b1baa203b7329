/**
 * resolveProposal: accept (a new order basedOn the proposal; the proposal completed), dismiss with a coded
 * reason (revoked + request-statusReason), the Flag of the same rule staying open (only an outcome closes
 * it: recordFlagOutcome), If-Match (412 on a stale version), a Provenance with who, when and why; the flag
 * outcome and undo acts. Against the embedded EHR and against Medplum without transactions (the one-by-one path).
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { SUBMISSION_RULE_SYSTEM } from '../../src/submission/build-bundle.js';
import {
  DECISION_REASON_CODES,
  DECISION_REASON_SYSTEM,
  recordFlagOutcome,
  resolveProposal,
  undoDecision,
} from '../../src/submission/resolve-proposal.js';
import type { WritePath } from '../../src/submission/write-path.js';
import { FLAG_PRIORITY_SYSTEM, FLAG_SYSTEM } from '../../src/submission/worklist-tags.js';
import { ext, repoRoot, seededSubmission, untilSent } from './support/fixtures.js';
import { useWritePathAgainst } from './support/use-write-path.js';
import { PERSONALITY_SERVERS, PORTABILITY_SERVERS } from './support/servers.js';

const clinician: fhir4.Reference = { reference: 'Practitioner/sandbox-clinician', display: 'Dr Adaeze Okafor' };
const reason = (code: string): fhir4.Coding => ({ system: DECISION_REASON_SYSTEM, code });
/** The worklist search tags a Flag carries (active: its code and tier; closed: none). */
const worklistTagsOf = (f: fhir4.Flag) =>
  (f.meta?.tag ?? []).filter((t) => t.system === FLAG_SYSTEM || t.system === FLAG_PRIORITY_SYSTEM);

describe('the dismiss reasons', () => {
  it('are the codes of the CodeSystem, and the ValueSet includes that CodeSystem', () => {
    const cs = JSON.parse(
      fs.readFileSync(path.join(repoRoot, 'profiles/CodeSystem-proposal-decision-reason.json'), 'utf8'),
    ) as fhir4.CodeSystem;
    const vs = JSON.parse(
      fs.readFileSync(path.join(repoRoot, 'profiles/ValueSet-proposal-decision-reason.json'), 'utf8'),
    ) as fhir4.ValueSet;
    expect(cs).toMatchObject({ url: DECISION_REASON_SYSTEM, version: '1.0.0', status: 'active', content: 'complete' });
    expect(cs.concept?.map((c) => c.code)).toEqual([...DECISION_REASON_CODES]);
    expect(vs).toMatchObject({
      version: '1.0.0',
      status: 'active',
      compose: { include: [{ system: DECISION_REASON_SYSTEM }] },
    });
  });
});

describe.each([...PORTABILITY_SERVERS.filter(([name]) => name !== 'Medplum in-memory'), ...PERSONALITY_SERVERS])(
  'resolveProposal against %s',
  (_name, start) => {
    const ctx = useWritePathAgainst(start);
    let n = 0;

    /** A BMD-01 submission: two rules (RF-05 imaging, BMD-01 DXA), each with one proposal and one Flag. */
    async function submitted() {
      const { patient, response, patientId } = await seededSubmission(ctx.server, 'BMD-01', `resolve-${n++}`);
      await untilSent(ctx.writePath, (await ctx.writePath.submit({ response, data: [patient] })).key);
      const proposals = await ctx.server.search<fhir4.ServiceRequest>('ServiceRequest', `subject=Patient/${patientId}`);
      const flags = await ctx.server.search<fhir4.Flag>('Flag', `subject=Patient/${patientId}`);
      const ruleOf = (r: { identifier?: fhir4.Identifier[] }) =>
        r.identifier?.find((i) => i.system === SUBMISSION_RULE_SYSTEM)?.value?.split('#')[1];
      const dxa = proposals.find((p) => ruleOf(p) === 'BMD-01')!;
      const xray = proposals.find((p) => ruleOf(p) !== 'BMD-01')!;
      const flagOf = (sr: fhir4.ServiceRequest) => flags.find((f) => ruleOf(f) === ruleOf(sr))!;
      return { patientId, dxa, xray, flagOf };
    }

    it('accept: a new active order basedOn the proposal, the proposal completed, its Flag still active, a Provenance', async () => {
      const { patientId, dxa, xray, flagOf } = await submitted();
      const now = new Date('2026-11-24T10:00:00Z');
      const { updated, provenance } = await resolveProposal(
        ctx.writePath.target,
        { target: `ServiceRequest/${dxa.id}`, decision: 'accept', who: clinician, note: 'DXA booked' },
        now,
      );

      const proposal = await ctx.server.read<fhir4.ServiceRequest>(`ServiceRequest/${dxa.id}`);
      expect(proposal).toMatchObject({ status: 'completed', intent: 'proposal' });
      const orders = (
        await ctx.server.search<fhir4.ServiceRequest>('ServiceRequest', `subject=Patient/${patientId}`)
      ).filter((s) => s.intent === 'order');
      expect(orders).toHaveLength(1);
      expect(orders[0]).toMatchObject({
        status: 'active',
        basedOn: [{ reference: `ServiceRequest/${dxa.id}` }],
        requester: clinician,
        code: dxa.code,
      });
      expect(worklistTagsOf(flagOf(dxa))).toHaveLength(2);
      // Accepting the scan is not assessing the patient: the Flag stays open, on the worklist, untouched.
      const stillOpen = await ctx.server.read<fhir4.Flag>(`Flag/${flagOf(dxa).id}`);
      expect(stillOpen.status).toBe('active');
      expect(stillOpen.meta?.versionId).toBe(flagOf(dxa).meta?.versionId);
      expect(worklistTagsOf(stillOpen)).toEqual(worklistTagsOf(flagOf(dxa)));
      // The other rule's proposal and Flag are untouched.
      expect((await ctx.server.read<fhir4.ServiceRequest>(`ServiceRequest/${xray.id}`)).status).toBe('draft');
      const open = await ctx.server.read<fhir4.Flag>(`Flag/${flagOf(xray).id}`);
      expect(open.status).toBe('active');
      expect(worklistTagsOf(open)).toEqual(worklistTagsOf(flagOf(xray)));
      expect(worklistTagsOf(open).map((t) => t.code)).toContain('imaging-follow-up');

      expect(updated.map((r) => r.resourceType).sort()).toEqual(['ServiceRequest', 'ServiceRequest']);
      expect(provenance.id).toBeDefined();
      expect(provenance.recorded).toBe(now.toISOString());
      expect(provenance.agent[0]!.who).toEqual(clinician);
      expect(provenance.target.map((t) => t.reference).sort()).toEqual(
        [`ServiceRequest/${dxa.id}`, `ServiceRequest/${orders[0]!.id}`].sort(),
      );
    });

    it('dismiss with a coded reason: revoked, the reason recorded on the request and in the Provenance', async () => {
      const { xray, flagOf } = await submitted();
      const { provenance } = await resolveProposal(ctx.writePath.target, {
        target: `ServiceRequest/${xray.id}`,
        decision: 'dismiss',
        reason: reason('done-elsewhere'),
        note: 'X-ray done at the walk-in centre last week',
        who: clinician,
      });
      const proposal = await ctx.server.read<fhir4.ServiceRequest>(`ServiceRequest/${xray.id}`);
      expect(proposal.status).toBe('revoked');
      expect(
        ext(proposal, 'http://hl7.org/fhir/StructureDefinition/request-statusReason')?.valueCodeableConcept?.coding?.[0]
          ?.code,
      ).toBe('done-elsewhere');
      expect(proposal.note?.at(-1)).toMatchObject({
        text: 'X-ray done at the walk-in centre last week',
        authorReference: clinician,
      });
      const open = await ctx.server.read<fhir4.Flag>(`Flag/${flagOf(xray).id}`);
      expect(open.status).toBe('active');
      expect(worklistTagsOf(open)).toEqual(worklistTagsOf(flagOf(xray)));
      expect(provenance.reason?.[0]?.coding?.[0]).toEqual(reason('done-elsewhere'));
      expect(provenance.agent[0]!.who).toEqual(clinician);
    });

    it('dismisses a duplicate Flag directly (an amendment superseding it), and refuses to decide twice (409)', async () => {
      const { dxa, flagOf } = await submitted();
      const flag = flagOf(dxa);
      // Any other decision on a Flag is refused: a Flag closes when someone records what happened to the patient.
      await expect(
        resolveProposal(ctx.writePath.target, {
          target: `Flag/${flag.id}`,
          decision: 'dismiss',
          reason: reason('not-clinically-indicated'),
          who: clinician,
        }),
      ).rejects.toMatchObject({ status: 400 });
      await expect(
        resolveProposal(ctx.writePath.target, { target: `Flag/${flag.id}`, decision: 'accept', who: clinician }),
      ).rejects.toMatchObject({ status: 400 });
      expect((await ctx.server.read<fhir4.Flag>(`Flag/${flag.id}`)).status).toBe('active');
      await resolveProposal(ctx.writePath.target, {
        target: `Flag/${flag.id}`,
        decision: 'dismiss',
        reason: reason('duplicate'),
        who: clinician,
      });
      const closed = await ctx.server.read<fhir4.Flag>(`Flag/${flag.id}`);
      expect(closed.status).toBe('inactive');
      expect(worklistTagsOf(closed)).toEqual([]);
      expect(
        await ctx.server.search<fhir4.Flag>(
          'Flag',
          `_tag=${encodeURIComponent(`${FLAG_SYSTEM}|bone-density-scan`)}&subject=Patient/${flag.subject.reference!.split('/')[1]}`,
        ),
      ).toEqual([]);
      await expect(
        resolveProposal(ctx.writePath.target, {
          target: `Flag/${flag.id}`,
          decision: 'dismiss',
          reason: reason('duplicate'),
          who: clinician,
        }),
      ).rejects.toMatchObject({ status: 409 });
    });

    it('recordFlagOutcome closes the Flag (period.end, off the worklist) with the coded outcome in a Provenance; undo reopens it as a new version', async () => {
      const { dxa, flagOf } = await submitted();
      const flag = flagOf(dxa);
      const at = new Date('2026-11-24T10:00:00Z');
      const { provenance } = await recordFlagOutcome(
        ctx.writePath.target,
        { target: `Flag/${flag.id}`, outcome: 'referred', note: 'DXA booked at the hospital', who: clinician },
        at,
      );
      const closed = await ctx.server.read<fhir4.Flag>(`Flag/${flag.id}`);
      expect(closed.status).toBe('inactive');
      expect(Date.parse(closed.period!.end!)).toBe(at.getTime());
      expect(worklistTagsOf(closed)).toEqual([]);
      expect(provenance.activity?.coding?.[0]).toMatchObject({
        system: 'https://periplan.app/fhir/CodeSystem/flag-outcome',
        code: 'referred',
      });
      expect(provenance.agent[0]!.who).toEqual(clinician);
      await expect(
        recordFlagOutcome(ctx.writePath.target, { target: `Flag/${flag.id}`, outcome: 'referred', who: clinician }, at),
      ).rejects.toMatchObject({ status: 409 });
      // Someone else, or too late: refused. The author within the window: a new version, active again.
      const other = { reference: 'Practitioner/someone-else' };
      await expect(
        undoDecision(ctx.writePath.target, { provenance: provenance.id!, who: other }, new Date(at.getTime() + 60_000)),
      ).rejects.toMatchObject({ status: 403 });
      await expect(
        undoDecision(
          ctx.writePath.target,
          { provenance: provenance.id!, who: clinician, windowMs: 5 * 60_000 },
          new Date(at.getTime() + 5 * 60_000 + 1),
        ),
      ).rejects.toMatchObject({ status: 409 });
      const undone = await undoDecision(
        ctx.writePath.target,
        { provenance: provenance.id!, who: clinician, windowMs: 5 * 60_000 },
        new Date(at.getTime() + 5 * 60_000),
      );
      expect(undone.undone).toBe('flag-outcome');
      const reopened = await ctx.server.read<fhir4.Flag>(`Flag/${flag.id}`);
      expect(reopened.status).toBe('active');
      expect(reopened.period?.end).toBeUndefined();
      expect(worklistTagsOf(reopened)).toEqual(worklistTagsOf(flag));
      expect(reopened.meta?.versionId).not.toBe(closed.meta?.versionId); // a new version: nothing erased
      await expect(
        undoDecision(
          ctx.writePath.target,
          { provenance: provenance.id!, who: clinician },
          new Date(at.getTime() + 60_000),
        ),
      ).rejects.toMatchObject({ status: 409 });
    });

    it('412 when the version the clinician saw is stale; nothing is changed', async () => {
      const { dxa } = await submitted();
      const seen = dxa.meta?.versionId;
      // Someone else changes it in between (a note added).
      await fetch(`${ctx.server.directFhirBaseUrl ?? ctx.server.fhirBaseUrl}/ServiceRequest/${dxa.id}`, {
        method: 'PUT',
        headers: { 'content-type': 'application/fhir+json', ...(await authHeader(ctx.writePath)) },
        body: JSON.stringify({ ...dxa, note: [{ text: 'changed elsewhere' }] }),
      }).then((r) => expect(r.status).toBe(200));
      await expect(
        resolveProposal(ctx.writePath.target, {
          target: `ServiceRequest/${dxa.id}/_history/${seen}`,
          decision: 'accept',
          who: clinician,
        }),
      ).rejects.toMatchObject({ status: 412, message: expect.stringMatching(/someone/) });
      expect((await ctx.server.read<fhir4.ServiceRequest>(`ServiceRequest/${dxa.id}`)).status).toBe('draft');
    });

    it('refuses a dismissal without a reason, with an unknown reason, or "other" without a note (400)', async () => {
      const { dxa } = await submitted();
      const target = `ServiceRequest/${dxa.id}`;
      await expect(
        resolveProposal(ctx.writePath.target, { target, decision: 'dismiss', who: clinician }),
      ).rejects.toMatchObject({ status: 400 });
      await expect(
        resolveProposal(ctx.writePath.target, {
          target,
          decision: 'dismiss',
          reason: { system: 'x', code: 'y' },
          who: clinician,
        }),
      ).rejects.toMatchObject({ status: 400 });
      await expect(
        resolveProposal(ctx.writePath.target, { target, decision: 'dismiss', reason: reason('other'), who: clinician }),
      ).rejects.toMatchObject({ status: 400 });
      await expect(
        resolveProposal(ctx.writePath.target, { target: 'Patient/x', decision: 'accept', who: clinician }),
      ).rejects.toMatchObject({ status: 400 });
    });
  },
);

async function authHeader(writePath: WritePath): Promise<Record<string, string>> {
  const token = await writePath.target.getToken?.();
  return token ? { authorization: `Bearer ${token}` } : {};
}
