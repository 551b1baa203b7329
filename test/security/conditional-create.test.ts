/**
 * Conditional searches run under the caller's access policy. A token bound to patient A must learn nothing
 * about patient B from If-None-Exist, a conditional entry of a transaction or a conditional reference: B's
 * resources behave exactly as if they did not exist (same status, same message, no counts, no ids).
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { http, patient, startTestServer, weight } from '../ehr/store/support.js';
import type { TestServer } from '../ehr/store/support.js';
import type { AccessContext } from '../../src/ehr/store/index.js';

let server: TestServer;
let A: string;
let B: string;
let obsB: string;

const tokens: Record<string, AccessContext> = {
  admin: { clientId: 'admin', scopes: ['system/*.cruds'] },
  clinician: { clientId: 'app', scopes: ['user/Observation.crs', 'user/Patient.rs'], fhirUser: 'Practitioner/p' },
  patientA: { clientId: 'patient-app', scopes: ['patient/Observation.crs', 'patient/Patient.rs'] },
};

/** A code only B's Observations carry (six of them), and one nobody's carry. */
const B_CODE = 'urn:test:code|b-only';
const NO_ONES_CODE = 'urn:test:code|nobody';
const coded = (patientId: string, code: string): fhir4.Observation => {
  const [system, value] = code.split('|') as [string, string];
  return weight(patientId, 70, '2026-01-01', { code: { coding: [{ system, code: value }] } });
};

/** What a caller can observe of an answer: status, Location's presence, and the issue texts with ids masked. */
function observable(res: { status: number; headers: Headers; body: unknown }, ids: string[]): string {
  let text = JSON.stringify(
    (res.body as { issue?: { diagnostics?: string; code?: string }[] } | undefined)?.issue?.map((i) => [
      i.code,
      i.diagnostics,
    ]) ?? null,
  );
  for (const id of ids) text = text.split(id).join('<id>');
  return `${res.status} ${res.headers.has('location') ? 'location' : ''} ${text}`;
}

beforeAll(async () => {
  server = await startTestServer({ tokens });
  const admin = server.client('admin');
  A = ((await admin.create({ resourceType: 'Patient', body: patient('Alpha') as never })) as unknown as fhir4.Patient)
    .id!;
  B = ((await admin.create({ resourceType: 'Patient', body: patient('Beta') as never })) as unknown as fhir4.Patient)
    .id!;
  tokens.patientA!.patient = A;
  for (let i = 0; i < 6; i++) {
    const created = (await admin.create({
      resourceType: 'Observation',
      body: coded(B, B_CODE) as never,
    })) as unknown as fhir4.Observation;
    obsB ??= created.id!;
  }
});
afterAll(async () => server.close());

const asA = (method: string, path: string, body: unknown, headers: Record<string, string> = {}) =>
  http(server.baseUrl, method, path, { token: 'patientA', body, headers });

describe('If-None-Exist under a patient-scoped token', () => {
  it("another patient's matches are neither counted nor disclosed: the answer is the one for no match", async () => {
    // The body is B's: refused by the compartment check, with the same words whether B has 6 matches or none.
    const six = await asA('POST', 'Observation', coded(B, B_CODE), {
      'If-None-Exist': `subject=Patient/${B}&code=${B_CODE}`,
    });
    const none = await asA('POST', 'Observation', coded(B, B_CODE), {
      'If-None-Exist': `subject=Patient/${B}&code=${NO_ONES_CODE}`,
    });
    expect(six.status).toBe(403);
    expect(observable(six, [A, B])).toBe(observable(none, [A, B]));
    expect(JSON.stringify(six.body)).not.toMatch(/matches \d|\b6\b/);
  });

  it('does not tell whether an id or a code exists in another compartment', async () => {
    const ids = [A, B, obsB];
    const existingId = await asA('POST', 'Observation', coded(B, NO_ONES_CODE), { 'If-None-Exist': `_id=${obsB}` });
    const unknownId = await asA('POST', 'Observation', coded(B, NO_ONES_CODE), {
      'If-None-Exist': '_id=no-such-observation',
    });
    expect(observable(existingId, ids)).toBe(observable(unknownId, ids));
    expect(JSON.stringify(existingId.body)).not.toContain(obsB);
    const existingCode = await asA('POST', 'Observation', coded(B, NO_ONES_CODE), {
      'If-None-Exist': `code=${B_CODE}`,
    });
    const unknownCode = await asA('POST', 'Observation', coded(B, NO_ONES_CODE), {
      'If-None-Exist': `code=${NO_ONES_CODE}x`,
    });
    expect(observable(existingCode, ids)).toBe(observable(unknownCode, ids));
  });

  it("a query naming B's data, with a body for A, creates A's resource (B's matches are invisible)", async () => {
    const res = await asA('POST', 'Observation', coded(A, B_CODE), { 'If-None-Exist': `code=${B_CODE}` });
    expect(res.status).toBe(201);
    expect(res.body.subject.reference).toBe(`Patient/${A}`);
    // Within its own compartment the conditional create still finds the match: no duplicate.
    const again = await asA('POST', 'Observation', coded(A, B_CODE), {
      'If-None-Exist': `subject=Patient/${A}&code=${B_CODE}`,
    });
    expect(again.status).toBe(200);
    expect(again.headers.get('location')).toContain(`Observation/${res.body.id}/`);
  });

  it('a user/ token (not bound to a patient) still matches across patients', async () => {
    const res = await http(server.baseUrl, 'POST', 'Observation', {
      token: 'clinician',
      body: coded(B, B_CODE),
      headers: { 'If-None-Exist': `_id=${obsB}` },
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('location')).toContain(`Observation/${obsB}/`);
  });
});

describe('conditional entries of a transaction under a patient-scoped token', () => {
  const transaction = (ifNoneExist: string, body: fhir4.Observation) => ({
    resourceType: 'Bundle',
    type: 'transaction',
    entry: [
      {
        fullUrl: 'urn:uuid:0b4c8f0e-7a39-4d7c-9a51-2b2f4a1d6c01',
        resource: body,
        request: { method: 'POST', url: 'Observation', ifNoneExist: ifNoneExist },
      },
    ],
  });

  it("an entry's If-None-Exist over B's data answers as for no match", async () => {
    const six = await asA('POST', '', transaction(`subject=Patient/${B}&code=${B_CODE}`, coded(B, B_CODE)));
    const none = await asA('POST', '', transaction(`subject=Patient/${B}&code=${NO_ONES_CODE}`, coded(B, B_CODE)));
    expect(six.status).toBe(403);
    expect(observable(six, [A, B])).toBe(observable(none, [A, B]));
    expect(JSON.stringify(six.body)).not.toMatch(/matches \d/);
  });

  it("a conditional reference over B's data answers as for no match (412 'matches 0'), never with B's count", async () => {
    const withRef = (query: string) => ({
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [
        {
          resource: { ...coded(A, NO_ONES_CODE), hasMember: [{ reference: `Observation?${query}` }] },
          request: { method: 'POST', url: 'Observation' },
        },
      ],
    });
    const six = await asA('POST', '', withRef(`subject=Patient/${B}&code=${B_CODE}`));
    const none = await asA('POST', '', withRef(`subject=Patient/${B}&code=${NO_ONES_CODE}z`));
    expect(six.status).toBe(412);
    const mask = (r: typeof six) => observable(r, [A, B]).replace(B_CODE, '<q>').replace(`${NO_ONES_CODE}z`, '<q>');
    expect(mask(six)).toBe(mask(none));
    expect(JSON.stringify(six.body)).toContain('matches 0');
  });
});
