// The operations over HTTP: $apply, $validate, $populate, $extract — happy paths and each kind of bad input.
import type { Express } from 'express';
import request from 'supertest';
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import { expect } from '../support/expect.js';
import { FhirServerDataSource } from '../../src/api/data-source.js';
import { FHIR_JSON, readJson, testApp } from './support/app.js';
import { PERSONALITIES, startPersonalityProxy, type PersonalityProxy } from '../support/fhir-personality.js';
import { startFhirServer, type FixtureServer } from './support/fhir-server.js';
import { applyParameters } from './support/random-intake.js';
import express from 'express';
import type { AccessContext } from '../../src/ehr/store/access.js';
import { createFhirStoreRouter, openFhirStore } from '../../src/ehr/store/index.js';
import { closeServer, listen, tmpDir } from '../submission/support/servers.js';

let app: Express;
const patient = readJson<fhir4.Patient>('examples/RF-01/patient.json');
const response = readJson<fhir4.QuestionnaireResponse>('examples/RF-01/response.json');
const subject = `Patient/${patient.id}`;
const APPLY = '/fhir/PlanDefinition/back-pain-follow-up/$apply';
const RULE_SYSTEM = 'https://periplan.app/fhir/CodeSystem/back-pain-rule';

beforeAll(async () => {
  app = await testApp();
});

const post = (path: string, body: unknown) =>
  request(app).post(path).set('Content-Type', FHIR_JSON).send(JSON.stringify(body));

function firedRules(carePlan: fhir4.CarePlan): string[] {
  return JSON.stringify(carePlan.contained ?? [])
    .split(`"system":"${RULE_SYSTEM}","code":"`)
    .slice(1)
    .map((s) => s.slice(0, s.indexOf('"')));
}

function errorIssue(res: request.Response, status: number): fhir4.OperationOutcomeIssue {
  expect(res.status, JSON.stringify(res.body)).toBe(status);
  expect(res.body.resourceType).toBe('OperationOutcome');
  return res.body.issue[0];
}

