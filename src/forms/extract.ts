/**
 * $extract (SDC observation-based extraction): one Observation per answer of every item marked with
 * `sdc-questionnaire-observationExtract` (on the item, an ancestor group or the Questionnaire) that has an
 * item.code. In the intake: pain-severity (LOINC 72514-3) and weight-kg (LOINC 29463-7, UCUM kg).
 *
 * The result is a transaction Bundle of conditional creates keyed on an identifier derived from the response
 * and the item, so extracting the same response twice creates each Observation once. The output is a pure
 * function of the input (fullUrls are name-based UUIDs), so retries send byte-identical bundles.
 */
import { createHash } from 'node:crypto';
import { badRequest, unprocessable } from '../outcomes/index.js';
import { Enablement } from './enablement.js';
import { canonicalOf, indexQuestionnaire, type IndexedItem } from './questionnaire-index.js';
import { buildResponseTree, type ResponseNode } from './response-tree.js';
import { asArray, asString, EXT, extensionsOf, isObject, jsonClone, own, valueOf, type Json } from './sdc.js';

export const EXTRACTED_OBSERVATION_IDENTIFIER_SYSTEM = 'https://periplan.app/fhir/sid/extracted-observation';

export async function extractFromResponse(
  response: fhir4.QuestionnaireResponse,
  questionnaire: fhir4.Questionnaire,
): Promise<fhir4.Bundle> {
  if (!isObject(response) || response.resourceType !== 'QuestionnaireResponse')
    throw badRequest('$extract needs a QuestionnaireResponse', 'QuestionnaireResponse');
  if (!isObject(questionnaire) || questionnaire.resourceType !== 'Questionnaire')
    throw badRequest('$extract needs the Questionnaire the response answers', 'Questionnaire');
  const named = typeof response.questionnaire === 'string' ? response.questionnaire.split('|')[0] : undefined;
  if (questionnaire.url && named !== questionnaire.url) {
    throw badRequest(
      `The response answers ${JSON.stringify(response.questionnaire ?? null)}, not ${canonicalOf(questionnaire)}`,
      'QuestionnaireResponse.questionnaire',
    );
  }
  if (response.status === 'entered-in-error' || response.status === 'stopped') {
    throw unprocessable({
      code: 'business-rule',
      diagnostics: `A response with status ${response.status} is not extracted`,
      expression: 'QuestionnaireResponse.status',
    });
  }
  const subject = response.subject;
  if (!subject?.reference) {
    throw unprocessable({
      code: 'required',
      diagnostics: 'The response has no subject, so extracted Observations would not belong to anyone',
      expression: 'QuestionnaireResponse.subject',
    });
  }

  const copy = jsonClone(response) as unknown as Json;
  const index = indexQuestionnaire(questionnaire);
  const tree = buildResponseTree(copy);
  for (const nodes of tree.byLinkId.values()) for (const n of nodes) n.qItem = index.byLinkId.get(n.linkId!);
  const enablement = new Enablement(index, tree, jsonClone(copy));
  const key = responseKey(response);

  const entries: fhir4.BundleEntry[] = [];
  const visit = (node: ResponseNode) => {
    for (const child of node.children) {
      const q = child.qItem;
      if (q && extractable(q, index.questionnaire) && enablement.stateOf(child) !== 'disabled') {
        child.answers.forEach((answer, i) => {
          const observation = toObservation(
            response,
            q,
            answer,
            `${key}.${q.linkId}${child.answers.length > 1 ? `.${i}` : ''}`,
          );
          if (observation) entries.push(entryFor(observation));
        });
      }
      visit(child);
    }
  };
  visit(tree.root);
  return { resourceType: 'Bundle', type: 'transaction', entry: entries };
}

/** observationExtract on the item, else inherited from the nearest ancestor (or the Questionnaire) that sets it. */
function extractable(q: IndexedItem, questionnaire: Json): boolean {
  if (!Array.isArray(own(q.item, 'code')) || asArray(own(q.item, 'code')).length === 0) return false;
  for (let p: IndexedItem | undefined = q; p; p = p.parent) {
    const flag = extensionsOf(p.item, EXT.observationExtract)[0];
    if (flag) return own(flag, 'valueBoolean') === true;
  }
  return own(extensionsOf(questionnaire, EXT.observationExtract)[0], 'valueBoolean') === true;
}

/**
 * A stable key for the response: its id, else its identifier, else a hash of what makes it this response.
 * Characters outside [A-Za-z0-9-.] are avoided so the key is usable in a search without escaping.
 */
