/**
 * What the page's first GET calls answer, as functions of the session: the API routes serve them one by one,
 * and the hand-off sends a launch's first view's answers ahead in its own answer (`launchAnswers`). A launch
 * would otherwise wait for four round trips one after the other (context, intakes, then the Questionnaire and
 * the response), each answered only when the page's main thread is free between LHC-Forms' long start-up
 * tasks, so the last one landed after the library was ready and the form waited for it.
 */
import { badRequest, forbidden } from '../outcomes/index.js';
import { FLAG_OUTCOME_CODES, FLAG_OUTCOME_DISPLAY } from '../submission/resolve-proposal.js';
import { FLAG_CODES } from '../submission/worklist-tags.js';
import type { AppContext } from './context.js';
import type { SessionRef } from './ehr-access.js';
import { loadStyle } from './helpers.js';
import {
  humanName,
  patientId,
  patientSummary,
  populate,
  readIntakes,
  readPatient,
  type Intakes,
  type Populated,
} from './patient-reads.js';
import type { ServerTiming } from './server-timing.js';
import { findSessionDraft } from './session-store.js';

/** The launch patient as the callback read her ahead (used once), else read now. */
const openPatient = (ctx: AppContext, ref: SessionRef, pid: string) =>
  ctx.prefetch.take<fhir4.Patient>(ref.handle, 'patient') ?? readPatient(ctx, ref, pid);

/** Who and what is open: the patient and user of the launch, its style, and what this user may do. */
export async function contextAnswer(ctx: AppContext, ref: SessionRef, timing: ServerTiming) {
  const { prefetch } = ctx;
  const s = ref.session;
  const [patient, user, style] = await Promise.all([
    s.patient ? timing.time('ehr', () => openPatient(ctx, ref, s.patient!)) : undefined,
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
}

/**
 * The patient's intakes, newest first (each can be opened), and whether this clinician has a draft for her:
 * a launch opens the draft if there is one, else her latest results, else a new intake form.
 */
export async function intakesAnswer(ctx: AppContext, ref: SessionRef, pid: string, timing: ServerTiming) {
  const launchPatient = ref.session.patient === pid ? ctx.prefetch.take<Intakes>(ref.handle, 'intakes') : undefined;
  const intakes = await timing.time('ehr', () => launchPatient ?? readIntakes(ctx, ref, pid));
  const draft = ref.session.patient === pid ? await findSessionDraft(ctx.store, ref.session, pid) : undefined;
  return { intakes, draft: draft ? { savedAt: draft.updatedAt } : null };
}

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
      populate(ctx, ref, await timing.time('ehr', () => openPatient(ctx, ref, pid))),
    ))
  );
}

/**
 * The response to load into the intake form: a completed response to amend (`amend`), this clinician's saved
 * draft, or a fresh `$populate` (`fresh` skips the draft and anything read ahead).
 */
export async function formAnswer(
  ctx: AppContext,
  ref: SessionRef,
  query: { amend?: string; fresh?: boolean },
  timing: ServerTiming,
) {
  const pid = ref.session.patient;
  if (!pid) throw badRequest("No patient is open: launch the app from the patient's record.");
  if (query.amend !== undefined) {
    const qr = await ctx.ehr.json<fhir4.QuestionnaireResponse>(ref, `QuestionnaireResponse/${patientId(query.amend)}`);
    if (qr.subject?.reference !== `Patient/${pid}`) throw forbidden('That response belongs to another patient.');
    return { source: 'amend' as const, response: qr };
  }
  const fresh = query.fresh === true;
  const draft = await findSessionDraft(ctx.store, ref.session, pid);
  if (draft && !fresh) return { source: 'draft' as const, response: draft.response, savedAt: draft.updatedAt };
  const { response, outcome } = await populated(ctx, ref, pid, fresh, timing);
  return {
    source: 'populate' as const,
    response,
    warnings: outcome.issue
      .filter((i) => i.severity !== 'information')
      .map((i) => i.diagnostics)
      .filter(Boolean),
  };
}

/** How long the hand-off waits for the first view's answers before it answers without the ones not ready. */
export const LAUNCH_ANSWERS_WAIT_MS = 2_000;

const startedKey = (path: string) => `answer ${path}`;

/**
 * A route's answer: the one the hand-off started for this session and path and did not send (still running,
 * or failed), else a new one. The page then waits for the read already under way, or gets its error through
 * the one error handler, instead of starting the same reads again behind it.
 */
export async function startedOr<T>(ctx: AppContext, ref: SessionRef, path: string, compute: () => Promise<T>) {
  const started = ctx.prefetch.take<T | undefined>(ref.handle, startedKey(path));
  return (started && (await started)) ?? compute();
}

/** The form of a launch, when the page will open it: a draft, or no intake yet (app.js, `startView`). */
async function formIfItOpens(
  ctx: AppContext,
  ref: SessionRef,
  intakes: Promise<{ intakes: Intakes; draft: unknown }>,
  timing: ServerTiming,
) {
  const { intakes: list, draft } = await intakes;
  return !draft && list.length ? undefined : formAnswer(ctx, ref, {}, timing);
}

/**
 * The answers a launch's first view asks for, keyed by the API path the page calls (`/context`, the launch
 * patient's `/intakes`, and, when that view is the intake form, `/questionnaire` and `/form`): the same JSON
 * those routes give. It waits for them until `deadline` (by default `LAUNCH_ANSWERS_WAIT_MS`): a part that
 * failed or is not ready by then is left out, and kept for the route the page then calls (`startedOr`), so a
 * slow or failing EHR costs the page no more time than it did without the hand-off's answers.
 */
export async function launchAnswers(
  ctx: AppContext,
  ref: SessionRef,
  timing: ServerTiming,
  deadline: () => Promise<void> = () => new Promise((resolve) => setTimeout(resolve, LAUNCH_ANSWERS_WAIT_MS).unref()),
) {
  const parts = new Map<string, Promise<unknown>>([['/context', contextAnswer(ctx, ref, timing)]]);
  const pid = ref.session.patient;
  if (pid) {
    const intakes = intakesAnswer(ctx, ref, pid, timing);
    parts.set(`/patients/${encodeURIComponent(pid)}/intakes`, intakes);
    parts.set('/form', formIfItOpens(ctx, ref, intakes, timing));
  }
  const outcomes = new Map<string, { value: unknown } | 'failed'>();
  for (const [path, part] of parts)
    part.then(
      (value) => outcomes.set(path, { value }),
      () => outcomes.set(path, 'failed'),
    );
  await Promise.race([Promise.allSettled(parts.values()), deadline()]);
  const answers: Record<string, unknown> = {};
  for (const [path, part] of parts) {
    const outcome = outcomes.get(path);
    if (outcome && outcome !== 'failed') {
      if (outcome.value !== undefined) answers[path] = outcome.value;
    } else void ctx.prefetch.put(ref.handle, startedKey(path), () => part);
  }
  if (answers['/form'] !== undefined) answers['/questionnaire'] = ctx.safeQuestionnaire;
  return answers;
}