describe('PlanDefinition/$apply', () => {
  it('returns a CarePlan with the fired rule for a worked example', async () => {
    const res = await post(APPLY, applyParameters(subject, [patient, response]));
    expect(res.status).toBe(200);
    expect(res.body.resourceType).toBe('CarePlan');
    expect(firedRules(res.body)).toContain('RF-01');
  });

  it('works type-level with a url parameter (also url|version)', async () => {
    const params = applyParameters(subject, [patient, response]);
    params.parameter!.push({ name: 'url', valueUri: 'https://periplan.app/fhir/PlanDefinition/back-pain-follow-up' });
    const res = await post('/fhir/PlanDefinition/$apply', params);
    expect(res.status).toBe(200);
    expect(firedRules(res.body)).toContain('RF-01');
  });

  it('needs the PlanDefinition on the type-level endpoint', async () => {
    const issue = errorIssue(await post('/fhir/PlanDefinition/$apply', applyParameters(subject, [patient])), 400);
    expect(issue.diagnostics).toMatch(/url/);
  });

  it('answers an unknown PlanDefinition with 404', async () => {
    errorIssue(await post('/fhir/PlanDefinition/nope/$apply', applyParameters(subject, [patient])), 404);
    const params = applyParameters(subject, [patient]);
    params.parameter!.push({ name: 'url', valueUri: 'https://example.org/PlanDefinition/other' });
    const issue = errorIssue(await post('/fhir/PlanDefinition/$apply', params), 404);
    expect(issue.expression).toEqual(['Parameters.parameter[2].valueUri']);
  });

  it('needs subject', async () => {
    const params = applyParameters(subject, [patient, response]);
    params.parameter!.shift();
    const issue = errorIssue(await post(APPLY, params), 400);
    expect(issue.diagnostics).toMatch(/subject/);
  });

  it('refuses a subject that is not a Patient reference, at the element', async () => {
    const params = applyParameters('Group/1', [patient, response]);
    const issue = errorIssue(await post(APPLY, params), 400);
    expect(issue.expression).toEqual(['Parameters.parameter[0].valueString']);
  });

  it('refuses wrong value types, naming the element', async () => {
    const params = applyParameters(subject, [patient, response]) as unknown as {
      parameter: Array<Record<string, unknown>>;
    };
    params.parameter[0] = { name: 'subject', valueString: 42 };
    const issue = errorIssue(await post(APPLY, params), 400);
    expect(issue.expression).toEqual(['Parameters.parameter[0].valueString']);

    const p2 = applyParameters(subject, [patient, response]);
    p2.parameter!.push({ name: 'useServerData', valueString: 'no' });
    const issue2 = errorIssue(await post(APPLY, p2), 400);
    expect(issue2.expression).toEqual(['Parameters.parameter[2].valueString']);
    expect(issue2.diagnostics).toMatch(/valueBoolean/);
  });

  it('refuses data that is not a collection Bundle, pointing at Parameters.parameter[1].resource', async () => {
    const params = {
      resourceType: 'Parameters',
      parameter: [
        { name: 'subject', valueString: subject },
        { name: 'data', resource: patient },
      ],
    };
    const issue = errorIssue(await post(APPLY, params), 400);
    expect(issue.expression).toEqual(['Parameters.parameter[1].resource']);
    const batch = applyParameters(subject, [patient]);
    (batch.parameter![1]!.resource as fhir4.Bundle).type = 'batch';
    expect(errorIssue(await post(APPLY, batch), 400).expression).toEqual(['Parameters.parameter[1].resource.type']);
  });

  it('refuses structurally invalid data resources, pointing inside the Bundle', async () => {
    const broken = structuredClone(response) as unknown as { item: Array<{ item: Array<{ answer: unknown[] }> }> };
    broken.item[0]!.item[0]!.answer = [{ valueInteger: 'forty-eight' }];
    const issue = errorIssue(await post(APPLY, applyParameters(subject, [patient, broken])), 400);
    expect(String(issue.expression?.[0])).toMatch(
      /^Parameters\.parameter\[1\]\.resource\.entry\[1\]\.resource\.item\[0\]\.item\[0\]\.answer\[0\]/,
    );
  });

  it('refuses a body that is not Parameters', async () => {
    const issue = errorIssue(await post(APPLY, response), 400);
    expect(issue.diagnostics).toMatch(/Parameters/);
  });

  it('refuses unknown parameter names', async () => {
    const params = applyParameters(subject, [patient, response]);
    params.parameter!.push({ name: 'sneaky', valueString: 'x' });
    expect(errorIssue(await post(APPLY, params), 400).expression).toEqual(['Parameters.parameter[2].name']);
  });

  it('refuses useServerData=true when no FHIR server is configured', async () => {
    const params = applyParameters(subject, [patient, response]);
    params.parameter!.push({ name: 'useServerData', valueBoolean: true });
    expect(errorIssue(await post(APPLY, params), 400).code).toBe('not-supported');
  });

  it('answers 422 when the data says nothing about the subject', async () => {
    const issue = errorIssue(await post(APPLY, applyParameters('Patient/someone-else', [patient, response])), 422);
    expect(issue.code).toBe('not-found');
  });
});

