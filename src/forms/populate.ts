/**
 * $populate: a new in-progress QuestionnaireResponse pre-filled from the patient's record, using
 * @aehrc/sdc-populate (the library behind Smart Forms) on the Questionnaire's own SDC markup:
 * the `patient` launchContext + initialExpression for `age`, and a sourceQueries batch (the latest body-weight
 * Observation) + initialExpression for `weight-kg`. FHIR reads go through the injected `fetchResources`; nothing here knows about HTTP.
 */
import { populateQuestionnaire as sdcPopulate } from '@aehrc/sdc-populate';
import { badRequest, issue, operationOutcome } from '../outcomes/index.js';
import { applyCalculatedExpressions } from './calculate.js';
import { answerValueKeys, canonicalOf, indexQuestionnaire } from './questionnaire-index.js';
import { asArray, isObject, own, valueOf } from './sdc.js';
import { PREFILLED_FROM } from './prefilled-from.js';
import { printable } from '../platform/text.js';

export interface PopulateOptions {
  subject: fhir4.Patient;
  /** A FHIR search relative to the server base (e.g. `Observation?subject=Patient/1&code=...`), answered with a Bundle. */
  fetchResources: (query: string) => Promise<fhir4.Bundle>;
  /** When the response is authored (ISO dateTime); defaults to now. Age is computed at this date. */
  authored?: string;
}

export interface PopulateResult {
  response: fhir4.QuestionnaireResponse;
  /** Warnings and information about what could not be filled; never errors (those are thrown). */
  outcome: fhir4.OperationOutcome;
}

const INITIAL_EXPRESSION = 'http://hl7.org/fhir/uv/sdc/StructureDefinition/sdc-questionnaire-initialExpression';

/** sdc-populate otherwise keeps a 30 s timer alive; FHIR reads for two items should never take this long. */
const POPULATE_TIMEOUT_MS = 10_000;

export async function populateQuestionnaire(
  questionnaire: fhir4.Questionnaire,
  options: PopulateOptions,
): Promise<PopulateResult> {
  const { patient, authored } = checkedInput(questionnaire, options);
  const reads = recordReads(options.fetchResources);

  // sdc-populate writes into the Questionnaire it is given (it resolves the launchContext and x-fhir-query
  // variables in place, e.g. `Patient/{{%patient.id}}` becomes this patient's id). The Questionnaire is the
  // knowledge base's, shared by every patient: the library gets its own copy, made per call.
  const { populateResult } = await sdcPopulate({
    questionnaire: structuredClone(questionnaire),
    patient: patient,
    fetchResourceCallback: reads.fetchResourceCallback,
    fetchResourceRequestConfig: { sourceServerUrl: 'urn:periplan:injected/' },
    timeoutMs: POPULATE_TIMEOUT_MS,
  });

  const populated = (populateResult?.populatedResponse as unknown as fhir4.QuestionnaireResponse | undefined) ?? {
    resourceType: 'QuestionnaireResponse',
    status: 'in-progress',
  };
  const warnings: fhir4.OperationOutcomeIssue[] = [
    ...populationIssues(populateResult?.issues as fhir4.OperationOutcome | undefined),
    ...reads.failures.map(readFailureWarning),
  ];

  let response: fhir4.QuestionnaireResponse = {
    resourceType: 'QuestionnaireResponse',
    questionnaire: canonicalOf(questionnaire),
    status: 'in-progress',
    subject: { reference: `Patient/${patient.id}` },
    authored,
  };
  if (populated.item?.length) response.item = populated.item;
  fixAgeAtAuthored(response, patient, authored);
  response = applyCalculatedExpressions(questionnaire, response);
  dropMistypedAnswers(questionnaire, response, warnings);
  markPrefilledFromRecord(questionnaire, response, reads.fetched);

  warnings.push(...leftForThePatient(questionnaire, response, patient, reads.failures));
  return { response, outcome: populateOutcome(warnings) };
}

