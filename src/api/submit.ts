/**
 * The write path's HTTP adapter, served by the /fhir router beside the other operations (routes.ts,
 * WRITE_OPERATION_ROUTES) when the server has a write path:
 *
 *   POST /QuestionnaireResponse/$submit        body: a QuestionnaireResponse, or Parameters {response, data?,
 *                                              author?, enterer?, amends?}; `Authorization: Bearer` = the user's
 *                                              token for the FHIR server (first attempt only; never stored).
 *                                              amends = valueReference QuestionnaireResponse/<id>/_history/<v>:
 *                                              the response is a new version of that one (amend mode).
 *        201 Parameters {state=sent, message, key, duplicate, response, carePlan, location*}   written now
 *        200 the same                                                                        resubmission of a sent one
 *        202 Parameters {state=queued|failed, message, key, …}                               saved here, sending
 *        400 / 401 / 403 / 412 / 422 OperationOutcome      malformed / token refused / stale amended version / does not conform
 *   GET  /QuestionnaireResponse/$submit-status?key=<system|value>   Parameters {state, message, attempts, …}
 *                                              `Authorization: Bearer` required, a token allowed to read that
 *                                              patient's response; 404 alike for unknown keys and hidden ones
 *   GET  /$outbox[?status=pending|failed|sent]                     staff view: counts and entries (no answers)
 *
 * Errors are thrown as FhirError; the one error handler renders them.
 */
import express, { type Request } from 'express';
import { z } from 'zod';
import { FhirError, badRequest, notFound, unauthorized } from '../outcomes/index.js';
import { fhirRoute, type FhirHandler, type FhirResult } from '../platform/http/fhir-route.js';
import type { OutboxEntry, OutboxStatus } from '../submission/outbox.js';
import { remoteReadCheck, remoteTokenCheck } from '../submission/preverify.js';
import { locationsOf, stateOf, type SubmitInput, type SubmitResult } from '../submission/service.js';
import type { WritePath } from '../submission/write-path.js';
import { WRITE_OPERATION_ROUTES, writeOperationPath, type WriteOperationName } from './routes.js';

export interface SubmissionRoutesOptions {
  writePath: WritePath;
  /** Gate for the staff view (`GET /$outbox`): throw a FhirError (401/403) to refuse. Default: open. */
  authorizeStaff?: (req: Request) => void | Promise<void>;
  /**
   * Checks, before anything is stored, that the caller's token may write this subject's response (throw a
   * FhirError 401/403 to refuse). Where the EHR can be asked locally (the sandbox) pass that check. Default:
   * ask the write path's (remote) EHR with one read of the subject with the caller's token (preverify.ts):
   * 401/403 refuse now; unreachable, slow or 5xx accept and queue as usual.
   */
  authorizeSubmit?: (
    token: string,
    subject: string | undefined,
    submission: { amends: boolean },
  ) => void | Promise<void>;
  /**
   * Checks that the caller's token may read the state of a submission for `subject` (throw a FhirError 401/403
   * to refuse; a 403 is answered as the 404 of an unknown key, so keys cannot be probed). `subject` undefined:
   * the key is unknown, only the token itself is judged. Default: the write path's (remote) EHR is asked
   * (preverify.ts, remoteReadCheck), failing closed.
   */
  authorizeStatus?: (token: string, subject: string | undefined) => void | Promise<void>;
}

const resourceSchema = z.object({ resourceType: z.string() }).loose();
const referenceSchema = z
  .object({ reference: z.string().optional(), display: z.string().optional(), identifier: z.unknown().optional() })
  .loose();
/** The version a submission amends, as a versioned reference (id and version as the store's ids allow). */
const AMENDS_REFERENCE = /^QuestionnaireResponse\/([A-Za-z0-9\-.]{1,64})\/_history\/([A-Za-z0-9\-.]{1,64})$/;
const amendsSchema = z.object({ reference: z.string().regex(AMENDS_REFERENCE) }).loose();
const parametersSchema = z.object({
  resourceType: z.literal('Parameters'),
  parameter: z
    .array(
      z
        .object({ name: z.string(), resource: resourceSchema.optional(), valueReference: referenceSchema.optional() })
        .loose(),
    )
    .optional(),
});

function bearerOf(req: Request): string | undefined {
  const match = /^Bearer +(\S+)$/i.exec(req.get('authorization')?.trim() ?? '');
  return match?.[1];
}

