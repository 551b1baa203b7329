/**
 * What the EHR says about a record reaches the clinician plainly: a patient the EHR reports deleted (410) or
 * unknown (404) is said to be so, not turned into "the EHR failed" (502).
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startAppHarness, type AppHarness } from './harness.js';
import { apiLaunch } from './launch-support.js';

let h: AppHarness;
let session: string;
beforeAll(async () => {
  h = await startAppHarness();
  session = (await apiLaunch(h, 'sandbox-patient-3')).session;
}, 60_000);
afterAll(async () => {
  await h?.close();
});

const get = (path: string) => fetch(`${h.baseUrl}/app/api${path}`, { headers: { 'x-session': session } });

describe('EHR answers about a record', () => {
  it('a patient deleted in the EHR is 410 "deleted" with an OperationOutcome, not 502', async () => {
    expect((await get('/patients/sandbox-patient-3')).status).toBe(200);
    h.ehr.store.delete('Patient', 'sandbox-patient-3');
    const res = await get('/patients/sandbox-patient-3');
    expect(res.status).toBe(410);
    const outcome = (await res.json()) as fhir4.OperationOutcome;
    expect(outcome.issue[0]).toMatchObject({
      code: 'deleted',
      diagnostics: expect.stringMatching(/deleted \(410\)/) as unknown,
    });
  });

  it('a patient the EHR does not have is 404 "not-found"', async () => {
    const res = await get('/patients/no-such-patient');
    expect(res.status).toBe(404);
    expect(((await res.json()) as fhir4.OperationOutcome).issue[0]?.code).toBe('not-found');
  });
});
