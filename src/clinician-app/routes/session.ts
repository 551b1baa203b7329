/**
 * The page's session: `POST /handoff` swaps the single-use code of the callback for the session handle and
 * its CSRF token; `GET /context` is who and what is open; `POST /logout` ends the session.
 */
import type { Router } from 'express';
import { unauthorized } from '../../outcomes/index.js';
import { FLAG_CODES } from '../../submission/worklist-tags.js';
import { FLAG_OUTCOME_CODES, FLAG_OUTCOME_DISPLAY } from '../../submission/resolve-proposal.js';
import type { AppContext } from '../context.js';
import { loadStyle } from '../helpers.js';
import { humanName, patientId, patientSummary, readPatient } from '../patient-reads.js';
import { serverTiming } from '../server-timing.js';
import { jsonRoute } from './json.js';

export function registerSession(api: Router, ctx: AppContext): void {
  const { store, prefetch, sessionOf } = ctx;

  api.post(
    '/handoff',
    jsonRoute(async (req) => {
      const body = req.body as { code?: unknown } | undefined;
      const code = typeof body?.code === 'string' ? body.code : '';
      const handle = code ? await store.takeHandoff(code, 60_000, Date.now()) : undefined;
      const session = handle ? await store.getSession(handle, Date.now()) : undefined;
      if (!handle || !session)
        throw unauthorized('This sign-in has already been used or has expired. Launch the app from the EHR again.');
      return { session: handle, csrf: session.csrf };
    }),
  );

  api.get(
    '/context',
    jsonRoute(async (req, res) => {
      const ref = await sessionOf(req);
      const s = ref.session;
      const timing = serverTiming(res);
      const [patient, user, style] = await Promise.all([
        s.patient
          ? timing.time(
              'ehr',
              () => prefetch.take<fhir4.Patient>(ref.handle, 'patient') ?? readPatient(ctx, ref, s.patient!),
            )
          : undefined,
        s.fhirUser
          ? timing
              .time(
                'ehr',
                () =>
                  prefetch.take<fhir4.Practitioner>(ref.handle, 'user') ??
                  ctx.ehr.json<fhir4.Practitioner>(ref, s.fhirUser!),
              )
              .catch(() => undefined)
          : undefined,
        s.smartStyleUrl ? timing.time('style', () => loadStyle(s.smartStyleUrl!)) : undefined,
      ]);
      return {
        patient: patient ? patientSummary(patient) : undefined,
        user: s.fhirUser ? { reference: s.fhirUser, name: user ? humanName(user) : s.fhirUser } : undefined,
        needPatientBanner: s.needPatientBanner,
        style,
        decisionReasons: ctx.reasonCodes,
        flagCodes: FLAG_CODES,
        flagOutcomes: FLAG_OUTCOME_CODES.map((code) => ({
          code,
          display: FLAG_OUTCOME_DISPLAY[code],
          noteRequired: code === 'not-needed' || code === 'entered-in-error',
        })),
        undoWindowMs: ctx.undoWindowMs,
        // The tablet buttons, panel and alert stream are for clinical staff only (see tablet-staff.ts).
        tablet: !!ctx.options.tablet && /(?:^|\/)Practitioner\/[^/]+$/.test(s.fhirUser ?? ''),
      };
    }),
  );

  api.get(
    '/patients/:id',
    jsonRoute(async (req) => {
      const ref = await sessionOf(req);
      return patientSummary(await readPatient(ctx, ref, patientId(req.params.id)));
    }),
  );

  api.post('/logout', async (req, res) => {
    const ref = await sessionOf(req);
    await store.deleteSession(ref.handle);
    res.status(204).end();
  });
}
