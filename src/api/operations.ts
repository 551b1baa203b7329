/**
 * The FHIR operations: PlanDefinition/$apply, QuestionnaireResponse/$validate and $extract,
 * Questionnaire/$populate. Each takes the parsed JSON body and returns a FHIR resource; the domain work
 * is done by the rules and forms modules, this file only reads the input, picks the content, and gathers
 * the subject's data (request first, then the configured FHIR server).
 */
import type { KnowledgeBase } from '../knowledge/index.js';
import { badRequest, FhirError, hasErrors, notFound, unprocessable } from '../outcomes/index.js';
import { applyPlanDefinition } from '../rules/index.js';
import {
  extractFromResponse,
  populateQuestionnaire,
  strippedMarkerWarning,
  validateQuestionnaireResponse,
  verifyPrefilledFrom,
} from '../forms/index.js';
import { validateResource } from '../validation/index.js';
import { patientIdOf, searchLocal, type SubjectDataSource } from './data-source.js';
import {
  checkNames,
  describeRoot,
  find,
  readParameterList,
  readParameters,
  resourceOf,
  valueOf,
  type ParameterAt,
} from './parameters.js';

export interface OperationContext {
  knowledge: KnowledgeBase;
  dataSource?: SubjectDataSource;
}

/** Standard $apply parameters that this engine does not use; accepted and ignored so generic clients work. */
const IGNORED_APPLY_PARAMS = [
  'encounter',
  'practitioner',
  'organization',
  'userType',
  'userLanguage',
  'userTaskContext',
  'setting',
  'settingContext',
  'parameters',
];

// ---------------------------------------------------------------------------------------------- $apply

/** One subject's data is a handful of resources; thousands would only be a way to burn CPU in validation. */
export const MAX_DATA_ENTRIES = 1000;

export interface ApplyRequest {
  /** Instance-level: the PlanDefinition id from the path. */
  id?: string;
  /** Type-level: `url` from the query string (the body's `url` parameter also works). */
  queryUrl?: string;
  body: unknown;
}

export async function applyOperation(ctx: OperationContext, req: ApplyRequest): Promise<fhir4.CarePlan> {
  const params = readParameters(req.body, '$apply');
  checkNames(params, { subject: {}, data: {}, useServerData: {}, url: {}, planDefinition: {} }, IGNORED_APPLY_PARAMS);

  const planDefinition = pickPlanDefinition(ctx, req, params);

  const subjectParam = find(params, 'subject');
  if (!subjectParam)
    throw badRequest(
      '$apply needs the parameter \'subject\' (valueString such as "Patient/123").',
      'Parameters.parameter',
    );
  const subject = valueOf(subjectParam, ['valueString', 'valueReference']);
  const subjectRef =
    subject.kind === 'valueReference' ? (subject.value as fhir4.Reference).reference : (subject.value as string);
  if (typeof subjectRef !== 'string' || patientIdOf(subjectRef) === undefined) {
    throw badRequest(
      `subject must be a Patient reference such as "Patient/123"; got ${JSON.stringify(subjectRef ?? null).slice(0, 80)}.`,
      `${subjectParam.path}.${subject.kind}`,
    );
  }

  const data: fhir4.FhirResource[] = [];
  const dataParam = find(params, 'data');
  if (dataParam) data.push(...collectionEntries(dataParam));

  const useServer = readUseServerData(ctx, params);
  const fetched = useServer ? await ctx.dataSource!.fetchForSubject(subjectRef) : { resources: [], warnings: [] };
  const stripped = await proveRecordSources(ctx, data, fetched.resources);
  data.push(...fetched.resources);

  const carePlan = applyPlanDefinition(planDefinition, { subject: subjectRef, data, knowledge: ctx.knowledge });
  // The server had more than was read: the answer is said to rest on part of the record, never silently.
  const warnings = [...fetched.warnings, ...stripped];
  if (warnings.length)
    carePlan.note = [...(carePlan.note ?? []), ...warnings.map((text) => ({ text: `Warning: ${text}` }))];
  return carePlan;
}

/**
 * A response the caller sent may claim an answer came from the record (`ext-prefilled-from`); the claim is
 * kept only when an Observation read from the server for this request proves it (the subject's body weights,
 * read with the caller's token when useServerData is on). Nothing else is read for it: without server data,
 * every such claim is removed. Observations the caller sent prove nothing. Returns what was removed, in words.
 */
