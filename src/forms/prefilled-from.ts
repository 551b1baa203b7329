/**
 * `ext-prefilled-from` on an answer says the value came from the patient's record (an Observation), and the
 * rules word that answer's basis "pre-filled from the record (…, recorded YYYY-MM-DD)". A client can send the
 * marker on any value, so a response from outside is only believed when the record proves it: the marker names
 * an Observation of the response's own subject whose value (and unit) equals the answer. Anything else loses
 * the marker; the answer stays and is then the submitter's. Pure: the Observation read is injected.
 */
import { indexQuestionnaire } from './questionnaire-index.js';
import { asArray, isObject, own } from './sdc.js';

export const PREFILLED_FROM = 'https://periplan.app/fhir/StructureDefinition/ext-prefilled-from';
const QUESTIONNAIRE_UNIT = 'http://hl7.org/fhir/StructureDefinition/questionnaire-unit';

/** More markers than any intake carries (it pre-fills one measurement); the rest are stripped unread. */
export const MAX_CHECKED_MARKERS = 10;

const OBSERVATION_REFERENCE = /^Observation\/([A-Za-z0-9\-.]{1,64})(?:\/_history\/[A-Za-z0-9\-.]{1,64})?$/;

export interface PrefilledFromOptions {
  /**
   * Reads `Observation/<id>` from the patient's record. Rejecting, or resolving to anything but that
   * Observation, counts as "cannot be read": the marker is stripped (the record is never named as the
   * source of a value without proof).
   */
  readObservation: (id: string) => Promise<unknown>;
  /** The response's Questionnaire, for the unit of an item (`questionnaire-unit`); without it only values are compared. */
  questionnaire?: fhir4.Questionnaire;
}

export interface StrippedMarker {
  linkId: string;
  /** The Observation the marker named, when it named one. */
  observation?: string;
  reason: string;
}

export interface PrefilledFromResult {
  /** The response with every marker either proven (and re-dated from the Observation) or removed. */
  response: fhir4.QuestionnaireResponse;
  stripped: StrippedMarker[];
}

type Answer = fhir4.QuestionnaireResponseItemAnswer;

/** The effective date of an Observation, as `$populate` records it. */
function recordedAt(o: fhir4.Observation): string | undefined {
  return o.effectiveDateTime ?? o.effectivePeriod?.end ?? o.effectivePeriod?.start ?? o.issued;
}

/** `Patient/<id>` at the end of a reference (relative or absolute), else undefined. */
function patientOf(reference: string | undefined): string | undefined {
  return /(?:^|\/)(Patient\/[A-Za-z0-9\-.]{1,64})$/.exec(reference ?? '')?.[1];
}

function numberOf(answer: Answer): number | undefined {
  const v = answer.valueDecimal ?? answer.valueInteger ?? answer.valueQuantity?.value;
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}

/** The unit code an item's answers are in: the answer's own Quantity code, else the item's questionnaire-unit. */
function unitsByLinkId(questionnaire: fhir4.Questionnaire | undefined): Map<string, string> {
  const units = new Map<string, string>();
  if (!questionnaire) return units;
  for (const [linkId, entry] of indexQuestionnaire(questionnaire).byLinkId) {
    const ext = asArray(own(entry.item, 'extension')).find((e) => isObject(e) && own(e, 'url') === QUESTIONNAIRE_UNIT);
    const coding = own(ext, 'valueCoding');
    const code = own(coding, 'code') ?? own(coding, 'display');
    if (typeof code === 'string') units.set(linkId, code);
  }
  return units;
}

/** Why `observation` does not prove `answer` for `subject`; undefined when it does. */
function mismatch(
  observation: unknown,
  id: string,
  subject: string | undefined,
  answer: Answer,
  unit: string | undefined,
): string | undefined {
  if (!isObject(observation) || own(observation, 'resourceType') !== 'Observation' || own(observation, 'id') !== id)
    return 'the Observation could not be read from the record';
  const o = observation as unknown as fhir4.Observation;
  if (!subject || patientOf(o.subject?.reference) !== subject) return "the Observation is not the response subject's";
  if (o.status === 'entered-in-error' || o.status === 'cancelled') return `the Observation is ${o.status}`;
  return valueMismatch(o, answer, unit);
}

