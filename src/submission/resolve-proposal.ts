/**
 * What a clinician does with what a submission raised, each a separate recorded act:
 *
 *   - accept or dismiss (with a coded reason) an imaging/DXA ServiceRequest proposal (`resolveProposal`);
 *   - record what happened to the patient of a Flag (`recordFlagOutcome`): a coded outcome from
 *     https://periplan.app/fhir/CodeSystem/flag-outcome (sent to the emergency department, assessed the same
 *     day, referred, not needed, entered in error). This, and only this, closes a Flag (status inactive,
 *     period.end = now, worklist tags dropped). Accepting the MRI does not mean the patient was assessed, so
 *     an emergency Flag stays on the worklist until someone says what was done;
 *   - undo one of those acts (`undoDecision`), by the same clinician within a short window: a NEW act that
 *     puts the resources back (a new version each) and a Provenance that names the act it reverses. Nothing
 *     is erased.
 *
 * Everything is written in one transaction (one by one, in a safe order, when the server has no transactions),
 * with If-Match on every update, and a Provenance says who, when, why. Each act's Provenance carries a
 * `meta.tag` (CLINICIAN_ACT_SYSTEM) naming the act, so an undo can find what it reverses.
 *
 * FHIR workflow (R4 workflow.html, "request" pattern): `intent` says what kind of request a resource IS, so a
 * proposal is never turned into an order in place. Accepting it creates a NEW ServiceRequest `intent=order`,
 * `status=active`, `basedOn` the proposal, with the clinician as requester; the proposal becomes `completed`
 * (it has been acted on). Dismissing it makes the proposal `revoked` with the coded reason in the R4
 * `request-statusReason` extension (R4 ServiceRequest has no statusReason element) and a note.
 * A Flag named directly in `resolveProposal` can only be dismissed as a `duplicate`: that is how the write
 * path supersedes the Flags of an amended response (the amendment raised its own).
 *
 * `target` may name a version (`ServiceRequest/1/_history/3`): the version the clinician looked at. Then a
 * change by someone else since is a 412 instead of a decision on something the clinician did not see.
 */
import { randomUUID } from 'node:crypto';
import { FhirError, badRequest, conflict, forbidden, notFound, preconditionFailed } from '../outcomes/index.js';
import { MODULE_DEVICE, PARTICIPANT_TYPE, SUBMISSION_ITEM_SYSTEM, identifierQuery } from './build-bundle.js';
import type { FhirClient } from '../platform/fhir-client/index.js';
import { clientFor, type FhirServerTarget } from './fhir-writer.js';
import { withWorklistTags } from './worklist-tags.js';

export const DECISION_REASON_SYSTEM = 'https://periplan.app/fhir/CodeSystem/proposal-decision-reason';
export const DECISION_REASON_VALUESET = 'https://periplan.app/fhir/ValueSet/proposal-decision-reason';
/** The codes of profiles/CodeSystem-proposal-decision-reason.json (a test keeps the two in step). */
export const DECISION_REASON_CODES = [
  'already-done',
  'not-clinically-indicated',
  'patient-declined',
  'done-elsewhere',
  'duplicate',
  'other',
] as const;
const STATUS_REASON_EXTENSION = 'http://hl7.org/fhir/StructureDefinition/request-statusReason';
export const FLAG_OUTCOME_SYSTEM = 'https://periplan.app/fhir/CodeSystem/flag-outcome';
export const FLAG_OUTCOME_VALUESET = 'https://periplan.app/fhir/ValueSet/flag-outcome';
/** The codes of profiles/CodeSystem-flag-outcome.json (a test keeps the two in step). */
export const FLAG_OUTCOME_CODES = [
  'sent-to-emergency-department',
  'assessed-same-day',
  'referred',
  'not-needed',
  'entered-in-error',
] as const;
export type FlagOutcomeCode = (typeof FLAG_OUTCOME_CODES)[number];
/** Outcomes that say "nothing was done": the clinician must say why. */
const OUTCOMES_NEEDING_A_NOTE: readonly string[] = ['not-needed', 'entered-in-error'];
/** meta.tag of every act's Provenance: which act it records (accept, dismiss, flag-outcome, undo). */
export const CLINICIAN_ACT_SYSTEM = 'https://periplan.app/fhir/sid/clinician-act';
export type ClinicianAct = 'accept' | 'dismiss' | 'flag-outcome' | 'undo';
/** How long the clinician who acted may undo it (overridable per call). */
export const DEFAULT_UNDO_WINDOW_MS = 10 * 60_000;
const DATA_OPERATION = 'http://terminology.hl7.org/CodeSystem/v3-DataOperation';