function responseKey(response: fhir4.QuestionnaireResponse): string {
  if (response.id && /^[A-Za-z0-9\-.]{1,64}$/.test(response.id)) return `QuestionnaireResponse-${response.id}`;
  const basis = response.identifier?.value
    ? `${response.identifier.system ?? ''}|${response.identifier.value}`
    : JSON.stringify([response.questionnaire, response.subject?.reference, response.authored, response.item]);
  return `QuestionnaireResponse-${createHash('sha256').update(basis).digest('hex').slice(0, 32)}`;
}

function toObservation(
  response: fhir4.QuestionnaireResponse,
  q: IndexedItem,
  answer: Json,
  identifierValue: string,
): fhir4.Observation | undefined {
  const value = observationValue(q, answer);
  if (!value) return undefined;
  const coding = asArray(own(q.item, 'code')).filter(isObject) as fhir4.Coding[];
  const observation: fhir4.Observation = {
    resourceType: 'Observation',
    identifier: [{ system: EXTRACTED_OBSERVATION_IDENTIFIER_SYSTEM, value: identifierValue }],
    status: response.status === 'in-progress' ? 'preliminary' : 'final',
    code: { coding: coding.map((c) => ({ ...c })) },
    subject: { ...response.subject! },
    ...value,
  };
  const category = asArray(
    extensionsOf(q.item, EXT.observationExtractCategory).map((e) => own(e, 'valueCodeableConcept')),
  ).filter(isObject);
  if (category.length > 0) observation.category = category;
  if (response.encounter) observation.encounter = { ...response.encounter };
  if (response.authored) observation.effectiveDateTime = response.authored;
  if (response.source) observation.performer = [{ ...response.source }];
  if (response.id) observation.derivedFrom = [{ reference: `QuestionnaireResponse/${response.id}` }];
  else if (response.identifier)
    observation.derivedFrom = [{ type: 'QuestionnaireResponse', identifier: { ...response.identifier } }];
  return observation;
}

/** The answer as Observation.value[x]; numbers with a questionnaire-unit become a UCUM Quantity. */
function observationValue(q: IndexedItem, answer: Json): Partial<fhir4.Observation> | undefined {
  const v = valueOf(answer);
  if (!v) return undefined;
  const [key, value] = v;
  return OBSERVATION_VALUES.get(key)?.(value, q, key);
}

type ObservationValue = Partial<fhir4.Observation> | undefined;

function numericObservationValue(value: unknown, q: IndexedItem, key: string): ObservationValue {
  if (typeof value !== 'number') return undefined;
  const unit = own(extensionsOf(q.item, EXT.unit)[0], 'valueCoding');
  if (isObject(unit)) {
    return {
      valueQuantity: {
        value,
        unit: asString(own(unit, 'display')) ?? asString(own(unit, 'code')),
        system: asString(own(unit, 'system')),
        code: asString(own(unit, 'code')),
      },
    };
  }
  return key === 'valueInteger' ? { valueInteger: value } : { valueQuantity: { value } };
}

const dateTimeValue = (value: unknown): ObservationValue =>
  typeof value === 'string' ? { valueDateTime: value } : undefined;

/** Observation.value[x] for each answer value[x]; an answer of any other type is not extracted. */
const OBSERVATION_VALUES = new Map<string, (value: unknown, q: IndexedItem, key: string) => ObservationValue>([
  ['valueDecimal', numericObservationValue],
  ['valueInteger', numericObservationValue],
  ['valueQuantity', (value) => (isObject(value) ? { valueQuantity: value } : undefined)],
  ['valueCoding', (value) => (isObject(value) ? { valueCodeableConcept: { coding: [value] } } : undefined)],
  ['valueBoolean', (value) => (typeof value === 'boolean' ? { valueBoolean: value } : undefined)],
  ['valueString', (value) => (typeof value === 'string' ? { valueString: value } : undefined)],
  ['valueDate', dateTimeValue],
  ['valueDateTime', dateTimeValue],
  ['valueTime', (value) => (typeof value === 'string' ? { valueTime: value } : undefined)],
]);

function entryFor(observation: fhir4.Observation): fhir4.BundleEntry {
  const id = observation.identifier![0]!;
  return {
    fullUrl: `urn:uuid:${nameBasedUuid(`${id.system}|${id.value}`)}`,
    resource: observation,
    request: {
      method: 'POST',
      url: 'Observation',
      ifNoneExist: `identifier=${encodeURIComponent(id.system!)}|${encodeURIComponent(id.value!)}`,
    },
  };
}

/** A UUID (version 5 layout, SHA-1 of the name) so the same identifier always gets the same fullUrl. */
function nameBasedUuid(name: string): string {
  const h = createHash('sha1').update(name).digest();
  h[6] = (h[6]! & 0x0f) | 0x50;
  h[8] = (h[8]! & 0x3f) | 0x80;
  const hex = h.subarray(0, 16).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