// Through every FHIR server personality (test/support/fhir-personality.ts): real servers page, refuse unknown
// search parameters, answer 410 for what they do not have, and so on.
describe.each(PERSONALITIES)('$apply with a FHIR server as data source (the server as %s)', (personality) => {
  let fhir: FixtureServer;
  let proxy: PersonalityProxy;
  let appWithServer: Express;
  beforeAll(async () => {
    const weight: fhir4.Observation = {
      resourceType: 'Observation',
      id: 'w1',
      status: 'final',
      code: { coding: [{ system: 'http://loinc.org', code: '29463-7' }] },
      subject: { reference: subject },
      effectiveDateTime: '2026-11-01',
      valueQuantity: { value: 58, unit: 'kg', system: 'http://unitsofmeasure.org', code: 'kg' },
    };
    fhir = await startFhirServer([patient, { ...response, id: 'qr1' }, weight]);
    proxy = await startPersonalityProxy(fhir.baseUrl, personality);
    appWithServer = await testApp({
      dataSource: new FhirServerDataSource({
        baseUrl: proxy.fhirBaseUrl,
        bearerToken: 'secret-token',
        timeoutMs: 5000,
      }),
    });
  });
  afterAll(async () => {
    await proxy?.close();
    await fhir?.close();
  });

  it('reads the Patient, intake responses and body weight from the server by default', async () => {
    const params = { resourceType: 'Parameters', parameter: [{ name: 'subject', valueString: subject }] };
    const res = await request(appWithServer).post(APPLY).set('Content-Type', FHIR_JSON).send(JSON.stringify(params));
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(firedRules(res.body)).toContain('RF-01');
    expect(fhir.requests.some((r) => r.startsWith(`/Patient/${patient.id}`))).toBe(true);
    expect(fhir.requests.some((r) => r.startsWith('/QuestionnaireResponse?'))).toBe(true);
    expect(fhir.requests.some((r) => r.startsWith('/Observation?') && r.includes('29463-7'))).toBe(true);
    expect(fhir.authorizations).toContain('Bearer secret-token');
  });

  it('uses only the request data when useServerData is false', async () => {
    const before = fhir.requests.length;
    const params = {
      resourceType: 'Parameters',
      parameter: [
        { name: 'subject', valueString: subject },
        { name: 'useServerData', valueBoolean: false },
      ],
    };
    const res = await request(appWithServer).post(APPLY).set('Content-Type', FHIR_JSON).send(JSON.stringify(params));
    expect(res.status).toBe(422); // nothing about the subject in the request
    expect(fhir.requests.length).toBe(before);
  });

  it('treats a subject unknown to the server as having no data (422, not an upstream error)', async () => {
    const params = {
      resourceType: 'Parameters',
      parameter: [{ name: 'subject', valueString: 'Patient/not-on-server' }],
    };
    const res = await request(appWithServer).post(APPLY).set('Content-Type', FHIR_JSON).send(JSON.stringify(params));
    expect(res.status).toBe(422);
    expect(fhir.requests).toContain('/Patient/not-on-server');
  });

  it('answers 502 (not a crash) when the FHIR server is unreachable', async () => {
    const dead = await testApp({
      dataSource: new FhirServerDataSource({ baseUrl: 'http://127.0.0.1:9', timeoutMs: 2000 }),
    });
    const params = { resourceType: 'Parameters', parameter: [{ name: 'subject', valueString: subject }] };
    const res = await request(dead).post(APPLY).set('Content-Type', FHIR_JSON).send(JSON.stringify(params));
    expect([502, 504]).toContain(res.status);
    expect(res.body.resourceType).toBe('OperationOutcome');
  });

  it("$populate fills the form from the server's Patient and weight", async () => {
    const params = {
      resourceType: 'Parameters',
      parameter: [{ name: 'subject', valueReference: { reference: subject } }],
    };
    const res = await request(appWithServer)
      .post('/fhir/Questionnaire/back-pain-intake/$populate')
      .set('Content-Type', FHIR_JSON)
      .send(JSON.stringify(params));
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    const qr = (res.body.parameter as fhir4.ParametersParameter[]).find((p) => p.name === 'response')!
      .resource as fhir4.QuestionnaireResponse;
    expect(JSON.stringify(qr)).toContain('"valueDecimal":58');
  });
});