export interface ProposalDecision {
  target: string /* 'ServiceRequest/<id>' or 'Flag/<id>' */;
  decision: 'accept' | 'dismiss';
  reason?: fhir4.Coding /* required for dismiss */;
  note?: string;
  who: fhir4.Reference;
  bearerToken?: string;
  /**
   * A duplicate dismissed because an amendment carries it forward: the amendment's own Flag or proposal for
   * the same rule (`Flag/<id>`, `ServiceRequest/<id>`), linked from the Provenance, so the record shows
   * which item replaced which.
   */
  supersededBy?: string;
}

const TARGET = /^(ServiceRequest|Flag)\/([A-Za-z0-9\-.]{1,64})(?:\/_history\/([A-Za-z0-9\-.]{1,64}))?$/;

type DecisionTarget = { type: 'ServiceRequest' | 'Flag'; id: string; version?: string };

function checkDecision(d: ProposalDecision): DecisionTarget {
  const match = TARGET.exec(d?.target ?? '');
  if (!match)
    throw badRequest(
      `target must be "ServiceRequest/<id>" or "Flag/<id>" (optionally with /_history/<version>), not "${d?.target}".`,
      'target',
    );
  if (d.decision !== 'accept' && d.decision !== 'dismiss')
    throw badRequest('decision must be "accept" or "dismiss".', 'decision');
  if (!d.who?.reference && !d.who?.identifier)
    throw badRequest('who must say who decided (a reference to the Practitioner).', 'who');
  if (d.decision === 'dismiss') checkDismissalReason(d);
  if (match[1] === 'Flag') checkFlagDismissedAsDuplicate(d);
  return { type: match[1] as 'ServiceRequest' | 'Flag', id: match[2]!, ...(match[3] ? { version: match[3] } : {}) };
}

/** A Flag is closed by its outcome (recordFlagOutcome); the only decision on one is dismissing a duplicate. */
function checkFlagDismissedAsDuplicate(d: ProposalDecision): void {
  if (!(d.decision === 'dismiss' && d.reason?.code === 'duplicate')) {
    throw badRequest(
      `A Flag is closed by recording what happened to the patient (a code from ${FLAG_OUTCOME_VALUESET}), not by accepting or dismissing it; only a duplicate Flag is dismissed.`,
      'target',
    );
  }
}

/** A dismissal names a coded reason from the value set, and "other" says why in a note. */
function checkDismissalReason(d: ProposalDecision): void {
  if (!d.reason) throw badRequest(`Dismissing needs a reason from ${DECISION_REASON_VALUESET}.`, 'reason');
  if (
    d.reason.system !== DECISION_REASON_SYSTEM ||
    !(DECISION_REASON_CODES as readonly string[]).includes(d.reason.code ?? '')
  ) {
    throw badRequest(
      `reason must be one of ${DECISION_REASON_CODES.join(', ')} from ${DECISION_REASON_SYSTEM}.`,
      'reason',
    );
  }
  if (d.reason.code === 'other' && !d.note?.trim())
    throw badRequest('A dismissal for "other" reasons needs a note saying why.', 'note');
}

/** An HTTP error from the FHIR server, as the module's own FhirError (412 and 404 in plain words). */
function asFhirError(err: unknown, what: string): unknown {
  if (err instanceof FhirError) return err;
  const status = (err as { response?: { status?: number } }).response?.status;
  if (status === 412)
    return preconditionFailed(`${what} was changed by someone else since it was read: reload it and decide again.`);
  if (status === 404 || status === 410) return notFound(`${what} does not exist on the FHIR server.`);
  if (status === 401 || status === 403)
    return new FhirError(status, {
      code: status === 401 ? 'login' : 'forbidden',
      diagnostics: `The FHIR server refused ${what} (${status}).`,
    });
  if (typeof status === 'number' && status < 500)
    return new FhirError(status, {
      code: 'invalid',
      diagnostics: `The FHIR server refused the decision on ${what} (${status}).`,
    });
  return new FhirError(503, {
    code: 'transient',
    diagnostics: `The FHIR server could not be reached or failed (${status ?? (err as Error)?.message}); nothing was decided. Try again.`,
  });
}

