/**
 * The module API routes over real HTTP: POST /fhir/QuestionnaireResponse/$submit (bare response or
 * Parameters; 201 sent, 200 resubmitted, 202 saved-sending, 422 invalid, 400 malformed), $submit-status and
 * the staff view /fhir/$outbox. Mounted as the lead mounts them: behind the API's JSON body parser and error
 * middleware (src/api). Against the embedded EHR the token is checked locally, as server.ts does for the
 * sandbox (the default check against a remote EHR is tested in preverify.server.test.ts). Amend mode over HTTP.
 */
import express from 'express';
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import { expect } from '../support/expect.js';
import { fhirErrorHandler } from '../../src/platform/http/errors.js';
import { fhirJsonBody } from '../../src/platform/http/json-body.js';
import { createLogger } from '../../src/platform/log.js';
import { unauthorized } from '../../src/outcomes/index.js';
import { clientCredentialsTokenSource } from '../../src/submission/module-token.js';
import { createSubmissionRoutes } from '../../src/api/submit.js';
import type { WritePath } from '../../src/submission/write-path.js';
import { startFaultProxy, type FaultProxy } from './support/fault-proxy.js';
import { getKnowledge, submissionFor, testWritePath } from './support/fixtures.js';
import { closeServer, listen, startEmbeddedEhr, type TestFhirServer } from './support/servers.js';

let ehr: TestFhirServer & Awaited<ReturnType<typeof startEmbeddedEhr>>;
let proxy: FaultProxy;
let writePath: WritePath;
let api: string;
let close: () => Promise<void>;
/** A token the EHR accepts for writing (the module's own, standing in for a signed-in user's). */
let token: string;

beforeAll(async () => {
  const [e, kb] = await Promise.all([startEmbeddedEhr(), getKnowledge()]);
  ehr = e;
  proxy = await startFaultProxy(ehr.port);
  writePath = testWritePath({ fhirBaseUrl: proxy.url('/ehr/fhir'), moduleCredentials: ehr.moduleCredentials! }, kb);
  await writePath.start();
  token = await clientCredentialsTokenSource({
    fhirBaseUrl: `http://127.0.0.1:${ehr.port}/ehr/fhir`,
    ...ehr.moduleCredentials!,
  }).getToken();
  const app = express();
  // The sandbox's local token check (server.ts checks the same token against the same auth server).
  const authorizeSubmit = async (t: string) => {
    if (!(await ehr.ehr.auth.verifyAccessToken(t)))
      throw unauthorized('The access token is not valid (expired, revoked or unknown).');
  };
  app.use(
    '/fhir',
    fhirJsonBody({ limitBytes: 5_000_000, maxDepth: 400 }),
    createSubmissionRoutes({ writePath, authorizeSubmit, authorizeStatus: authorizeSubmit }),
  );
  app.use(fhirErrorHandler(createLogger('silent')));
  const { server, port } = await listen(app);
  api = `http://127.0.0.1:${port}/fhir`;
  close = () => closeServer(server);
});
afterAll(async () => {
  await close?.();
  await writePath?.stop();
  await proxy?.close();
  await ehr?.close();
});

const post = (body: unknown, headers: Record<string, string> = { authorization: `Bearer ${token}` }) =>
  fetch(`${api}/QuestionnaireResponse/$submit`, {
    method: 'POST',
    headers: { 'content-type': 'application/fhir+json', ...headers },
    body: JSON.stringify(body),
  });
const param = (p: fhir4.Parameters, name: string) => p.parameter?.find((x) => x.name === name);

