/**
 * `$submit-status` against a clinic's EHR (remoteReadCheck): the EHR judges the caller's token by one read of
 * the submission's subject, and the check fails closed (a state told to the wrong caller cannot be taken back).
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { FhirError } from '../../src/outcomes/index.js';
import { remoteReadCheck } from '../../src/submission/preverify.js';
import { startHarness, tokensForLaunch, type Harness } from '../ehr/auth/harness.js';

let h: Harness;
let tokenA: string;
beforeAll(async () => {
  h = await startHarness();
  const { launch } = await h.auth.createLaunch({
    patient: 'pat-a',
    practitioner: 'dr-jones',
    clientId: 'periplan-app',
  });
  tokenA = (await tokensForLaunch(h, launch, 'launch patient/Patient.rs')).access_token;
});
afterAll(async () => h?.close());

const statusOf = async (promise: Promise<void>) => {
  try {
    await promise;
    return 'allowed';
  } catch (err) {
    return err instanceof FhirError ? err.status : 'thrown';
  }
};

describe('remoteReadCheck (the default $submit-status check for a remote EHR)', () => {
  it("allows a token that may read the subject; refuses another patient's (403) and an invalid token (401)", async () => {
    const check = remoteReadCheck({ baseUrl: h.fhirBaseUrl });
    expect(await statusOf(check(tokenA, 'Patient/pat-a'))).toBe('allowed');
    expect(await statusOf(check(tokenA, `${h.fhirBaseUrl}/Patient/pat-a`))).toBe('allowed');
    expect(await statusOf(check(tokenA, 'Patient/pat-b'))).toBe(403);
    expect(await statusOf(check('not-a-token', 'Patient/pat-a'))).toBe(401);
  });

  it('without a subject (unknown key) only the token is judged: invalid 401, valid allowed (then 404 for the key)', async () => {
    const check = remoteReadCheck({ baseUrl: h.fhirBaseUrl });
    expect(await statusOf(check('not-a-token', undefined))).toBe(401);
    expect(await statusOf(check(tokenA, undefined))).toBe('allowed');
  });

  it('fails closed when the EHR cannot be asked (503)', async () => {
    const check = remoteReadCheck({ baseUrl: 'http://127.0.0.1:9/fhir' }, { timeoutMs: 500 });
    expect(await statusOf(check(tokenA, 'Patient/pat-a'))).toBe(503);
  });
});
