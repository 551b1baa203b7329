/**
 * Amending a submitted response: a NEW VERSION of the same QuestionnaireResponse (PUT with If-Match, status
 * amended, same identifier), the rules re-run for it (new Flags, proposals, CarePlan, Provenance keyed on the
 * amendment), the earlier version's undecided proposals and open Flags superseded, exactly once, and a stale
 * version refused. Against the embedded EHR (transactions) and Medplum without transactions (one by one).
 */
import { describe, it } from '@jest/globals';
import { expect } from '../support/expect.js';
import { SUBMISSION_ITEM_SYSTEM, submissionKeyOf } from '../../src/submission/build-bundle.js';
import { FLAG_SYSTEM } from '../../src/submission/worklist-tags.js';
import { getKnowledge, seededSubmission, testWritePath, untilSent, waitFor } from './support/fixtures.js';
import { useWritePathAgainst } from './support/use-write-path.js';
import { PERSONALITY_SERVERS, PORTABILITY_SERVERS, tmpDir } from './support/servers.js';

/** The same answers with pain severity changed (the amendment a clinician makes after talking to the patient). */
function withPainSeverity(response: fhir4.QuestionnaireResponse, value: number): fhir4.QuestionnaireResponse {
  const walk = (items: fhir4.QuestionnaireResponseItem[] | undefined): fhir4.QuestionnaireResponseItem[] | undefined =>
    items?.map((it) =>
      it.linkId === 'pain-severity'
        ? { ...it, answer: [{ valueInteger: value }] }
        : { ...it, ...(it.item ? { item: walk(it.item) } : {}) },
    );
  return { ...response, item: walk(response.item) };
}

const itemIds = (r: { identifier?: fhir4.Identifier[] }) =>
  (r.identifier ?? []).filter((i) => i.system === SUBMISSION_ITEM_SYSTEM).map((i) => i.value);

