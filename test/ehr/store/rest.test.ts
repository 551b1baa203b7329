/**
 * The store's FHIR REST behaviour over real HTTP, through fhir-kit-client (as the module talks to it) and
 * plain fetch where headers and statuses matter.
 */
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import { expect } from '../../support/expect.js';
import type { Client } from 'fhir-kit-client';
import { http, patient, startTestServer, weight } from './support.js';
import type { TestServer } from './support.js';

let server: TestServer;
let client: Client;

beforeAll(async () => {
  server = await startTestServer();
  client = server.client();
});
afterAll(async () => server.close());

const statusOf = async (p: Promise<unknown>) => {
  try {
    await p;
    return 200;
  } catch (err) {
    return (err as { response?: { status?: number } }).response?.status;
  }
};

async function createPatient(family: string, extra: Partial<fhir4.Patient> = {}): Promise<fhir4.Patient> {
  return (await client.create({
    resourceType: 'Patient',
    body: patient(family, extra) as never,
  })) as unknown as fhir4.Patient;
}

describe('create, read, vread, update, delete, history', () => {
  it('creates with a server id, version 1, and Location/ETag/Last-Modified headers', async () => {
    const res = await http(server.baseUrl, 'POST', 'Patient', { body: patient('Adams', { id: 'client-chosen' }) });
    expect(res.status).toBe(201);
    expect(res.body.id).not.toBe('client-chosen');
    expect(res.body.meta.versionId).toBe('1');
    expect(res.headers.get('location')).toBe(`${server.baseUrl}/Patient/${res.body.id}/_history/1`);
    expect(res.headers.get('etag')).toBe('W/"1"');
    expect(new Date(res.headers.get('last-modified')!).getTime()).toBeGreaterThan(0);
    expect(res.headers.get('content-type')).toContain('application/fhir+json');
  });

  it('reads what it stored', async () => {
    const created = await createPatient('Baker');
    const read = (await client.read({ resourceType: 'Patient', id: created.id! })) as unknown as fhir4.Patient;
    expect(read).toEqual(created);
  });

  it('updates to a new version and keeps the old one readable (vread)', async () => {
    const created = await createPatient('Carter');
    const updated = (await client.update({
      resourceType: 'Patient',
      id: created.id!,
      body: { ...created, birthDate: '1970-01-01' } as never,
    })) as unknown as fhir4.Patient;
    expect(updated.meta?.versionId).toBe('2');
    const v1 = (await client.vread({
      resourceType: 'Patient',
      id: created.id!,
      version: '1',
    })) as unknown as fhir4.Patient;
    expect(v1.birthDate).toBe('1975-05-05');
    const v2 = (await client.vread({
      resourceType: 'Patient',
      id: created.id!,
      version: '2',
    })) as unknown as fhir4.Patient;
    expect(v2.birthDate).toBe('1970-01-01');
    expect(await statusOf(client.vread({ resourceType: 'Patient', id: created.id!, version: '3' }))).toBe(404);
  });

  it('honours If-Match: the current version succeeds, a stale one gets 412', async () => {
    const created = await createPatient('Dixon');
    const ok = await http(server.baseUrl, 'PUT', `Patient/${created.id}`, {
      body: { ...created, gender: 'other' },
      headers: { 'If-Match': 'W/"1"' },
    });
    expect(ok.status).toBe(200);
    expect(ok.headers.get('etag')).toBe('W/"2"');
    const stale = await http(server.baseUrl, 'PUT', `Patient/${created.id}`, {
      body: { ...created, gender: 'male' },
      headers: { 'If-Match': 'W/"1"' },
    });
    expect(stale.status).toBe(412);
    expect(stale.body.resourceType).toBe('OperationOutcome');
    const current = (await client.read({ resourceType: 'Patient', id: created.id! })) as unknown as fhir4.Patient;
    expect(current.gender).toBe('other');
  });

  it('creates on PUT to a new id (update-as-create) with 201', async () => {
    const res = await http(server.baseUrl, 'PUT', 'Patient/chosen-id-1', {
      body: patient('Evans', { id: 'chosen-id-1' }),
    });
    expect(res.status).toBe(201);
    expect(res.body.meta.versionId).toBe('1');
  });

  it('rejects an update whose body id differs from the URL (400)', async () => {
    const res = await http(server.baseUrl, 'PUT', 'Patient/one', { body: patient('Evans', { id: 'other' }) });
    expect(res.status).toBe(400);
    expect(res.body.issue[0].expression).toEqual(['Patient.id']);
  });

  it('deletes: then read is 410, vread of the old version still works, history shows the deletion', async () => {
    const created = await createPatient('Foster');
    const del = await http(server.baseUrl, 'DELETE', `Patient/${created.id}`);
    expect(del.status).toBe(204);
    expect(await statusOf(client.read({ resourceType: 'Patient', id: created.id! }))).toBe(410);
    expect(
      ((await client.vread({ resourceType: 'Patient', id: created.id!, version: '1' })) as unknown as fhir4.Patient).id,
    ).toBe(created.id);
    const history = (await client.history({ resourceType: 'Patient', id: created.id! })) as unknown as fhir4.Bundle;
    expect(history.type).toBe('history');
    expect(history.total).toBe(2);
    expect(history.entry?.map((e) => e.request?.method)).toEqual(['DELETE', 'POST']);
    expect(history.entry?.[0]?.resource).toBeUndefined();
    expect(await statusOf(client.delete({ resourceType: 'Patient', id: 'never-was' }))).toBe(404);
  });

  it('lists history newest first, with paging', async () => {
    const created = await createPatient('Green');
    let current = created;
    for (let i = 0; i < 4; i++) {
      current = (await client.update({
        resourceType: 'Patient',
        id: created.id!,
        body: { ...current, birthDate: `197${i}-01-01` } as never,
      })) as unknown as fhir4.Patient;
    }
    const page1 = await http(server.baseUrl, 'GET', `Patient/${created.id}/_history?_count=2`);
    expect(page1.body.total).toBe(5);
    expect(page1.body.entry.map((e: fhir4.BundleEntry) => e.resource?.meta?.versionId)).toEqual(['5', '4']);
    const next = page1.body.link.find((l: fhir4.BundleLink) => l.relation === 'next').url as string;
    const page2 = await http(server.baseUrl, 'GET', next.slice(server.baseUrl.length + 1));
    expect(page2.body.entry.map((e: fhir4.BundleEntry) => e.resource?.meta?.versionId)).toEqual(['3', '2']);
    expect((await http(server.baseUrl, 'GET', `Patient/${created.id}/_history?_since=2020-01-01`)).status).toBe(400);
  });

  it('answers Prefer: return=minimal with no body and return=OperationOutcome with an outcome', async () => {
    const minimal = await http(server.baseUrl, 'POST', 'Patient', {
      body: patient('Hill'),
      headers: { Prefer: 'return=minimal' },
    });
    expect(minimal.status).toBe(201);
    expect(minimal.body).toBeUndefined();
    expect(minimal.headers.get('location')).toMatch(/\/Patient\/[^/]+\/_history\/1$/);
    const outcome = await http(server.baseUrl, 'POST', 'Patient', {
      body: patient('Hill'),
      headers: { Prefer: 'return=OperationOutcome' },
    });
    expect(outcome.status).toBe(201);
    expect(outcome.body.resourceType).toBe('OperationOutcome');
  });
});

