/**
 * The clinician's acts on the results, each recorded with who and when (a Provenance):
 *   POST /decisions      accept or dismiss a proposal (ServiceRequest)
 *   POST /flags/outcome  what happened to the patient of a Flag: the act that closes it
 *   POST /undo           undo one of these acts: its author only, within the window; recorded as a new act
 */
import type { Router } from 'express';
import { badRequest, FhirError, forbidden } from '../../outcomes/index.js';
import { FLAG_OUTCOME_CODES, recordFlagOutcome, undoDecision } from '../../submission/resolve-proposal.js';
import type { AppContext } from '../context.js';
import type { SessionRef } from '../ehr-access.js';
import type { ResolveProposalInput } from '../options.js';
import { jsonRoute } from './json.js';
import { printable } from '../../platform/text.js';

/** A free-text note as it is recorded: trimmed, at most 1000 characters, none when empty. */
const noteOf = (raw: unknown) => (typeof raw === 'string' && raw.trim() ? raw.trim().slice(0, 1000) : undefined);

/** The EHR as the write path reaches it, with this session's token. */
async function ehrTarget(ctx: AppContext, ref: SessionRef) {
  const token = await ctx.ehr.accessToken(ref);
  return { target: { baseUrl: ref.session.issuer, getToken: async () => token }, token };
}

/** What the clinician decided on a proposal, checked: accept, or dismiss with one of the coded reasons. */
function decisionOfBody(ctx: AppContext, raw: unknown): Omit<ResolveProposalInput, 'who' | 'bearerToken'> {
  const body = raw as { target?: string; decision?: string; reason?: string; note?: string } | undefined;
  const target = printable(body?.target);
  // A Flag is closed by saying what happened to the patient (POST /flags/outcome), never by a decision on a proposal.
  if (!/^ServiceRequest\/[A-Za-z0-9\-.]{1,64}$/.test(target))
    throw badRequest(
      'target must be ServiceRequest/<id>. A Flag is closed by recording what happened to the patient.',
      'target',
    );
  if (body?.decision !== 'accept' && body?.decision !== 'dismiss')
    throw badRequest('decision must be accept or dismiss.', 'decision');
  const reason = body.reason ? ctx.reasonCodes.find((r) => r.code === body.reason) : undefined;
  if (body.decision === 'dismiss' && !reason)
    throw badRequest('Choose a reason for dismissing the proposal.', 'reason');
  return { target, decision: body.decision, reason, note: noteOf(body.note) };
}

export function registerDecisions(api: Router, ctx: AppContext): void {
  const { sessionOf } = ctx;

  api.post(
    '/decisions',
    jsonRoute(async (req) => {
      const ref = await sessionOf(req);
      const resolveProposal = ctx.options.resolveProposal;
      if (!resolveProposal)
        throw new FhirError(501, {
          code: 'not-supported',
          diagnostics: 'Accepting or dismissing proposals is not available on this server.',
        });
      const { target, decision, reason, note } = decisionOfBody(ctx, req.body);
      const who = { reference: ref.session.fhirUser ?? 'Practitioner/unknown' };
      const ehr = await ehrTarget(ctx, ref);
      const input: ResolveProposalInput = {
        target,
        decision,
        ...(reason ? { reason } : {}),
        ...(note ? { note } : {}),
        who,
        bearerToken: ehr.token,
      };
      const result = (await resolveProposal(ehr.target, input, ctx.now())) as
        { provenance?: fhir4.Provenance } | undefined;
      return { ok: true, ...(result?.provenance?.id ? { provenance: result.provenance.id } : {}) };
    }),
  );

  api.post(
    '/flags/outcome',
    jsonRoute(async (req) => {
      const ref = await sessionOf(req);
      const body = req.body as { target?: unknown; outcome?: unknown; note?: unknown } | undefined;
      const target = printable(body?.target);
      if (!/^Flag\/[A-Za-z0-9\-.]{1,64}$/.test(target)) throw badRequest('target must be Flag/<id>.', 'target');
      const outcome = printable(body?.outcome);
      if (!(FLAG_OUTCOME_CODES as readonly string[]).includes(outcome))
        throw badRequest(`Choose what happened to the patient: one of ${FLAG_OUTCOME_CODES.join(', ')}.`, 'outcome');
      const note = noteOf(body?.note);
      if (!ref.session.fhirUser) throw forbidden('Only a signed-in clinician can record what happened to a patient.');
      const ehr = await ehrTarget(ctx, ref);
      const input = {
        target,
        outcome,
        ...(note ? { note } : {}),
        who: { reference: ref.session.fhirUser },
        bearerToken: ehr.token,
      };
      const { provenance } = await recordFlagOutcome(ehr.target, input, ctx.now());
      return { ok: true, provenance: provenance.id };
    }),
  );

  api.post(
    '/undo',
    jsonRoute(async (req) => {
      const ref = await sessionOf(req);
      const body = req.body as { provenance?: unknown } | undefined;
      const provenance = printable(body?.provenance);
      if (!/^[A-Za-z0-9\-.]{1,64}$/.test(provenance))
        throw badRequest('provenance must be the id of the act to undo.', 'provenance');
      if (!ref.session.fhirUser) throw forbidden('Only the clinician who recorded it can undo it.');
      const ehr = await ehrTarget(ctx, ref);
      const result = await undoDecision(
        ehr.target,
        { provenance, who: { reference: ref.session.fhirUser }, bearerToken: ehr.token, windowMs: ctx.undoWindowMs },
        ctx.now(),
      );
      return { ok: true, undone: result.undone, provenance: result.provenance.id };
    }),
  );
}
