/** The reads about the open patient that several routes share (and the launch reads ahead). */
import { badRequest } from '../outcomes/index.js';
import { populateQuestionnaire } from '../forms/index.js';
import type { AppContext } from './context.js';
import type { SessionRef } from './ehr-access.js';
import { INTAKE_URL } from './options.js';
import { printable } from '../platform/text.js';

export function humanName(p: fhir4.Patient | fhir4.Practitioner | undefined): string {
  const n = p?.name?.[0];
  if (!n) return 'Unnamed';
  return n.text ?? [...(n.prefix ?? []), ...(n.given ?? []), n.family].filter(Boolean).join(' ');
}

export function patientSummary(p: fhir4.Patient) {
  const mrn = p.identifier?.find((i) => /mrn/i.test(i.system ?? '') || i.type?.coding?.some((c) => c.code === 'MR'));
  return { id: p.id, name: humanName(p), birthDate: p.birthDate, gender: p.gender, mrn: mrn?.value };
}

/** A resource id from the URL or the body, or a 400. */
export function patientId(raw: unknown): string {
  const id = printable(raw);
  if (!/^[A-Za-z0-9\-.]{1,64}$/.test(id)) throw badRequest('Invalid patient id.');
  return id;
}

export function readPatient(ctx: AppContext, ref: SessionRef, id: string) {
  return ctx.ehr.json<fhir4.Patient>(ref, `Patient/${id}`);
}

/** The launch patient's submitted intakes, newest first. */
export async function readIntakes(ctx: AppContext, ref: SessionRef, pid: string) {
  const b = await ctx.ehr.json<fhir4.Bundle>(
    ref,
    `QuestionnaireResponse?subject=Patient/${pid}&questionnaire=${encodeURIComponent(INTAKE_URL)}&status=completed,amended&_sort=-authored&_count=50`,
  );
  return (b.entry ?? [])
    .map((e) => e.resource as fhir4.QuestionnaireResponse)
    .filter(
      (qr) =>
        qr?.resourceType === 'QuestionnaireResponse' &&
        qr.subject?.reference === `Patient/${pid}` &&
        !!qr.identifier?.value,
    )
    .map((qr) => ({ id: qr.id, authored: qr.authored, status: qr.status, version: qr.meta?.versionId ?? '1' }));
}
export type Intakes = Awaited<ReturnType<typeof readIntakes>>;

/** `$populate` of the intake form for the patient, reading what it needs from the EHR with the session's token. */
export function populate(ctx: AppContext, ref: SessionRef, patient: fhir4.Patient) {
  return populateQuestionnaire(ctx.questionnaire, {
    subject: patient,
    fetchResources: (query) => ctx.ehr.json<fhir4.Bundle>(ref, query),
  });
}
export type Populated = Awaited<ReturnType<typeof populate>>;
