/**
 * The staff side of the waiting-room tablet (src/tablet), inside the clinician app:
 *   POST /api/tablet-handoff         start a tablet session for a patient: one-time code + QR code
 *   POST /api/tablet-handoff/cancel  revoke a code not yet used
 *   GET  /api/tablet-sessions        codes waiting, tablets in use, submissions still waiting for the EHR
 *   GET  /api/alerts                 live emergency alerts (text/event-stream), read with fetch() by the page
 * Same rules as every other app route: the session handle in `X-Session`, `X-CSRF-Token` on POST. Only a
 * clinician session (fhirUser is a Practitioner) may use them: a patient-facing launch must not hand tablets
 * out, see other patients' sessions, or hear alerts.
 */
import type { Request, Response, Router } from 'express';
import QRCode from 'qrcode';
import { z } from 'zod';
import { openEventStream } from '../api/event-stream.js';
import { badRequest, FhirError, forbidden } from '../outcomes/index.js';
import type { OutboxEntry, OutboxStatus } from '../submission/outbox.js';
import type { TabletAlert, TabletForStaff, TabletSessionSummary } from '../tablet/contract.js';
import type { EhrAccess, SessionRef } from './ehr-access.js';

export type { TabletForStaff } from '../tablet/contract.js';

/** The write path's outbox, read only (submissions not yet in the EHR). */
export interface OutboxForStaff {
  list(status?: OutboxStatus, limit?: number): Promise<OutboxEntry[]>;
}

/** A tablet in progress that has not called the server for this long is shown as offline. */
export const OFFLINE_AFTER_MS = 60_000;

const ID = /^[A-Za-z0-9\-.]{1,64}$/;
const handoffBody = z.object({ patientId: z.string().regex(ID).optional() }).strict();
const cancelBody = z.object({ code: z.string().min(4).max(16) }).strict();

const STATE_WORDS: Record<TabletSessionSummary['state'], string> = {
  'waiting-for-code': 'waiting for the code',
  'in-progress': 'in progress',
  received: 'received',
  'ended-unsent': 'session ended, not sent — if the tablet was offline, its answers arrive when it reconnects',
};

export interface TabletStaffDeps {
  tablet: TabletForStaff;
  outbox?: OutboxForStaff;
  ehr: EhrAccess;
  sessionOf(req: Request): Promise<SessionRef>;
  /** The session (or the store) still exists: the alert stream ends when the session does. */
  sessionAlive(handle: string): Promise<boolean>;
  humanName(resource: fhir4.Patient | fhir4.Practitioner | undefined): string;
  /** Heartbeat comment interval on the alert stream (default 25 s, under common proxy idle timeouts). */
  heartbeatMs?: number;
}

function practitionerOf(ref: SessionRef): string {
  const user = ref.session.fhirUser ?? '';
  const practitioner = /(?:^|\/)(Practitioner\/[A-Za-z0-9\-.]{1,64})$/.exec(user)?.[1];
  if (!practitioner)
    throw forbidden(
      'Only clinical staff can use the waiting-room tablet from here (this sign-in is not a practitioner).',
    );
  return practitioner;
}

const idOf = (reference: string | undefined) => /^Patient\/([A-Za-z0-9\-.]{1,64})$/.exec(reference ?? '')?.[1];

export function registerTabletStaffRoutes(api: Router, deps: TabletStaffDeps): void {
  const heartbeatMs = deps.heartbeatMs ?? 25_000;
  api.post('/tablet-handoff', (req, res) => startHandoff(deps, req, res));
  api.post('/tablet-handoff/cancel', (req, res) => cancelHandoff(deps, req, res));
  api.get('/tablet-sessions', (req, res) => listTabletSessions(deps, req, res));
  api.get('/alerts', (req, res) => streamAlerts(deps, heartbeatMs, req, res));
}

/** The patient the body names, else the open one. */
function handoffPatientId(requestBody: unknown, ref: SessionRef): string {
  const body = handoffBody.safeParse(requestBody ?? {});
  if (!body.success)
    throw badRequest(
      'Send { patientId } (or nothing, for the open patient).',
      body.error.issues[0]?.path.join('.') || 'patientId',
    );
  const patientId = body.data.patientId ?? ref.session.patient;
  if (!patientId) throw badRequest('No patient is open: name one with patientId.', 'patientId');
  return patientId;
}

/** A hand-off for a patient (the open one by default): a one-time code, its link and its QR code. */
async function startHandoff(deps: TabletStaffDeps, req: Request, res: Response): Promise<void> {
  const { tablet, ehr } = deps;
  const ref = await deps.sessionOf(req);
  const practitioner = practitionerOf(ref);
  const patientId = handoffPatientId(req.body, ref);
  // Read with the clinician's own token: proves this user may see the patient, and gives the first name
  // the tablet shows so she can check it is her form, and the birth date the tablet turns into the range of
  // ages she may type without being asked to check it (the tablet never gets the date itself).
  const [patient, user] = await Promise.all([
    ehr.json<fhir4.Patient>(ref, `Patient/${patientId}`),
    ehr.json<fhir4.Practitioner>(ref, practitioner).catch(() => undefined),
  ]);
  const firstName = patient.name?.[0]?.given?.[0] ?? patient.name?.[0]?.text?.split(/\s+/)[0];
  const handoff = await tablet.createHandoff({
    patientId,
    ...(firstName ? { patientName: firstName } : {}),
    ...(patient.birthDate ? { birthDate: patient.birthDate } : {}),
    staff: { reference: practitioner, ...(user ? { display: deps.humanName(user) } : {}) },
  });
  // The code travels in the fragment: a fragment never reaches a server or its logs.
  const link = `${handoff.url}#code=${handoff.code}`;
  const qrSvg = await QRCode.toString(link, { type: 'svg', errorCorrectionLevel: 'M', margin: 2 });
  res.status(201).json({ ...handoff, patient: { id: patientId, name: deps.humanName(patient) }, qrSvg });
}