/**
 * A clinician is waiting for a decision: a 429 whose Retry-After is at most 5 s is waited out once, then the
 * answer is 503 "try again".
 */
const RATE_LIMIT_WAIT_MS = 5000;
const decisionClient = (target: FhirServerTarget, bearerToken: string | undefined) =>
  clientFor(target, bearerToken, { waitOn429UpToMs: RATE_LIMIT_WAIT_MS });

const etag = (r: fhir4.FhirResource) => (r.meta?.versionId ? `W/"${r.meta.versionId}"` : undefined);

function putEntry(resource: fhir4.FhirResource): fhir4.BundleEntry {
  const ifMatch = etag(resource);
  return {
    resource,
    request: { method: 'PUT', url: `${resource.resourceType}/${resource.id}`, ...(ifMatch ? { ifMatch } : {}) },
  };
}

export async function resolveProposal(
  target: FhirServerTarget,
  d: ProposalDecision,
  now: Date = new Date(),
): Promise<{ updated: fhir4.FhirResource[]; provenance: fhir4.Provenance }> {
  const t = checkDecision(d);
  const at = now.toISOString();
  const client = await decisionClient(target, d.bearerToken);
  const ref = `${t.type}/${t.id}`;

  const current = await readCurrent<fhir4.ServiceRequest | fhir4.Flag>(client, ref);
  assertVersionSeen(ref, current, t.version, 'decide again');
  // The version the clinician looked at is the one the update's If-Match names.
  const pinned = t.version ? { ...current, meta: { ...current.meta, versionId: t.version } } : current;

  const reasonConcept: fhir4.CodeableConcept | undefined = d.reason
    ? { coding: [d.reason], ...(d.note ? { text: d.note } : {}) }
    : undefined;
  const entries =
    current.resourceType === 'ServiceRequest'
      ? proposalDecisionEntries(current, pinned as fhir4.ServiceRequest, ref, d, at, reasonConcept)
      : [putEntry(closedFlag(flagStillOpen(current, ref, pinned as fhir4.Flag), at))];

  const seenVersion = pinned.meta?.versionId ?? current.meta?.versionId ?? '1';
  const provenance = decisionProvenance(entries, ref, d, at, reasonConcept, seenVersion);
  entries.push({
    fullUrl: 'urn:uuid:' + randomUUID(),
    resource: provenance,
    request: { method: 'POST', url: 'Provenance' },
  });

  const results = await write(client, entries, ref);
  const written = results.filter((r): r is fhir4.FhirResource => r !== undefined);
  const savedProvenance = written.find((r): r is fhir4.Provenance => r.resourceType === 'Provenance');
  return { updated: written.filter((r) => r.resourceType !== 'Provenance'), provenance: savedProvenance ?? provenance };
}

/** A 412 when the clinician named a version and the resource has moved on since: they decided on another one. */
function assertVersionSeen(ref: string, current: fhir4.FhirResource, version: string | undefined, redo: string) {
  if (version && current.meta?.versionId && current.meta.versionId !== version) {
    throw preconditionFailed(
      `${ref} is at version ${current.meta.versionId}, not ${version}: someone changed it since it was shown. Reload it and ${redo}.`,
    );
  }
}

/** The clinician's note on a decision, authored by them (by reference when there is one). */
function decisionNote(d: ProposalDecision, at: string): fhir4.Annotation | undefined {
  if (!d.note) return undefined;
  return {
    text: d.note,
    time: at,
    ...(d.who.reference ? { authorReference: d.who } : { authorString: d.who.display ?? 'clinician' }),
  };
}

/**
 * Accepting or dismissing a draft proposal: the proposal completed (accept) or revoked with the coded reason
 * (dismiss), and on accept the new order. The Flag raised with it stays open: accepting an MRI is not assessing
 * the patient (recordFlagOutcome).
 */
