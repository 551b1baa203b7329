/**
 * One body reader for every route of the composed server: a JSON body nested 5,000 deep is refused with
 * 400 + OperationOutcome by the FHIR API, the EHR, the launcher, the clinician app's API and the tablet's API,
 * before any route code (recursive or not) sees it; and a `__proto__` key is refused the same way everywhere.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { clientCredentialsTokenSource } from '../../src/submission/module-token.js';
import { startAppHarness, type AppHarness } from '../clinician-app/harness.js';

let h: AppHarness;
let base: string;
let moduleToken: string;

beforeAll(async () => {
  h = await startAppHarness();
  base = h.baseUrl;
  const client = h.ehr.auth.moduleClient;
  moduleToken = await clientCredentialsTokenSource({ fhirBaseUrl: h.ehr.fhirBaseUrl, ...client }).getToken();
}, 60_000);

afterAll(async () => {
  await h?.close();
});

const deep = (depth: number) =>
  `{"resourceType":"QuestionnaireResponse","status":"in-progress","item":${'['.repeat(depth)}${']'.repeat(depth)}}`;

const routes: Array<{ name: string; method: string; path: string; type: string; auth?: boolean }> = [
  {
    name: 'FHIR API $validate',
    method: 'POST',
    path: '/fhir/QuestionnaireResponse/$validate',
    type: 'application/fhir+json',
  },
  {
    name: 'FHIR API $submit',
    method: 'POST',
    path: '/fhir/QuestionnaireResponse/$submit',
    type: 'application/fhir+json',
  },
  {
    name: 'EHR create',
    method: 'POST',
    path: '/ehr/fhir/QuestionnaireResponse',
    type: 'application/fhir+json',
    auth: true,
  },
  { name: 'EHR launcher (JSON)', method: 'POST', path: '/ehr/launches', type: 'application/json' },
  { name: 'clinician app draft', method: 'PUT', path: '/app/api/draft', type: 'application/json' },
  { name: 'clinician app submit', method: 'POST', path: '/app/api/submit', type: 'application/json' },
  { name: 'tablet claim', method: 'POST', path: '/tablet/api/claim', type: 'application/json' },
  { name: 'tablet submit', method: 'POST', path: '/tablet/api/submit', type: 'application/json' },
];

describe.each(routes)('$name ($method $path)', (route) => {
  const send = (body: string) =>
    fetch(`${base}${route.path}`, {
      method: route.method,
      headers: { 'content-type': route.type, ...(route.auth ? { authorization: `Bearer ${moduleToken}` } : {}) },
      body,
    });

  it('refuses a body nested 5,000 deep: 400 OperationOutcome saying how deep', async () => {
    const res = await send(deep(5000));
    expect(res.status).toBe(400);
    const outcome = (await res.json()) as fhir4.OperationOutcome;
    expect(outcome.resourceType).toBe('OperationOutcome');
    expect(outcome.issue[0]?.diagnostics).toMatch(/nested 500[0-9] levels deep; this server accepts at most 64/);
  });

  it('refuses a __proto__ key: 400 OperationOutcome naming where', async () => {
    const res = await send(
      '{"resourceType":"QuestionnaireResponse","status":"in-progress","item":[{"__proto__":{"admin":true}}]}',
    );
    expect(res.status).toBe(400);
    const outcome = (await res.json()) as fhir4.OperationOutcome;
    expect(outcome.issue[0]?.expression).toEqual(['QuestionnaireResponse.item[0].__proto__']);
  });
});
