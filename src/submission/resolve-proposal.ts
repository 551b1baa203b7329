/**
 * A clinician resolves what a submission proposed: accepts or dismisses (with a coded reason) an imaging/DXA
 * ServiceRequest proposal, or a Flag. Everything is written in one transaction (one by one, in a safe order,
 * when the server has no transactions), with If-Match on every update, and a Provenance says who, when, why.
 *
 * FHIR workflow (R4 workflow.html, "request" pattern): `intent` says what kind of request a resource IS, so a
 * proposal is never turned into an order in place. Accepting it creates a NEW ServiceRequest `intent=order`,
 * `status=active`, `basedOn` the proposal, with the clinician as requester; the proposal becomes `completed`
 * (it has been acted on). Dismissing it makes the proposal `revoked` with the coded reason in the R4
 * `request-statusReason` extension (R4 ServiceRequest has no statusReason element) and a note.
 * The Flag raised by the same rule for the same response (found through the rule identifier build-bundle.ts
 * wrote) becomes `inactive` (period.end = now) once none of that rule's proposals is still a draft. A Flag
 * resolved directly becomes inactive either way ("accept" = acted on, "dismiss" = does not apply, with reason).
 *
 * `target` may name a version (`ServiceRequest/1/_history/3`): the version the clinician looked at. Then a
 * change by someone else since is a 412 instead of a decision on something the clinician did not see.
 */
import { randomUUID } from 'node:crypto';
import { FhirError, badRequest, conflict, notFound, preconditionFailed } from '../outcomes/index.js';
import { MODULE_DEVICE, PARTICIPANT_TYPE, SUBMISSION_ITEM_SYSTEM, SUBMISSION_RULE_SYSTEM, identifierQuery } from './build-bundle.js';
import { clientFor, httpStatusOf, requestOptions, retryAfterMsOf, type FhirServerTarget } from './fhir-writer.js';
import { withWorklistTags } from './worklist-tags.js';

export const DECISION_REASON_SYSTEM = 'https://periplan.app/fhir/CodeSystem/proposal-decision-reason';
export const DECISION_REASON_VALUESET = 'https://periplan.app/fhir/ValueSet/proposal-decision-reason';
/** The codes of profiles/CodeSystem-proposal-decision-reason.json (a test keeps the two in step). */
export const DECISION_REASON_CODES = ['already-done', 'not-clinically-indicated', 'patient-declined', 'done-elsewhere', 'duplicate', 'other'] as const;
const STATUS_REASON_EXTENSION = 'http://hl7.org/fhir/StructureDefinition/request-statusReason';

export interface ProposalDecision {
  target: string /* 'ServiceRequest/<id>' or 'Flag/<id>' */;
  decision: 'accept' | 'dismiss';
  reason?: fhir4.Coding /* required for dismiss */;
  note?: string;
  who: fhir4.Reference;
  bearerToken?: string;
}

const TARGET = /^(ServiceRequest|Flag)\/([A-Za-z0-9\-.]{1,64})(?:\/_history\/([A-Za-z0-9\-.]{1,64}))?$/;

function checkDecision(d: ProposalDecision): { type: 'ServiceRequest' | 'Flag'; id: string; version?: string } {
  const match = TARGET.exec(d?.target ?? '');
  if (!match) throw badRequest(`target must be "ServiceRequest/<id>" or "Flag/<id>" (optionally with /_history/<version>), not "${d?.target}".`, 'target');
  if (d.decision !== 'accept' && d.decision !== 'dismiss') throw badRequest('decision must be "accept" or "dismiss".', 'decision');
  if (!d.who?.reference && !d.who?.identifier) throw badRequest('who must say who decided (a reference to the Practitioner).', 'who');
  if (d.decision === 'dismiss') {
    if (!d.reason) throw badRequest(`Dismissing needs a reason from ${DECISION_REASON_VALUESET}.`, 'reason');
    if (d.reason.system !== DECISION_REASON_SYSTEM || !(DECISION_REASON_CODES as readonly string[]).includes(d.reason.code ?? '')) {
      throw badRequest(`reason must be one of ${DECISION_REASON_CODES.join(', ')} from ${DECISION_REASON_SYSTEM}.`, 'reason');
    }
    if (d.reason.code === 'other' && !d.note?.trim()) throw badRequest('A dismissal for "other" reasons needs a note saying why.', 'note');
  }
  return { type: match[1] as 'ServiceRequest' | 'Flag', id: match[2]!, ...(match[3] ? { version: match[3] } : {}) };
}