function proposalDecisionEntries(
  current: fhir4.ServiceRequest,
  pinned: fhir4.ServiceRequest,
  ref: string,
  d: ProposalDecision,
  at: string,
  reasonConcept: fhir4.CodeableConcept | undefined,
): fhir4.BundleEntry[] {
  if (current.intent !== 'proposal')
    throw conflict(`${ref} is not a proposal (intent is ${current.intent}): only proposals are accepted or dismissed.`);
  if (current.status !== 'draft') throw conflict(`${ref} was already resolved (status ${current.status}).`);
  const note = decisionNote(d, at);
  const proposal: fhir4.ServiceRequest = {
    ...pinned,
    status: d.decision === 'accept' ? 'completed' : 'revoked',
    ...(note ? { note: [...(current.note ?? []), note] } : {}),
    ...(d.decision === 'dismiss' && reasonConcept
      ? {
          extension: [
            ...(current.extension ?? []).filter((e) => e.url !== STATUS_REASON_EXTENSION),
            { url: STATUS_REASON_EXTENSION, valueCodeableConcept: reasonConcept },
          ],
        }
      : {}),
  };
  const entries = [putEntry(proposal)];
  if (d.decision === 'accept') entries.push(orderEntry(current, ref, d, at));
  return entries;
}

/** A Flag dismissed as a duplicate must still be open; returns the version to close. */
function flagStillOpen(current: fhir4.Flag, ref: string, pinned: fhir4.Flag): fhir4.Flag {
  if (current.status !== 'active') throw conflict(`${ref} was already resolved (status ${current.status}).`);
  return pinned;
}

/** A closed Flag: inactive, its period ended now; withWorklistTags drops its search tags, so it leaves the worklist. */
function closedFlag(flag: fhir4.Flag, at: string): fhir4.Flag {
  return withWorklistTags({
    ...flag,
    status: 'inactive',
    period: { ...flag.period, start: flag.period?.start ?? at, end: at },
  });
}

/** Who acted (the clinician) and what assembled the record (the module). */
function actAgents(who: fhir4.Reference): fhir4.ProvenanceAgent[] {
  return [
    { type: { coding: [{ system: PARTICIPANT_TYPE, code: 'author', display: 'Author' }] }, who },
    { type: { coding: [{ system: PARTICIPANT_TYPE, code: 'assembler', display: 'Assembler' }] }, who: MODULE_DEVICE },
  ];
}

/** The Provenance of an accept or dismiss: what it changed, the version decided on, and what carries it forward. */
function decisionProvenance(
  entries: fhir4.BundleEntry[],
  ref: string,
  d: ProposalDecision,
  at: string,
  reasonConcept: fhir4.CodeableConcept | undefined,
  seenVersion: string,
): fhir4.Provenance {
  return {
    resourceType: 'Provenance',
    target: entries.map((e) => ({ reference: e.fullUrl ?? e.request!.url })),
    recorded: at,
    meta: { tag: [{ system: CLINICIAN_ACT_SYSTEM, code: d.decision }] },
    activity: { coding: [{ system: DATA_OPERATION, code: 'UPDATE', display: 'revise' }], text: `${d.decision} ${ref}` },
    ...(reasonConcept ? { reason: [reasonConcept] } : d.note ? { reason: [{ text: d.note }] } : {}),
    agent: actAgents(d.who),
    entity: [
      { role: 'revision', what: { reference: `${ref}/_history/${seenVersion}` } },
      // The item that carries this one forward (an amendment's, for the same rule).
      ...(d.supersededBy
        ? [
            {
              role: 'source' as const,
              what: { reference: d.supersededBy, display: 'carried forward by the amended response' },
            },
          ]
        : []),
    ],
  };
}

export interface FlagOutcomeInput {
  /** `Flag/<id>`, optionally `/_history/<version>` (the version the clinician looked at). */
  target: string;
  outcome: string /* a code of FLAG_OUTCOME_SYSTEM */;
  note?: string;
  who: fhir4.Reference;
  bearerToken?: string;
}

const FLAG_TARGET = /^Flag\/([A-Za-z0-9\-.]{1,64})(?:\/_history\/([A-Za-z0-9\-.]{1,64}))?$/;

