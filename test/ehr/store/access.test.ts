/**
 * The store enforces what the token grants: bearer token required, SMART scopes, patient compartment.
 * The `tokens` table stands in for the SMART authorization server, whose output is exactly an AccessContext.
 */
import { afterAll, beforeAll, describe, it, expect } from '@jest/globals';
import { http, patient, startTestServer, weight } from './support.js';
import type { TestServer } from './support.js';
import type { AccessContext } from '../../../src/ehr/store/index.js';

let server: TestServer;
let A: string;
let B: string;
let obsA: fhir4.Observation;
let obsB: fhir4.Observation;
let qrB: fhir4.QuestionnaireResponse;
let practitionerId: string;

const qr = (patientId: string, value: string): fhir4.QuestionnaireResponse => ({
  resourceType: 'QuestionnaireResponse',
  identifier: { system: 'urn:test:qr', value },
  questionnaire: 'https://periplan.app/fhir/Questionnaire/back-pain-intake|1.0.0',
  status: 'completed',
  subject: { reference: `Patient/${patientId}` },
  authored: '2026-11-01T10:00:00Z',
});

/** Looked up per request; patient-scoped tokens are bound to patient A once its server-assigned id is known. */
const tokens: Record<string, AccessContext> = {
  admin: { clientId: 'admin', scopes: ['system/*.cruds'] },
  clinician: { clientId: 'app', scopes: ['openid', 'fhirUser', 'user/*.cruds'], fhirUser: 'Practitioner/p' },
  reader: { clientId: 'app', scopes: ['user/Patient.rs'] },
  v1: { clientId: 'old-app', scopes: ['user/Observation.read', 'user/Observation.write'] },
  patientA: {
    clientId: 'tablet',
    scopes: ['launch/patient', 'patient/*.rs', 'patient/QuestionnaireResponse.cu', 'patient/Observation.c'],
  },
  qrOnlyA: { clientId: 'kiosk', scopes: ['patient/QuestionnaireResponse.cu'] },
  noPatient: { clientId: 'tablet', scopes: ['patient/*.rs'] },
};

beforeAll(async () => {
  server = await startTestServer({ tokens });
  const admin = server.client('admin');
  A = ((await admin.create({ resourceType: 'Patient', body: patient('Alpha') as never })) as unknown as fhir4.Patient)
    .id!;
  B = ((await admin.create({ resourceType: 'Patient', body: patient('Beta') as never })) as unknown as fhir4.Patient)
    .id!;
  tokens.patientA!.patient = A;
  tokens.qrOnlyA!.patient = A;
  obsA = (await admin.create({
    resourceType: 'Observation',
    body: weight(A, 60, '2026-01-01') as never,
  })) as unknown as fhir4.Observation;
  obsB = (await admin.create({
    resourceType: 'Observation',
    body: weight(B, 70, '2026-01-01') as never,
  })) as unknown as fhir4.Observation;
  qrB = (await admin.create({
    resourceType: 'QuestionnaireResponse',
    body: qr(B, 'B-1') as never,
  })) as unknown as fhir4.QuestionnaireResponse;
  practitionerId = (
    (await admin.create({
      resourceType: 'Practitioner',
      body: { resourceType: 'Practitioner', name: [{ family: 'Doc' }] } as never,
    })) as unknown as fhir4.Practitioner
  ).id!;
});
afterAll(async () => server.close());

/** A request with the token of patient A. */
const asA = (method: string, path: string, body?: unknown, headers?: Record<string, string>) =>
  http(server.baseUrl, method, path, {
    token: `patientA`,
    ...(body !== undefined ? { body } : {}),
    ...(headers ? { headers } : {}),
  });