/** An HTTP error from the FHIR server, as the module's own FhirError (412 and 404 in plain words). */
function asFhirError(err: unknown, what: string): unknown {
  if (err instanceof FhirError) return err;
  const status = (err as { response?: { status?: number } }).response?.status;
  if (status === 412) return preconditionFailed(`${what} was changed by someone else since it was read: reload it and decide again.`);
  if (status === 404 || status === 410) return notFound(`${what} does not exist on the FHIR server.`);
  if (status === 401 || status === 403) return new FhirError(status, { code: status === 401 ? 'login' : 'forbidden', diagnostics: `The FHIR server refused ${what} (${status}).` });
  if (typeof status === 'number' && status < 500) return new FhirError(status, { code: 'invalid', diagnostics: `The FHIR server refused the decision on ${what} (${status}).` });
  return new FhirError(503, { code: 'transient', diagnostics: `The FHIR server could not be reached or failed (${status ?? (err as Error)?.message}); nothing was decided. Try again.` });
}

const etag = (r: fhir4.FhirResource) => (r.meta?.versionId ? `W/"${r.meta.versionId}"` : undefined);

function putEntry(resource: fhir4.FhirResource): fhir4.BundleEntry {
  const ifMatch = etag(resource);
  return { resource, request: { method: 'PUT', url: `${resource.resourceType}/${resource.id}`, ...(ifMatch ? { ifMatch } : {}) } };
}