function actProvenance(input: {
  act: ClinicianAct;
  targets: string[];
  at: string;
  who: fhir4.Reference;
  activity: fhir4.CodeableConcept;
  reason?: fhir4.CodeableConcept;
  entity: fhir4.ProvenanceEntity[];
}): fhir4.Provenance {
  return {
    resourceType: 'Provenance',
    meta: { tag: [{ system: CLINICIAN_ACT_SYSTEM, code: input.act }] },
    target: input.targets.map((reference) => ({ reference })),
    recorded: input.at,
    activity: input.activity,
    ...(input.reason ? { reason: [input.reason] } : {}),
    agent: [
      { type: { coding: [{ system: PARTICIPANT_TYPE, code: 'author', display: 'Author' }] }, who: input.who },
      { type: { coding: [{ system: PARTICIPANT_TYPE, code: 'assembler', display: 'Assembler' }] }, who: MODULE_DEVICE },
    ],
    entity: input.entity,
  };
}

async function readCurrent<T extends fhir4.FhirResource>(client: FhirClient, ref: string): Promise<T> {
  const [type, id] = ref.split('/') as [string, string];
  try {
    return await client.read<T>(type, id);
  } catch (err) {
    throw asFhirError(err, ref);
  }
}

async function writeAct(client: FhirClient, updates: fhir4.FhirResource[], provenance: fhir4.Provenance, ref: string) {
  const entries = [
    ...updates.map(putEntry),
    {
      fullUrl: 'urn:uuid:' + randomUUID(),
      resource: provenance,
      request: { method: 'POST' as const, url: 'Provenance' },
    },
  ];
  const written = (await write(client, entries, ref)).filter((r): r is fhir4.FhirResource => r !== undefined);
  return {
    updated: written.filter((r) => r.resourceType !== 'Provenance'),
    provenance: written.find((r): r is fhir4.Provenance => r.resourceType === 'Provenance') ?? provenance,
  };
}

/**
 * The clinician records what happened to the patient of a Flag: the Flag closes (inactive, period.end = now,
 * off the worklist) and a Provenance carries the coded outcome as its activity, with who and when.
 */
export async function recordFlagOutcome(
  target: FhirServerTarget,
  d: FlagOutcomeInput,
  now: Date = new Date(),
): Promise<{ updated: fhir4.FhirResource[]; provenance: fhir4.Provenance }> {
  const flag = checkFlagOutcome(d);
  const ref = `Flag/${flag.id}`;
  const client = await decisionClient(target, d.bearerToken);
  const current = await readCurrent<fhir4.Flag>(client, ref);
  if (current.resourceType !== 'Flag') throw notFound(`${ref} is not a Flag.`);
  assertVersionSeen(ref, current, flag.version, 'record the outcome again');
  if (current.status !== 'active')
    throw conflict(`${ref} is already closed (status ${current.status}): an outcome was recorded before.`);
  const at = now.toISOString();
  const coding: fhir4.Coding = {
    system: FLAG_OUTCOME_SYSTEM,
    code: d.outcome,
    display: FLAG_OUTCOME_DISPLAY[d.outcome as FlagOutcomeCode],
  };
  const provenance = actProvenance({
    act: 'flag-outcome',
    targets: [ref],
    at,
    who: d.who,
    activity: { coding: [coding], text: `${coding.display} (${ref})` },
    reason: { coding: [coding], ...(d.note?.trim() ? { text: d.note.trim() } : {}) },
    entity: [{ role: 'revision', what: { reference: `${ref}/_history/${current.meta?.versionId ?? '1'}` } }],
  });
  return writeAct(client, [closedFlag(current, at)], provenance, ref);
}

/** The Flag a recorded outcome names (and the version seen), once the outcome, its note and who are valid. */
function checkFlagOutcome(d: FlagOutcomeInput): { id: string; version?: string } {
  const match = FLAG_TARGET.exec(d?.target ?? '');
  if (!match)
    throw badRequest(`target must be "Flag/<id>" (optionally with /_history/<version>), not "${d?.target}".`, 'target');
  if (!(FLAG_OUTCOME_CODES as readonly string[]).includes(d.outcome))
    throw badRequest(`outcome must be one of ${FLAG_OUTCOME_CODES.join(', ')} from ${FLAG_OUTCOME_SYSTEM}.`, 'outcome');
  if (OUTCOMES_NEEDING_A_NOTE.includes(d.outcome) && !d.note?.trim())
    throw badRequest(`The outcome "${d.outcome}" needs a note saying why.`, 'note');
  if (!d.who?.reference && !d.who?.identifier)
    throw badRequest('who must say who recorded the outcome (a reference to the Practitioner).', 'who');
  return { id: match[1]!, ...(match[2] ? { version: match[2] } : {}) };
}

