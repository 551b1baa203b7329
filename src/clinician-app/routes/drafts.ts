/** This clinician's draft of the open patient's intake: `PUT /draft` saves it, `DELETE /draft` drops it. */
import type { Router } from 'express';
import { badRequest } from '../../outcomes/index.js';
import { random, type AppContext } from '../context.js';
import { draftUser, findSessionDraft } from '../session-store.js';
import { jsonRoute } from './json.js';

export function registerDrafts(api: Router, ctx: AppContext): void {
  const { store, sessionOf } = ctx;

  api.put(
    '/draft',
    jsonRoute(async (req) => {
      const ref = await sessionOf(req);
      const pid = ref.session.patient;
      if (!pid) throw badRequest('No patient is open.');
      const response = (req.body as { response?: unknown } | undefined)?.response as
        fhir4.QuestionnaireResponse | undefined;
      if (response?.resourceType !== 'QuestionnaireResponse')
        throw badRequest('The draft must be a QuestionnaireResponse.', 'QuestionnaireResponse');
      const existing = await findSessionDraft(store, ref.session, pid);
      const updatedAt = new Date().toISOString();
      const draft = {
        ...response,
        status: 'in-progress' as const,
        questionnaire: ctx.intakeCanonical,
        subject: { reference: `Patient/${pid}` },
        ...(ref.session.fhirUser ? { author: { reference: ref.session.fhirUser } } : {}),
      };
      await store.saveDraft({
        id: existing?.id ?? random(12),
        issuer: ref.session.issuer,
        patient: pid,
        user: draftUser(ref.session),
        response: draft,
        updatedAt,
      });
      return { savedAt: updatedAt, message: `Draft saved at ${updatedAt}.` };
    }),
  );

  api.delete('/draft', async (req, res) => {
    const ref = await sessionOf(req);
    const d = ref.session.patient ? await findSessionDraft(store, ref.session, ref.session.patient) : undefined;
    if (d) await store.deleteDraft(d.id);
    res.status(204).end();
  });
}