/** The Questionnaire, the subject (a Patient with an id) and the authored date-time, else 400. */
function checkedInput(
  questionnaire: fhir4.Questionnaire,
  options: PopulateOptions,
): { patient: fhir4.Patient; authored: string } {
  if (!isObject(questionnaire) || questionnaire.resourceType !== 'Questionnaire')
    throw badRequest('$populate needs a Questionnaire', 'Questionnaire');
  const patient = options.subject;
  if (!isObject(patient) || patient.resourceType !== 'Patient' || typeof patient.id !== 'string' || patient.id === '') {
    throw badRequest(
      '$populate needs the subject as a Patient resource with an id',
      "Parameters.parameter.where(name = 'subject')",
    );
  }
  const authored = options.authored ?? new Date().toISOString();
  if (Number.isNaN(Date.parse(authored)))
    throw badRequest(
      `authored ${JSON.stringify(authored)} is not a date-time`,
      "Parameters.parameter.where(name = 'authored')",
    );
  return { patient, authored };
}

/** The library's reads of the record, with what each returned (newest first) and which failed. */
function recordReads(fetchResources: PopulateOptions['fetchResources']): {
  fetchResourceCallback: (query: string) => Promise<unknown>;
  fetched: fhir4.Bundle[];
  failures: string[];
} {
  const failures: string[] = [];
  const fetched: fhir4.Bundle[] = [];
  const fetchResourceCallback = async (query: string): Promise<unknown> => {
    try {
      const bundle = newestFirst(query, await fetchResources(query));
      fetched.push(bundle);
      return withAxiosShape(bundle);
    } catch (err) {
      failures.push(`${query}: ${err instanceof Error ? err.message : String(err)}`);
      throw err;
    }
  };
  return { fetchResourceCallback, fetched, failures };
}

/** sdc-populate's own issues, as warnings. */
function populationIssues(outcome: fhir4.OperationOutcome | undefined): fhir4.OperationOutcomeIssue[] {
  return asArray(outcome?.issue)
    .filter(isObject)
    .map((i) =>
      issue({
        severity: 'warning',
        code: 'processing',
        diagnostics: printable(own(i, 'diagnostics') ?? own(own(i, 'details'), 'text') ?? 'Population issue'),
      }),
    );
}

function readFailureWarning(failure: string): fhir4.OperationOutcomeIssue {
  return issue({
    severity: 'warning',
    code: 'transient',
    diagnostics: `Could not read from the patient's record (${failure.slice(0, 300)}); the item is left for the patient to fill in`,
  });
}

/** What the record could not fill: age without a birth date, weight without a body-weight Observation. */
function leftForThePatient(
  questionnaire: fhir4.Questionnaire,
  response: fhir4.QuestionnaireResponse,
  patient: fhir4.Patient,
  readFailures: string[],
): fhir4.OperationOutcomeIssue[] {
  const out: fhir4.OperationOutcomeIssue[] = [];
  if (!patient.birthDate)
    out.push(
      issue({
        severity: 'warning',
        code: 'incomplete',
        diagnostics: 'The patient has no birth date, so age is left for the patient to fill in',
        expression: 'Patient.birthDate',
      }),
    );
  const hasItem = (linkId: string) => findItem(response.item, linkId)?.answer?.length;
  if (findQuestion(questionnaire.item, 'weight-kg') && !hasItem('weight-kg') && readFailures.length === 0) {
    out.push(
      issue({
        severity: 'information',
        code: 'informational',
        diagnostics:
          "No body weight in kg was found in the patient's record, so weight is left for the patient to fill in",
      }),
    );
  }
  return out;
}

function populateOutcome(warnings: fhir4.OperationOutcomeIssue[]): fhir4.OperationOutcome {
  return operationOutcome(
    warnings.length > 0
      ? warnings
      : [
          issue({
            severity: 'information',
            code: 'informational',
            diagnostics: "Populated from the patient's record",
          }),
        ],
  );
}

