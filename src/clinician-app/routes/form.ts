/**
 * The intake form: `GET /questionnaire` (sanitized, the same for every session) and `GET /form`, the response
 * to load into it: a completed response to amend, this clinician's saved draft, or a fresh `$populate`.
 */
import type { Router } from 'express';
import { badRequest, forbidden } from '../../outcomes/index.js';
import type { AppContext } from '../context.js';
import type { SessionRef } from '../ehr-access.js';
import { patientId, populate, readPatient, type Populated } from '../patient-reads.js';
import { serverTiming, type ServerTiming } from '../server-timing.js';
import { jsonRoute } from './json.js';

/** `$populate` for the open patient: what the launch read ahead, else now. */
async function populated(
  ctx: AppContext,
  ref: SessionRef,
  pid: string,
  fresh: boolean,
  timing: ServerTiming,
): Promise<Populated> {
  const { prefetch } = ctx;
  const prefetched = fresh
    ? undefined
    : await timing.time('populate', async () => prefetch.take<Populated | undefined>(ref.handle, 'populate'));
  return (
    prefetched ??
    (await timing.time('populate', async () =>
      populate(
        ctx,
        ref,
        await timing.time(
          'ehr',
          () => prefetch.take<fhir4.Patient>(ref.handle, 'patient') ?? readPatient(ctx, ref, pid),
        ),
      ),
    ))
  );
}

export function registerForm(api: Router, ctx: AppContext): void {
  const { sessionOf } = ctx;

  api.get(
    '/questionnaire',
    jsonRoute(async (req) => {
      await sessionOf(req);
      return ctx.safeQuestionnaire;
    }),
  );

  api.get(
    '/form',
    jsonRoute(async (req, res) => {
      const ref = await sessionOf(req);
      const pid = ref.session.patient;
      if (!pid) throw badRequest("No patient is open: launch the app from the patient's record.");
      if (typeof req.query.amend === 'string') {
        const qr = await ctx.ehr.json<fhir4.QuestionnaireResponse>(
          ref,
          `QuestionnaireResponse/${patientId(req.query.amend)}`,
        );
        if (qr.subject?.reference !== `Patient/${pid}`) throw forbidden('That response belongs to another patient.');
        return { source: 'amend', response: qr };
      }
      const fresh = req.query.fresh === '1';
      const draft = await ctx.store.findDraft(ref.session.issuer, pid, ref.session.fhirUser ?? 'unknown');
      if (draft && !fresh) return { source: 'draft', response: draft.response, savedAt: draft.updatedAt };
      const { response, outcome } = await populated(ctx, ref, pid, fresh, serverTiming(res));
      return {
        source: 'populate',
        response,
        warnings: outcome.issue
          .filter((i) => i.severity !== 'information')
          .map((i) => i.diagnostics)
          .filter(Boolean),
      };
    }),
  );
}
