/**
 * Turns a validated QuestionnaireResponse and the CarePlan that `$apply` proposed for it into ONE
 * transaction Bundle (pure; no I/O):
 *
 *   1. the QuestionnaireResponse                       (conditional create on its identifier)
 *   2. one active Flag per flag the rules raised       (conditional create on a derived identifier; with the
 *                                                       worklist search tags: worklist-tags.ts)
 *   3. one ServiceRequest per imaging/DXA proposal     (intent=proposal, status=draft; conditional create)
 *   4. the Observations `$extract` derives (pain score, body weight), for trends and later $populate
 *   5. the CarePlan exactly as $apply returned it      (the self-management plan, and the frozen record of
 *      what was proposed and why: its contained RequestGroup keeps every rule's basis and citations)
 *   6. a Provenance for all of them                    (who answered, the module as device, the PlanDefinition
 *                                                       used; conditional create on a tag)
 *
 * EVERY entry is a conditional create keyed on something derived from the submission key, so sending the
 * same bundle twice (a lost acknowledgement, a retry racing a slow first attempt, a restart) creates nothing
 * new. The Flags and ServiceRequests are written as real resources because clinicians act on them (accept,
 * dismiss with a reason: resolve-proposal.ts); the CarePlan's contained copies stay as the unchanging audit
 * record. Each Flag and ServiceRequest also carries a "rule" identifier (`<submission>#<rule id>`): the rule
 * that raised it (the worklist names it), and what ties a proposal to the Flag of the same rule and response.
 * Order matters for servers without transactions: everything that is referenced comes before what refers to
 * it, and the Provenance comes last (so "the Provenance exists" means "the whole submission exists").
 */
import { createHash, randomUUID } from 'node:crypto';
import {
  SCREEN_INCOMPLETE_FLAG_ID,
  SCREEN_INCOMPLETE_RULE,
  screenIncompleteFlag,
  withRuleCodes,
  withWorklistTags,
} from './worklist-tags.js';

export const RESPONSE_IDENTIFIER_SYSTEM = 'https://periplan.app/fhir/sid/questionnaire-response';
/** `<submission id>#<local id of the proposal in the $apply CarePlan>` (or `#care-plan`). */
export const SUBMISSION_ITEM_SYSTEM = 'https://periplan.app/fhir/sid/submission-item';
/** `<submission id>#<rule id>`: the Flags and ServiceRequests one rule raised for one response. */
export const SUBMISSION_RULE_SYSTEM = 'https://periplan.app/fhir/sid/submission-rule';
/** meta.tag of the submission's Provenance, code = submission id (Provenance has no identifier in R4). */
export const SUBMISSION_TAG_SYSTEM = 'https://periplan.app/fhir/sid/submission';
/**
 * meta.tag of an AMENDED response version, code = the amendment's submission key: which submission wrote
 * this version (its Flags, proposals and CarePlan are keyed on it), and how a retry recognises that its
 * update already landed.
 */
export const SUBMISSION_KEY_TAG_SYSTEM = 'https://periplan.app/fhir/sid/submission-key';
export const RULE_SYSTEM = 'https://periplan.app/fhir/CodeSystem/back-pain-rule';
export const PARTICIPANT_TYPE = 'http://terminology.hl7.org/CodeSystem/provenance-participant-type';
export const MODULE_DEVICE: fhir4.Reference = {
  type: 'Device',
  identifier: { system: 'https://periplan.app/fhir/sid/device', value: 'periplan-back-pain-module' },
  display: 'PeriPlan back-pain module (decision support)',
};