/**
 * Say where a pre-filled measurement came from, so the clinician reading a flag's basis can tell a value taken
 * from the record (and how old it is) from one the patient gave: each numeric answer that equals the value of
 * an Observation read for this population, in an item the Questionnaire pre-fills (initialExpression), gets `ext-prefilled-from` naming the newest such Observation and its
 * date. Ages come from the birth date and are not marked.
 */
function markPrefilledFromRecord(
  questionnaire: fhir4.Questionnaire,
  response: fhir4.QuestionnaireResponse,
  fetched: readonly fhir4.Bundle[],
): void {
  const index = indexQuestionnaire(questionnaire);
  const prefillable = (linkId: string) =>
    asArray(own(index.byLinkId.get(linkId)?.item, 'extension')).some(
      (e) => isObject(e) && own(e, 'url') === INITIAL_EXPRESSION,
    );
  const observations: fhir4.Observation[] = [];
  const collect = (bundle: fhir4.Bundle | undefined): void => {
    for (const entry of bundle?.entry ?? []) {
      const r = entry.resource;
      if (r?.resourceType === 'Observation') observations.push(r as fhir4.Observation);
      else if (r?.resourceType === 'Bundle') collect(r as fhir4.Bundle);
    }
  };
  for (const bundle of fetched) collect(bundle);
  if (observations.length === 0) return;
  const when = (o: fhir4.Observation) =>
    o.effectiveDateTime ?? o.effectivePeriod?.end ?? o.effectivePeriod?.start ?? o.issued;
  const byNewest = [...observations].sort(
    (a, b) => (Date.parse(when(b) ?? '') || -Infinity) - (Date.parse(when(a) ?? '') || -Infinity),
  );
  const visit = (items: fhir4.QuestionnaireResponseItem[] | undefined): void => {
    for (const item of items ?? []) {
      if (item.linkId !== 'age' && prefillable(item.linkId)) {
        for (const answer of item.answer ?? []) {
          const value = answer.valueDecimal ?? answer.valueInteger ?? answer.valueQuantity?.value;
          if (typeof value !== 'number') continue;
          const source = byNewest.find(
            (o) => typeof o.valueQuantity?.value === 'number' && Math.abs(o.valueQuantity.value - value) < 1e-9 && o.id,
          );
          if (!source) continue;
          const date = when(source);
          answer.extension = [
            ...(answer.extension ?? []).filter((e) => e.url !== PREFILLED_FROM),
            {
              url: PREFILLED_FROM,
              extension: [
                { url: 'observation', valueReference: { reference: `Observation/${source.id}` } },
                ...(date ? [{ url: 'date', valueDateTime: date }] : []),
              ],
            },
          ];
        }
      }
      visit(item.item);
    }
  };
  visit(response.item);
}

/**
 * sdc-populate reads sourceQueries results from `response.data` (the axios shape) but x-fhir-query results from
 * the response itself. A Bundle that also answers `.data` (not enumerable, so never serialised) suits both.
 */
function withAxiosShape(bundle: fhir4.Bundle): fhir4.Bundle {
  const copy = { ...bundle };
  Object.defineProperty(copy, 'data', { value: copy, enumerable: false });
  return copy;
}

/**
 * Servers may ignore `_sort`; when the query asks for newest first, make it so, so that "latest weight"
 * does not depend on the server's default order.
 */
function newestFirst(query: string, bundle: fhir4.Bundle): fhir4.Bundle {
  if (!/[?&]_sort=-date(&|$)/.test(query) || !Array.isArray(bundle?.entry)) return bundle;
  const when = (e: fhir4.BundleEntry) => {
    const r = e.resource as
      { effectiveDateTime?: string; effectivePeriod?: { end?: string; start?: string }; issued?: string } | undefined;
    const t = Date.parse(
      r?.effectiveDateTime ?? r?.effectivePeriod?.end ?? r?.effectivePeriod?.start ?? r?.issued ?? '',
    );
    return Number.isNaN(t) ? -Infinity : t;
  };
  return { ...bundle, entry: [...bundle.entry].sort((a, b) => when(b) - when(a)) };
}