/** Parse the $submit body: a bare QuestionnaireResponse or Parameters {response, data?, author?, enterer?, amends?}. */
export function readSubmitBody(body: unknown): Omit<SubmitInput, 'bearerToken'> {
  const root = resourceSchema.safeParse(body);
  if (!root.success)
    throw badRequest('The body must be a QuestionnaireResponse or a Parameters resource with a "response" parameter.');
  if (root.data.resourceType === 'QuestionnaireResponse')
    return { response: body as fhir4.QuestionnaireResponse, data: [] };
  if (root.data.resourceType !== 'Parameters') {
    throw badRequest(
      `The body must be a QuestionnaireResponse or Parameters, not ${root.data.resourceType}.`,
      'resourceType',
    );
  }
  const parsed = parametersSchema.safeParse(body);
  if (!parsed.success)
    throw badRequest('Parameters.parameter must be a list of named parameters.', 'Parameters.parameter');
  const params = parsed.data.parameter ?? [];
  const allowed = new Set(['response', 'data', 'author', 'enterer', 'amends']);
  params.forEach((p, i) => {
    if (!allowed.has(p.name))
      throw badRequest(
        `Unknown parameter "${p.name}": $submit takes response, data, author, enterer and amends.`,
        `Parameters.parameter[${i}].name`,
      );
  });
  const at = (name: string) => params.findIndex((p) => p.name === name);
  const responseAt = at('response');
  const response = params[responseAt]?.resource;
  if (!response || response.resourceType !== 'QuestionnaireResponse') {
    throw badRequest(
      'The "response" parameter must hold a QuestionnaireResponse resource.',
      responseAt >= 0 ? `Parameters.parameter[${responseAt}].resource` : 'Parameters.parameter',
    );
  }
  const data: fhir4.FhirResource[] = [];
  params.forEach((p, i) => {
    if (p.name !== 'data') return;
    const r = p.resource as fhir4.FhirResource | undefined;
    if (!r)
      throw badRequest(
        'A "data" parameter must hold a resource (a collection Bundle or a single resource).',
        `Parameters.parameter[${i}].resource`,
      );
    if (r.resourceType !== 'Bundle') {
      data.push(r);
      return;
    }
    for (const e of r.entry ?? []) if (e.resource) data.push(e.resource as fhir4.FhirResource);
  });
  const ref = (name: string) => {
    const i = at(name);
    const value = params[i]?.valueReference as fhir4.Reference | undefined;
    if (i >= 0 && !value?.reference)
      throw badRequest(
        `"${name}" must be a valueReference with a reference.`,
        `Parameters.parameter[${i}].valueReference`,
      );
    return value;
  };
  const author = ref('author');
  const enterer = ref('enterer');
  const amends = readAmends(params);
  return {
    response: response as unknown as fhir4.QuestionnaireResponse,
    data,
    ...(author ? { author } : {}),
    ...(enterer ? { enterer } : {}),
    ...(amends ? { amends } : {}),
  };
}

/**
 * `amends` (optional): valueReference `QuestionnaireResponse/<id>/_history/<versionId>`, the stored version the
 * user amended. The response must keep that response's identifier (checked by the service); its own id, if
 * any, is replaced by `<id>` (as `writePath.submit` does in-process).
 */
function readAmends(params: { name: string; valueReference?: unknown }[]): SubmitInput['amends'] {
  const i = params.findIndex((p) => p.name === 'amends');
  if (i < 0) return undefined;
  if (params.findIndex((p, j) => j > i && p.name === 'amends') >= 0)
    throw badRequest('"amends" may be given once.', `Parameters.parameter[${i}].name`);
  const parsed = amendsSchema.safeParse(params[i]!.valueReference);
  if (!parsed.success) {
    throw badRequest(
      '"amends" must be a valueReference to the version being amended: QuestionnaireResponse/<id>/_history/<versionId> (id and version as the record system gave them).',
      `Parameters.parameter[${i}].valueReference.reference`,
    );
  }
  const [, id, versionId] = AMENDS_REFERENCE.exec(parsed.data.reference) as unknown as [string, string, string];
  return { id, versionId };
}

function resultParameters(r: SubmitResult): fhir4.Parameters {
  return {
    resourceType: 'Parameters',
    parameter: [
      { name: 'state', valueCode: r.state },
      { name: 'message', valueString: r.message },
      { name: 'key', valueString: r.key },
      { name: 'duplicate', valueBoolean: r.duplicate },
      { name: 'response', resource: r.response },
      ...(r.carePlan ? [{ name: 'carePlan', resource: r.carePlan }] : []),
      ...r.locations.map((l) => ({ name: 'location', valueString: l })),
      ...(r.warnings ?? []).map((w) => ({ name: 'warning', valueString: w })),
    ],
  };
}

function statusParameters(entry: OutboxEntry): fhir4.Parameters {
  const state = stateOf(entry);
  const message =
    state === 'sent'
      ? 'Saved to the record.'
      : state === 'queued'
        ? 'Saved, sending: it will be sent automatically.'
        : `Refused by the record system: ${entry.lastError ?? 'unknown reason'}`;
  return {
    resourceType: 'Parameters',
    parameter: [
      { name: 'state', valueCode: state },
      { name: 'message', valueString: message },
      { name: 'key', valueString: entry.key },
      { name: 'attempts', valueInteger: entry.attempts },
      { name: 'created', valueDateTime: entry.createdAt },
      ...(entry.sentAt ? [{ name: 'sent', valueDateTime: entry.sentAt }] : []),
      ...(state === 'queued' ? [{ name: 'nextAttempt', valueDateTime: entry.nextAttemptAt }] : []),
      ...(entry.lastError ? [{ name: 'lastError', valueString: entry.lastError }] : []),
      ...locationsOf(entry).map((l) => ({ name: 'location', valueString: l })),
    ],
  };
}