export interface SubmissionParts {
  /** The response, with the local id `$apply` and `$extract` referred to (see `submissionId`). */
  response: fhir4.QuestionnaireResponse;
  carePlan: fhir4.CarePlan;
  /** Who answered: `Patient/…`, `Practitioner/…` or `RelatedPerson/…`. */
  author: fhir4.Reference;
  /** Staff member or device that started the session, if not the author (tablet hand-off). */
  enterer?: fhir4.Reference;
  /** `$extract`'s transaction Bundle (pain score, weight Observations), merged into the same transaction. */
  extracted?: fhir4.Bundle;
  now: Date;
  /**
   * Amend mode: the response replaces this version of an existing response (`PUT` with `If-Match`) instead of
   * being created; `key` is then the amendment's own submission key (see amendmentKey).
   */
  amends?: { id: string; versionId: string };
  /** The submission key (default: the response identifier's, see submissionKey). */
  key?: string;
}

/** Give the response a business identifier if it has none: the idempotency key of the whole submission. */
export function ensureResponseIdentifier(response: fhir4.QuestionnaireResponse): fhir4.QuestionnaireResponse {
  if (response.identifier?.value) return response;
  return { ...response, identifier: { system: RESPONSE_IDENTIFIER_SYSTEM, value: randomUUID() } };
}

export function submissionKey(response: fhir4.QuestionnaireResponse): string {
  const id = response.identifier;
  if (!id?.value)
    throw new Error('submissionKey: the response has no identifier (call ensureResponseIdentifier first)');
  return `${id.system ?? ''}|${id.value}`;
}

/**
 * A short, stable, search-safe id for the submission (hash of the key: the key itself may contain `|`, `#`
 * or characters a token search would split on). Also used as the response's local id before it is sent, so
 * that the identifiers `$extract` derives from it are unique per submission, whatever id the client used.
 */
export function submissionId(key: string): string {
  return createHash('sha256').update(key).digest('hex').slice(0, 32);
}

/**
 * The submission key of an amendment: the response's key, the version it amends and a hash of the answers.
 * Resubmitting the same amendment gives the same key (idempotent: nothing new is created); a different
 * amendment of the same version gets another key, so it is sent, and its If-Match tells whether it is stale.
 * Everything the amendment writes (Flags, proposals, CarePlan, Provenance) is keyed on it, so it differs
 * from what the earlier version wrote.
 */
export function amendmentKey(response: fhir4.QuestionnaireResponse, amendsVersionId: string): string {
  const answers = createHash('sha256')
    .update(JSON.stringify(response.item ?? []))
    .digest('hex')
    .slice(0, 16);
  return `${submissionKey(response)}|amends-v${amendsVersionId}-${answers}`;
}

/** The submission key that wrote this version of a response: its amendment tag, else its identifier. */
export function submissionKeyOf(response: fhir4.QuestionnaireResponse): string | undefined {
  const tagged = response.meta?.tag?.find((t) => t.system === SUBMISSION_KEY_TAG_SYSTEM)?.code;
  if (tagged) return tagged;
  return response.identifier?.value ? submissionKey(response) : undefined;
}

const urn = () => `urn:uuid:${randomUUID()}`;

function postIfNoneExist(fullUrl: string, resource: fhir4.FhirResource, ifNoneExist: string): fhir4.BundleEntry {
  return { fullUrl, resource, request: { method: 'POST', url: resource.resourceType, ifNoneExist } };
}

export const identifierQuery = (i: fhir4.Identifier) => `identifier=${encodeURIComponent(`${i.system}|${i.value}`)}`;

/**
 * Replace every `reference` equal to `from` by `to`, deeply (returns a copy, as a JSON round trip would: no
 * undefined members, non-finite numbers as null). A plain walk: the JSON.parse reviver it replaces cost
 * ≈0.6 ms per submission on the 30 KB CarePlan.
 */
function rewriteReference<T>(value: T, from: string, to: string): T {
  const copy = (v: unknown, key: string | undefined): unknown => {
    if (Array.isArray(v))
      return v.map((item: unknown) =>
        item === undefined || typeof item === 'function' ? null : copy(item, undefined),
      );
    if (v !== null && typeof v === 'object') {
      const out: Record<string, unknown> = {};
      for (const [k, item] of Object.entries(v))
        if (item !== undefined && typeof item !== 'function') out[k] = copy(item, k);
      return out;
    }
    if (typeof v === 'number' && !Number.isFinite(v)) return null;
    return key === 'reference' && v === from ? to : v;
  };
  return copy(value, undefined) as T;
}