// A server pages on its own terms: the resource that decides may be on page 2. Here the patient's latest
// intake (RF-01, cauda equina) comes after an earlier one with a complete, negative red-flag screen.
describe('$apply and ext-prefilled-from in a response the caller sends', () => {
  const MARKER = 'https://periplan.app/fhir/StructureDefinition/ext-prefilled-from';
  const weightOf = (id: string, patientId: string, value: number): fhir4.Observation => ({
    resourceType: 'Observation',
    id,
    status: 'final',
    subject: { reference: `Patient/${patientId}` },
    code: { coding: [{ system: 'http://loinc.org', code: '29463-7' }] },
    effectiveDateTime: '2026-10-01',
    valueQuantity: { value, unit: 'kg', system: 'http://unitsofmeasure.org', code: 'kg' },
  });
  const a: fhir4.Patient = { ...readJson<fhir4.Patient>('examples/BMD-05/patient.json'), id: 'pa' };
  const b: fhir4.Patient = { ...readJson<fhir4.Patient>('examples/BMD-05/patient.json'), id: 'pb' };
  /** BMD-05's example for `patientId`, its weight (the criterion) claimed as pre-filled from `observation`. */
  const claiming = (patientId: string, weight: number, observation: string): fhir4.QuestionnaireResponse => {
    const r = structuredClone(readJson<fhir4.QuestionnaireResponse>('examples/BMD-05/response.json'));
    const visit = (items: fhir4.QuestionnaireResponseItem[] | undefined): void => {
      for (const i of items ?? []) {
        if (i.linkId === 'weight-kg')
          i.answer = [
            {
              valueDecimal: weight,
              extension: [
                { url: MARKER, extension: [{ url: 'observation', valueReference: { reference: observation } }] },
              ],
            },
          ];
        visit(i.item);
      }
    };
    visit(r.item);
    return { ...r, id: `qr-${patientId}`, subject: { reference: `Patient/${patientId}` } };
  };
  let fhir: FixtureServer;
  let withServer: Express;
  beforeAll(async () => {
    fhir = await startFhirServer([a, b, weightOf('wa', 'pa', 57.2), weightOf('wb', 'pb', 53.2)]);
    withServer = await testApp({
      dataSource: new FhirServerDataSource({ baseUrl: fhir.baseUrl, bearerToken: 'clinician', timeoutMs: 5000 }),
    });
  });
  afterAll(async () => fhir?.close());
  const apply = (target: Express, patientId: string, response: fhir4.QuestionnaireResponse, useServerData = true) =>
    request(target)
      .post(APPLY)
      .set('Content-Type', FHIR_JSON)
      .send(
        JSON.stringify({
          resourceType: 'Parameters',
          parameter: [
            { name: 'subject', valueString: `Patient/${patientId}` },
            {
              name: 'data',
              resource: {
                resourceType: 'Bundle',
                type: 'collection',
                entry: [{ resource: response }, ...(useServerData ? [] : [{ resource: patientId === 'pa' ? a : b }])],
              },
            },
            ...(useServerData ? [] : [{ name: 'useServerData', valueBoolean: false }]),
          ],
        }),
      );
  const recordClaims = (carePlan: fhir4.CarePlan) =>
    JSON.stringify(carePlan.contained ?? []).match(/pre-filled from the record[^"]*/g) ?? [];

  it("is kept when the subject's own Observation read from the server proves it, and removed (with a warning note) when it names another patient's, or nothing was read", async () => {
    const own = await apply(withServer, 'pb', claiming('pb', 53.2, 'Observation/wb'));
    expect(own.status, JSON.stringify(own.body)).toBe(200);
    expect(recordClaims(own.body)[0]).toBe('pre-filled from the record (Observation/wb, recorded 2026-10-01)');
    expect(JSON.stringify(own.body.note ?? [])).not.toContain('Warning');

    const stolen = await apply(withServer, 'pb', claiming('pb', 57.2, 'Observation/wa'));
    expect(stolen.status).toBe(200);
    expect(firedRules(stolen.body)).toContain('BMD-05');
    expect(recordClaims(stolen.body)).toEqual([]);
    expect(JSON.stringify(stolen.body.note)).toContain(
      'Warning: The answer to \\"weight-kg\\" is not marked as taken from the record (Observation/wa)',
    );

    const offline = await apply(withServer, 'pa', claiming('pa', 57.2, 'Observation/wa'), false);
    expect(offline.status, JSON.stringify(offline.body)).toBe(200);
    expect(recordClaims(offline.body)).toEqual([]);
    expect(JSON.stringify(offline.body.note)).toContain('Observation/wa');
  });
});

describe('useServerData reads every page of a search', () => {
  const earlier: fhir4.QuestionnaireResponse = {
    ...readJson<fhir4.QuestionnaireResponse>('examples/RF-10/response.json'),
    id: 'qr-earlier',
    subject: { reference: subject },
    authored: '2026-01-05T08:30:00Z',
  };
  const latest: fhir4.QuestionnaireResponse = { ...response, id: 'qr-latest' };
  let fhir: FixtureServer;
  let proxy: PersonalityProxy;
  beforeAll(async () => {
    fhir = await startFhirServer([patient, earlier, latest]);
    proxy = await startPersonalityProxy(fhir.baseUrl, 'paging-quirks');
  });
  afterAll(async () => {
    await proxy?.close();
    await fhir?.close();
  });
  const apply = (dataSource: FhirServerDataSource) =>
    testApp({ dataSource }).then((a) =>
      request(a)
        .post(APPLY)
        .set('Content-Type', FHIR_JSON)
        .send(JSON.stringify({ resourceType: 'Parameters', parameter: [{ name: 'subject', valueString: subject }] })),
    );

  it('through a server that gives one result per page (next links on another host), the latest intake on page 2 decides', async () => {
    const res = await apply(
      new FhirServerDataSource({ baseUrl: proxy.fhirBaseUrl, bearerToken: 'secret-token', timeoutMs: 5000 }),
    );
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(proxy.hits).toBeGreaterThan(0); // it did page
    expect(firedRules(res.body)).toContain('RF-01');
    expect(
      fhir.requests.filter((r) => r.startsWith('/QuestionnaireResponse?') && r.includes('_offset=1')).length,
    ).toBeGreaterThan(0);
    expect(JSON.stringify(res.body.note ?? [])).not.toContain('Warning');
  });

  it('the sandbox EHR store paging one result at a time: the latest intake decides, nothing is left unread', async () => {
    const store = openFhirStore({ dataDir: tmpDir('paging-ehr-') });
    const ehrApp = express();
    const clinician: AccessContext = { clientId: 'clinic-app', scopes: ['user/*.rs'], fhirUser: 'Practitioner/doc' };
    ehrApp.use(
      '/fhir',
      createFhirStoreRouter({
        store,
        authorize: async (req) => (req.get('authorization') === 'Bearer clinician' ? clinician : undefined),
      }),
    );
    const ehr = await listen(ehrApp);
    const quirks = await startPersonalityProxy(`http://127.0.0.1:${ehr.port}/fhir`, 'paging-quirks');
    try {
      store.update(patient);
      for (const { id: _id, ...qr } of [earlier, latest]) store.create(qr);
      const a = await testApp({
        dataSource: new FhirServerDataSource({
          baseUrl: quirks.fhirBaseUrl,
          bearerToken: 'clinician',
          timeoutMs: 10_000,
        }),
      });
      const res = await request(a)
        .post(APPLY)
        .set('Content-Type', FHIR_JSON)
        .send(JSON.stringify({ resourceType: 'Parameters', parameter: [{ name: 'subject', valueString: subject }] }));
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      expect(firedRules(res.body)).toContain('RF-01');
      expect(JSON.stringify(res.body.note ?? [])).not.toContain('Warning');
    } finally {
      await quirks.close();
      await closeServer(ehr.server);
      store.close();
    }
  });

  it('at its bound it reads no further and says so in the result (what was not read is unknown, not absent)', async () => {
    const res = await apply(
      new FhirServerDataSource({
        baseUrl: proxy.fhirBaseUrl,
        bearerToken: 'secret-token',
        timeoutMs: 5000,
        limits: { maxPages: 1, maxResources: 500 },
      }),
    );
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    const notes = (res.body as fhir4.CarePlan).note?.map((n) => n.text ?? '') ?? [];
    const warning = notes.find((t) => t.startsWith('Warning:') && t.includes('intake responses'));
    expect(warning, JSON.stringify(notes)).toContain('unknown, not absent');
    expect(warning).toContain('read 1 in 1 pages');
  });

  it('$populate reads every page too, and warns at the bound', async () => {
    const weights: fhir4.Observation[] = [58, 61].map((value, i) => ({
      resourceType: 'Observation',
      id: `w${i}`,
      status: 'final',
      code: { coding: [{ system: 'http://loinc.org', code: '29463-7' }] },
      subject: { reference: subject },
      effectiveDateTime: `2026-1${i}-01`,
      valueQuantity: { value, unit: 'kg', system: 'http://unitsofmeasure.org', code: 'kg' },
    }));
    const server = await startFhirServer([patient, ...weights]);
    const quirks = await startPersonalityProxy(server.baseUrl, 'paging-quirks');
    try {
      const populate = (limits?: { maxPages: number; maxResources: number }) =>
        testApp({
          dataSource: new FhirServerDataSource({
            baseUrl: quirks.fhirBaseUrl,
            timeoutMs: 5000,
            ...(limits ? { limits } : {}),
          }),
        }).then((a) =>
          request(a)
            .post('/fhir/Questionnaire/back-pain-intake/$populate')
            .set('Content-Type', FHIR_JSON)
            .send(
              JSON.stringify({
                resourceType: 'Parameters',
                parameter: [{ name: 'subject', valueReference: { reference: subject } }],
              }),
            ),
        );
      const all = await populate();
      expect(all.status, JSON.stringify(all.body)).toBe(200);
      expect(server.requests.some((r) => r.startsWith('/Observation?') && r.includes('_offset=1'))).toBe(true);
      expect(JSON.stringify(all.body)).not.toContain('incomplete');
      const bounded = await populate({ maxPages: 1, maxResources: 500 });
      const issues = (bounded.body.parameter as fhir4.ParametersParameter[]).find((p) => p.name === 'issues')
        ?.resource as fhir4.OperationOutcome | undefined;
      expect(
        issues?.issue.some(
          (i) =>
            i.severity === 'warning' && i.code === 'incomplete' && /Observation resources/.test(i.diagnostics ?? ''),
        ),
        JSON.stringify(bounded.body),
      ).toBe(true);
    } finally {
      await quirks.close();
      await server.close();
    }
  });
});

describe('QuestionnaireResponse/$validate', () => {
  const VALIDATE = '/fhir/QuestionnaireResponse/$validate';

  it('returns 200 and an all-OK outcome for a valid response', async () => {
    const res = await post(VALIDATE, response);
    expect(res.status).toBe(200);
    expect(res.body.resourceType).toBe('OperationOutcome');
    expect(res.body.issue.every((i: fhir4.OperationOutcomeIssue) => i.severity !== 'error')).toBe(true);
  });

  it('accepts Parameters with resource', async () => {
    const res = await post(VALIDATE, {
      resourceType: 'Parameters',
      parameter: [{ name: 'resource', resource: response }],
    });
    expect(res.status).toBe(200);
  });

  it('reports conformance errors inside a 200 outcome, with expressions', async () => {
    const bad = structuredClone(response) as unknown as {
      item: Array<{ item: Array<{ linkId: string; answer: unknown[] }> }>;
    };
    const pain = bad.item[0]!.item.find((i) => i.linkId === 'pain-trend')!;
    pain.answer = [
      { valueCoding: { system: 'https://periplan.app/fhir/CodeSystem/back-pain-answer', code: 'sideways' } },
    ];
    const res = await post(VALIDATE, bad);
    expect(res.status).toBe(200);
    const errors = (res.body.issue as fhir4.OperationOutcomeIssue[]).filter((i) => i.severity === 'error');
    expect(errors.length).toBeGreaterThan(0);
    expect(errors[0]!.expression?.[0]).toMatch(/^QuestionnaireResponse\.item/);
  });

  it('refuses a body that is not a QuestionnaireResponse with 400', async () => {
    const issue = errorIssue(await post(VALIDATE, patient), 400);
    expect(issue.diagnostics).toMatch(/expects a QuestionnaireResponse.*got Patient/);
    errorIssue(await post(VALIDATE, [1, 2]), 400);
    errorIssue(
      await post(VALIDATE, { resourceType: 'Parameters', parameter: [{ name: 'resource', resource: patient }] }),
      400,
    );
  });

  it('answers 422 for a response to a Questionnaire this server does not know', async () => {
    const other = { ...response, questionnaire: 'https://example.org/Questionnaire/other' };
    const issue = errorIssue(await post(VALIDATE, other), 422);
    expect(issue).toMatchObject({ code: 'not-found', expression: ['QuestionnaireResponse.questionnaire'] });
  });
});

describe('QuestionnaireResponse/$extract', () => {
  const EXTRACT = '/fhir/QuestionnaireResponse/$extract';

  it('returns a transaction Bundle', async () => {
    const res = await post(EXTRACT, response);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body).toMatchObject({ resourceType: 'Bundle', type: 'transaction' });
    const viaParams = await post(EXTRACT, {
      resourceType: 'Parameters',
      parameter: [{ name: 'questionnaire-response', resource: response }],
    });
    expect(viaParams.body.type).toBe('transaction');
  });

  it('answers 422 for a response to another Questionnaire', async () => {
    const issue = errorIssue(
      await post(EXTRACT, { ...response, questionnaire: 'https://example.org/Questionnaire/other|2' }),
      422,
    );
    expect(issue.expression).toEqual(['QuestionnaireResponse.questionnaire']);
  });

  it('refuses to extract from an invalid response (422 with the reasons)', async () => {
    const bad = structuredClone(response) as unknown as {
      item: Array<{ item: Array<{ linkId: string; answer: unknown[] }> }>;
    };
    bad.item[0]!.item.find((i) => i.linkId === 'pain-trend')!.answer = [
      { valueCoding: { system: 'urn:x', code: 'sideways' } },
    ];
    const res = await post(EXTRACT, bad);
    expect(res.status).toBe(422);
  });

  it('refuses a wrong resourceType with 400', async () => {
    errorIssue(await post(EXTRACT, patient), 400);
  });
});

describe('Questionnaire/$populate', () => {
  const params = (extra: fhir4.ParametersParameter[] = []): fhir4.Parameters => ({
    resourceType: 'Parameters',
    parameter: [
      { name: 'subject', valueReference: { reference: subject } },
      {
        name: 'context',
        part: [
          { name: 'name', valueString: 'patient' },
          { name: 'content', resource: patient },
        ],
      },
      ...extra,
    ],
  });

  it('returns Parameters with a response for the subject', async () => {
    const res = await post('/fhir/Questionnaire/back-pain-intake/$populate', params());
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body.resourceType).toBe('Parameters');
    const qr = (res.body.parameter as fhir4.ParametersParameter[]).find((p) => p.name === 'response')
      ?.resource as fhir4.QuestionnaireResponse;
    expect(qr).toMatchObject({ resourceType: 'QuestionnaireResponse', subject: { reference: subject } });
  });

  it('works type-level with canonical', async () => {
    const res = await post(
      '/fhir/Questionnaire/$populate',
      params([{ name: 'canonical', valueCanonical: 'https://periplan.app/fhir/Questionnaire/back-pain-intake' }]),
    );
    expect(res.status, JSON.stringify(res.body)).toBe(200);
  });

  it('answers an unknown Questionnaire with 404', async () => {
    errorIssue(await post('/fhir/Questionnaire/nope/$populate', params()), 404);
  });

  it('needs the Patient resource when no FHIR server is connected (422)', async () => {
    const res = await post('/fhir/Questionnaire/back-pain-intake/$populate', {
      resourceType: 'Parameters',
      parameter: [{ name: 'subject', valueReference: { reference: subject } }],
    });
    errorIssue(res, 422);
  });

  it('refuses a patient context that is not the subject', async () => {
    const p = params();
    p.parameter![0] = { name: 'subject', valueReference: { reference: 'Patient/other' } };
    expect(errorIssue(await post('/fhir/Questionnaire/back-pain-intake/$populate', p), 400).expression).toEqual([
      'Parameters.parameter[1].part[1].resource.id',
    ]);
  });
});

describe('$apply limits', () => {
  it('refuses a data Bundle with more entries than one subject needs', async () => {
    const tiny = { resourceType: 'Basic', code: { text: 'x' } };
    const issue = errorIssue(
      await post(
        APPLY,
        applyParameters(
          subject,
          Array.from({ length: 1001 }, () => tiny),
        ),
      ),
      400,
    );
    expect(issue).toMatchObject({ code: 'too-costly', expression: ['Parameters.parameter[1].resource.entry'] });
  });
});
