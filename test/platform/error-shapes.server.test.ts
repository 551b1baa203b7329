/**
 * Every router the server mounts answers its errors in one shape per kind of route, whatever the error:
 * an unknown route, a malformed JSON body, or an error thrown by a handler.
 * - FHIR routes and JSON app APIs: an OperationOutcome as application/fhir+json (with `expression` where
 *   an element is at fault);
 * - HTML pages: an HTML error page.
 */
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import { expect } from '../support/expect.js';
import { startAppHarness, type AppHarness } from '../clinician-app/harness.js';

let h: AppHarness;
let base: string;

beforeAll(async () => {
  h = await startAppHarness();
  base = h.baseUrl;
}, 120_000);

afterAll(async () => {
  await h?.close();
});

interface Probe {
  what: string;
  method: 'GET' | 'POST';
  path: string;
  body?: string;
  contentType?: string;
  status: number;
  expression?: string;
}

const MALFORMED = '{"resourceType": ';

/** Each mounted router: an unknown route, a malformed JSON body, a thrown error. */
const OUTCOME_PROBES: Probe[] = [
  { what: 'FHIR API, unknown route', method: 'GET', path: '/fhir/Questionnaire/a/b/c', status: 404 },
  {
    what: 'FHIR API, malformed JSON',
    method: 'POST',
    path: '/fhir/QuestionnaireResponse/$validate',
    body: MALFORMED,
    contentType: 'application/fhir+json',
    status: 400,
  },
  { what: 'FHIR API, thrown error', method: 'GET', path: '/fhir/Questionnaire/no-such-questionnaire', status: 404 },
  {
    what: 'FHIR API $submit, thrown error',
    method: 'POST',
    path: '/fhir/QuestionnaireResponse/$submit',
    body: '{"resourceType":"Patient"}',
    contentType: 'application/fhir+json',
    status: 400,
    expression: 'resourceType',
  },
  { what: 'FHIR API $outbox, thrown error', method: 'GET', path: '/fhir/$outbox', status: 401 },
  { what: 'sandbox EHR FHIR store, unknown route', method: 'GET', path: '/ehr/fhir/Patient/a/b/c/d', status: 401 },
  { what: 'sandbox EHR FHIR store, thrown error', method: 'GET', path: '/ehr/fhir/Patient', status: 401 },
  {
    what: 'sandbox EHR launcher API, malformed JSON',
    method: 'POST',
    path: '/ehr/launches',
    body: MALFORMED,
    contentType: 'application/json',
    status: 400,
  },
  {
    what: 'sandbox EHR launcher API, thrown error',
    method: 'POST',
    path: '/ehr/launches',
    body: '{"app":"no-such-app","patient":"x","practitioner":"y"}',
    contentType: 'application/json',
    status: 400,
    expression: 'app',
  },
  { what: 'clinician app API, unknown route', method: 'GET', path: '/app/api/no-such-route', status: 404 },
  {
    what: 'clinician app API, malformed JSON',
    method: 'POST',
    path: '/app/api/handoff',
    body: MALFORMED,
    contentType: 'application/json',
    status: 400,
  },
  { what: 'clinician app API, thrown error', method: 'GET', path: '/app/api/context', status: 401 },
  { what: 'tablet API, unknown route', method: 'GET', path: '/tablet/api/no-such-route', status: 404 },
  {
    what: 'tablet API, malformed JSON',
    method: 'POST',
    path: '/tablet/api/claim',
    body: MALFORMED,
    contentType: 'application/json',
    status: 400,
  },
  { what: 'tablet API, thrown error', method: 'GET', path: '/tablet/api/questionnaire', status: 401 },
  { what: 'no router at all', method: 'GET', path: '/no-such-part', status: 404 },
];

const HTML_PROBES: Probe[] = [
  {
    what: 'clinician app launch page, thrown error',
    method: 'GET',
    path: '/app/launch?iss=https://unknown.example/fhir&launch=x',
    status: 403,
  },
  {
    what: 'clinician app callback page, thrown error',
    method: 'GET',
    path: '/app/callback?code=x&state=unknown',
    status: 400,
  },
];

async function probe(p: Probe): Promise<Response> {
  return fetch(`${base}${p.path}`, {
    method: p.method,
    redirect: 'manual',
    ...(p.body !== undefined ? { body: p.body, headers: { 'content-type': p.contentType ?? 'application/json' } } : {}),
  });
}

describe('errors leave every router in one shape per kind', () => {
  it.each(OUTCOME_PROBES)('$what: $method $path answers an OperationOutcome as application/fhir+json', async (p) => {
    const res = await probe(p);
    const text = await res.text();
    expect({ status: res.status, type: res.headers.get('content-type') }, text).toEqual({
      status: p.status,
      type: 'application/fhir+json; charset=utf-8',
    });
    const outcome = JSON.parse(text) as fhir4.OperationOutcome;
    expect(outcome.resourceType).toBe('OperationOutcome');
    expect(outcome.issue[0]?.severity).toBe('error');
    expect(typeof outcome.issue[0]?.diagnostics).toBe('string');
    if (p.expression) expect(outcome.issue.flatMap((i) => i.expression ?? [])).toContain(p.expression);
  });

  it.each(HTML_PROBES)('$what: $method $path answers an HTML error page', async (p) => {
    const res = await probe(p);
    const text = await res.text();
    expect({ status: res.status, type: res.headers.get('content-type') }, text.slice(0, 300)).toEqual({
      status: p.status,
      type: 'text/html; charset=utf-8',
    });
    expect(text).toMatch(/^<!doctype html>/i);
    expect(res.headers.get('cache-control')).toBe('no-store');
  });
});