/**
 * Which rule raised each contained proposal: the RequestGroup's top-level actions carry the rule code; their
 * (nested) actions point at the contained resources, and a report-flag Task points at its Flag.
 */
export function rulesOfProposals(carePlan: fhir4.CarePlan): Map<string, string> {
  const byId = new Map<string, fhir4.FhirResource>();
  const contained = (carePlan.contained ?? []) as fhir4.FhirResource[];
  for (const r of contained) if (r.id) byId.set(r.id, r);
  const out = new Map<string, string>();
  const mark = (localRef: string | undefined, rule: string) => {
    if (!localRef?.startsWith('#')) return;
    const id = localRef.slice(1);
    if (out.has(id)) return;
    out.set(id, rule);
    const target = byId.get(id);
    if (target?.resourceType === 'Task')
      for (const input of target.input ?? []) mark(input.valueReference?.reference, rule);
  };
  const walk = (actions: fhir4.RequestGroupAction[] | undefined, rule: string | undefined) => {
    for (const action of actions ?? []) {
      const own = action.code?.flatMap((c) => c.coding ?? []).find((c) => c.system === RULE_SYSTEM)?.code;
      const current = own ?? rule;
      if (current) mark(action.resource?.reference, current);
      walk(action.action, current);
    }
  };
  for (const r of contained) if (r.resourceType === 'RequestGroup') walk(r.action, undefined);
  return out;
}

/**
 * $apply leaves a Flag's subject out when the Patient was not in its data, and Flag.subject is required (a
 * server refuses the Flag and the CarePlan containing it). The subject is the response's: fill it in.
 */
function withSubjects(carePlan: fhir4.CarePlan, subject: fhir4.Reference | undefined): fhir4.CarePlan {
  if (!subject?.reference) return carePlan;
  const contained = (carePlan.contained ?? []) as fhir4.FhirResource[];
  if (!contained.some((r) => r.resourceType === 'Flag' && !r.subject?.reference)) return carePlan;
  return {
    ...carePlan,
    contained: contained.map((r) => (r.resourceType === 'Flag' && !r.subject?.reference ? { ...r, subject } : r)),
  };
}

export function buildSubmissionBundle(input: SubmissionParts): fhir4.Bundle {
  const parts = { ...input, carePlan: withSubjects(input.carePlan, input.response.subject) };
  const key = parts.key ?? submissionKey(parts.response);
  const sid = submissionId(key);
  // What the other entries refer to: a new response's urn:uuid, or the amended response itself.
  const responseUrn = parts.amends ? `QuestionnaireResponse/${parts.amends.id}` : urn();
  const responseLocalRef = parts.response.id ? `QuestionnaireResponse/${parts.response.id}` : undefined;
  const toUrn: ToUrn = (r) => (responseLocalRef ? rewriteReference(r, responseLocalRef, responseUrn) : r);

  // The server assigns ids; a client-side id would be ignored (or refused) on POST.
  const { id: _ignored, ...response } = parts.response;
  const responseEntry = parts.amends
    ? amendEntry(response, parts.amends, key)
    : postIfNoneExist(responseUrn, response, identifierQuery(parts.response.identifier!));
  const created = [
    ...itemEntries(parts, sid, toUrn),
    ...extractedEntries(parts.extracted, toUrn),
    carePlanEntry(parts.carePlan, sid, toUrn),
  ];
  const tag: fhir4.Coding = { system: SUBMISSION_TAG_SYSTEM, code: sid };
  const provenance = submissionProvenance(parts, tag, [responseUrn, ...created.map((e) => e.fullUrl!)]);
  return {
    resourceType: 'Bundle',
    type: 'transaction',
    entry: [
      responseEntry,
      ...created,
      postIfNoneExist(urn(), provenance, `_tag=${encodeURIComponent(`${tag.system}|${tag.code}`)}`),
    ],
  };
}