async function cancelHandoff(deps: TabletStaffDeps, req: Request, res: Response): Promise<void> {
  const { tablet } = deps;
  practitionerOf(await deps.sessionOf(req));
  const body = cancelBody.safeParse(req.body ?? {});
  if (!body.success) throw badRequest('Send { code }.', 'code');
  if (!tablet.cancelHandoff)
    throw new FhirError(501, {
      code: 'not-supported',
      diagnostics: 'Codes cannot be revoked on this server; they expire on their own.',
    });
  res.json({ cancelled: await tablet.cancelHandoff(body.data.code) });
}

const subjectOf = (e: OutboxEntry) =>
  (
    e.bundle.entry?.find((x) => x.resource?.resourceType === 'QuestionnaireResponse')?.resource as
      fhir4.QuestionnaireResponse | undefined
  )?.subject?.reference;

/** A patient as the sessions page shows them: the EHR's full name when it could be read, else `fallback`. */
type PatientOfRow = (reference: string | undefined, fallback?: string) => { id?: string; name: string };

/** Codes waiting, tablets in use, and submissions still waiting for the EHR. */
async function listTabletSessions(deps: TabletStaffDeps, req: Request, res: Response): Promise<void> {
  const ref = await deps.sessionOf(req);
  practitionerOf(ref);
  const now = Date.now();
  const sessions = await deps.tablet.sessions();
  const waiting = deps.outbox
    ? [...(await deps.outbox.list('failed', 100)), ...(await deps.outbox.list('pending', 100))]
    : [];
  const ids = [
    ...new Set(
      [...sessions.map((s) => idOf(s.patient.reference)), ...waiting.map((e) => idOf(subjectOf(e)))].filter(
        (x): x is string => !!x,
      ),
    ),
  ].slice(0, 50);
  const names = await patientNames(deps, ref, ids);
  const patient: PatientOfRow = (reference, fallback) => {
    const id = idOf(reference);
    return { ...(id ? { id } : {}), name: (id && names.get(id)) ?? fallback ?? 'Unknown patient' };
  };
  res.json({
    sessions: sessions.map((s) => sessionRow(s, now, patient)),
    outbox: waiting.map((e) => outboxRow(e, patient)),
  });
}

/** Full names from the EHR with this clinician's token (a patient it cannot read keeps the tablet's first name). */
async function patientNames(
  deps: TabletStaffDeps,
  ref: SessionRef,
  ids: string[],
): Promise<Map<string, string | undefined>> {
  return new Map(
    await Promise.all(
      ids.map(
        async (id) =>
          [
            id,
            await deps.ehr
              .json<fhir4.Patient>(ref, `Patient/${id}`)
              .then((p) => deps.humanName(p))
              .catch(() => undefined),
          ] as const,
      ),
    ),
  );
}

function sessionRow(s: TabletSessionSummary, now: number, patient: PatientOfRow) {
  const quiet = s.lastSeenAt ? now - Date.parse(s.lastSeenAt) : 0;
  const offline = s.state === 'in-progress' && quiet > OFFLINE_AFTER_MS;
  return {
    patient: patient(s.patient.reference, s.patient.display),
    // The hand-off's id (never its code): the page that showed the code follows it to "taken".
    ...(s.handoffId ? { handoff: s.handoffId } : {}),
    ...(s.device ? { device: s.device } : {}),
    startedBy: s.staff.display ?? s.staff.reference ?? 'unknown',
    since: s.claimedAt ?? s.createdAt,
    ...(s.expiresAt ? { expiresAt: s.expiresAt } : {}),
    ...(s.submitUntil ? { submitUntil: s.submitUntil } : {}),
    state: s.state,
    stateWords: offline ? 'tablet offline — answers kept on the tablet' : STATE_WORDS[s.state],
    ...(s.lastSeenAt ? { lastSeenAt: s.lastSeenAt } : {}),
    offline,
    emergency: s.emergency,
  };
}

function outboxRow(e: OutboxEntry, patient: PatientOfRow) {
  return {
    patient: patient(subjectOf(e)),
    status: e.status,
    attempts: e.attempts,
    createdAt: e.createdAt,
    ...(e.status === 'pending' ? { nextAttemptAt: e.nextAttemptAt } : {}),
    ...(e.lastError ? { lastError: e.lastError.slice(0, 300) } : {}),
  };
}

/** Live emergency alerts, for patients this clinician may read, until the session ends. */
async function streamAlerts(deps: TabletStaffDeps, heartbeatMs: number, req: Request, res: Response): Promise<void> {
  const ref = await deps.sessionOf(req);
  practitionerOf(ref);
  let off = () => {};
  const stream = openEventStream(res, {
    heartbeatMs,
    stillWanted: () => deps.sessionAlive(ref.handle),
    onClose: () => off(),
  });
  off = deps.tablet.onAlert((alert: TabletAlert) => {
    const id = idOf(alert.patient.reference);
    if (!id) return;
    // Only patients this clinician may read: the name comes from the EHR with the session's own token.
    deps.ehr
      .json<fhir4.Patient>(ref, `Patient/${id}`)
      .then((p) => {
        if (stream.closed) return;
        stream.send(
          'emergency',
          {
            id: alert.id,
            patient: { id, name: deps.humanName(p) },
            device: alert.device,
            rules: alert.rules,
            at: alert.at,
          },
          alert.id,
        );
      })
      .catch(() => undefined);
  });
}