async function proveRecordSources(
  ctx: OperationContext,
  data: fhir4.FhirResource[],
  fromServer: readonly fhir4.FhirResource[],
): Promise<string[]> {
  const recorded = fromServer.filter((r): r is fhir4.Observation => r.resourceType === 'Observation');
  const warnings: string[] = [];
  for (let i = 0; i < data.length; i++) {
    const r = data[i]!;
    if (r.resourceType !== 'QuestionnaireResponse') continue;
    const questionnaire = ctx.knowledge.resolve(
      typeof r.questionnaire === 'string' ? r.questionnaire : '',
      'Questionnaire',
    );
    const checked = await verifyPrefilledFrom(r, {
      ...(questionnaire ? { questionnaire } : {}),
      readObservation: async (id) => recorded.find((o) => o.id === id),
    });
    data[i] = checked.response;
    warnings.push(...checked.stripped.map(strippedMarkerWarning));
  }
  return warnings;
}

function pickPlanDefinition(ctx: OperationContext, req: ApplyRequest, params: ParameterAt[]): fhir4.PlanDefinition {
  if (req.id !== undefined) {
    const pd = ctx.knowledge.read('PlanDefinition', req.id);
    if (!pd) throw notFound(`There is no PlanDefinition with id '${req.id.slice(0, 64)}'.`);
    return pd as fhir4.PlanDefinition;
  }
  const urlParam = find(params, 'url') ?? find(params, 'planDefinition');
  let canonical: string | undefined = req.queryUrl;
  let where = 'url';
  if (urlParam) {
    const v = valueOf(urlParam, ['valueUri', 'valueCanonical', 'valueUrl', 'valueString']);
    canonical = v.value as string;
    where = `${urlParam.path}.${v.kind}`;
  }
  if (canonical === undefined || canonical === '') {
    throw badRequest(
      "PlanDefinition/$apply needs the PlanDefinition: a 'url' parameter (canonical url or url|version), or use PlanDefinition/{id}/$apply.",
      'Parameters.parameter',
    );
  }
  const pd = ctx.knowledge.resolve(canonical, 'PlanDefinition');
  if (!pd) throw notFound(`There is no PlanDefinition with canonical '${canonical.slice(0, 200)}'.`, where);
  return pd;
}

/** `data`: a Bundle of type collection; each entry's resource is checked structurally (R4) first. */
function collectionEntries(p: ParameterAt): fhir4.FhirResource[] {
  const bundle = resourceOf<fhir4.Bundle>(p, 'Bundle');
  const at = `${p.path}.resource`;
  if (bundle.type !== 'collection')
    throw badRequest(
      `The 'data' Bundle must be of type 'collection'; got ${JSON.stringify(bundle.type ?? null).slice(0, 40)}.`,
      `${at}.type`,
    );
  if (bundle.entry !== undefined && !Array.isArray(bundle.entry))
    throw badRequest("The 'data' Bundle's entry must be an array.", `${at}.entry`);
  if ((bundle.entry?.length ?? 0) > MAX_DATA_ENTRIES) {
    throw new FhirError(400, {
      code: 'too-costly',
      diagnostics: `The 'data' Bundle has ${bundle.entry!.length} entries; at most ${MAX_DATA_ENTRIES} are accepted (one patient's data needs far fewer).`,
      expression: `${at}.entry`,
    });
  }
  const out: fhir4.FhirResource[] = [];
  (bundle.entry ?? []).forEach((entry, i) => {
    const resource = (entry as { resource?: unknown } | null)?.resource;
    const entryPath = `${at}.entry[${i}].resource`;
    const type = describeRoot(resource);
    if (type === 'a JSON value without resourceType')
      throw badRequest(`Every entry of the 'data' Bundle needs a resource; entry[${i}] has none.`, entryPath);
    const issues = validateResource(resource).filter((x) => x.severity === 'error' || x.severity === 'fatal');
    if (issues.length > 0)
      throw new FhirError(
        400,
        issues.map((x) => ({
          ...x,
          code: x.code,
          diagnostics: x.diagnostics ?? 'Invalid element.',
          expression: rebase(x.expression, type, entryPath),
        })),
      );
    out.push(resource as fhir4.FhirResource);
  });
  return out;
}

/** `QuestionnaireResponse.item[0]` found inside a parameter -> `Parameters.parameter[1].resource.entry[0].resource.item[0]`. */
function rebase(expressions: string[] | undefined, type: string, base: string): string[] | undefined {
  return expressions?.map((e) =>
    e === type ? base : e.startsWith(`${type}.`) ? `${base}${e.slice(type.length)}` : `${base}.${e}`,
  );
}

function readUseServerData(ctx: OperationContext, params: ParameterAt[]): boolean {
  const p = find(params, 'useServerData');
  if (!p) return ctx.dataSource !== undefined;
  const { value } = valueOf(p, ['valueBoolean']);
  if (value === true && !ctx.dataSource) {
    throw new FhirError(400, {
      code: 'not-supported',
      diagnostics:
        'useServerData is true but this server has no FHIR data source configured (FHIR_SERVER_URL); send the data in the data Bundle.',
      expression: `${p.path}.valueBoolean`,
    });
  }
  return value === true;
}