/** Displays of the outcome codes (as in the CodeSystem; a test keeps them in step). */
export const FLAG_OUTCOME_DISPLAY: Record<FlagOutcomeCode, string> = {
  'sent-to-emergency-department': 'Sent to the emergency department',
  'assessed-same-day': 'Assessed the same day',
  referred: 'Referred',
  'not-needed': 'Not needed (false alarm)',
  'entered-in-error': 'Entered in error',
};

export interface UndoInput {
  /** The id of the Provenance of the act to undo (accept, dismiss or flag-outcome). */
  provenance: string;
  who: fhir4.Reference;
  bearerToken?: string;
  /** How long after the act its author may undo it (default DEFAULT_UNDO_WINDOW_MS). */
  windowMs?: number;
}

/** Which act a Provenance records, from its CLINICIAN_ACT_SYSTEM tag. */
export function actOf(p: fhir4.Provenance): ClinicianAct | undefined {
  return p.meta?.tag?.find((t) => t.system === CLINICIAN_ACT_SYSTEM)?.code as ClinicianAct | undefined;
}

/** The author agent of an act's Provenance. */
export function authorOf(p: fhir4.Provenance): fhir4.Reference | undefined {
  return p.agent?.find((a) => a.type?.coding?.some((c) => c.system === PARTICIPANT_TYPE && c.code === 'author'))?.who;
}

/**
 * Undo an accept, a dismiss or a flag outcome: only its author, only within the window, and only while the
 * resources are still as the act left them. Written as a new act: every resource gets a new version that
 * reverses the act (a proposal back to draft, the order it made revoked, a Flag active again with its
 * worklist tags), and a Provenance (act `undo`) whose entity names the Provenance it reverses.
 */
export async function undoDecision(
  target: FhirServerTarget,
  d: UndoInput,
  now: Date = new Date(),
): Promise<{ updated: fhir4.FhirResource[]; provenance: fhir4.Provenance; undone: ClinicianAct }> {
  if (!/^[A-Za-z0-9\-.]{1,64}$/.test(d?.provenance ?? ''))
    throw badRequest('provenance must be the id of the Provenance of the act to undo.', 'provenance');
  if (!d.who?.reference) throw badRequest('who must say who undoes the act (a reference to the Practitioner).', 'who');
  const client = await decisionClient(target, d.bearerToken);
  const provRef = `Provenance/${d.provenance}`;
  const act = await readCurrent<fhir4.Provenance>(client, provRef);
  const kind = undoableAct(act, provRef);
  assertUndoneByItsAuthor(act, d.who);
  assertWithinUndoWindow(act, d.windowMs ?? DEFAULT_UNDO_WINDOW_MS, now);
  const at = now.toISOString();
  const targets = (act.target ?? [])
    .map((t) => t.reference?.replace(/\/_history\/.*$/, ''))
    .filter((r): r is string => !!r);
  const current = await Promise.all(targets.map((r) => readCurrent<fhir4.ServiceRequest | fhir4.Flag>(client, r)));
  const reversal: Reversal = {
    kind,
    recorded: Date.parse(act.recorded),
    note: {
      text: `Undone: the ${kind} recorded at ${act.recorded} was reversed by its author.`,
      time: at,
      authorReference: d.who,
    },
    changed: () =>
      conflict(`${provRef} was already undone, or what it decided has changed since: reload and decide again.`),
  };
  const updates = current.map((r) => reversed(r, reversal)).filter((r): r is fhir4.FhirResource => r !== undefined);
  if (!updates.length) throw reversal.changed();
  const provenance = actProvenance({
    act: 'undo',
    targets: updates.map((u) => `${u.resourceType}/${u.id}`),
    at,
    who: d.who,
    activity: {
      coding: [{ system: DATA_OPERATION, code: 'UPDATE', display: 'revise' }],
      text: `undo ${kind} (${provRef})`,
    },
    entity: [
      { role: 'source', what: { reference: provRef } },
      ...current.map((r) => ({
        role: 'revision' as const,
        what: { reference: `${r.resourceType}/${r.id}/_history/${r.meta?.versionId ?? '1'}` },
      })),
    ],
  });
  const out = await writeAct(client, updates, provenance, provRef);
  return { ...out, undone: kind };
}