export async function resolveProposal(
  target: FhirServerTarget,
  d: ProposalDecision,
  now: Date = new Date(),
): Promise<{ updated: fhir4.FhirResource[]; provenance: fhir4.Provenance }> {
  const t = checkDecision(d);
  const at = now.toISOString();
  const client = await clientFor(target, d.bearerToken);
  const ref = `${t.type}/${t.id}`;

  let current: fhir4.ServiceRequest | fhir4.Flag;
  try {
    current = (await client.read({ resourceType: t.type, id: t.id, options: requestOptions(target) })) as unknown as fhir4.ServiceRequest | fhir4.Flag;
  } catch (err) {
    throw asFhirError(err, ref);
  }
  if (t.version && current.meta?.versionId && current.meta.versionId !== t.version) {
    throw preconditionFailed(`${ref} is at version ${current.meta.versionId}, not ${t.version}: someone changed it since it was shown. Reload it and decide again.`);
  }
  const pinned = t.version ? { ...current, meta: { ...current.meta, versionId: t.version } } : current;

  const entries: fhir4.BundleEntry[] = [];
  const reasonConcept: fhir4.CodeableConcept | undefined = d.reason ? { coding: [d.reason], ...(d.note ? { text: d.note } : {}) } : undefined;
  const note: fhir4.Annotation | undefined = d.note ? { text: d.note, time: at, ...(d.who.reference ? { authorReference: d.who } : { authorString: d.who.display ?? 'clinician' }) } : undefined;
  let flagsToClose: fhir4.Flag[] = [];

  if (current.resourceType === 'ServiceRequest') {
    if (current.intent !== 'proposal') throw conflict(`${ref} is not a proposal (intent is ${current.intent}): only proposals are accepted or dismissed.`);
    if (current.status !== 'draft') throw conflict(`${ref} was already resolved (status ${current.status}).`);
    const proposal: fhir4.ServiceRequest = {
      ...pinned,
      status: d.decision === 'accept' ? 'completed' : 'revoked',
      ...(note ? { note: [...(current.note ?? []), note] } : {}),
      ...(d.decision === 'dismiss' && reasonConcept
        ? { extension: [...(current.extension ?? []).filter((e) => e.url !== STATUS_REASON_EXTENSION), { url: STATUS_REASON_EXTENSION, valueCodeableConcept: reasonConcept }] }
        : {}),
    } as fhir4.ServiceRequest;
    entries.push(putEntry(proposal));
    if (d.decision === 'accept') entries.push(orderEntry(current, ref, d, at));
    flagsToClose = await flagsDoneWith(client, target, current, ref);
  } else {
    if (current.status !== 'active') throw conflict(`${ref} was already resolved (status ${current.status}).`);
    flagsToClose = [pinned as fhir4.Flag];
  }
  for (const flag of flagsToClose) {
    // Inactive Flags leave the worklist: withWorklistTags drops its search tags with the status change.
    entries.push(putEntry(withWorklistTags({ ...flag, status: 'inactive', period: { ...flag.period, start: flag.period?.start ?? at, end: at } } as fhir4.Flag)));
  }

  const provenance: fhir4.Provenance = {
    resourceType: 'Provenance',
    target: entries.map((e) => ({ reference: e.fullUrl ?? e.request!.url })),
    recorded: at,
    activity: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-DataOperation', code: 'UPDATE', display: 'revise' }], text: `${d.decision} ${ref}` },
    ...(reasonConcept ? { reason: [reasonConcept] } : d.note ? { reason: [{ text: d.note }] } : {}),
    agent: [
      { type: { coding: [{ system: PARTICIPANT_TYPE, code: 'author', display: 'Author' }] }, who: d.who },
      { type: { coding: [{ system: PARTICIPANT_TYPE, code: 'assembler', display: 'Assembler' }] }, who: MODULE_DEVICE },
    ],
    entity: [{ role: 'revision', what: { reference: `${ref}/_history/${pinned.meta?.versionId ?? current.meta?.versionId ?? '1'}` } }],
  };
  entries.push({ fullUrl: 'urn:uuid:' + randomUUID(), resource: provenance, request: { method: 'POST', url: 'Provenance' } });

  const results = await write(client, target, entries, ref);
  const written = results.filter((r): r is fhir4.FhirResource => r !== undefined);
  const savedProvenance = written.find((r) => r.resourceType === 'Provenance') as fhir4.Provenance | undefined;
  return { updated: written.filter((r) => r.resourceType !== 'Provenance'), provenance: savedProvenance ?? provenance };
}

/** The order an accepted proposal becomes: a new request, basedOn the proposal (idempotent on an identifier). */
function orderEntry(proposal: fhir4.ServiceRequest, ref: string, d: ProposalDecision, at: string): fhir4.BundleEntry {
  const item = proposal.identifier?.find((i) => i.system === SUBMISSION_ITEM_SYSTEM)?.value ?? ref;
  const identifier: fhir4.Identifier = { system: SUBMISSION_ITEM_SYSTEM, value: `${item}#order` };
  const { id: _id, meta: _meta, identifier: _ids, note: _note, extension: _ext, authoredOn: _authored, ...copied } = proposal;
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
  return { fullUrl: 'urn:uuid:' + randomUUID(), resource: order, request: { method: 'POST', url: 'ServiceRequest', ifNoneExist: identifierQuery(identifier) } };
}