describe.each([...PORTABILITY_SERVERS.filter(([name]) => name !== 'Medplum in-memory'), ...PERSONALITY_SERVERS])(
  'amending a response against %s',
  (name, start) => {
    const ctx = useWritePathAgainst(start);
    // A rate-limited first attempt is "saved, sending"; the outbox sends it after the server's Retry-After.
    const rateLimited = name.endsWith('rate-limit-429');
    let n = 0;

    async function submitted() {
      const { patient, response, patientId } = await seededSubmission(ctx.server, 'BMD-01', `amend-${n++}`);
      const first = await ctx.writePath.submit({ response, data: [patient] });
      if (!rateLimited) expect(first.state).toBe('sent');
      await untilSent(ctx.writePath, first.key);
      const [qr] = await ctx.server.search<fhir4.QuestionnaireResponse>(
        'QuestionnaireResponse',
        `subject=Patient/${patientId}`,
      );
      return { patientId, patient, response, qr: qr! };
    }

    it('writes version 2 (amended, same identifier), new active Flags and proposals, and supersedes the old ones', async () => {
      const { patientId, patient, response, qr } = await submitted();
      const oldFlags = await ctx.server.search<fhir4.Flag>('Flag', `subject=Patient/${patientId}`);
      const oldProposals = await ctx.server.search<fhir4.ServiceRequest>(
        'ServiceRequest',
        `subject=Patient/${patientId}`,
      );
      expect(oldFlags.length).toBeGreaterThan(0);
      expect(qr.meta?.versionId).toBeDefined();

      const amended = {
        ...withPainSeverity(response, 3),
        status: 'amended' as const,
        authored: '2026-11-24T11:00:00Z',
      };
      const result = await ctx.writePath.submit({
        response: amended,
        data: [patient],
        amends: { id: qr.id!, versionId: qr.meta!.versionId! },
      });
      if (!rateLimited) {
        expect(result.message).toBe('Saved to the record.');
        expect(result).toMatchObject({ state: 'sent', duplicate: false });
      }
      await untilSent(ctx.writePath, result.key);
      // Sent later by the outbox: the earlier version's items are superseded right after.
      await waitFor('the earlier flags closed', async () =>
        (await ctx.server.search<fhir4.Flag>('Flag', `subject=Patient/${patientId}`)).every(
          (f) => !oldFlags.some((o) => o.id === f.id) || f.status === 'inactive',
        ),
      );
      expect(result.key).not.toBe(`${response.identifier!.system}|${response.identifier!.value}`);

      // One response, now at a new version, amended, same identifier; the history keeps the original.
      const qrs = await ctx.server.search<fhir4.QuestionnaireResponse>(
        'QuestionnaireResponse',
        `subject=Patient/${patientId}`,
      );
      expect(qrs).toHaveLength(1);
      const current = qrs[0]!;
      expect(current.id).toBe(qr.id);
      expect(current.meta?.versionId).not.toBe(qr.meta?.versionId);
      expect(current).toMatchObject({ status: 'amended', identifier: response.identifier });
      expect(submissionKeyOf(current)).toBe(result.key);
      const history = await ctx.server.read<fhir4.Bundle>(`QuestionnaireResponse/${qr.id}/_history`);
      expect(history.entry?.map((e) => (e.resource as fhir4.QuestionnaireResponse).status)).toEqual([
        'amended',
        'completed',
      ]);
      expect(
        (
          await ctx.server.read<fhir4.QuestionnaireResponse>(
            `QuestionnaireResponse/${qr.id}/_history/${qr.meta!.versionId}`,
          )
        ).status,
      ).toBe('completed');

      // The amendment's own Flags and proposals (new identifiers), active; the original's all closed.
      const flags = await ctx.server.search<fhir4.Flag>('Flag', `subject=Patient/${patientId}`);
      const newFlags = flags.filter((f) => !oldFlags.some((o) => o.id === f.id));
      expect(newFlags.length).toBeGreaterThan(0);
      for (const f of newFlags) {
        expect(f.status).toBe('active');
        expect(itemIds(f).some((v) => oldFlags.some((o) => itemIds(o).includes(v)))).toBe(false);
        expect(f.extension?.find((e) => e.url.endsWith('flag-detail'))?.valueReference?.reference).toBe(
          `QuestionnaireResponse/${qr.id}`,
        );
      }
      for (const f of flags.filter((x) => oldFlags.some((o) => o.id === x.id))) {
        expect(f.status).toBe('inactive');
        expect(f.meta?.tag?.some((t) => t.system === FLAG_SYSTEM)).toBeFalsy(); // left the worklist
      }
      const proposals = await ctx.server.search<fhir4.ServiceRequest>('ServiceRequest', `subject=Patient/${patientId}`);
      for (const p of proposals) {
        const old = oldProposals.some((o) => o.id === p.id);
        expect(p.status).toBe(old ? 'revoked' : 'draft');
      }
      expect(proposals.filter((p) => p.status === 'draft')).toHaveLength(oldProposals.length);
      expect(await ctx.server.search<fhir4.CarePlan>('CarePlan', `subject=Patient/${patientId}`)).toHaveLength(2);
      const provenances = await ctx.server.search<fhir4.Provenance>(
        'Provenance',
        `target=QuestionnaireResponse/${qr.id}`,
      );
      expect(
        provenances.some((p) =>
          p.entity?.some((e) => e.what.reference === `QuestionnaireResponse/${qr.id}/_history/${qr.meta!.versionId}`),
        ),
      ).toBe(true);
    });

    it('resubmitting the same amendment creates nothing new (this outbox or another module instance)', async () => {
      const { patientId, patient, response, qr } = await submitted();
      const amended = { ...withPainSeverity(response, 4), status: 'amended' as const };
      const amends = { id: qr.id!, versionId: qr.meta!.versionId! };
      await untilSent(ctx.writePath, (await ctx.writePath.submit({ response: amended, data: [patient], amends })).key);
      const count = async () =>
        Promise.all(
          ['Flag', 'ServiceRequest', 'Observation', 'CarePlan'].map(
            async (t) => (await ctx.server.search(t as 'Flag', `subject=Patient/${patientId}`)).length,
          ),
        );
      const before = await count();
      const versionBefore = (await ctx.server.read<fhir4.QuestionnaireResponse>(`QuestionnaireResponse/${qr.id}`)).meta
        ?.versionId;

      expect(await ctx.writePath.submit({ response: amended, data: [patient], amends })).toMatchObject({
        state: 'sent',
        duplicate: true,
      });
      const other = testWritePath(ctx.server, await getKnowledge(), { dataDir: tmpDir('amend-other-') });
      await other.start();
      try {
        // Its outbox does not know the amendment: the record already holding it is recognised (not a stale 412).
        await untilSent(other, (await other.submit({ response: amended, data: [patient], amends })).key);
      } finally {
        await other.stop();
      }
      expect(await count()).toEqual(before);
      expect(
        (await ctx.server.read<fhir4.QuestionnaireResponse>(`QuestionnaireResponse/${qr.id}`)).meta?.versionId,
      ).toBe(versionBefore);
    });

    it('refuses an amendment of a stale version (412, "reload"), and writes nothing', async () => {
      const { patientId, patient, response, qr } = await submitted();
      const amends = { id: qr.id!, versionId: qr.meta!.versionId! };
      await untilSent(
        ctx.writePath,
        (
          await ctx.writePath.submit({
            response: { ...withPainSeverity(response, 2), status: 'amended' },
            data: [patient],
            amends,
          })
        ).key,
      );
      const before = await ctx.server.search<fhir4.Flag>('Flag', `subject=Patient/${patientId}`);
      // A second clinician amended the same version she had open.
      await expect(
        ctx.writePath.submit({
          response: { ...withPainSeverity(response, 9), status: 'amended' },
          data: [patient],
          amends,
        }),
      ).rejects.toMatchObject({
        status: 412,
        message: expect.stringMatching(/reload/),
      });
      expect(await ctx.server.search<fhir4.Flag>('Flag', `subject=Patient/${patientId}`)).toHaveLength(before.length);
    });

    it('refuses an amendment without the identifier of the response it amends (400)', async () => {
      const { patient, response, qr } = await submitted();
      const { identifier: _dropped, ...noIdentifier } = response;
      await expect(
        ctx.writePath.submit({
          response: { ...noIdentifier, status: 'amended' },
          data: [patient],
          amends: { id: qr.id!, versionId: '1' },
        }),
      ).rejects.toMatchObject({ status: 400 });
    });
  },
);