// ---------------------------------------------------------------------------------- $validate, $extract

/** The QuestionnaireResponse sent either as the body or inside Parameters under `paramName`. */
function responseFromBody(body: unknown, operation: string, paramName: string): fhir4.QuestionnaireResponse {
  if (body === undefined)
    throw badRequest(
      `${operation} needs a QuestionnaireResponse (or Parameters with '${paramName}') as the request body.`,
    );
  const type = describeRoot(body);
  if (type === 'QuestionnaireResponse') return body as fhir4.QuestionnaireResponse;
  if (type === 'Parameters') {
    const params = readParameters(body, operation);
    checkNames(params, { [paramName]: {}, mode: {}, profile: {} });
    const p = find(params, paramName);
    if (!p)
      throw badRequest(
        `${operation} needs the parameter '${paramName}' holding a QuestionnaireResponse.`,
        'Parameters.parameter',
      );
    return resourceOf<fhir4.QuestionnaireResponse>(p, 'QuestionnaireResponse');
  }
  throw badRequest(
    `${operation} expects a QuestionnaireResponse (or Parameters); got ${type}.`,
    type === 'a JSON value without resourceType' ? undefined : type,
  );
}

/**
 * The Questionnaire a response names. Unknown or missing -> 422 (the request is well-formed, but this
 * server cannot check or extract a response to a form it does not have).
 */
function questionnaireOf(ctx: OperationContext, response: fhir4.QuestionnaireResponse): fhir4.Questionnaire {
  const canonical = response.questionnaire;
  if (typeof canonical !== 'string' || canonical === '') {
    throw unprocessable({
      code: 'required',
      diagnostics: 'The QuestionnaireResponse does not name its Questionnaire (questionnaire is missing).',
      expression: 'QuestionnaireResponse.questionnaire',
    });
  }
  const q = ctx.knowledge.resolve(canonical, 'Questionnaire');
  if (!q) {
    throw unprocessable({
      code: 'not-found',
      diagnostics: `The QuestionnaireResponse answers the Questionnaire '${canonical.slice(0, 200)}', which this server does not know.`,
      expression: 'QuestionnaireResponse.questionnaire',
    });
  }
  return q;
}

export function validateOperation(ctx: OperationContext, body: unknown): fhir4.OperationOutcome {
  const response = responseFromBody(body, '$validate', 'resource');
  questionnaireOf(ctx, response);
  return validateQuestionnaireResponse(response, {
    resolveQuestionnaire: (c) => ctx.knowledge.resolve(c, 'Questionnaire'),
  });
}

export async function extractOperation(ctx: OperationContext, body: unknown): Promise<fhir4.Bundle> {
  const response = responseFromBody(body, '$extract', 'questionnaire-response');
  const questionnaire = questionnaireOf(ctx, response);
  // Extracting from an invalid response would write wrong data into the record: refuse with the reasons.
  const outcome = validateQuestionnaireResponse(response, {
    resolveQuestionnaire: (c) => ctx.knowledge.resolve(c, 'Questionnaire'),
  });
  if (hasErrors(outcome)) {
    throw unprocessable(
      outcome.issue
        .filter((i) => i.severity === 'error' || i.severity === 'fatal')
        .map((i) => ({
          severity: i.severity,
          code: i.code,
          diagnostics: i.diagnostics ?? 'Invalid response.',
          expression: i.expression,
        })),
    );
  }
  return extractFromResponse(response, questionnaire);
}

// ---------------------------------------------------------------------------------------------- $populate

/** The id of the Patient that $populate's 'subject' references (a 400 when it is missing or not a Patient). */
function populateSubjectId(params: ParameterAt[]): string {
  const subjectParam = find(params, 'subject');
  if (!subjectParam)
    throw badRequest(
      "$populate needs the parameter 'subject' (valueReference to the Patient).",
      'Parameters.parameter',
    );
  const subjectValue = valueOf(subjectParam, ['valueReference']);
  const subjectRef = (subjectValue.value as fhir4.Reference).reference;
  const patientId = typeof subjectRef === 'string' ? patientIdOf(subjectRef) : undefined;
  if (patientId === undefined)
    throw badRequest(
      'subject must reference a Patient, e.g. {"reference": "Patient/123"}.',
      `${subjectParam.path}.valueReference.reference`,
    );
  return patientId;
}

