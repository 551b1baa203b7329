/**
 * What an $apply evaluates against: the subject Patient, the newest intake QuestionnaireResponse, and the
 * FHIRPath environment (%subject, %patient, %response, %resource, %now, then the content's named variables).
 */
import { compileFhirPath, FhirPathError, type FhirPathEnv } from '../fhirpath/index.js';
import { badRequest, unprocessable } from '../outcomes/index.js';
import { EXT_VARIABLE } from './vocabulary.js';

const SUBJECT_PARAM = "Parameters.parameter.where(name = 'subject').value";
const DATA_PARAM = "Parameters.parameter.where(name = 'data').resource";

export interface Subject {
  /** `Patient/<id>` */
  reference: string;
  id: string;
  patient: fhir4.Patient | undefined;
}

/** Accepts `Patient/<id>` (the $apply `subject` parameter). */
export function resolveSubject(subject: string, data: readonly fhir4.FhirResource[]): Subject {
  const match = /^(?:.*\/)?Patient\/([A-Za-z0-9\-.]{1,64})$/.exec(subject.trim());
  if (!match) throw badRequest(`subject must be a Patient reference such as "Patient/123"; got ${JSON.stringify(subject)}.`, SUBJECT_PARAM);
  const id = match[1]!;
  const reference = `Patient/${id}`;
  const patient = data.find((r): r is fhir4.Patient => r.resourceType === 'Patient' && r.id === id);
  return { reference, id, patient };
}

function refersTo(ref: fhir4.Reference | undefined, subject: Subject): boolean {
  const r = ref?.reference;
  return r === subject.reference || (r !== undefined && r.endsWith(`/${subject.reference}`));
}

const USABLE_STATUSES = new Set(['completed', 'amended']);

/**
 * The newest completed (or amended) response by this subject to one of the given Questionnaires (by
 * canonical url, any version). With no questionnaire urls, any questionnaire counts.
 */
export function selectResponse(data: readonly fhir4.FhirResource[], subject: Subject, questionnaireUrls: readonly string[]): fhir4.QuestionnaireResponse | undefined {
  let best: fhir4.QuestionnaireResponse | undefined;
  for (const r of data) {
    if (r.resourceType !== 'QuestionnaireResponse' || !USABLE_STATUSES.has(r.status) || !refersTo(r.subject, subject)) continue;
    const url = (r.questionnaire ?? '').split('|')[0] ?? '';
    if (questionnaireUrls.length > 0 && !questionnaireUrls.includes(url)) continue;
    // Later-authored wins; ties (or missing dates) go to the later entry in `data`.
    if (!best || (r.authored ?? '') >= (best.authored ?? '')) best = r;
  }
  return best;
}

/** Fails fast when the input cannot describe the subject at all. */
export function requireSomethingAbout(subject: Subject, response: fhir4.QuestionnaireResponse | undefined): void {
  if (!subject.patient && !response) {
    throw unprocessable({
      code: 'not-found',
      diagnostics: `The data holds neither ${subject.reference} nor a completed intake QuestionnaireResponse for it; there is nothing to apply the rules to.`,
      expression: DATA_PARAM,
    });
  }
}

export function baseEnvironment(subject: Subject, response: fhir4.QuestionnaireResponse | undefined, now: Date): FhirPathEnv {
  // fhirpath.js rejects undefined variables, so absent resources are empty collections.
  const patient = subject.patient ?? [];
  return {
    subject: patient,
    patient,
    response: response ?? [],
    resource: response ?? patient,
    now: now.toISOString(),
  };
}

/** Evaluate an expression from content; failures become a 422 naming where in the content it sits. */
export function evaluate(expression: string, env: FhirPathEnv, where: string): unknown[] {
  try {
    return compileFhirPath(expression)(env.resource ?? {}, env);
  } catch (err) {
    const reason = err instanceof FhirPathError ? err.message : String(err);
    throw unprocessable({
      code: 'processing',
      diagnostics: `Could not evaluate ${where} against the supplied data: ${reason}`,
    });
  }
}

/** Applicability: true only when the expression yields exactly `true` (empty = unknown = not applicable). */
export function evaluateCondition(expression: string, env: FhirPathEnv, where: string): boolean {
  const out = evaluate(expression, env, where);
  if (out.length === 0) return false;
  if (out.length === 1 && typeof out[0] === 'boolean') return out[0];
  throw unprocessable({ code: 'processing', diagnostics: `${where} must yield a single boolean; it yielded ${JSON.stringify(out).slice(0, 200)}.` });
}

/** Named expressions (the `variable` extension), evaluated in order; each sees the ones before it. */
export function withVariables(resource: fhir4.DomainResource, env: FhirPathEnv, owner: string): FhirPathEnv {
  const variables = (resource.extension ?? []).filter((e) => e.url === EXT_VARIABLE && e.valueExpression?.name && e.valueExpression.expression);
  if (variables.length === 0) return env;
  const next: FhirPathEnv = { ...env };
  for (const v of variables) {
    const { name, expression } = v.valueExpression as { name: string; expression: string };
    next[name] = evaluate(expression, next, `variable %${name} of ${owner}`);
  }
  return next;
}