describe('errors as OperationOutcome', () => {
  it('404 for unknown ids and unknown types, 405 for unsupported methods', async () => {
    const missing = await http(server.baseUrl, 'GET', 'Patient/nope');
    expect(missing.status).toBe(404);
    expect(missing.body.resourceType).toBe('OperationOutcome');
    expect((await http(server.baseUrl, 'GET', 'Nonsense/1')).status).toBe(404);
    expect((await http(server.baseUrl, 'PATCH', 'Patient/1', { body: [] })).status).toBe(405);
    expect((await http(server.baseUrl, 'GET', '')).status).toBe(405);
  });

  it('400 with expressions for a structurally invalid resource, and stores nothing', async () => {
    const res = await http(server.baseUrl, 'POST', 'Patient', {
      body: { resourceType: 'Patient', gender: 'unknown-value', nickname: 'x' },
    });
    expect(res.status).toBe(400);
    const expressions = res.body.issue.flatMap((i: fhir4.OperationOutcomeIssue) => i.expression ?? []);
    expect(expressions).toContain('Patient.nickname');
    expect(expressions).toContain('Patient.gender');
  });

  it('400 when the body type does not match the URL, 415 for non-JSON bodies, 400 for malformed JSON', async () => {
    expect((await http(server.baseUrl, 'POST', 'Patient', { body: weight('x', 1, '2026-01-01') })).status).toBe(400);
    expect(
      (await http(server.baseUrl, 'POST', 'Patient', { body: 'name=x', headers: { 'Content-Type': 'text/plain' } }))
        .status,
    ).toBe(415);
    expect((await http(server.baseUrl, 'POST', 'Patient', { body: '{"resourceType":' })).status).toBe(400);
  });

  it('400 naming the parameter for unknown search parameters, unless Prefer: handling=lenient', async () => {
    const strict = await http(server.baseUrl, 'GET', 'Observation?colour=blue');
    expect(strict.status).toBe(400);
    expect(strict.body.issue[0].expression).toEqual(['Observation?colour']);
    const lenient = await http(server.baseUrl, 'GET', 'Observation?colour=blue&_count=1', {
      headers: { Prefer: 'handling=lenient' },
    });
    expect(lenient.status).toBe(200);
    const badDate = await http(server.baseUrl, 'GET', 'QuestionnaireResponse?authored=yesterday');
    expect(badDate.status).toBe(400);
    expect(badDate.body.issue[0].expression).toEqual(['QuestionnaireResponse?authored']);
    expect((await http(server.baseUrl, 'GET', 'Observation?subject:identifier=x')).status).toBe(400);
    expect((await http(server.baseUrl, 'GET', 'Observation?_count=many')).status).toBe(400);
    expect((await http(server.baseUrl, 'GET', 'Observation?_sort=colour')).status).toBe(400);
    expect((await http(server.baseUrl, 'GET', 'Observation?_include=Observation:colour')).status).toBe(400);
  });
});