/** Active Flags of the same rule and response, if every proposal of that rule is resolved after this one. */
async function flagsDoneWith(client: Awaited<ReturnType<typeof clientFor>>, target: FhirServerTarget, proposal: fhir4.ServiceRequest, ref: string): Promise<fhir4.Flag[]> {
  const rule = proposal.identifier?.find((i) => i.system === SUBMISSION_RULE_SYSTEM);
  if (!rule?.value) return [];
  try {
    const siblings = (await client.request(`ServiceRequest?${identifierQuery(rule)}&_count=100`, { options: requestOptions(target) })) as unknown as fhir4.Bundle;
    const open = (siblings.entry ?? [])
      .map((e) => e.resource as fhir4.ServiceRequest | undefined)
      .filter((r) => r?.resourceType === 'ServiceRequest' && r.intent === 'proposal' && r.status === 'draft' && `ServiceRequest/${r.id}` !== ref);
    if (open.length > 0) return [];
    const flags = (await client.request(`Flag?${identifierQuery(rule)}&_count=100`, { options: requestOptions(target) })) as unknown as fhir4.Bundle;
    return (flags.entry ?? []).map((e) => e.resource as fhir4.Flag).filter((f) => f?.resourceType === 'Flag' && f.status === 'active');
  } catch (err) {
    throw asFhirError(err, `the proposals of ${ref}'s rule`);
  }
}

/** One transaction; one by one (updates first, Provenance last) when the server has no transactions. */
async function write(client: Awaited<ReturnType<typeof clientFor>>, target: FhirServerTarget, entries: fhir4.BundleEntry[], ref: string): Promise<(fhir4.FhirResource | undefined)[]> {
  try {
    const send = () => client.transaction({ body: { resourceType: 'Bundle', type: 'transaction', entry: entries } as never, options: requestOptions(target) });
    // Rate limited: the clinician is waiting, so wait as asked once when it is short, then give up (503).
    const response = (await send().catch(async (err: unknown) => {
      const wait = httpStatusOf(err) === 429 ? retryAfterMsOf(err) : undefined;
      if (wait === undefined || wait > 5000) throw err;
      await new Promise((r) => setTimeout(r, wait));
      return send();
    })) as unknown as fhir4.Bundle;
    // Entry statuses count like HTTP ones: a server may answer 200 with a failed entry (non-atomic).
    const failed = (response?.entry ?? []).find((e) => e.response?.status && !/^2\d\d/.test(e.response.status));
    if (failed) throw Object.assign(new Error(`entry ${failed.response!.status}`), { response: { status: Number(failed.response!.status.slice(0, 3)) } });
    // A server may answer with locations only (no resources): read what it wrote.
    return await Promise.all(
      (response?.entry ?? []).map(async (e) => {
        if (e.resource) return e.resource as fhir4.FhirResource;
        const at = /([A-Z][A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})(?:\/_history\/[^/]+)?$/.exec(e.response?.location ?? '');
        return at ? ((await client.read({ resourceType: at[1]!, id: at[2]!, options: requestOptions(target) })) as unknown as fhir4.FhirResource) : undefined;
      }),
    );
  } catch (err) {
    const status = (err as { response?: { status?: number } }).response?.status;
    if (status !== 404 && status !== 405 && status !== 501) throw asFhirError(err, ref);
  }
  const assigned = new Map<string, string>();
  const out: (fhir4.FhirResource | undefined)[] = [];
  try {
    for (const entry of entries) {
      const resource = JSON.parse(JSON.stringify(entry.resource), (k, v: unknown) => (k === 'reference' && typeof v === 'string' && assigned.has(v) ? assigned.get(v) : v)) as fhir4.FhirResource;
      const headers: Record<string, string> = {};
      if (entry.request?.ifMatch) headers['If-Match'] = entry.request.ifMatch;
      if (entry.request?.ifNoneExist) headers['If-None-Exist'] = entry.request.ifNoneExist;
      const saved =
        entry.request?.method === 'PUT'
          ? ((await client.update({ resourceType: resource.resourceType, id: resource.id!, body: resource as never, options: requestOptions(target, headers) })) as unknown as fhir4.FhirResource)
          : ((await client.create({ resourceType: resource.resourceType, body: resource as never, options: requestOptions(target, headers) })) as unknown as fhir4.FhirResource);
      if (entry.fullUrl && saved?.id) assigned.set(entry.fullUrl, `${saved.resourceType}/${saved.id}`);
      out.push(saved);
    }
  } catch (err) {
    throw asFhirError(err, ref);
  }
  return out;
}
