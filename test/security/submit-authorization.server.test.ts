/**
 * $submit and $submit-status decide who may write and read a submission before anything is stored or told:
 * - $submit-status needs a bearer token allowed to read that patient's response; an unknown key and a key the
 *   token may not see get the same 404, so keys (client identifiers, often guessable) cannot be probed;
 * - a patient-scoped token that lacks a scope the submission's transaction needs is refused up front (403
 *   naming the missing scopes, nothing queued), instead of being accepted and ending as "failed".
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { submissionFor } from '../submission/support/fixtures.js';
import { launchToken, moduleToken, PATIENT_SUBMIT_SCOPES, startAppHarness, type AppHarness } from './support.js';

let h: AppHarness;
let clinician: string;
let patient1: string;
let patient2: string;
let patient1QrOnly: string;
let submittedKey: string;

const P1 = 'sandbox-patient-1';
const P2 = 'sandbox-patient-2';
const api = () => `${h.baseUrl}/fhir`;
const submit = (body: unknown, token?: string) =>
  fetch(`${api()}/QuestionnaireResponse/$submit`, {
    method: 'POST',
    headers: { 'content-type': 'application/fhir+json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify(body),
  });
const status = (key: string, token?: string) =>
  fetch(`${api()}/QuestionnaireResponse/$submit-status?key=${encodeURIComponent(key)}`, {
    headers: token ? { authorization: `Bearer ${token}` } : {},
  });
const keyOf = (p: fhir4.Parameters) => p.parameter?.find((x) => x.name === 'key')?.valueString;

beforeAll(async () => {
  h = await startAppHarness();
  clinician = (
    await launchToken(
      h,
      P1,
      'user/QuestionnaireResponse.crus user/Observation.crs user/Flag.crus user/ServiceRequest.crus user/CarePlan.crs user/Provenance.crs user/Patient.rs',
    )
  ).access_token;
  patient1 = (
    await launchToken(
      h,
      P1,
      `${PATIENT_SUBMIT_SCOPES.replace('QuestionnaireResponse.cu', 'QuestionnaireResponse.cru')} patient/Patient.rs`,
    )
  ).access_token;
  patient2 = (await launchToken(h, P2, `${PATIENT_SUBMIT_SCOPES} patient/Patient.rs`)).access_token;
  patient1QrOnly = (await launchToken(h, P1, 'patient/QuestionnaireResponse.cu patient/Patient.rs')).access_token;
  const res = await submit(submissionFor('RF-01', P1, 1).response, clinician);
  expect(res.status).toBe(201);
  submittedKey = keyOf((await res.json()) as fhir4.Parameters)!;
}, 120_000);
afterAll(async () => h?.close());

describe('$submit-status', () => {
  it('without a bearer token: 401 OperationOutcome, and no state', async () => {
    const res = await status(submittedKey);
    expect(res.status).toBe(401);
    const body = (await res.json()) as fhir4.OperationOutcome;
    expect(body.resourceType).toBe('OperationOutcome');
    expect(JSON.stringify(body)).not.toContain('sent');
  });

  it('with an invalid token: 401, for known and unknown keys alike', async () => {
    expect((await status(submittedKey, 'not-a-token')).status).toBe(401);
    expect((await status('urn:nobody|nothing', 'not-a-token')).status).toBe(401);
  });

  it("answers the clinician's token and the patient's own token", async () => {
    for (const token of [clinician, patient1]) {
      const res = await status(submittedKey, token);
      expect(res.status).toBe(200);
      expect(((await res.json()) as fhir4.Parameters).parameter?.find((p) => p.name === 'state')?.valueCode).toBe(
        'sent',
      );
    }
  });

  it("another patient's token gets the 404 of an unknown key (existence not disclosed)", async () => {
    const hidden = await status(submittedKey, patient2);
    const unknown = await status(`${submittedKey}-nope`, patient2);
    expect(hidden.status).toBe(404);
    expect(unknown.status).toBe(404);
    const text = (r: fhir4.OperationOutcome, key: string) =>
      r.issue.map((i) => i.diagnostics?.split(key).join('<key>')).join();
    expect(text((await hidden.json()) as fhir4.OperationOutcome, submittedKey)).toBe(
      text((await unknown.json()) as fhir4.OperationOutcome, `${submittedKey}-nope`),
    );
  });

  it("the module's backend token (system/QuestionnaireResponse.r) may read it", async () => {
    expect((await status(submittedKey, await moduleToken(h))).status).toBe(200);
  });
});

describe('$submit with a patient-scoped token', () => {
  it('a token lacking scopes the transaction needs is refused up front (403 naming them), nothing queued', async () => {
    const { response } = submissionFor('RF-01', P1, 2);
    const res = await submit(response, patient1QrOnly);
    expect(res.status).toBe(403);
    const outcome = (await res.json()) as fhir4.OperationOutcome;
    expect(outcome.resourceType).toBe('OperationOutcome');
    const text = outcome.issue[0]!.diagnostics!;
    for (const scope of [
      'patient/Observation.c',
      'patient/Flag.c',
      'patient/ServiceRequest.c',
      'patient/CarePlan.c',
      'patient/Provenance.c',
    ])
      expect(text).toContain(scope);
    expect(text).not.toContain('QuestionnaireResponse.c,');
    expect(
      await h.writePath.outbox.get(`${response.identifier!.system}|${response.identifier!.value}`),
    ).toBeUndefined();
  });

  it('a token for another patient is refused up front (403), nothing queued', async () => {
    const { response } = submissionFor('RF-01', P1, 3);
    const res = await submit(response, patient2);
    expect(res.status).toBe(403);
    expect(
      await h.writePath.outbox.get(`${response.identifier!.system}|${response.identifier!.value}`),
    ).toBeUndefined();
  });

  it('even with every patient/ scope it is refused up front: the Provenance needs user/Provenance.c (403), nothing queued', async () => {
    const { response } = submissionFor('RF-01', P1, 4);
    const res = await submit(response, patient1);
    expect(res.status).toBe(403);
    const text = ((await res.json()) as fhir4.OperationOutcome).issue[0]!.diagnostics!;
    expect(text).toContain('user/Provenance.c');
    expect(text).not.toMatch(/patient\/[A-Za-z]+\.c/);
    expect(
      await h.writePath.outbox.get(`${response.identifier!.system}|${response.identifier!.value}`),
    ).toBeUndefined();
  });

  it('patient/ scopes for the compartment resources plus user/Provenance.c are enough: written (201 sent)', async () => {
    const token = (
      await launchToken(
        h,
        P1,
        `${PATIENT_SUBMIT_SCOPES.replace('patient/Provenance.c', 'user/Provenance.c')} patient/Patient.rs`,
      )
    ).access_token;
    const { response } = submissionFor('RF-01', P1, 5);
    const res = await submit(response, token);
    const body = (await res.json()) as fhir4.Parameters;
    expect(body.parameter?.find((p) => p.name === 'state')?.valueCode).toBe('sent');
    expect(res.status).toBe(201);
  });
});