describe('conditional create (If-None-Exist)', () => {
  it('creates once, then returns the existing resource with 200', async () => {
    const body = patient('Irwin', { identifier: [{ system: 'urn:test:mrn', value: 'IR-1' }] });
    const first = await http(server.baseUrl, 'POST', 'Patient', {
      body,
      headers: { 'If-None-Exist': 'identifier=urn:test:mrn|IR-1' },
    });
    expect(first.status).toBe(201);
    const second = await http(server.baseUrl, 'POST', 'Patient', {
      body,
      headers: { 'If-None-Exist': 'identifier=urn:test:mrn|IR-1' },
    });
    expect(second.status).toBe(200);
    expect(second.body.id).toBe(first.body.id);
    const found = (await client.search({
      resourceType: 'Patient',
      searchParams: { identifier: 'urn:test:mrn|IR-1' },
    })) as unknown as fhir4.Bundle;
    expect(found.total).toBe(1);
  });

  it('412 when the condition matches more than one resource', async () => {
    await createPatient('Jones', { identifier: [{ system: 'urn:test:dup', value: 'D' }] });
    await createPatient('Jones', { identifier: [{ system: 'urn:test:dup', value: 'D' }] });
    const res = await http(server.baseUrl, 'POST', 'Patient', {
      body: patient('Jones'),
      headers: { 'If-None-Exist': 'identifier=urn:test:dup|D' },
    });
    expect(res.status).toBe(412);
  });
});