/** The same answers with one answer changed (a coding of yes/no). */
function withYesNo(
  response: fhir4.QuestionnaireResponse,
  linkId: string,
  code: 'Y' | 'N',
): fhir4.QuestionnaireResponse {
  const walk = (items: fhir4.QuestionnaireResponseItem[] | undefined): fhir4.QuestionnaireResponseItem[] | undefined =>
    items?.map((it) =>
      it.linkId === linkId
        ? { ...it, answer: [{ valueCoding: { system: 'http://terminology.hl7.org/CodeSystem/v2-0136', code } }] }
        : { ...it, ...(it.item ? { item: walk(it.item) } : {}) },
    );
  return { ...response, item: walk(response.item) };
}

describe('an amendment never closes a flag without an outcome (three patients interleaved in one server)', () => {
  const ctx = useWritePathAgainst(PORTABILITY_SERVERS[0]![1]);
  const RULE_SYSTEM = 'https://periplan.app/fhir/CodeSystem/back-pain-rule';
  const rf01 = (flags: fhir4.Flag[]) =>
    flags.filter((f) => f.code.coding?.some((c) => c.system === RULE_SYSTEM && c.code === 'RF-01'));

  it('a flag the amendment fires again is carried forward (one row, a Provenance linking old and new); one it no longer fires stays open', async () => {
    // Interleaved: two emergency patients and a bone-density one, submitted in turn, amended in turn.
    const a = await seededSubmission(ctx.server, 'RF-01', 'amend-flags-a');
    const b = await seededSubmission(ctx.server, 'RF-01', 'amend-flags-b');
    const c = await seededSubmission(ctx.server, 'BMD-01', 'amend-flags-c');
    for (const p of [a, b, c])
      await untilSent(ctx.writePath, (await ctx.writePath.submit({ response: p.response, data: [p.patient] })).key);
    const flagsOf = (p: { subject: string }) => ctx.server.search<fhir4.Flag>('Flag', `subject=${p.subject}`);
    const qrOf = async (p: { subject: string }) =>
      (await ctx.server.search<fhir4.QuestionnaireResponse>('QuestionnaireResponse', `subject=${p.subject}`))[0]!;
    const [aBefore, bBefore, cBefore] = [await flagsOf(a), await flagsOf(b), await flagsOf(c)];
    expect(rf01(aBefore)).toHaveLength(1);
    expect(rf01(bBefore)).toHaveLength(1);

    // A: saddle numbness amended to No: RF-01 no longer fires. B: the same answers again (RF-01 fires again).
    const qa = await qrOf(a);
    const qb = await qrOf(b);
    const amendA = await ctx.writePath.submit({
      response: { ...withYesNo(a.response, 'rf-saddle-numbness', 'N'), status: 'amended' },
      data: [a.patient],
      amends: { id: qa.id!, versionId: qa.meta!.versionId! },
    });
    const amendB = await ctx.writePath.submit({
      response: { ...withPainSeverity(b.response, 2), status: 'amended' },
      data: [b.patient],
      amends: { id: qb.id!, versionId: qb.meta!.versionId! },
    });
    await untilSent(ctx.writePath, amendA.key);
    await untilSent(ctx.writePath, amendB.key);
    const oldB = rf01(bBefore)[0]!;
    await waitFor(
      "B's earlier RF-01 flag carried forward",
      async () => (await ctx.server.read<fhir4.Flag>(`Flag/${oldB.id}`)).status === 'inactive',
    );

    // A's EMERGENCY flag is still open and on the worklist: the amendment is not an assessment.
    const oldA = rf01(aBefore)[0]!;
    const aNow = await ctx.server.read<fhir4.Flag>(`Flag/${oldA.id}`);
    expect(aNow.status).toBe('active');
    expect(aNow.meta?.tag?.some((t) => t.system === FLAG_SYSTEM && t.code === 'emergency-assessment')).toBe(true);
    expect(rf01((await flagsOf(a)).filter((f) => f.status === 'active')).map((f) => f.id)).toEqual([oldA.id]);

    // B: exactly one active RF-01 flag (the amendment's); the Provenance that closed the old one names the new.
    const bActive = rf01((await flagsOf(b)).filter((f) => f.status === 'active'));
    expect(bActive).toHaveLength(1);
    expect(bActive[0]!.id).not.toBe(oldB.id);
    const provenances = await ctx.server.search<fhir4.Provenance>('Provenance', `target=Flag/${oldB.id}`);
    const closing = provenances.find((p) => p.reason?.some((r) => r.coding?.some((k) => k.code === 'duplicate')));
    expect(closing, 'a Provenance records why the earlier flag closed').toBeDefined();
    expect(closing!.entity).toContainEqual(
      expect.objectContaining({
        role: 'source',
        what: expect.objectContaining({ reference: `Flag/${bActive[0]!.id}` }),
      }),
    );
    expect(closing!.agent?.some((g) => g.who?.reference)).toBe(true);
    expect(closing!.recorded).toBeDefined();

    // C was never amended: untouched.
    expect((await flagsOf(c)).map((f) => `${f.id} ${f.status}`).sort()).toEqual(
      cBefore.map((f) => `${f.id} ${f.status}`).sort(),
    );
  });
});