/** Rewrites the response's local reference to what the bundle's entries refer to. */
type ToUrn = <T>(r: T) => T;

/**
 * The CarePlan's Flags and proposals, and the Flag of an incomplete red-flag screen: each a conditional create
 * keyed on its item identifier, naming the rule that raised it.
 */
function itemEntries(parts: SubmissionParts, sid: string, toUrn: ToUrn): fhir4.BundleEntry[] {
  const rules = rulesOfProposals(parts.carePlan);
  // An incomplete red-flag screen gets a worklist Flag too (worklist-tags.ts), so no one is forgotten.
  const screenFlag = screenIncompleteFlag(parts.carePlan, parts.response);
  if (screenFlag) rules.set(SCREEN_INCOMPLETE_FLAG_ID, SCREEN_INCOMPLETE_RULE);
  const entries: fhir4.BundleEntry[] = [];
  for (const proposal of [
    ...((parts.carePlan.contained ?? []) as fhir4.FhirResource[]),
    ...(screenFlag ? [screenFlag] : []),
  ]) {
    if (proposal.resourceType !== 'Flag' && proposal.resourceType !== 'ServiceRequest') continue;
    entries.push(itemEntry(proposal, sid, rules, toUrn, parts.now));
  }
  return entries;
}

function itemEntry(
  proposal: fhir4.Flag | fhir4.ServiceRequest,
  sid: string,
  rules: Map<string, string>,
  toUrn: ToUrn,
  now: Date,
): fhir4.BundleEntry {
  const localId = proposal.id ?? proposal.resourceType;
  const itemIdentifier: fhir4.Identifier = { system: SUBMISSION_ITEM_SYSTEM, value: `${sid}#${localId}` };
  const rule = rules.get(localId);
  const ruleIdentifier: fhir4.Identifier[] = rule ? [{ system: SUBMISSION_RULE_SYSTEM, value: `${sid}#${rule}` }] : [];
  const { id: _localId, ...rest } = toUrn<fhir4.Flag | fhir4.ServiceRequest>(proposal);
  const resource = { ...rest, identifier: [...(rest.identifier ?? []), itemIdentifier, ...ruleIdentifier] } as
    fhir4.Flag | fhir4.ServiceRequest;
  if (resource.resourceType === 'ServiceRequest') resource.authoredOn ??= now.toISOString();
  if (resource.resourceType === 'Flag') resource.period ??= { start: now.toISOString() };
  // Flags are born with their worklist search tags (worklist-tags.ts), whoever submitted them, and name
  // their rule in their code, so the worklist can say which rule raised each one.
  const written =
    resource.resourceType === 'Flag' ? withWorklistTags(rule ? withRuleCodes(resource, [rule]) : resource) : resource;
  return postIfNoneExist(urn(), written, identifierQuery(itemIdentifier));
}

/** Observations from $extract: already conditional creates keyed on identifiers derived from the response id. */
function extractedEntries(extracted: fhir4.Bundle | undefined, toUrn: ToUrn): fhir4.BundleEntry[] {
  return (extracted?.entry ?? []).filter((e) => e.resource).map((e) => ({ ...toUrn(e), fullUrl: urn() }));
}

function carePlanEntry(plan: fhir4.CarePlan, sid: string, toUrn: ToUrn): fhir4.BundleEntry {
  const carePlanIdentifier: fhir4.Identifier = { system: SUBMISSION_ITEM_SYSTEM, value: `${sid}#care-plan` };
  const carePlan = toUrn(plan);
  return postIfNoneExist(
    urn(),
    { ...carePlan, identifier: [...(carePlan.identifier ?? []), carePlanIdentifier] },
    identifierQuery(carePlanIdentifier),
  );
}

/**
 * The submission's Provenance (written last, found by its tag): what it created, who answered and who entered
 * it, the PlanDefinition applied, and the response version an amendment replaces.
 */
