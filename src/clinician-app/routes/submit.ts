/**
 * `POST /submit`: the completed (or amended) intake goes to the write path, which validates it, applies the
 * rules and writes the result to the EHR in one transaction, or keeps it and sends it later.
 */
import type { Router } from 'express';
import { badRequest, FhirError, forbidden } from '../../outcomes/index.js';
import type { AppContext } from '../context.js';
import { findSessionDraft } from '../session-store.js';
import type { SessionRef } from '../ehr-access.js';
import { patientId, readPatient } from '../patient-reads.js';
import { buildResultsView } from '../results.js';
import { jsonRoute } from './json.js';

interface SubmitBody {
  response?: fhir4.QuestionnaireResponse;
  amendOf?: string;
  amendVersion?: string;
}
interface Amendment {
  id: string;
  versionId: string;
  identifier: fhir4.Identifier;
}

/**
 * An amendment is a new VERSION of the stored response (same id and identifier, status amended), written
 * by the write path with If-Match on the version the form loaded: someone else's change since is a 412.
 */
async function amendmentOf(
  ctx: AppContext,
  ref: SessionRef,
  pid: string,
  body: SubmitBody,
): Promise<Amendment | undefined> {
  if (!body.amendOf) return undefined;
  const stored = await ctx.ehr.json<fhir4.QuestionnaireResponse>(
    ref,
    `QuestionnaireResponse/${patientId(body.amendOf)}`,
  );
  if (stored.subject?.reference !== `Patient/${pid}`) throw forbidden('That response belongs to another patient.');
  if (!stored.identifier?.value || !stored.id)
    throw badRequest(
      'This response was not submitted through PeriPlan (it has no identifier): it cannot be amended here.',
    );
  const versionId =
    typeof body.amendVersion === 'string' && body.amendVersion ? body.amendVersion : (stored.meta?.versionId ?? '1');
  return { id: stored.id, versionId, identifier: stored.identifier };
}

/** The response as the server writes it: the page's answers, with subject, author, status and identity set here. */
function responseToSubmit(
  ctx: AppContext,
  pid: string,
  sent: fhir4.QuestionnaireResponse,
  author: fhir4.Reference,
  amends: Amendment | undefined,
): fhir4.QuestionnaireResponse {
  const { id: _clientId, identifier: _clientIdentifier, meta: _clientMeta, ...answers } = sent;
  return {
    ...answers,
    ...(amends ? { identifier: amends.identifier } : {}),
    status: amends ? 'amended' : 'completed',
    questionnaire: ctx.intakeCanonical,
    subject: { reference: `Patient/${pid}` },
    authored: new Date().toISOString(),
    author,
  };
}

export function registerSubmit(api: Router, ctx: AppContext): void {
  api.post(
    '/submit',
    jsonRoute(async (req) => {
      const ref = await ctx.sessionOf(req);
      const pid = ref.session.patient;
      if (!pid) throw badRequest('No patient is open.');
      const body = req.body as SubmitBody | undefined;
      if (body?.response?.resourceType !== 'QuestionnaireResponse')
        throw badRequest('Expected a QuestionnaireResponse.', 'QuestionnaireResponse');
      const amends = await amendmentOf(ctx, ref, pid, body);
      // The EHR may be unreachable right now: the write path then keeps the submission and sends it later
      // ("saved, sending"); the rules read the age from the answers, so the Patient is a nice-to-have here.
      const patient = await readPatient(ctx, ref, pid).catch((err: unknown) => {
        if (err instanceof FhirError) throw err;
        return undefined;
      });
      const author = ref.session.fhirUser ? { reference: ref.session.fhirUser } : { reference: `Patient/${pid}` };
      const result = await ctx.options.submission.submit({
        response: responseToSubmit(ctx, pid, body.response, author, amends),
        data: patient ? [patient] : [],
        author,
        bearerToken: await ctx.ehr.accessToken(ref),
        ...(amends ? { amends: { id: amends.id, versionId: amends.versionId } } : {}),
      });
      const d = await findSessionDraft(ctx.store, ref.session, pid);
      if (d) await ctx.store.deleteDraft(d.id);
      // The page finds the results by the response's identifier (an amendment's submission key is longer).
      const responseKey = result.response.identifier?.value
        ? `${result.response.identifier.system ?? ''}|${result.response.identifier.value}`
        : result.key;
      return {
        state: result.state,
        message: result.message,
        key: responseKey,
        duplicate: result.duplicate,
        // When the EHR cannot be reached yet, show what was computed (proposals cannot be decided until sent).
        ...(result.state !== 'sent' && result.carePlan
          ? { results: buildResultsView({ carePlan: result.carePlan, responseKey: result.key, live: [] }) }
          : {}),
      };
    }),
  );
}