describe('search', () => {
  let p1: fhir4.Patient;
  let p2: fhir4.Patient;
  const Q = 'https://periplan.app/fhir/Questionnaire/back-pain-intake';

  beforeAll(async () => {
    p1 = await createPatient('Search-One', { identifier: [{ system: 'urn:test:s', value: 'S1' }] });
    p2 = await createPatient('Search-Two');
    for (let m = 1; m <= 7; m++) {
      await client.create({ resourceType: 'Observation', body: weight(p1.id!, 60 + m, `2026-0${m}-15`) as never });
    }
    await client.create({ resourceType: 'Observation', body: weight(p2.id!, 80, '2026-03-01') as never });
    await client.create({
      resourceType: 'Observation',
      body: weight(p1.id!, 1, '2026-03-01', {
        code: { coding: [{ system: 'http://loinc.org', code: '8302-2' }] },
        status: 'amended',
      }) as never,
    });
    const qr = (status: string, authored: string, value: string): fhir4.QuestionnaireResponse => ({
      resourceType: 'QuestionnaireResponse',
      identifier: { system: 'urn:test:qr', value },
      questionnaire: `${Q}|1.0.0`,
      status: status as fhir4.QuestionnaireResponse['status'],
      subject: { reference: `Patient/${p1.id}` },
      authored,
    });
    await client.create({
      resourceType: 'QuestionnaireResponse',
      body: qr('completed', '2026-02-01T10:00:00Z', 'QR-1') as never,
    });
    await client.create({
      resourceType: 'QuestionnaireResponse',
      body: qr('in-progress', '2026-05-01T10:00:00+02:00', 'QR-2') as never,
    });
  });

  const search = async (resourceType: string, searchParams: Record<string, string | string[]>) =>
    (await client.search({ resourceType, searchParams: searchParams as never })) as unknown as fhir4.Bundle;

  it('finds by patient (reference or bare id) and subject, and by code with and without system', async () => {
    expect((await search('Observation', { patient: `Patient/${p1.id}` })).total).toBe(8);
    expect((await search('Observation', { patient: p1.id! })).total).toBe(8);
    expect((await search('Observation', { subject: `Patient/${p1.id}`, code: 'http://loinc.org|29463-7' })).total).toBe(
      7,
    );
    expect((await search('Observation', { subject: p1.id!, code: '29463-7' })).total).toBe(7);
    expect((await search('Observation', { patient: p2.id!, code: 'http://other|29463-7' })).total).toBe(0);
  });

  it('finds by status, identifier, questionnaire (versioned or not) and authored', async () => {
    expect((await search('QuestionnaireResponse', { patient: p1.id!, status: 'completed' })).total).toBe(1);
    expect((await search('QuestionnaireResponse', { identifier: 'urn:test:qr|QR-2' })).total).toBe(1);
    expect((await search('QuestionnaireResponse', { questionnaire: Q })).total).toBe(2);
    expect((await search('QuestionnaireResponse', { questionnaire: `${Q}|1.0.0` })).total).toBe(2);
    expect((await search('QuestionnaireResponse', { questionnaire: `${Q}|2.0.0` })).total).toBe(0);
    expect((await search('QuestionnaireResponse', { patient: p1.id!, authored: 'ge2026-03-01' })).total).toBe(1);
    expect(
      (await search('QuestionnaireResponse', { patient: p1.id!, authored: ['ge2026-01-01', 'lt2026-03-01'] })).total,
    ).toBe(1);
    expect((await search('Observation', { status: 'amended,cancelled' })).total).toBe(1);
    expect((await search('Patient', { identifier: 'urn:test:s|S1' })).entry?.[0]?.resource?.id).toBe(p1.id);
  });

  it('matches strings as R4 says: prefix by default (any name part, case- and accent-insensitive), :contains, :exact', async () => {
    await createPatient('Åberg-Search', { name: [{ family: 'Åberg-Search', given: ['Zoë'] }] });
    expect((await search('Patient', { family: 'search-on' })).total).toBe(1);
    expect((await search('Patient', { family: 'earch-one' })).total).toBe(0);
    expect((await search('Patient', { 'family:contains': 'earch-one' })).total).toBe(1);
    expect((await search('Patient', { 'family:exact': 'search-one' })).total).toBe(0);
    expect((await search('Patient', { 'family:exact': 'Search-One' })).total).toBe(1);
    expect((await search('Patient', { name: 'aberg' })).total).toBe(1);
    expect((await search('Patient', { name: 'zoe' })).total).toBe(1);
  });

  it('filters by _lastUpdated', async () => {
    const all = await search('Observation', { patient: p1.id!, _count: '100' });
    const middle = all.entry![3]!.resource!.meta!.lastUpdated!;
    const after = await search('Observation', { patient: p1.id!, _lastUpdated: `gt${middle}` });
    expect(after.total).toBe(4);
    expect((await search('Observation', { patient: p1.id!, _lastUpdated: 'lt2000-01-01' })).total).toBe(0);
  });

  it('sorts ascending and descending by date', async () => {
    const asc = await search('Observation', { patient: p1.id!, code: '29463-7', _sort: 'date' });
    const dates = asc.entry!.map((e) => (e.resource as fhir4.Observation).effectiveDateTime);
    expect(dates).toEqual([...dates].sort());
    const desc = await search('Observation', { patient: p1.id!, code: '29463-7', _sort: '-date' });
    expect(desc.entry!.map((e) => (e.resource as fhir4.Observation).effectiveDateTime)).toEqual([...dates].reverse());
  });

  it('pages with _count and next/previous links that fhir-kit-client follows, totals stay exact', async () => {
    const first = await search('Observation', { patient: p1.id!, code: '29463-7', _sort: 'date', _count: '3' });
    expect(first.total).toBe(7);
    expect(first.entry).toHaveLength(3);
    expect(first.link?.find((l) => l.relation === 'previous')).toBeUndefined();
    const seen = first.entry!.map((e) => e.resource!.id);
    let page: fhir4.Bundle | null = first;
    while ((page = (await client.nextPage({ bundle: page as never })) as unknown as fhir4.Bundle | null)) {
      expect(page.total).toBe(7);
      seen.push(...page.entry!.map((e) => e.resource!.id));
      if (!page.link?.some((l) => l.relation === 'next')) {
        expect(page.link?.some((l) => l.relation === 'previous')).toBe(true);
        break;
      }
    }
    expect(seen).toHaveLength(7);
    expect(new Set(seen).size).toBe(7);
  });

  it('_summary=count and _count=0 give the total only', async () => {
    const counted = await search('Observation', { patient: p1.id!, _summary: 'count' });
    expect(counted.total).toBe(8);
    expect(counted.entry ?? []).toHaveLength(0);
  });

  it('_include adds the referenced resources once, marked search.mode=include, not counted', async () => {
    const res = await search('Observation', { patient: p1.id!, _include: 'Observation:subject', _count: '3' });
    expect(res.total).toBe(8);
    const included = res.entry!.filter((e) => e.search?.mode === 'include');
    expect(included).toHaveLength(1);
    expect(included[0]!.resource!.id).toBe(p1.id);
    expect(included[0]!.fullUrl).toBe(`${server.baseUrl}/Patient/${p1.id}`);
    expect(res.entry!.filter((e) => e.search?.mode === 'match')).toHaveLength(3);
  });

  it('searches by POST _search with a form body', async () => {
    const res = await fetch(`${server.baseUrl}/Observation/_search`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ patient: p2.id! }).toString(),
    });
    expect(res.status).toBe(200);
    expect(((await res.json()) as unknown as fhir4.Bundle).total).toBe(1);
  });

  it('does not find deleted resources', async () => {
    const o = (await client.create({
      resourceType: 'Observation',
      body: weight(p2.id!, 90, '2026-04-01') as never,
    })) as unknown as fhir4.Observation;
    expect((await search('Observation', { patient: p2.id! })).total).toBe(2);
    await client.delete({ resourceType: 'Observation', id: o.id! });
    expect((await search('Observation', { patient: p2.id! })).total).toBe(1);
  });
});