describe('POST /QuestionnaireResponse/$submit', () => {
  it('201 with state, message, carePlan and response; 200 on resubmission', async () => {
    const { patient, response } = submissionFor('RF-01', 'route-1');
    await ehr.seedPatient(patient);
    const body: fhir4.Parameters = {
      resourceType: 'Parameters',
      parameter: [
        { name: 'response', resource: response },
        {
          name: 'data',
          resource: { resourceType: 'Bundle', type: 'collection', entry: [{ resource: patient }] } as fhir4.Bundle,
        },
        { name: 'enterer', valueReference: { reference: 'Practitioner/sandbox-clinician' } },
      ],
    };
    const res = await post(body);
    expect(res.status).toBe(201);
    expect(res.headers.get('content-type')).toMatch(/application\/fhir\+json/);
    const out = (await res.json()) as fhir4.Parameters;
    expect(param(out, 'state')?.valueCode).toBe('sent');
    expect(param(out, 'message')?.valueString).toBe('Saved to the record.');
    expect(param(out, 'carePlan')?.resource?.resourceType).toBe('CarePlan');
    expect(param(out, 'response')?.resource?.resourceType).toBe('QuestionnaireResponse');
    const key = param(out, 'key')?.valueString;
    expect(key).toBe('urn:test:submission|route-1-RF-01-0');

    const provenance = (await ehr.search<fhir4.Provenance>('Provenance', `agent=Practitioner/sandbox-clinician`))[0];
    expect(provenance?.agent.map((a) => a.type?.coding?.[0]?.code)).toEqual(['author', 'enterer', 'assembler']);

    const again = await post(response);
    expect(again.status).toBe(200);
    expect(param((await again.json()) as fhir4.Parameters, 'duplicate')?.valueBoolean).toBe(true);

    const status = await fetch(`${api}/QuestionnaireResponse/$submit-status?key=${encodeURIComponent(key!)}`, {
      headers: { authorization: `Bearer ${token}` },
    });
    expect(status.status).toBe(200);
    const s = (await status.json()) as fhir4.Parameters;
    expect(param(s, 'state')?.valueCode).toBe('sent');
    expect(s.parameter?.filter((p) => p.name === 'location').length).toBeGreaterThan(3);
  });

  it('202 "saved, sending" when the FHIR server fails; the staff view lists it; then it is sent', async () => {
    const { patient, response } = submissionFor('RF-01', 'route-2');
    await ehr.seedPatient(patient);
    proxy.mode = 'error-500';
    const res = await post(response);
    expect(res.status).toBe(202);
    const out = (await res.json()) as fhir4.Parameters;
    expect(param(out, 'state')?.valueCode).toBe('queued');
    expect(param(out, 'message')?.valueString).toMatch(/^Saved, sending/);

    const staff = (await (await fetch(`${api}/$outbox`)).json()) as fhir4.Parameters;
    expect(param(staff, 'pending')?.valueInteger).toBe(1);
    const entry = staff.parameter?.find((p) => p.name === 'entry');
    expect(entry?.part?.find((p) => p.name === 'subject')?.valueReference?.reference).toBe('Patient/route-2');
    expect(entry?.part?.find((p) => p.name === 'lastError')?.valueString).toMatch(/500/);
    expect(JSON.stringify(staff)).not.toContain('"item"'); // no answers in the staff view

    proxy.mode = 'pass';
    const key = encodeURIComponent(param(out, 'key')!.valueString!);
    for (let i = 0; i < 200; i++) {
      const s = (await (
        await fetch(`${api}/QuestionnaireResponse/$submit-status?key=${key}`, {
          headers: { authorization: `Bearer ${token}` },
        })
      ).json()) as fhir4.Parameters;
      if (param(s, 'state')?.valueCode === 'sent') return;
      await new Promise((r) => setTimeout(r, 25));
    }
    throw new Error(`not sent: ${JSON.stringify((await writePath.outbox.list()).map(({ bundle: _b, ...e }) => e))}`);
  });

  it('401 without a bearer token: the module does not write for anonymous callers, and stores nothing', async () => {
    const { response } = submissionFor('RF-01', 'route-anon');
    const before = await writePath.outbox.counts();
    const res = await post(response, {});
    expect(res.status).toBe(401);
    const oo = (await res.json()) as fhir4.OperationOutcome;
    expect(oo.issue[0]?.code).toBe('login');
    expect(await writePath.outbox.counts()).toEqual(before);
  });

  it("a token the EHR refuses is refused before anything is stored, and never retried with the module's credential", async () => {
    const { patient, response } = submissionFor('RF-01', 'route-bad-token');
    await ehr.seedPatient(patient);
    const before = await writePath.outbox.counts();
    const res = await post(response, { authorization: 'Bearer not-a-real-token' });
    expect(res.status).toBe(401);
    expect(((await res.json()) as fhir4.OperationOutcome).issue[0]?.code).toBe('login');
    expect(await writePath.outbox.counts()).toEqual(before);
    expect(await ehr.search('QuestionnaireResponse', 'subject=Patient/route-bad-token')).toHaveLength(0);
    await writePath.sender.drain(new Date(Date.now() + 3_600_000));
    expect(await ehr.search('QuestionnaireResponse', 'subject=Patient/route-bad-token')).toHaveLength(0);
  });

  it('422 OperationOutcome for a response that does not conform; 400 for a body that is not a response', async () => {
    const { response } = submissionFor('RF-01', 'route-3');
    const invalid = await post({ ...response, item: [] });
    expect(invalid.status).toBe(422);
    const oo = (await invalid.json()) as fhir4.OperationOutcome;
    expect(oo.resourceType).toBe('OperationOutcome');
    expect(oo.issue[0]?.severity).toBe('error');

    const wrong = await post({ resourceType: 'Patient' });
    expect(wrong.status).toBe(400);
    expect(((await wrong.json()) as fhir4.OperationOutcome).issue[0]?.expression).toEqual(['resourceType']);
    const unknownParam = await post({
      resourceType: 'Parameters',
      parameter: [{ name: 'colour', valueString: 'red' }],
    });
    expect(unknownParam.status).toBe(400);
    expect(((await unknownParam.json()) as fhir4.OperationOutcome).issue[0]?.expression).toEqual([
      'Parameters.parameter[0].name',
    ]);
    const missing = await fetch(`${api}/QuestionnaireResponse/$submit-status?key=nope`, {
      headers: { authorization: `Bearer ${token}` },
    });
    expect(missing.status).toBe(404);
  });
});