type UndoableAct = 'accept' | 'dismiss' | 'flag-outcome';

/** The act a Provenance records, when it is one an undo can reverse (not an undo itself, not a submission). */
function undoableAct(act: fhir4.Provenance, provRef: string): UndoableAct {
  const kind = actOf(act);
  if (act.resourceType !== 'Provenance' || (kind !== 'accept' && kind !== 'dismiss' && kind !== 'flag-outcome')) {
    throw badRequest(
      `${provRef} does not record an accept, a dismiss or a flag outcome: there is nothing to undo.`,
      'provenance',
    );
  }
  return kind;
}

function assertUndoneByItsAuthor(act: fhir4.Provenance, who: fhir4.Reference): void {
  const author = authorOf(act);
  if (author?.reference !== who.reference) {
    throw forbidden(
      `Only the clinician who recorded this (${author?.display ?? author?.reference ?? 'someone else'}) can undo it. Record a new decision instead.`,
    );
  }
}

function assertWithinUndoWindow(act: fhir4.Provenance, windowMs: number, now: Date): void {
  const recorded = Date.parse(act.recorded);
  if (!(now.getTime() - recorded <= windowMs)) {
    throw conflict(
      `It is too late to undo this: it was recorded at ${act.recorded}, and an undo is possible for ${Math.round(windowMs / 60_000)} minutes. Record a new decision instead.`,
    );
  }
}

/** What an undo needs to reverse each resource of an act, and the error when one is no longer as the act left it. */
interface Reversal {
  kind: UndoableAct;
  /** When the act was recorded (ms): the end it gave a Flag's period. */
  recorded: number;
  note: fhir4.Annotation;
  changed: () => FhirError;
}

/**
 * The new version of one resource of the act that reverses it: a Flag active again (back on the worklist), a
 * proposal back to draft, the order an accept made revoked. Undefined for what the act did not change.
 */
function reversed(r: fhir4.ServiceRequest | fhir4.Flag, u: Reversal): fhir4.FhirResource | undefined {
  if (r.resourceType === 'Flag') return reopenedFlag(r, u);
  if (r.resourceType === 'ServiceRequest' && r.intent === 'proposal') return reopenedProposal(r, u);
  if (r.resourceType === 'ServiceRequest' && r.intent === 'order') return revokedOrder(r, u);
  return undefined;
}

function reopenedFlag(r: fhir4.Flag, u: Reversal): fhir4.Flag {
  if (u.kind !== 'flag-outcome' || r.status !== 'inactive' || Date.parse(r.period?.end ?? '') !== u.recorded)
    throw u.changed();
  const { end: _end, ...period } = r.period ?? {};
  return withWorklistTags({ ...r, status: 'active', period });
}

function reopenedProposal(r: fhir4.ServiceRequest, u: Reversal): fhir4.ServiceRequest {
  if (r.status !== (u.kind === 'accept' ? 'completed' : 'revoked')) throw u.changed();
  const extension = (r.extension ?? []).filter((e) => e.url !== STATUS_REASON_EXTENSION);
  const { extension: _ext, ...rest } = r;
  return {
    ...rest,
    ...(extension.length ? { extension } : {}),
    status: 'draft',
    note: [...(r.note ?? []), u.note],
  };
}

function revokedOrder(r: fhir4.ServiceRequest, u: Reversal): fhir4.ServiceRequest {
  if (u.kind !== 'accept' || r.status !== 'active') throw u.changed();
  return { ...r, status: 'revoked', note: [...(r.note ?? []), u.note] };
}

