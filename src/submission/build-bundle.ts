/**
 * Turns a validated QuestionnaireResponse and the CarePlan that `$apply` proposed for it into ONE
 * transaction Bundle (pure; no I/O):
 *
 *   1. the QuestionnaireResponse                       (conditional create on its identifier)
 *   2. one active Flag per flag the rules raised       (conditional create on a derived identifier)
 *   3. one ServiceRequest per imaging/DXA proposal     (intent=proposal, status=draft; conditional create)
 *   4. the Observations `$extract` derives (pain score, body weight), for trends and later $populate
 *   5. the CarePlan exactly as $apply returned it      (the self-management plan, and the frozen record of
 *      what was proposed and why: its contained RequestGroup keeps every rule's basis and citations)
 *   6. a Provenance for all of them                    (who answered, the module as device, the PlanDefinition used)
 *
 * The Flags and ServiceRequests are written as real resources because clinicians act on them (accept,
 * dismiss with a reason); the CarePlan's contained copies stay as the unchanging audit record.
 * Order matters for servers without transactions: everything that is referenced comes before what refers to it.
 */
import { randomUUID } from 'node:crypto';

export const RESPONSE_IDENTIFIER_SYSTEM = 'https://periplan.app/fhir/sid/questionnaire-response';
export const SUBMISSION_ITEM_SYSTEM = 'https://periplan.app/fhir/sid/submission-item';
export const MODULE_DEVICE = {
  identifier: { system: 'https://periplan.app/fhir/sid/device', value: 'periplan-back-pain-module' },
  display: 'PeriPlan back-pain module (decision support)',
};

export interface SubmissionParts {
  response: fhir4.QuestionnaireResponse;
  carePlan: fhir4.CarePlan;
  /** Who answered: `Patient/…`, `Practitioner/…` or `RelatedPerson/…`. */
  author: fhir4.Reference;
  /** Staff member or device that started the session, if not the author (tablet hand-off). */
  enterer?: fhir4.Reference;
  /** `$extract`'s transaction Bundle (pain score, weight Observations), merged into the same transaction. */
  extracted?: fhir4.Bundle;
  now: Date;
}

/** Give the response a business identifier if it has none: the idempotency key of the whole submission. */
export function ensureResponseIdentifier(response: fhir4.QuestionnaireResponse): fhir4.QuestionnaireResponse {
  if (response.identifier?.value) return response;
  return { ...response, identifier: { system: RESPONSE_IDENTIFIER_SYSTEM, value: randomUUID() } };
}

export function submissionKey(response: fhir4.QuestionnaireResponse): string {
  const id = response.identifier;
  if (!id?.value) throw new Error('submissionKey: the response has no identifier (call ensureResponseIdentifier first)');
  return `${id.system ?? ''}|${id.value}`;
}

const urn = () => `urn:uuid:${randomUUID()}`;

function postIfNoneExist(fullUrl: string, resource: fhir4.FhirResource, ifNoneExist: string): fhir4.BundleEntry {
  return { fullUrl, resource, request: { method: 'POST', url: resource.resourceType, ifNoneExist } };
}

function itemIdentifier(key: string, localId: string): fhir4.Identifier {
  return { system: SUBMISSION_ITEM_SYSTEM, value: `${key}#${localId}` };
}

const identifierQuery = (i: fhir4.Identifier) => `identifier=${encodeURIComponent(`${i.system}|${i.value}`)}`;

/** Replace every `reference` equal to `from` by `to`, deeply (returns a copy). */
function rewriteReference<T>(value: T, from: string, to: string): T {
  return JSON.parse(JSON.stringify(value), (k, v: unknown) => (k === 'reference' && v === from ? to : v)) as T;
}

export function buildSubmissionBundle(parts: SubmissionParts): fhir4.Bundle {
  const key = submissionKey(parts.response);
  const responseUrn = urn();
  const responseLocalRef = parts.response.id ? `QuestionnaireResponse/${parts.response.id}` : undefined;
  const toUrn = <T>(r: T): T => (responseLocalRef ? rewriteReference(r, responseLocalRef, responseUrn) : r);

  // The server assigns ids; a client-side id would be ignored (or refused) on POST.
  const { id: _ignored, ...response } = parts.response;
  const entries: fhir4.BundleEntry[] = [
    postIfNoneExist(responseUrn, response as fhir4.QuestionnaireResponse, identifierQuery(parts.response.identifier!)),
  ];

  const contained = parts.carePlan.contained ?? [];
  const targets: string[] = [responseUrn];
  for (const proposal of contained) {
    if (proposal.resourceType !== 'Flag' && proposal.resourceType !== 'ServiceRequest') continue;
    const identifier = itemIdentifier(key, proposal.id ?? proposal.resourceType);
    const { id: _localId, ...rest } = toUrn(proposal) as fhir4.Flag | fhir4.ServiceRequest;
    const resource = { ...rest, identifier: [...(rest.identifier ?? []), identifier] } as fhir4.Flag | fhir4.ServiceRequest;
    if (resource.resourceType === 'ServiceRequest') resource.authoredOn ??= parts.now.toISOString();
    if (resource.resourceType === 'Flag') resource.period ??= { start: parts.now.toISOString() };
    const fullUrl = urn();
    targets.push(fullUrl);
    entries.push(postIfNoneExist(fullUrl, resource, identifierQuery(identifier)));
  }

  // Observations from $extract: already conditional creates keyed on identifiers derived from the response.
  for (const e of parts.extracted?.entry ?? []) {
    if (!e.resource) continue;
    const fullUrl = urn();
    targets.push(fullUrl);
    entries.push({ ...toUrn(e), fullUrl });
  }

  const carePlanIdentifier = itemIdentifier(key, 'care-plan');
  const carePlan = toUrn(parts.carePlan);
  const carePlanUrn = urn();
  targets.push(carePlanUrn);
  entries.push(
    postIfNoneExist(carePlanUrn, { ...carePlan, identifier: [...(carePlan.identifier ?? []), carePlanIdentifier] }, identifierQuery(carePlanIdentifier)),
  );

  const planDefinition = parts.carePlan.instantiatesCanonical?.[0];
  const provenance: fhir4.Provenance = {
    resourceType: 'Provenance',
    target: targets.map((reference) => ({ reference })),
    recorded: parts.now.toISOString(),
    ...(planDefinition ? { policy: [planDefinition] } : {}),
    activity: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-DataOperation', code: 'CREATE' }] },
    agent: [
      { type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/provenance-participant-type', code: 'author' }] }, who: parts.author },
      ...(parts.enterer
        ? [{ type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/provenance-participant-type', code: 'enterer' }] }, who: parts.enterer }]
        : []),
      { type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/provenance-participant-type', code: 'assembler' }] }, who: MODULE_DEVICE },
    ],
    entity: planDefinition
      ? [{ role: 'source', what: { identifier: { system: 'urn:ietf:rfc:3986', value: planDefinition }, display: `PlanDefinition ${planDefinition}` } }]
      : [],
  };
  entries.push({ fullUrl: urn(), resource: provenance, request: { method: 'POST', url: 'Provenance' } });

  return { resourceType: 'Bundle', type: 'transaction', entry: entries };
}