function submissionProvenance(parts: SubmissionParts, tag: fhir4.Coding, targets: string[]): fhir4.Provenance {
  const planDefinition = parts.carePlan.instantiatesCanonical?.[0];
  const entity = submissionEntities(planDefinition, parts.amends);
  return {
    resourceType: 'Provenance',
    meta: { tag: [tag] },
    target: targets.map((reference) => ({ reference })),
    recorded: parts.now.toISOString(),
    ...(planDefinition ? { policy: [planDefinition] } : {}),
    activity: {
      coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-DataOperation', code: 'CREATE', display: 'create' }],
    },
    agent: [
      { type: { coding: [{ system: PARTICIPANT_TYPE, code: 'author', display: 'Author' }] }, who: parts.author },
      ...(parts.enterer
        ? [
            {
              type: { coding: [{ system: PARTICIPANT_TYPE, code: 'enterer', display: 'Enterer' }] },
              who: parts.enterer,
            },
          ]
        : []),
      { type: { coding: [{ system: PARTICIPANT_TYPE, code: 'assembler', display: 'Assembler' }] }, who: MODULE_DEVICE },
    ],
    ...(entity.length ? { entity } : {}),
  };
}

function submissionEntities(
  planDefinition: string | undefined,
  amends: SubmissionParts['amends'],
): fhir4.ProvenanceEntity[] {
  return [
    ...(planDefinition
      ? [
          {
            role: 'source' as const,
            what: {
              identifier: { system: 'urn:ietf:rfc:3986', value: planDefinition },
              display: `PlanDefinition ${planDefinition}`,
            },
          },
        ]
      : []),
    ...(amends
      ? [
          {
            role: 'revision' as const,
            what: { reference: `QuestionnaireResponse/${amends.id}/_history/${amends.versionId}` },
          },
        ]
      : []),
  ];
}

/**
 * The amended response replaces the version the user amended: `PUT` with `If-Match` (someone else's change
 * since is a 412, never a silent overwrite). Same id and identifier; the tag names the amendment's key.
 */
function amendEntry(
  response: fhir4.QuestionnaireResponse,
  amends: { id: string; versionId: string },
  key: string,
): fhir4.BundleEntry {
  const others = (response.meta?.tag ?? []).filter((t) => t.system !== SUBMISSION_KEY_TAG_SYSTEM);
  const { versionId: _v, lastUpdated: _l, ...meta } = response.meta ?? {};
  return {
    resource: {
      ...response,
      id: amends.id,
      status: 'amended',
      meta: { ...meta, tag: [...others, { system: SUBMISSION_KEY_TAG_SYSTEM, code: key }] },
    } as fhir4.QuestionnaireResponse,
    request: { method: 'PUT', url: `QuestionnaireResponse/${amends.id}`, ifMatch: `W/"${amends.versionId}"` },
  };
}

/** The amendment a submission bundle makes, if it is one: the response it updates, and the version it replaces. */
export function amendmentOf(
  bundle: fhir4.Bundle,
): { response: fhir4.QuestionnaireResponse; versionId: string } | undefined {
  const first = bundle.entry?.[0];
  if (first?.request?.method !== 'PUT' || first.resource?.resourceType !== 'QuestionnaireResponse') return undefined;
  return {
    response: first.resource as fhir4.QuestionnaireResponse,
    versionId: /^W\/"(.*)"$/.exec(first.request.ifMatch ?? '')?.[1] ?? '',
  };
}

/** The `_tag` search (`system|code`) that finds a submission's Provenance: present means the whole submission is. */
export function provenanceTagQuery(bundle: fhir4.Bundle): string | undefined {
  const provenance = bundle.entry?.find((e) => e.resource?.resourceType === 'Provenance')?.resource;
  const tag = provenance?.meta?.tag?.find((t) => t.system === SUBMISSION_TAG_SYSTEM);
  return tag?.code ? `${tag.system}|${tag.code}` : undefined;
}