describe('transaction and batch', () => {
  const urn = () => `urn:uuid:${crypto.randomUUID()}`;

  it('creates resources with urn:uuid references resolved, all in one go', async () => {
    const patientUrn = urn();
    const bundle: fhir4.Bundle = {
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [
        {
          fullUrl: urn(),
          resource: weight('placeholder', 70, '2026-06-01', { subject: { reference: patientUrn } }),
          request: { method: 'POST', url: 'Observation' },
        },
        { fullUrl: patientUrn, resource: patient('Tx-One'), request: { method: 'POST', url: 'Patient' } },
      ],
    };
    const res = (await client.transaction({ body: bundle as never })) as unknown as fhir4.Bundle;
    expect(res.type).toBe('transaction-response');
    expect(res.entry?.map((e) => e.response?.status)).toEqual(['201 Created', '201 Created']);
    const obs = res.entry![0]!.resource as fhir4.Observation;
    const pat = res.entry![1]!.resource as fhir4.Patient;
    expect(obs.subject?.reference).toBe(`Patient/${pat.id}`);
    expect(res.entry![1]!.response?.location).toBe(`Patient/${pat.id}/_history/1`);
    expect(res.entry![1]!.response?.etag).toBe('W/"1"');
    const stored = (await client.read({ resourceType: 'Observation', id: obs.id! })) as unknown as fhir4.Observation;
    expect(stored.subject?.reference).toBe(`Patient/${pat.id}`);
  });

  it('resolves a conditional create to the existing resource, and references to it', async () => {
    const existing = await createPatient('Tx-Cond', { identifier: [{ system: 'urn:test:tx', value: 'C1' }] });
    const patientUrn = urn();
    const res = (await client.transaction({
      body: {
        resourceType: 'Bundle',
        type: 'transaction',
        entry: [
          {
            fullUrl: patientUrn,
            resource: patient('Tx-Cond', { identifier: [{ system: 'urn:test:tx', value: 'C1' }] }),
            request: { method: 'POST', url: 'Patient', ifNoneExist: 'identifier=urn:test:tx|C1' },
          },
          {
            fullUrl: urn(),
            resource: weight('x', 71, '2026-06-02', { subject: { reference: patientUrn } }),
            request: { method: 'POST', url: 'Observation' },
          },
        ],
      } as never,
    })) as unknown as fhir4.Bundle;
    expect(res.entry![0]!.response?.status).toBe('200 OK');
    expect((res.entry![1]!.resource as fhir4.Observation).subject?.reference).toBe(`Patient/${existing.id}`);
  });

  it('resolves conditional references (Patient?identifier=...)', async () => {
    const target = await createPatient('Tx-Ref', { identifier: [{ system: 'urn:test:tx', value: 'R1' }] });
    const res = (await client.transaction({
      body: {
        resourceType: 'Bundle',
        type: 'transaction',
        entry: [
          {
            resource: weight('x', 72, '2026-06-03', { subject: { reference: 'Patient?identifier=urn:test:tx|R1' } }),
            request: { method: 'POST', url: 'Observation' },
          },
        ],
      } as never,
    })) as unknown as fhir4.Bundle;
    expect((res.entry![0]!.resource as fhir4.Observation).subject?.reference).toBe(`Patient/${target.id}`);
  });

  it('rolls everything back when one entry fails, and says which entry', async () => {
    const family = `Rollback-${Date.now()}`;
    const existing = await createPatient(`${family}-existing`);
    const bundle: fhir4.Bundle = {
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [
        { fullUrl: urn(), resource: patient(family), request: { method: 'POST', url: 'Patient' } },
        {
          resource: { ...existing, gender: 'male' } as fhir4.Patient,
          request: { method: 'PUT', url: `Patient/${existing.id}` },
        },
        {
          resource: { ...existing, gender: 'other' } as fhir4.Patient,
          request: { method: 'PUT', url: `Patient/${existing.id}`, ifMatch: 'W/"7"' },
        },
      ],
    };
    const res = await http(server.baseUrl, 'POST', '', { body: bundle });
    expect(res.status).toBe(412);
    expect(res.body.issue[0].expression[0]).toBe('Bundle.entry[2]');
    expect(
      (
        (await client.search({
          resourceType: 'Patient',
          searchParams: { 'family:exact': family },
        })) as unknown as fhir4.Bundle
      ).total,
    ).toBe(0);
    const after = (await client.read({ resourceType: 'Patient', id: existing.id! })) as unknown as fhir4.Patient;
    expect(after.meta?.versionId).toBe('1');
    expect(after.gender).toBe('female');
  });

  it('rolls back on an invalid resource (400) and on a reference to no entry (400)', async () => {
    const family = `Invalid-${Date.now()}`;
    const invalid = await http(server.baseUrl, 'POST', '', {
      body: {
        resourceType: 'Bundle',
        type: 'transaction',
        entry: [
          { resource: patient(family), request: { method: 'POST', url: 'Patient' } },
          {
            resource: { resourceType: 'Patient', birthDate: 'yesterday' },
            request: { method: 'POST', url: 'Patient' },
          },
        ],
      },
    });
    expect(invalid.status).toBe(400);
    expect(invalid.body.issue[0].expression).toContain('Bundle.entry[1]');
    const dangling = await http(server.baseUrl, 'POST', '', {
      body: {
        resourceType: 'Bundle',
        type: 'transaction',
        entry: [
          { resource: patient(family), request: { method: 'POST', url: 'Patient' } },
          {
            resource: weight('x', 1, '2026-01-01', { subject: { reference: urn() } }),
            request: { method: 'POST', url: 'Observation' },
          },
        ],
      },
    });
    expect(dangling.status).toBe(400);
    expect(
      (
        (await client.search({
          resourceType: 'Patient',
          searchParams: { 'family:exact': family },
        })) as unknown as fhir4.Bundle
      ).total,
    ).toBe(0);
  });

  it('runs DELETE, POST, PUT, GET in FHIR order and answers in request order', async () => {
    const doomed = await createPatient('Order-Doomed');
    const res = (await client.transaction({
      body: {
        resourceType: 'Bundle',
        type: 'transaction',
        entry: [
          { request: { method: 'GET', url: `Patient/${doomed.id}/_history` } },
          { resource: patient('Order-New'), request: { method: 'POST', url: 'Patient' } },
          { request: { method: 'DELETE', url: `Patient/${doomed.id}` } },
        ],
      } as never,
    })) as unknown as fhir4.Bundle;
    expect(res.entry!.map((e) => e.response?.status)).toEqual(['200 OK', '201 Created', '204 No Content']);
    const history = res.entry![0]!.resource as fhir4.Bundle;
    expect(history.entry?.[0]?.request?.method).toBe('DELETE');
  });

  it('batch: entries succeed or fail on their own', async () => {
    const res = (await client.batch({
      body: {
        resourceType: 'Bundle',
        type: 'batch',
        entry: [
          { resource: patient('Batch-Ok'), request: { method: 'POST', url: 'Patient' } },
          { request: { method: 'GET', url: 'Patient/does-not-exist' } },
          { resource: { resourceType: 'Patient', gender: 'nope' }, request: { method: 'POST', url: 'Patient' } },
        ],
      } as never,
    })) as unknown as fhir4.Bundle;
    expect(res.type).toBe('batch-response');
    expect(res.entry!.map((e) => e.response?.status)).toEqual(['201 Created', '404 Not Found', '400 Bad Request']);
    expect(res.entry![1]!.response?.outcome?.resourceType).toBe('OperationOutcome');
    expect(
      (
        (await client.search({
          resourceType: 'Patient',
          searchParams: { family: 'Batch-Ok' },
        })) as unknown as fhir4.Bundle
      ).total,
    ).toBe(1);
  });

  it('rejects other Bundle types posted to the base', async () => {
    const res = await http(server.baseUrl, 'POST', '', { body: { resourceType: 'Bundle', type: 'collection' } });
    expect(res.status).toBe(400);
  });
});