/** Why the Observation's value is not the answer (another number, another unit); undefined when it is. */
function valueMismatch(o: fhir4.Observation, answer: Answer, unit: string | undefined): string | undefined {
  const value = numberOf(answer);
  const recorded = o.valueQuantity?.value;
  if (value === undefined || typeof recorded !== 'number' || Math.abs(recorded - value) > 1e-9)
    return "the answer is not the Observation's value";
  const expected = answer.valueQuantity?.code ?? answer.valueQuantity?.unit ?? unit;
  const actual = o.valueQuantity?.code ?? o.valueQuantity?.unit;
  if (expected !== undefined && actual !== expected)
    return `the Observation is in ${actual ?? 'no unit'}, not ${expected}`;
  return undefined;
}

/** In plain words, for the caller told about a removed marker (a `$submit` warning, a `$apply` note). */
export function strippedMarkerWarning(s: StrippedMarker): string {
  return `The answer to "${s.linkId}" is not marked as taken from the record${s.observation ? ` (${s.observation})` : ''}: ${s.reason}. It counts as given by whoever submitted the form.`;
}

/** Every answer that carries a marker, with its item's linkId, in document order. */
function markedAnswers(items: unknown, into: { linkId: string; answer: Answer; marker: fhir4.Extension }[] = []) {
  for (const item of asArray(items)) {
    if (!isObject(item)) continue;
    for (const answer of asArray(own(item, 'answer'))) {
      if (!isObject(answer)) continue;
      const marker = asArray(own(answer, 'extension')).find((e) => isObject(e) && own(e, 'url') === PREFILLED_FROM);
      if (marker) into.push({ linkId: String(own(item, 'linkId')), answer: answer, marker: marker as fhir4.Extension });
      markedAnswers(own(answer, 'item'), into);
    }
    markedAnswers(own(item, 'item'), into);
  }
  return into;
}

/**
 * Check every answer's `ext-prefilled-from` against the record. A proven marker is rebuilt from the
 * Observation itself (its reference and its date), so the date the basis shows is the record's, whatever the
 * client wrote. The response is returned unchanged (the same object) when it carries no marker; otherwise a
 * copy is changed, never the caller's response.
 */
export async function verifyPrefilledFrom(
  response: fhir4.QuestionnaireResponse,
  options: PrefilledFromOptions,
): Promise<PrefilledFromResult> {
  if (!isObject(response) || markedAnswers(response.item).length === 0) return { response, stripped: [] };
  const copy = structuredClone(response);
  const marked = markedAnswers(copy.item);
  const subject = patientOf(response.subject?.reference);
  const units = unitsByLinkId(options.questionnaire);
  const reads = new Map<string, Promise<unknown>>();
  const read = (id: string): Promise<unknown> => {
    let p = reads.get(id);
    if (!p) {
      p = options.readObservation(id).catch(() => undefined);
      reads.set(id, p);
    }
    return p;
  };
  type Verdict = { linkId: string; answer: Answer; observation?: string } & (
    { reason: string } | { source: fhir4.Observation }
  );
  const verdicts = await Promise.all(
    marked.map(async ({ linkId, answer, marker }): Promise<Verdict> => {
      const reference = asArray(marker.extension).find((e) => isObject(e) && own(e, 'url') === 'observation');
      const ref = own(own(reference, 'valueReference'), 'reference');
      const id = typeof ref === 'string' ? OBSERVATION_REFERENCE.exec(ref)?.[1] : undefined;
      if (!id) return { linkId, answer, reason: 'it names no Observation in the record' };
      const observation = `Observation/${id}`;
      if (!reads.has(id) && reads.size >= MAX_CHECKED_MARKERS)
        return { linkId, answer, observation, reason: 'too many pre-filled answers to check' };
      const found = await read(id);
      const reason = mismatch(found, id, subject, answer, units.get(linkId));
      return reason
        ? { linkId, answer, observation, reason }
        : { linkId, answer, observation, source: found as fhir4.Observation };
    }),
  );
  const stripped: StrippedMarker[] = [];
  for (const v of verdicts) {
    const others = asArray(v.answer.extension).filter(
      (e) => !(isObject(e) && own(e, 'url') === PREFILLED_FROM),
    ) as fhir4.Extension[];
    if ('reason' in v) {
      stripped.push({ linkId: v.linkId, ...(v.observation ? { observation: v.observation } : {}), reason: v.reason });
      if (others.length) v.answer.extension = others;
      else delete v.answer.extension;
      continue;
    }
    const date = recordedAt(v.source);
    v.answer.extension = [
      ...others,
      {
        url: PREFILLED_FROM,
        extension: [
          { url: 'observation', valueReference: { reference: v.observation } },
          ...(date ? [{ url: 'date', valueDateTime: date }] : []),
        ],
      },
    ];
  }
  return { response: copy, stripped };
}