/**
 * The Questionnaire's initialExpression computes age at today's date (as LHC-Forms does while the patient
 * fills it in). A response authored on another date gets the age on that date, as the rules expect.
 */
function fixAgeAtAuthored(response: fhir4.QuestionnaireResponse, patient: fhir4.Patient, authored: string): void {
  const item = findItem(response.item, 'age');
  const birth = patient.birthDate;
  if (!item?.answer?.length || !birth || !/^\d{4}-\d{2}-\d{2}$/.test(birth)) return;
  const at = authored.slice(0, 10);
  let years = Number(at.slice(0, 4)) - Number(birth.slice(0, 4));
  if (at.slice(5) < birth.slice(5)) years -= 1;
  if (Number.isInteger(years) && years >= 0) item.answer = [{ valueInteger: years }];
}

/**
 * sdc-populate can put a value of the wrong type into an item, e.g. the text "female" into a choice item whose
 * answers come from a ValueSet it could not expand. Such an answer would fail $validate; it is dropped
 * (the patient answers the question) and the outcome says so.
 */
function dropMistypedAnswers(
  questionnaire: fhir4.Questionnaire,
  response: fhir4.QuestionnaireResponse,
  warnings: fhir4.OperationOutcomeIssue[],
): void {
  const index = indexQuestionnaire(questionnaire);
  const visit = (items: fhir4.QuestionnaireResponseItem[] | undefined): void => {
    for (const item of items ?? []) {
      const q = index.byLinkId.get(item.linkId);
      const allowed = q ? answerValueKeys(q) : undefined;
      if (allowed && item.answer) {
        const kept = item.answer.filter((a) => {
          const key = valueOf(a)?.[0];
          return key === undefined || allowed.includes(key);
        });
        if (kept.length < item.answer.length) {
          warnings.push(
            issue({
              severity: 'warning',
              code: 'processing',
              diagnostics: `Could not pre-fill "${item.linkId}": the value found in the record is not of the item's type (${q?.type}); left for the patient to answer`,
            }),
          );
          if (kept.length > 0) item.answer = kept;
          else delete item.answer;
        }
      }
      visit(item.item);
      for (const a of item.answer ?? []) visit(a.item);
    }
  };
  // Items left with nothing in them are removed (an empty item is not valid R4).
  const prune = (
    items: fhir4.QuestionnaireResponseItem[] | undefined,
  ): fhir4.QuestionnaireResponseItem[] | undefined => {
    if (!items) return undefined;
    const out = items
      .map((i) => ({ ...i, item: prune(i.item) }))
      .filter((i) => (i.answer?.length ?? 0) > 0 || (i.item?.length ?? 0) > 0);
    for (const i of out) if (!i.item?.length) delete i.item;
    return out.length > 0 ? out : undefined;
  };
  visit(response.item);
  const pruned = prune(response.item);
  if (pruned) response.item = pruned;
  else delete response.item;
}

function findItem(
  items: fhir4.QuestionnaireResponseItem[] | undefined,
  linkId: string,
): fhir4.QuestionnaireResponseItem | undefined {
  for (const item of items ?? []) {
    if (item.linkId === linkId) return item;
    const inner = findItem(item.item, linkId);
    if (inner) return inner;
  }
  return undefined;
}

function findQuestion(
  items: fhir4.QuestionnaireItem[] | undefined,
  linkId: string,
): fhir4.QuestionnaireItem | undefined {
  for (const item of items ?? []) {
    if (item.linkId === linkId) return item;
    const inner = findQuestion(item.item, linkId);
    if (inner) return inner;
  }
  return undefined;
}