describe('authentication', () => {
  it('serves the CapabilityStatement without a token, with a SMART security block', async () => {
    const res = await http(server.baseUrl, 'GET', 'metadata');
    expect(res.status).toBe(200);
    expect(res.body.rest[0].security.service[0].coding[0].code).toBe('SMART-on-FHIR');
  });

  it('401 with WWW-Authenticate: Bearer without a token, and error=invalid_token for an unknown one', async () => {
    const none = await http(server.baseUrl, 'GET', `Patient/${A}`);
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toBe('Bearer');
    expect(none.body.resourceType).toBe('OperationOutcome');
    const bad = await http(server.baseUrl, 'GET', `Patient/${A}`, { token: 'forged' });
    expect(bad.status).toBe(401);
    expect(bad.headers.get('www-authenticate')).toContain('invalid_token');
    const bundle = await http(server.baseUrl, 'POST', '', {
      body: { resourceType: 'Bundle', type: 'transaction', entry: [] },
    });
    expect(bundle.status).toBe(401);
  });
});

describe('scopes', () => {
  it('user/Patient.rs reads and searches Patients but cannot create them or read Observations', async () => {
    expect((await http(server.baseUrl, 'GET', `Patient/${A}`, { token: 'reader' })).status).toBe(200);
    expect((await http(server.baseUrl, 'GET', 'Patient?family=Alpha', { token: 'reader' })).status).toBe(200);
    const create = await http(server.baseUrl, 'POST', 'Patient', { token: 'reader', body: patient('Gamma') });
    expect(create.status).toBe(403);
    expect(create.body.issue[0].code).toBe('forbidden');
    expect((await http(server.baseUrl, 'GET', `Observation/${obsA.id}`, { token: 'reader' })).status).toBe(403);
  });

  it('drops _include targets the token may not read', async () => {
    const res = await http(server.baseUrl, 'GET', `Observation?_include=Observation:subject`, { token: 'v1' });
    expect(res.status).toBe(200);
    expect(res.body.entry.every((e: fhir4.BundleEntry) => e.search?.mode === 'match')).toBe(true);
  });

  it('accepts SMART v1 read/write scopes', async () => {
    const created = await http(server.baseUrl, 'POST', 'Observation', {
      token: 'v1',
      body: weight(A, 61, '2026-02-01'),
    });
    expect(created.status).toBe(201);
    expect((await http(server.baseUrl, 'DELETE', `Observation/${created.body.id}`, { token: 'v1' })).status).toBe(204);
    expect((await http(server.baseUrl, 'GET', `Patient/${A}`, { token: 'v1' })).status).toBe(403);
  });

  it('user/*.cruds can do everything, across patients', async () => {
    expect((await http(server.baseUrl, 'GET', `Observation/${obsB.id}`, { token: 'clinician' })).status).toBe(200);
    expect(
      (await http(server.baseUrl, 'POST', 'Observation', { token: 'clinician', body: weight(B, 71, '2026-03-01') }))
        .status,
    ).toBe(201);
  });

  it('patient/ scopes without a patient in context grant nothing', async () => {
    expect((await http(server.baseUrl, 'GET', `Patient/${A}`, { token: 'noPatient' })).status).toBe(403);
  });
});

