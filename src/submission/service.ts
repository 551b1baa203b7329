/**
 * The write path, in this order:
 *   validate the response against its Questionnaire -> run $apply -> build one transaction
 *   -> store it durably in the outbox -> try to send it now -> report "sent" or "saved, sending".
 *
 * I/O is injected: reading the subject's data and writing to the FHIR server go through the callbacks and
 * the outbox sender, so the same service runs against the embedded EHR or a clinic's server.
 */
import { extractFromResponse, validateQuestionnaireResponse } from '../forms/index.js';
import type { KnowledgeBase } from '../knowledge/index.js';
import { badRequest, hasErrors, notFound, unprocessable } from '../outcomes/index.js';
import { applyPlanDefinition } from '../rules/index.js';
import {
  amendmentKey,
  buildSubmissionBundle,
  ensureResponseIdentifier,
  submissionId,
  submissionKey,
} from './build-bundle.js';
import type { Outbox, OutboxEntry } from './outbox.js';
import type { OutboxSender } from './sender.js';

export const FOLLOW_UP_PLAN = 'https://periplan.app/fhir/PlanDefinition/back-pain-follow-up';

export interface SubmissionServiceDeps {
  knowledge: KnowledgeBase;
  outbox: Outbox;
  sender: OutboxSender;
  now?: () => Date;
  /** Told when recording an attempt failed after the submission was durably stored (it stays queued). */
  onBookkeepingError?: (key: string, err: unknown) => void;
  /** A new entry is reserved for the first attempt this long (then the background sender may take it). */
  firstAttemptLeaseMs?: number;
}

export interface SubmitInput {
  response: fhir4.QuestionnaireResponse;
  /** The Patient and anything else the rules may read (from the EHR, with the user's token). */
  data: fhir4.FhirResource[];
  /** Who answered; defaults to the response's author, else its subject (a patient answering herself). */
  author?: fhir4.Reference;
  enterer?: fhir4.Reference;
  /** The user's access token for the FHIR server, used for the first attempt (never stored). */
  bearerToken?: string;
  /**
   * Amend mode: the response is a new version of this stored response (the version the user amended). It
   * must keep that response's identifier; its status becomes `amended`. See build-bundle.ts `amendmentKey`.
   */
  amends?: { id: string; versionId: string };
}

export type SubmissionState = 'sent' | 'queued' | 'failed';

export interface SubmitResult {
  state: SubmissionState;
  /** Idempotency key: `system|value` of the response identifier. */
  key: string;
  /** True when this exact response had been submitted before (nothing new was created). */
  duplicate: boolean;
  response: fhir4.QuestionnaireResponse;
  carePlan?: fhir4.CarePlan;
  /** Where the server stored what was sent (`Type/id`), once sent. */
  locations: string[];
  entry: OutboxEntry;
  /** Plain words for the user. */
  message: string;
  /** What was changed on the way in and why (e.g. an unproven "pre-filled from the record" marker removed). */
  warnings?: string[];
}

const MESSAGES: Record<SubmissionState, string> = {
  sent: 'Saved to the record.',
  queued:
    'Saved, sending: the record system cannot be reached right now. Your answers are stored safely on this server and will be sent automatically.',
  failed:
    'Saved here, but the record system refused it. Staff can see it in the outbox and resend it after the problem is fixed.',
};

export function stateOf(entry: OutboxEntry): SubmissionState {
  return entry.status === 'sent' ? 'sent' : entry.status === 'failed' ? 'failed' : 'queued';
}

export function createSubmissionService(deps: SubmissionServiceDeps) {
  const now = deps.now ?? (() => new Date());

  async function submit(input: SubmitInput): Promise<SubmitResult> {
    const subject = checkSubmittable(input.response, deps.knowledge);
    if (input.amends) checkAmends(input.amends, input.response);
    const response = input.amends
      ? { ...input.response, status: 'amended' as const }
      : ensureResponseIdentifier(input.response);
    const key = input.amends ? amendmentKey(response, input.amends.versionId) : submissionKey(response);
    const existing = await deps.outbox.get(key);
    if (existing) return resultFor(existing, response, true);

    const plan = deps.knowledge.resolve(FOLLOW_UP_PLAN, 'PlanDefinition');
    if (!plan) throw notFound(`PlanDefinition ${FOLLOW_UP_PLAN} is not loaded.`);
    const at = now();
    const { bundle, carePlan } = await submissionBundle(deps.knowledge, plan, input, { response, key, subject, at });
    // Durable (fsync'd) before anything is sent: from here on the submission cannot be lost.
    const { entry, created } = await deps.outbox.add(key, bundle, {
      now: at,
      ...(deps.firstAttemptLeaseMs !== undefined ? { leaseMs: deps.firstAttemptLeaseMs } : {}),
    });
    if (!created) return resultFor(entry, response, true);
    const after = await firstAttempt(deps, key, entry, input.bearerToken);
    return { ...resultFor(after, response, false), carePlan };
  }

  return { submit, status: (key: string) => deps.outbox.get(key) };
}

/**
 * A response that can be submitted: valid against its Questionnaire, completed or amended, with a subject
 * (returned). Only errors refuse a submission, so the checks that can only warn are skipped on the way in; a
 * refused response is checked again in full so that the 422 lists its warnings too (the rare path pays).
 */