describe('POST /QuestionnaireResponse/$submit with amends', () => {
  /** The same answers with pain severity changed. */
  const withPainSeverity = (response: fhir4.QuestionnaireResponse, value: number): fhir4.QuestionnaireResponse => {
    const walk = (
      items: fhir4.QuestionnaireResponseItem[] | undefined,
    ): fhir4.QuestionnaireResponseItem[] | undefined =>
      items?.map((it) =>
        it.linkId === 'pain-severity'
          ? { ...it, answer: [{ valueInteger: value }] }
          : { ...it, ...(it.item ? { item: walk(it.item) } : {}) },
      );
    return { ...response, item: walk(response.item) };
  };
  const amendBody = (response: fhir4.QuestionnaireResponse, amends: unknown): fhir4.Parameters =>
    ({
      resourceType: 'Parameters',
      parameter: [
        { name: 'response', resource: response },
        { name: 'amends', valueReference: amends },
      ],
    }) as fhir4.Parameters;

  async function submitted(patientId: string) {
    const { patient, response } = submissionFor('BMD-01', patientId);
    await ehr.seedPatient(patient);
    expect((await post(response)).status).toBe(201);
    const [qr] = await ehr.search<fhir4.QuestionnaireResponse>('QuestionnaireResponse', `subject=Patient/${patientId}`);
    return { response, qr: qr! };
  }

  it('writes a new version of the same response; the same amendment again is a 200 duplicate', async () => {
    const { response, qr } = await submitted('route-amend-1');
    const amended = { ...withPainSeverity(response, 3), authored: '2026-11-24T11:00:00Z' };
    const body = amendBody(amended, { reference: `QuestionnaireResponse/${qr.id}/_history/${qr.meta!.versionId}` });
    const res = await post(body);
    expect(res.status).toBe(201);
    const out = (await res.json()) as fhir4.Parameters;
    expect(param(out, 'state')?.valueCode).toBe('sent');
    expect(param(out, 'key')?.valueString).toContain(`|amends-v${qr.meta!.versionId}-`);

    const current = await ehr.read<fhir4.QuestionnaireResponse>(`QuestionnaireResponse/${qr.id}`);
    expect(current.meta?.versionId).not.toBe(qr.meta?.versionId);
    expect(current).toMatchObject({ status: 'amended', identifier: response.identifier });
    expect(await ehr.search('QuestionnaireResponse', 'subject=Patient/route-amend-1')).toHaveLength(1);

    const again = await post(body);
    expect(again.status).toBe(200);
    expect(param((await again.json()) as fhir4.Parameters, 'duplicate')?.valueBoolean).toBe(true);
  });

  it('412 when the amended version is no longer current, and nothing is written', async () => {
    const { response, qr } = await submitted('route-amend-2');
    const v1 = { reference: `QuestionnaireResponse/${qr.id}/_history/${qr.meta!.versionId}` };
    expect(
      (await post(amendBody({ ...withPainSeverity(response, 3), authored: '2026-11-24T11:00:00Z' }, v1))).status,
    ).toBe(201);
    const afterFirst = await ehr.read<fhir4.QuestionnaireResponse>(`QuestionnaireResponse/${qr.id}`);
    const before = await writePath.outbox.counts();

    const stale = await post(amendBody({ ...withPainSeverity(response, 9), authored: '2026-11-24T11:05:00Z' }, v1));
    expect(stale.status).toBe(412);
    const oo = (await stale.json()) as fhir4.OperationOutcome;
    expect(oo.issue[0]?.diagnostics).toMatch(/reload it and amend it again/);
    expect(await writePath.outbox.counts()).toEqual(before);
    expect((await ehr.read<fhir4.QuestionnaireResponse>(`QuestionnaireResponse/${qr.id}`)).meta?.versionId).toBe(
      afterFirst.meta?.versionId,
    );
  });

  it('400 with the offending element for a malformed amends or a missing identifier', async () => {
    const { response } = submissionFor('BMD-01', 'route-amend-3');
    const cases: [unknown, string][] = [
      [{ reference: 'QuestionnaireResponse/abc' }, 'Parameters.parameter[1].valueReference.reference'],
      [{ reference: 'Patient/abc/_history/1' }, 'Parameters.parameter[1].valueReference.reference'],
      [undefined, 'Parameters.parameter[1].valueReference.reference'],
    ];
    for (const [amends, expression] of cases) {
      const res = await post(amendBody(response, amends));
      expect(res.status, JSON.stringify(amends)).toBe(400);
      expect(((await res.json()) as fhir4.OperationOutcome).issue[0]?.expression).toEqual([expression]);
    }
    const { identifier: _dropped, ...noIdentifier } = response;
    const unidentified = await post(amendBody(noIdentifier, { reference: 'QuestionnaireResponse/abc/_history/1' }));
    expect(unidentified.status).toBe(400);
    expect(((await unidentified.json()) as fhir4.OperationOutcome).issue[0]?.expression).toEqual([
      'QuestionnaireResponse.identifier',
    ]);
  });
});