describe('patient compartment', () => {
  it('reads within the compartment, 403 outside it', async () => {
    expect((await asA('GET', `Patient/${A}`)).status).toBe(200);
    expect((await asA('GET', `Observation/${obsA.id}`)).status).toBe(200);
    expect((await asA('GET', `Patient/${B}`)).status).toBe(403);
    expect((await asA('GET', `Observation/${obsB.id}`)).status).toBe(403);
    expect((await asA('GET', `Observation/${obsB.id}/_history/1`)).status).toBe(403);
    expect((await asA('GET', `Observation/${obsB.id}/_history`)).status).toBe(403);
  });

  it('filters searches to the compartment (totals too)', async () => {
    const obs = await asA('GET', 'Observation');
    expect(obs.status).toBe(200);
    expect(obs.body.entry.map((e: fhir4.BundleEntry) => (e.resource as fhir4.Observation).subject?.reference)).toEqual(
      Array(obs.body.total).fill(`Patient/${A}`),
    );
    const patients = await asA('GET', 'Patient');
    expect(patients.body.total).toBe(1);
    expect(patients.body.entry[0].resource.id).toBe(A);
    expect((await asA('GET', `Observation?patient=${B}`)).body.total).toBe(0);
  });

  it('still reads resources that belong to no patient (Practitioner)', async () => {
    expect((await asA('GET', `Practitioner/${practitionerId}`)).status).toBe(200);
  });

  it('writes within the compartment, 403 for another patient, and nothing is stored', async () => {
    expect((await asA('POST', 'QuestionnaireResponse', qr(A, 'A-1'))).status).toBe(201);
    const other = await asA('POST', 'QuestionnaireResponse', qr(B, 'A-2'));
    expect(other.status).toBe(403);
    const admin = await http(server.baseUrl, 'GET', 'QuestionnaireResponse?identifier=urn:test:qr|A-2', {
      token: 'admin',
    });
    expect(admin.body.total).toBe(0);
  });

  it('a resource in two compartments (subject B, performer A) is readable by A but not writable', async () => {
    const shared = weight(B, 65, '2026-04-04', { performer: [{ reference: `Patient/${A}` }] });
    expect((await asA('POST', 'Observation', shared)).status).toBe(403);
    const stored = await http(server.baseUrl, 'POST', 'Observation', { token: 'admin', body: shared });
    expect((await asA('GET', `Observation/${stored.body.id}`)).status).toBe(200);
  });

  it('cannot move a resource into, or out of, the compartment by updating it', async () => {
    const hijack = await asA('PUT', `QuestionnaireResponse/${qrB.id}`, { ...qr(A, 'B-1'), id: qrB.id });
    expect(hijack.status).toBe(403);
    const mine = await asA('POST', 'QuestionnaireResponse', qr(A, 'A-3'));
    const away = await asA('PUT', `QuestionnaireResponse/${mine.body.id}`, {
      ...mine.body,
      subject: { reference: `Patient/${B}` },
    });
    expect(away.status).toBe(403);
  });

  it('403 for interactions the scopes do not grant (delete, writing Practitioners)', async () => {
    expect((await asA('DELETE', `Observation/${obsA.id}`)).status).toBe(403);
    expect((await asA('POST', 'Practitioner', { resourceType: 'Practitioner' })).status).toBe(403);
  });

  it('a transaction writing into another patient compartment is refused as a whole', async () => {
    const res = await asA('POST', '', {
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [
        { resource: qr(A, 'TX-A'), request: { method: 'POST', url: 'QuestionnaireResponse' } },
        { resource: weight(B, 99, '2026-05-05'), request: { method: 'POST', url: 'Observation' } },
      ],
    });
    expect(res.status).toBe(403);
    expect(res.body.issue[0].expression).toContain('Bundle.entry[1]');
    const admin = await http(server.baseUrl, 'GET', 'QuestionnaireResponse?identifier=urn:test:qr|TX-A', {
      token: 'admin',
    });
    expect(admin.body.total).toBe(0);
  });

  it("a conditional create does not see a match in another compartment: A's resource is created, B's not disclosed", async () => {
    const res = await asA('POST', 'QuestionnaireResponse', qr(A, 'B-1'), {
      'If-None-Exist': 'identifier=urn:test:qr|B-1',
    });
    expect(res.status).toBe(201);
    expect(res.body.subject.reference).toBe(`Patient/${A}`);
    expect(res.body.id).not.toBe(qrB.id);
    expect(JSON.stringify(res.body)).not.toContain(qrB.id!);
  });

  it('a create-only token that hits an existing resource by If-None-Exist learns its location, not its content', async () => {
    const first = await http(server.baseUrl, 'POST', 'QuestionnaireResponse', {
      token: 'qrOnlyA',
      body: qr(A, 'K-1'),
      headers: { 'If-None-Exist': 'identifier=urn:test:qr|K-1' },
    });
    expect(first.status).toBe(201);
    const again = await http(server.baseUrl, 'POST', 'QuestionnaireResponse', {
      token: 'qrOnlyA',
      body: qr(A, 'K-1'),
      headers: { 'If-None-Exist': 'identifier=urn:test:qr|K-1' },
    });
    expect(again.status).toBe(200);
    expect(again.headers.get('location')).toContain(`/QuestionnaireResponse/${first.body.id}/_history/1`);
    expect(again.body.resourceType).toBe('OperationOutcome');
    expect(
      (await http(server.baseUrl, 'GET', `QuestionnaireResponse/${first.body.id}`, { token: 'qrOnlyA' })).status,
    ).toBe(403);
  });
});