function subjectOf(entry: OutboxEntry): string | undefined {
  const qr = entry.bundle.entry?.find((e) => e.resource?.resourceType === 'QuestionnaireResponse')?.resource as
    fhir4.QuestionnaireResponse | undefined;
  return qr?.subject?.reference;
}

const STATUSES: readonly OutboxStatus[] = ['pending', 'sent', 'failed'];

/** One outbox entry as an `entry` parameter of the $outbox answer. */
function outboxEntryParameter(e: OutboxEntry): fhir4.ParametersParameter {
  const subject = subjectOf(e);
  return {
    name: 'entry',
    part: [
      { name: 'key', valueString: e.key },
      { name: 'status', valueCode: e.status },
      { name: 'attempts', valueInteger: e.attempts },
      { name: 'created', valueDateTime: e.createdAt },
      ...(e.status === 'pending' ? [{ name: 'nextAttempt', valueDateTime: e.nextAttemptAt }] : []),
      ...(e.lastError ? [{ name: 'lastError', valueString: e.lastError }] : []),
      ...(subject ? [{ name: 'subject', valueReference: { reference: subject } }] : []),
    ],
  };
}

/** The handlers of the write operations, by name: each returns the resource to send, or throws. */
export function writeOperationHandlers(options: SubmissionRoutesOptions): Record<WriteOperationName, FhirHandler> {
  const { writePath } = options;
  const authorizeSubmit = options.authorizeSubmit ?? remoteTokenCheck(writePath.target);
  const authorizeStatus = options.authorizeStatus ?? remoteReadCheck(writePath.target);

  async function submit(req: Request): Promise<FhirResult> {
    const input = readSubmitBody(req.body);
    const bearerToken = bearerOf(req);
    // A submission is written in the user's name: the module API does not write for anonymous callers
    // (retries later run with the module's credential, so the first check must be the user's).
    if (!bearerToken)
      throw unauthorized(
        'Submitting writes to the patient record: send Authorization: Bearer <your access token for the EHR>.',
      );
    await authorizeSubmit(bearerToken, input.response.subject?.reference, { amends: input.amends !== undefined });
    const result = await writePath.submit({ ...input, bearerToken });
    const status = result.state === 'sent' ? (result.duplicate ? 200 : 201) : 202;
    return { status, resource: resultParameters(result) };
  }

  async function submitStatus(req: Request): Promise<FhirResult> {
    // Keys are client identifiers, which can be guessed: the state of a submission (and whether it exists)
    // is only for a caller whose token may read that patient's response.
    const bearerToken = bearerOf(req);
    if (!bearerToken)
      throw unauthorized(
        'The state of a submission is part of the patient record: send Authorization: Bearer <your access token for the EHR>.',
      );
    const key = typeof req.query.key === 'string' ? req.query.key : undefined;
    if (!key)
      throw badRequest(
        'key is required: the "key" $submit answered with (identifier system|value of the response).',
        'key',
      );
    const entry = await writePath.outbox.get(key);
    const hidden = notFound(
      `No submission with key ${key.slice(0, 200)} is known here that this access token may see.`,
      'key',
    );
    try {
      await authorizeStatus(bearerToken, entry ? subjectOf(entry) : undefined);
    } catch (err) {
      if (err instanceof FhirError && err.status === 403) throw hidden;
      throw err;
    }
    if (!entry) throw hidden;
    return { resource: statusParameters(entry) };
  }

  async function outbox(req: Request): Promise<FhirResult> {
    await options.authorizeStaff?.(req);
    const status = typeof req.query.status === 'string' ? req.query.status : undefined;
    if (status !== undefined && !(STATUSES as readonly string[]).includes(status))
      throw badRequest('status must be pending, sent or failed.', 'status');
    const counts = await writePath.outbox.counts();
    // Default: what needs attention (pending and failed), newest first.
    const entries = status
      ? await writePath.outbox.list(status as OutboxStatus, 200)
      : [...(await writePath.outbox.list('failed', 100)), ...(await writePath.outbox.list('pending', 100))];
    return {
      resource: {
        resourceType: 'Parameters',
        parameter: [
          { name: 'pending', valueInteger: counts.pending },
          { name: 'failed', valueInteger: counts.failed },
          { name: 'sent', valueInteger: counts.sent },
          { name: 'transaction', valueBoolean: writePath.capabilities.transaction },
          ...writePath.capabilities.limitations.map((l) => ({ name: 'limitation', valueString: l })),
          ...entries.map(outboxEntryParameter),
        ],
      },
    };
  }

  return { submit, 'submit-status': submitStatus, outbox };
}

/** The write operations alone, as a router (the /fhir router serves them the same way, beside the others). */
export function createSubmissionRoutes(options: SubmissionRoutesOptions): express.Router {
  const handlers = writeOperationHandlers(options);
  const router = express.Router();
  for (const op of WRITE_OPERATION_ROUTES) {
    const path = writeOperationPath(op);
    if (op.method === 'GET') router.get(path, fhirRoute(handlers[op.name]));
    else router.post(path, fhirRoute(handlers[op.name]));
  }
  return router;
}