describe('CapabilityStatement', () => {
  it('says what the router does, and every claim holds', async () => {
    const cs = (await client.capabilityStatement()) as unknown as fhir4.CapabilityStatement;
    expect(cs.fhirVersion).toBe('4.0.1');
    const rest = cs.rest![0]!;
    expect(rest.interaction?.map((i) => i.code).sort()).toEqual(['batch', 'transaction']);
    const qr = rest.resource!.find((r) => r.type === 'QuestionnaireResponse')!;
    expect(qr.interaction!.map((i) => i.code).sort()).toEqual([
      'create',
      'delete',
      'history-instance',
      'read',
      'search-type',
      'update',
      'vread',
    ]);
    expect(qr.conditionalCreate).toBe(true);
    expect(qr.versioning).toBe('versioned-update');
    for (const name of [
      'patient',
      'subject',
      'status',
      'questionnaire',
      'authored',
      'identifier',
      '_lastUpdated',
      '_id',
    ]) {
      expect(
        qr.searchParam!.map((p) => p.name),
        name,
      ).toContain(name);
    }
    const obs = rest.resource!.find((r) => r.type === 'Observation')!;
    for (const name of ['patient', 'subject', 'code', 'date', 'status'])
      expect(obs.searchParam!.map((p) => p.name)).toContain(name);
    expect(obs.searchInclude).toContain('Observation:subject');

    // Every listed search parameter of the module's types is accepted; one not listed is refused.
    for (const type of ['QuestionnaireResponse', 'Observation', 'Patient', 'Practitioner']) {
      const resource = rest.resource!.find((r) => r.type === type)!;
      for (const param of resource.searchParam!) {
        const value = param.type === 'date' ? 'ge2000-01-01' : param.type === 'reference' ? 'Patient/x' : 'x';
        const res = await http(
          server.baseUrl,
          'GET',
          `${type}?${encodeURIComponent(param.name)}=${encodeURIComponent(value)}&_count=1`,
        );
        expect(res.status, `${type}?${param.name}`).toBe(200);
      }
      for (const include of resource.searchInclude ?? []) {
        expect(
          (await http(server.baseUrl, 'GET', `${type}?_include=${encodeURIComponent(include)}&_count=1`)).status,
          include,
        ).toBe(200);
      }
    }
    const listed = new Set(obs.searchParam!.map((p) => p.name));
    expect(listed.has('value-quantity')).toBe(false);
    expect((await http(server.baseUrl, 'GET', 'Observation?value-quantity=70')).status).toBe(400);
    // Types not listed are not served.
    expect(rest.resource!.some((r) => r.type === 'Binary')).toBe(false);
    expect((await http(server.baseUrl, 'GET', 'Binary/1')).status).toBe(404);
  });
});