/** The order an accepted proposal becomes: a new request, basedOn the proposal (idempotent on an identifier). */
function orderEntry(proposal: fhir4.ServiceRequest, ref: string, d: ProposalDecision, at: string): fhir4.BundleEntry {
  const item = proposal.identifier?.find((i) => i.system === SUBMISSION_ITEM_SYSTEM)?.value ?? ref;
  const identifier: fhir4.Identifier = { system: SUBMISSION_ITEM_SYSTEM, value: `${item}#order` };
  const {
    id: _id,
    meta: _meta,
    identifier: _ids,
    note: _note,
    extension: _ext,
    authoredOn: _authored,
    ...copied
  } = proposal;
  const order: fhir4.ServiceRequest = {
    ...copied,
    identifier: [identifier],
    status: 'active',
    intent: 'order',
    basedOn: [{ reference: ref }],
    authoredOn: at,
    requester: d.who,
    ...(d.note ? { note: [{ text: d.note, time: at }] } : {}),
  };
  return {
    fullUrl: 'urn:uuid:' + randomUUID(),
    resource: order,
    request: { method: 'POST', url: 'ServiceRequest', ifNoneExist: identifierQuery(identifier) },
  };
}

/** One transaction; one by one (updates first, Provenance last) when the server has no transactions. */
async function write(
  client: FhirClient,
  entries: fhir4.BundleEntry[],
  ref: string,
): Promise<(fhir4.FhirResource | undefined)[]> {
  return (await writeTransaction(client, entries, ref)) ?? (await writeEachInOrder(client, entries, ref));
}

/** Statuses that say the server takes no transactions (so the entries are written one by one instead). */
const NO_TRANSACTIONS = [404, 405, 501];

/** The entries as one transaction; undefined when the server has no transactions. */
async function writeTransaction(
  client: FhirClient,
  entries: fhir4.BundleEntry[],
  ref: string,
): Promise<(fhir4.FhirResource | undefined)[] | undefined> {
  try {
    const response = await client.transaction({ resourceType: 'Bundle', type: 'transaction', entry: entries });
    // Entry statuses count like HTTP ones: a server may answer 200 with a failed entry (non-atomic).
    const failed = (response?.entry ?? []).find((e) => e.response?.status && !/^2\d\d/.test(e.response.status));
    if (failed)
      throw Object.assign(new Error(`entry ${failed.response!.status}`), {
        response: { status: Number(failed.response!.status.slice(0, 3)) },
      });
    // A server may answer with locations only (no resources): read what it wrote.
    return await Promise.all((response?.entry ?? []).map((e) => writtenResource(client, e)));
  } catch (err) {
    const status = (err as { response?: { status?: number } }).response?.status;
    if (!NO_TRANSACTIONS.includes(status as number)) throw asFhirError(err, ref);
    return undefined;
  }
}

async function writtenResource(client: FhirClient, e: fhir4.BundleEntry): Promise<fhir4.FhirResource | undefined> {
  if (e.resource) return e.resource as fhir4.FhirResource;
  const at = /([A-Z][A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})(?:\/_history\/[^/]+)?$/.exec(e.response?.location ?? '');
  return at ? await client.read(at[1]!, at[2]!) : undefined;
}

/** Each entry in order, references to earlier entries' fullUrls rewritten to what the server assigned. */
async function writeEachInOrder(
  client: FhirClient,
  entries: fhir4.BundleEntry[],
  ref: string,
): Promise<(fhir4.FhirResource | undefined)[]> {
  const assigned = new Map<string, string>();
  const out: (fhir4.FhirResource | undefined)[] = [];
  try {
    for (const entry of entries) {
      const resource = JSON.parse(JSON.stringify(entry.resource), (k, v: unknown) =>
        k === 'reference' && typeof v === 'string' && assigned.has(v) ? assigned.get(v) : v,
      ) as fhir4.FhirResource;
      const { ifMatch, ifNoneExist } = entry.request ?? {};
      const saved =
        entry.request?.method === 'PUT'
          ? await client.update(resource, ifMatch ? { ifMatch } : {})
          : await client.create(resource, ifNoneExist ? { ifNoneExist } : {});
      if (entry.fullUrl && saved?.id) assigned.set(entry.fullUrl, `${saved.resourceType}/${saved.id}`);
      out.push(saved);
    }
  } catch (err) {
    throw asFhirError(err, ref);
  }
  return out;
}
