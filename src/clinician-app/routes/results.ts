/**
 * What the patient's intakes led to: `GET /patients/:id/results` (the results view of one response),
 * `/intakes` (her intakes and whether this clinician has a draft) and `/history` (the chart's points).
 */
import type { Request, Router } from 'express';
import { forbidden, notFound } from '../../outcomes/index.js';
import { SUBMISSION_ITEM_SYSTEM, submissionKeyOf } from '../../submission/build-bundle.js';
import type { AppContext } from '../context.js';
import type { SessionRef } from '../ehr-access.js';
import { INTAKE_URL } from '../options.js';
import { intakesAnswer, startedOr } from '../page-answers.js';
import { patientId } from '../patient-reads.js';
import { buildResultsView, historyPoints, itemIdentifierValue } from '../results.js';
import { serverTiming } from '../server-timing.js';
import { jsonRoute } from './json.js';

/** The response asked for: by identifier (`key`), by id (`response`), or the patient's latest. */
async function findResponse(
  ctx: AppContext,
  ref: SessionRef,
  pid: string,
  query: Request['query'],
): Promise<fhir4.QuestionnaireResponse | undefined> {
  if (typeof query.key === 'string') {
    const b = await ctx.ehr.json<fhir4.Bundle>(
      ref,
      `QuestionnaireResponse?identifier=${encodeURIComponent(query.key)}`,
    );
    return b.entry?.[0]?.resource as fhir4.QuestionnaireResponse | undefined;
  }
  if (typeof query.response === 'string')
    return ctx.ehr.json<fhir4.QuestionnaireResponse>(ref, `QuestionnaireResponse/${patientId(query.response)}`);
  const b = await ctx.ehr.json<fhir4.Bundle>(
    ref,
    `QuestionnaireResponse?subject=Patient/${pid}&status=completed,amended&_sort=-authored&_count=1`,
  );
  return b.entry?.[0]?.resource as fhir4.QuestionnaireResponse | undefined;
}

/** The CarePlan of one submission, and the patient's live proposals and Flags. */
async function readOutcome(ctx: AppContext, ref: SessionRef, pid: string, key: string) {
  const enc = encodeURIComponent;
  const [plans, srs, flags] = await Promise.all([
    ctx.ehr.json<fhir4.Bundle>(
      ref,
      `CarePlan?identifier=${enc(`${SUBMISSION_ITEM_SYSTEM}|${itemIdentifierValue(key, 'care-plan')}`)}`,
    ),
    ctx.ehr.json<fhir4.Bundle>(ref, `ServiceRequest?subject=Patient/${pid}&_count=500`),
    ctx.ehr.json<fhir4.Bundle>(ref, `Flag?subject=Patient/${pid}&_count=500`),
  ]);
  const carePlan = plans.entry?.[0]?.resource as fhir4.CarePlan | undefined;
  const live = [...(srs.entry ?? []), ...(flags.entry ?? [])].map(
    (e) => e.resource as fhir4.ServiceRequest | fhir4.Flag,
  );
  return { carePlan, live };
}

/** The recorded decisions on the live resources, each undoable by its author within the window. */
function readDecisions(ctx: AppContext, ref: SessionRef, live: (fhir4.ServiceRequest | fhir4.Flag)[]) {
  const me = ref.session.fhirUser;
  return ctx.decisionRecords(
    ref,
    live.filter((r) =>
      r.resourceType === 'ServiceRequest' ? r.intent === 'proposal' && r.status !== 'draft' : r.status !== 'active',
    ),
    (author, recorded) =>
      !!me && author === me && !!recorded && ctx.now().getTime() - Date.parse(recorded) <= ctx.undoWindowMs,
  );
}

/** The patient's responses of the intake, every stored version of each (an amendment keeps the earlier ones). */
async function readAllVersions(ctx: AppContext, ref: SessionRef, pid: string): Promise<fhir4.QuestionnaireResponse[]> {
  const b = await ctx.ehr.json<fhir4.Bundle>(
    ref,
    `QuestionnaireResponse?subject=Patient/${pid}&questionnaire=${encodeURIComponent(INTAKE_URL)}&_sort=-authored&_count=50`,
  );
  const current = (b.entry ?? []).map((e) => e.resource as fhir4.QuestionnaireResponse);
  // An amended response is a new version of the same resource: its earlier versions are points too.
  const earlier = await Promise.all(
    current
      .filter((qr) => qr.meta?.versionId && qr.meta.versionId !== '1')
      .map((qr) =>
        ctx.ehr
          .json<fhir4.Bundle>(ref, `QuestionnaireResponse/${qr.id}/_history?_count=50`)
          .then((h) =>
            (h.entry ?? [])
              .map((e) => e.resource as fhir4.QuestionnaireResponse)
              .filter((v) => v && v.meta?.versionId !== qr.meta?.versionId),
          )
          .catch(() => [] as fhir4.QuestionnaireResponse[]),
      ),
  );
  return [...current, ...earlier.flat()];
}

export function registerResults(api: Router, ctx: AppContext): void {
  const { sessionOf } = ctx;

  api.get(
    '/patients/:id/results',
    jsonRoute(async (req) => {
      const ref = await sessionOf(req);
      const pid = patientId(req.params.id);
      const qr = await findResponse(ctx, ref, pid, req.query);
      if (!qr) throw notFound('No submitted intake for this patient yet.');
      if (qr.subject?.reference !== `Patient/${pid}`) throw forbidden('That response belongs to another patient.');
      if (!qr.identifier?.value)
        throw notFound('This response was not submitted through PeriPlan (it has no identifier).');
      // The submission that wrote this version (an amendment has its own key): its Flags, proposals and CarePlan.
      const key = submissionKeyOf(qr) ?? `${qr.identifier.system ?? ''}|${qr.identifier.value}`;
      const { carePlan, live } = await readOutcome(ctx, ref, pid, key);
      if (!carePlan)
        throw notFound('The results of this response are not in the record yet (it may still be sending).');
      const decisions = await readDecisions(ctx, ref, live);
      const view = buildResultsView({
        carePlan,
        responseKey: key,
        ...(qr.authored ? { responseAuthored: qr.authored } : {}),
        live,
        decisions,
      });
      return {
        response: { id: qr.id, status: qr.status, authored: qr.authored, version: qr.meta?.versionId },
        ...view,
      };
    }),
  );

  /**
   * The patient's intakes, newest first (each can be opened), and whether this clinician has a draft for
   * her: a launch opens the draft if there is one, else her latest results, else a new intake form.
   */
  api.get(
    '/patients/:id/intakes',
    jsonRoute(async (req, res) => {
      const ref = await sessionOf(req);
      const pid = patientId(req.params.id);
      return startedOr(ctx, ref, `/patients/${encodeURIComponent(pid)}/intakes`, () =>
        intakesAnswer(ctx, ref, pid, serverTiming(res)),
      );
    }),
  );

  api.get(
    '/patients/:id/history',
    jsonRoute(async (req) => {
      const ref = await sessionOf(req);
      return { points: historyPoints(await readAllVersions(ctx, ref, patientId(req.params.id))) };
    }),
  );
}