/** The resources sent as 'context' parts: the Patient (which must be the subject) and the rest. */
function readPopulateContext(
  params: ParameterAt[],
  patientId: string,
): { patient: fhir4.Patient | undefined; localResources: fhir4.FhirResource[] } {
  // context parts: {name, content (Reference | resource)}; resources sent here answer the form's queries.
  let patient: fhir4.Patient | undefined;
  const localResources: fhir4.FhirResource[] = [];
  for (const p of params.filter((x) => x.parameter.name === 'context')) {
    const parts = readParameterList(p.parameter.part ?? [], `${p.path}.part`);
    const nameP = find(parts, 'name');
    const content = find(parts, 'content');
    if (!nameP || !content) throw badRequest("Each 'context' needs the parts 'name' and 'content'.", `${p.path}.part`);
    const name = valueOf(nameP, ['valueString']).value as string;
    const resource = content.parameter.resource as fhir4.FhirResource | undefined;
    if (!resource) continue; // a bare Reference: read from the server below when one is connected
    if (name === 'patient') {
      patient = resourceOf<fhir4.Patient>(content, 'Patient');
      if (patient.id !== patientId)
        throw badRequest(
          `The 'patient' context is Patient/${String(patient.id).slice(0, 64)} but subject is Patient/${patientId}.`,
          `${content.path}.resource.id`,
        );
    } else localResources.push(resource);
  }
  return { patient, localResources };
}

export async function populateOperation(
  ctx: OperationContext,
  req: { id?: string; body: unknown },
): Promise<fhir4.Parameters> {
  const params = readParameters(req.body, '$populate');
  checkNames(params, {
    subject: {},
    context: { max: 50 },
    local: {},
    questionnaire: {},
    questionnaireRef: {},
    canonical: {},
    identifier: {},
  });

  const questionnaire = pickQuestionnaire(ctx, req.id, params);

  const patientId = populateSubjectId(params);

  const localParam = find(params, 'local');
  const useServer = localParam
    ? valueOf(localParam, ['valueBoolean']).value === true && ctx.dataSource !== undefined
    : ctx.dataSource !== undefined;

  const context = readPopulateContext(params, patientId);
  let patient = context.patient;
  const localResources = context.localResources;

  if (!patient && useServer) {
    const fetched = await ctx.dataSource!.fetchForSubject(`Patient/${patientId}`);
    patient = fetched.resources.find((r): r is fhir4.Patient => r.resourceType === 'Patient' && r.id === patientId);
  }
  if (!patient) {
    throw unprocessable({
      code: 'not-found',
      diagnostics: `$populate needs the Patient/${patientId} resource: send it as a 'context' named 'patient' with the resource as content${ctx.dataSource ? ', or make it readable on the FHIR server' : ''}.`,
      expression: 'Parameters.parameter',
    });
  }

  const readWarnings: string[] = [];
  const fetchResources = async (query: string): Promise<fhir4.Bundle> => {
    const local = searchLocal([patient, ...localResources], query);
    if (!useServer) return local;
    const remote = await ctx.dataSource!.search(query);
    readWarnings.push(...remote.warnings);
    const entry = [...(local.entry ?? []), ...(remote.bundle.entry ?? [])];
    return { resourceType: 'Bundle', type: 'searchset', total: entry.length, entry };
  };

  const { response, outcome } = await populateQuestionnaire(questionnaire, { subject: patient, fetchResources });
  for (const text of readWarnings) outcome.issue.push({ severity: 'warning', code: 'incomplete', diagnostics: text });
  const parameter: fhir4.ParametersParameter[] = [{ name: 'response', resource: response }];
  if (outcome.issue.length > 0) parameter.push({ name: 'issues', resource: outcome });
  return { resourceType: 'Parameters', parameter };
}

function pickQuestionnaire(ctx: OperationContext, id: string | undefined, params: ParameterAt[]): fhir4.Questionnaire {
  if (id !== undefined) {
    const q = ctx.knowledge.read('Questionnaire', id);
    if (!q) throw notFound(`There is no Questionnaire with id '${id.slice(0, 64)}'.`);
    return q as fhir4.Questionnaire;
  }
  const inline = find(params, 'questionnaire');
  if (inline) return resourceOf<fhir4.Questionnaire>(inline, 'Questionnaire');
  const ref = find(params, 'canonical') ?? find(params, 'questionnaireRef');
  if (!ref)
    throw badRequest(
      "Questionnaire/$populate needs 'canonical' (the Questionnaire's url) or 'questionnaire', or use Questionnaire/{id}/$populate.",
      'Parameters.parameter',
    );
  const v = valueOf(ref, ['valueCanonical', 'valueUri', 'valueString', 'valueReference']);
  const canonical = v.kind === 'valueReference' ? (v.value as fhir4.Reference).reference : (v.value as string);
  const q =
    typeof canonical === 'string'
      ? (ctx.knowledge.resolve(canonical, 'Questionnaire') ??
        ctx.knowledge.read('Questionnaire', canonical.replace(/^Questionnaire\//, '')))
      : undefined;
  if (!q) throw notFound(`There is no Questionnaire '${String(canonical).slice(0, 200)}'.`, `${ref.path}.${v.kind}`);
  return q as fhir4.Questionnaire;
}