function checkSubmittable(response: fhir4.QuestionnaireResponse, knowledge: KnowledgeBase): string {
  const resolveQuestionnaire = (canonical: string) => knowledge.resolve(canonical, 'Questionnaire');
  if (hasErrors(validateQuestionnaireResponse(response, { resolveQuestionnaire, errorsOnly: true }))) {
    throw unprocessable(validateQuestionnaireResponse(response, { resolveQuestionnaire }).issue.map(toIssueInput));
  }
  if (response.status !== 'completed' && response.status !== 'amended') {
    throw badRequest(
      `Only a completed or amended response can be submitted (status is "${response.status}"). Save drafts as in-progress responses instead.`,
      'QuestionnaireResponse.status',
    );
  }
  const subject = response.subject?.reference;
  if (!subject)
    throw badRequest('The response has no subject: whose answers are these?', 'QuestionnaireResponse.subject');
  return subject;
}

/** The follow-up plan applied to the response and the subject's data, $extract run, all in one transaction. */
async function submissionBundle(
  knowledge: KnowledgeBase,
  plan: fhir4.PlanDefinition,
  input: SubmitInput,
  s: { response: fhir4.QuestionnaireResponse; key: string; subject: string; at: Date },
): Promise<{ bundle: fhir4.Bundle; carePlan: fhir4.CarePlan }> {
  const { response, key, at } = s;
  // $apply and $extract refer to the response by id. The local id is derived from the submission key, so
  // that what $extract derives from it is unique per submission whatever id the client used (two clients'
  // responses both called "1" must not share Observations); the transaction replaces it with a urn:uuid.
  const withId: fhir4.QuestionnaireResponse = { ...response, id: submissionId(key) };
  const others = input.data.filter(
    (r) => r.resourceType !== 'QuestionnaireResponse' || (r.id !== withId.id && r.id !== response.id),
  );
  const carePlan = applyPlanDefinition(plan, { subject: s.subject, data: [...others, withId], knowledge, now: at });

  const questionnaire = knowledge.resolve(response.questionnaire ?? '', 'Questionnaire');
  const extracted = questionnaire ? await extractFromResponse(withId, questionnaire) : undefined;

  const author = input.author ?? response.author ?? response.source ?? response.subject!;
  const bundle = buildSubmissionBundle({
    response: withId,
    carePlan,
    author,
    enterer: input.enterer,
    now: at,
    extracted,
    key,
    ...(input.amends ? { amends: input.amends } : {}),
  });
  return { bundle, carePlan };
}

/**
 * The first attempt, with the user's token; the entry as it stands after it. The submission is durably stored
 * by now: whatever fails here (e.g. recording the attempt on a full disk) must not be reported as a failed
 * submission — the user would enter it again. The background sender picks the entry up when its lease ends;
 * sending is idempotent, so a write that did happen is not repeated.
 */
async function firstAttempt(
  deps: SubmissionServiceDeps,
  key: string,
  entry: OutboxEntry,
  bearerToken: string | undefined,
): Promise<OutboxEntry> {
  try {
    await deps.sender.sendEntry(entry, bearerToken);
    return await deps.outbox.refresh(entry);
  } catch (err) {
    deps.onBookkeepingError?.(key, err);
    return entry;
  }
}

function resultFor(entry: OutboxEntry, response: fhir4.QuestionnaireResponse, duplicate: boolean): SubmitResult {
  const state = stateOf(entry);
  const carePlan = entry.bundle.entry?.find((e) => e.resource?.resourceType === 'CarePlan')?.resource as
    fhir4.CarePlan | undefined;
  return {
    state,
    key: entry.key,
    duplicate,
    response,
    ...(carePlan ? { carePlan } : {}),
    locations: locationsOf(entry),
    entry,
    message: state === 'failed' && entry.lastError ? `${MESSAGES.failed} (${entry.lastError})` : MESSAGES[state],
  };
}

/** `Type/id` of each resource the server answered with (version suffix dropped). */
export function locationsOf(entry: OutboxEntry): string[] {
  return (entry.response?.entry ?? [])
    .map((e) => /([A-Za-z]+\/[A-Za-z0-9\-.]+)(?:\/_history\/[^/]+)?$/.exec(e.response?.location ?? '')?.[1])
    .filter((l): l is string => !!l);
}

const ID = /^[A-Za-z0-9\-.]{1,64}$/;

function checkAmends(amends: { id: string; versionId: string }, response: fhir4.QuestionnaireResponse): void {
  if (!ID.test(amends.id ?? ''))
    throw badRequest('amends.id must be the id of the response being amended.', 'amends.id');
  if (!ID.test(amends.versionId ?? ''))
    throw badRequest('amends.versionId must be the version of the response the user amended.', 'amends.versionId');
  if (!response.identifier?.value) {
    throw badRequest(
      'An amendment keeps the identifier of the response it amends: copy it from the stored response.',
      'QuestionnaireResponse.identifier',
    );
  }
}

function toIssueInput(i: fhir4.OperationOutcomeIssue) {
  return { severity: i.severity, code: i.code, diagnostics: i.diagnostics ?? i.code, expression: i.expression };
}

export type SubmissionService = ReturnType<typeof createSubmissionService>;
