/**
 * $submit against a REMOTE EHR (no local token check): the caller's token is pre-verified with one read of the
 * subject before anything is queued. The EHR here is a real FHIR server over HTTP — the store's own router
 * with a token table standing in for the clinic's authorization server — behind the fault proxy:
 * - a token it refuses (401) or one that may not see this patient (403) → refused now, nothing stored;
 * - EHR answering 500, hanging, or down → accepted and queued as before, then sent (nothing is lost).
 */
import express from 'express';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { fhirErrorHandler } from '../../src/platform/http/errors.js';
import { fhirJsonBody } from '../../src/platform/http/json-body.js';
import { createLogger } from '../../src/platform/log.js';
import type { AccessContext } from '../../src/ehr/store/access.js';
import { createFhirStoreRouter, openFhirStore } from '../../src/ehr/store/index.js';
import type { FhirStore } from '../../src/ehr/store/store.js';
import { createSubmissionRoutes } from '../../src/api/submit.js';
import type { WritePath } from '../../src/submission/write-path.js';
import { startFaultProxy, type FaultProxy } from './support/fault-proxy.js';
import { getKnowledge, submissionFor, testWritePath, waitFor } from './support/fixtures.js';
import { closeServer, listen, tmpDir } from './support/servers.js';

/** The remote EHR's tokens: a clinician, a patient app signed in as someone else, and the module. */
const TOKENS: Record<string, AccessContext> = {
  clinician: { clientId: 'clinic-app', scopes: ['user/*.cruds'], fhirUser: 'Practitioner/pv-doc' },
  'other-patient': { clientId: 'patient-app', scopes: ['patient/*.crus'], patient: 'pv-someone-else' },
  module: { clientId: 'periplan-module', scopes: ['system/*.crus'] },
};

let store: FhirStore;
let proxy: FaultProxy;
let writePath: WritePath;
let api: string;
let closeAll: () => Promise<void>;

beforeAll(async () => {
  store = openFhirStore({ dataDir: tmpDir('preverify-ehr-') });
  const ehrApp = express();
  ehrApp.use(
    '/fhir',
    createFhirStoreRouter({
      store,
      authorize: async (req) => TOKENS[/^Bearer (\S+)$/.exec(req.get('authorization') ?? '')?.[1] ?? ''],
    }),
  );
  const ehr = await listen(ehrApp);
  proxy = await startFaultProxy(ehr.port);
  writePath = testWritePath({ fhirBaseUrl: proxy.url('/fhir') }, await getKnowledge(), {
    getModuleToken: async () => 'module',
    timeoutMs: 800,
  });
  await writePath.start();
  const app = express();
  // No authorizeSubmit: the default for a remote EHR applies.
  app.use('/fhir', fhirJsonBody({ limitBytes: 5_000_000, maxDepth: 400 }), createSubmissionRoutes({ writePath }));
  app.use(fhirErrorHandler(createLogger('silent')));
  const module = await listen(app);
  api = `http://127.0.0.1:${module.port}/fhir`;
  closeAll = async () => {
    await closeServer(module.server);
    await writePath.stop();
    await proxy.close();
    await closeServer(ehr.server);
    store.close();
  };
});
afterAll(async () => closeAll?.());

const post = (body: unknown, token: string) =>
  fetch(`${api}/QuestionnaireResponse/$submit`, {
    method: 'POST',
    headers: { 'content-type': 'application/fhir+json', authorization: `Bearer ${token}` },
    body: JSON.stringify(body),
  });
const stateOf = (p: fhir4.Parameters) => p.parameter?.find((x) => x.name === 'state')?.valueCode;
const responsesOf = (patientId: string) =>
  store.search('QuestionnaireResponse', [['subject', `Patient/${patientId}`]]).total;

async function patientFor(patientId: string) {
  const { patient, response } = submissionFor('RF-01', patientId);
  store.update(patient);
  return response;
}

describe('$submit pre-verifies the caller token against a remote EHR', () => {
  it('a token the EHR accepts: sent at once', async () => {
    const response = await patientFor('pv-ok');
    const res = await post(response, 'clinician');
    expect(res.status).toBe(201);
    expect(stateOf((await res.json()) as fhir4.Parameters)).toBe('sent');
    expect(responsesOf('pv-ok')).toBe(1);
  });

  it('401 from the EHR: refused now with 401, nothing queued or written', async () => {
    const response = await patientFor('pv-401');
    const before = await writePath.outbox.counts();
    const res = await post(response, 'expired-or-unknown');
    expect(res.status).toBe(401);
    const oo = (await res.json()) as fhir4.OperationOutcome;
    expect(oo.issue[0]?.code).toBe('login');
    expect(oo.issue[0]?.diagnostics).toMatch(/Nothing was saved/);
    expect(await writePath.outbox.counts()).toEqual(before);
    expect(responsesOf('pv-401')).toBe(0);
  });

  it('403 from the EHR (a token for another patient): refused now with 403 pointing at the subject', async () => {
    const response = await patientFor('pv-403');
    const before = await writePath.outbox.counts();
    const res = await post(response, 'other-patient');
    expect(res.status).toBe(403);
    const oo = (await res.json()) as fhir4.OperationOutcome;
    expect(oo.issue[0]).toMatchObject({ code: 'forbidden', expression: ['QuestionnaireResponse.subject'] });
    expect(await writePath.outbox.counts()).toEqual(before);
    expect(responsesOf('pv-403')).toBe(0);
  });

  it.each([
    ['answers 500', 'error-500' as const],
    ['hangs past the timeout', 'hang' as const],
  ])('the EHR %s: accepted and queued ("saved, sending"), then sent', async (_what, mode) => {
    const patientId = `pv-${mode}`;
    const response = await patientFor(patientId);
    proxy.mode = mode;
    const hitsBefore = proxy.hits[mode];
    let res: Response;
    try {
      res = await post(response, 'clinician');
    } finally {
      proxy.mode = 'pass';
    }
    expect(proxy.hits[mode]).toBeGreaterThan(hitsBefore);
    expect(res.status).toBe(202);
    expect(stateOf((await res.json()) as fhir4.Parameters)).toBe('queued');
    await waitFor('the queued submission to be sent', () => responsesOf(patientId) === 1);
  });

  it('the EHR is down: accepted and queued, then sent when it is back', async () => {
    const response = await patientFor('pv-down');
    await proxy.down();
    let res: Response;
    try {
      res = await post(response, 'clinician');
    } finally {
      await proxy.up();
    }
    expect(res.status).toBe(202);
    expect(stateOf((await res.json()) as fhir4.Parameters)).toBe('queued');
    await waitFor('the queued submission to be sent', () => responsesOf('pv-down') === 1);
  });
});
