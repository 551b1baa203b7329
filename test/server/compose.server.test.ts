/**
 * The composed server as `npm start` builds it (src/server.ts): module API, write path, clinician app and the
 * embedded sandbox EHR on one port, talking to each other over real HTTP.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { SANDBOX_INTAKES, seedSandboxIntakes } from '../../src/sandbox/seed-intakes.js';
import { clientCredentialsTokenSource } from '../../src/submission/module-token.js';
import { startAppHarness, type AppHarness } from '../clinician-app/harness.js';

const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');
const read = <T>(file: string): T => JSON.parse(fs.readFileSync(path.join(ROOT, file), 'utf8')) as T;

let h: AppHarness;
let base: string;

beforeAll(async () => {
  h = await startAppHarness();
  base = h.baseUrl;
}, 60_000);

afterAll(async () => {
  await h?.close();
});

const submit = (body: unknown, headers: Record<string, string> = {}) =>
  fetch(`${base}/fhir/QuestionnaireResponse/$submit`, {
    method: 'POST',
    headers: { 'content-type': 'application/fhir+json', ...headers },
    body: JSON.stringify(body),
  });

describe('the composed server', () => {
  it('sends a newcomer to the sandbox launcher and serves the app, the EHR and the API on one port', async () => {
    const home = await fetch(`${base}/`, { redirect: 'manual' });
    expect(home.status).toBe(302);
    expect(home.headers.get('location')).toBe('/ehr');
    expect((await fetch(`${base}/ehr`)).status).toBe(200);
    expect((await fetch(`${base}/ehr/fhir/.well-known/smart-configuration`)).status).toBe(200);
    const cs = (await (await fetch(`${base}/fhir/metadata`)).json()) as fhir4.CapabilityStatement;
    const qr = cs.rest?.[0]?.resource?.find((r) => r.type === 'QuestionnaireResponse');
    expect(qr?.operation?.map((o) => o.name)).toEqual(expect.arrayContaining(['validate', 'extract', 'submit']));
    expect(h.writePath.capabilities.transaction).toBe(true);
  });

  it('refuses $submit without a token (401) and with a token the sandbox EHR does not know (401), storing nothing', async () => {
    const response = read<fhir4.QuestionnaireResponse>('examples/RF-01/response.json');
    expect((await submit(response)).status).toBe(401);
    const bad = await submit(response, { authorization: 'Bearer forged' });
    expect(bad.status).toBe(401);
    expect(((await bad.json()) as fhir4.OperationOutcome).issue[0]?.diagnostics).toMatch(/not valid/);
    expect(await h.writePath.outbox.counts()).toEqual({ pending: 0, sent: 0, failed: 0 });
  });

  it('writes a submission with a token that grants it, and $apply reads server data only with a token', async () => {
    const patient = read<fhir4.Patient>('examples/RF-01/patient.json');
    const response = read<fhir4.QuestionnaireResponse>('examples/RF-01/response.json');
    const token = await clientCredentialsTokenSource({
      fhirBaseUrl: h.ehr.fhirBaseUrl,
      ...h.ehr.auth.moduleClient,
    }).getToken();
    // The sandbox EHR needs the patient first (the clinic's EHR would have it).
    h.ehr.store.update(patient);
    const res = await submit(response, { authorization: `Bearer ${token}` });
    expect(res.status).toBe(201);

    const apply = (useServerData?: boolean) => ({
      resourceType: 'Parameters',
      parameter: [
        { name: 'subject', valueString: `Patient/${patient.id}` },
        ...(useServerData === undefined ? [] : [{ name: 'useServerData', valueBoolean: useServerData }]),
      ],
    });
    // No token: no server data is read, so there is nothing about the subject to apply to (422), not a 5xx.
    const anonymous = await fetch(`${base}/fhir/PlanDefinition/back-pain-follow-up/$apply`, {
      method: 'POST',
      headers: { 'content-type': 'application/fhir+json' },
      body: JSON.stringify(apply()),
    });
    expect(anonymous.status).toBe(422);
    const asked = await fetch(`${base}/fhir/PlanDefinition/back-pain-follow-up/$apply`, {
      method: 'POST',
      headers: { 'content-type': 'application/fhir+json' },
      body: JSON.stringify(apply(true)),
    });
    expect(asked.status).toBe(400);
  });

  it('seeds three sandbox patients with example intakes through the real write path, once', async () => {
    const readPatient = (id: string) => h.ehr.store.find('Patient', id) as fhir4.Patient | undefined;
    const seed = () =>
      seedSandboxIntakes({
        writePath: h.writePath,
        contentDir: ROOT,
        readPatient,
        now: new Date('2026-11-24T09:00:00Z'),
      });
    expect(await seed()).toBe(SANDBOX_INTAKES.length);
    expect(await seed()).toBe(0);
    // Ingrid (69, RF-06 example answers): her suspected fracture raises an imaging flag in the EHR.
    const flags = h.ehr.store.search('Flag', [['patient', 'Patient/sandbox-patient-6']]).matches as fhir4.Flag[];
    expect(flags.map((f) => f.code.coding?.[0]?.code)).toEqual(
      expect.arrayContaining(['imaging-follow-up', 'bone-density-scan']),
    );
    const responses = h.ehr.store.search('QuestionnaireResponse', [['subject', 'Patient/sandbox-patient-6']])
      .matches as fhir4.QuestionnaireResponse[];
    expect(responses).toHaveLength(1);
    const age = responses[0]!.item?.flatMap((g) => g.item ?? []).find((i) => i.linkId === 'age')
      ?.answer?.[0]?.valueInteger;
    expect(age).toBe(69);
  });

  it("serves the waiting-room tablet: a staff hand-off code opens one patient's form, once", async () => {
    expect((await fetch(`${base}/tablet/`)).status).toBe(200);
    const { code } = await h.tablet.createHandoff({
      patientId: 'sandbox-patient-1',
      staff: { reference: 'Practitioner/sandbox-clinician' },
    });
    const claim = () =>
      fetch(`${base}/tablet/api/claim`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ code }),
      });
    expect((await claim()).status).toBe(201);
    expect((await claim()).status).toBe(404);
    // Staff routes want a staff token.
    expect((await fetch(`${base}/tablet/api/sessions`)).status).toBe(401);
  });
});
