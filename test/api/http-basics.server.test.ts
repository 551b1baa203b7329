// The HTTP layer: body handling (type, size, JSON, depth, hostile keys), unknown routes, wrong methods.
import type { Express } from 'express';
import request from 'supertest';
import { beforeAll, describe, expect, it } from '@jest/globals';
import { FHIR_JSON, testApp } from './support/app.js';

let app: Express;
beforeAll(async () => {
  app = await testApp({ env: { BODY_LIMIT_BYTES: '2048', MAX_JSON_DEPTH: '16' } });
});

function expectOutcome(res: request.Response, status: number, code?: string) {
  expect(res.status).toBe(status);
  expect(res.headers['content-type']).toBe('application/fhir+json; charset=utf-8');
  expect(res.body.resourceType).toBe('OperationOutcome');
  const first = res.body.issue[0];
  expect(first.severity).toBe('error');
  expect(typeof first.diagnostics).toBe('string');
  if (code) expect(first.code).toBe(code);
  return first as fhir4.OperationOutcomeIssue;
}

const VALIDATE = '/fhir/QuestionnaireResponse/$validate';

describe('request bodies', () => {
  it('rejects malformed JSON with 400 structure', async () => {
    const res = await request(app)
      .post(VALIDATE)
      .set('Content-Type', FHIR_JSON)
      .send('{"resourceType": "QuestionnaireResponse",');
    const issue = expectOutcome(res, 400, 'structure');
    expect(issue.diagnostics).toMatch(/not valid JSON/);
  });

  it('rejects a wrong content type with 415', async () => {
    const res = await request(app).post(VALIDATE).set('Content-Type', 'text/plain').send('{}');
    expectOutcome(res, 415, 'not-supported');
    const form = await request(app).post(VALIDATE).type('form').send({ a: 1 });
    expectOutcome(form, 415);
  });

  it('accepts application/json as well as application/fhir+json', async () => {
    const res = await request(app)
      .post(VALIDATE)
      .set('Content-Type', 'application/json; charset=utf-8')
      .send(JSON.stringify({ resourceType: 'Patient' }));
    // Parsed fine; refused for what it is, not for how it was sent.
    expectOutcome(res, 400, 'invalid');
  });

  it('rejects a non-UTF-8 charset with 415', async () => {
    const res = await request(app)
      .post(VALIDATE)
      .set('Content-Type', 'application/fhir+json; charset=latin1')
      .send('{}');
    expectOutcome(res, 415);
  });

  it('rejects a body over BODY_LIMIT_BYTES with 413', async () => {
    const big = JSON.stringify({ resourceType: 'QuestionnaireResponse', text: 'x'.repeat(5000) });
    const res = await request(app).post(VALIDATE).set('Content-Type', FHIR_JSON).send(big);
    const issue = expectOutcome(res, 413, 'too-costly');
    expect(issue.diagnostics).toMatch(/larger than/);
  });

  it('rejects nesting deeper than MAX_JSON_DEPTH with 400', async () => {
    const deep = '{"resourceType":"QuestionnaireResponse","item":' + '['.repeat(40) + ']'.repeat(40) + '}';
    const res = await request(app).post(VALIDATE).set('Content-Type', FHIR_JSON).send(deep);
    const issue = expectOutcome(res, 400, 'structure');
    expect(issue.diagnostics).toMatch(/nested 41 levels deep; this server accepts at most 16/);
  });

  it('does not count brackets inside strings as nesting', async () => {
    const body = JSON.stringify({ resourceType: 'Patient', text: '[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[' });
    const res = await request(app).post(VALIDATE).set('Content-Type', FHIR_JSON).send(body);
    expectOutcome(res, 400, 'invalid'); // wrong resourceType, not depth
  });

  for (const key of ['__proto__', 'constructor', 'prototype']) {
    it(`refuses a '${key}' key anywhere, naming where it is`, async () => {
      const body = `{"resourceType":"QuestionnaireResponse","item":[{"linkId":"a","${key}":{"polluted":true}}]}`;
      const res = await request(app).post(VALIDATE).set('Content-Type', FHIR_JSON).send(body);
      const issue = expectOutcome(res, 400, 'invalid');
      expect(issue.expression).toEqual([`QuestionnaireResponse.item[0].${key}`]);
      expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    });
  }

  it('treats an empty body as missing', async () => {
    const res = await request(app).post(VALIDATE).set('Content-Type', FHIR_JSON).send('');
    const issue = expectOutcome(res, 400);
    expect(issue.diagnostics).toMatch(/needs a QuestionnaireResponse/);
  });
});

describe('routes', () => {
  it('answers unknown paths under /fhir with a 404 OperationOutcome', async () => {
    const res = await request(app).get('/fhir/no/such/thing');
    expectOutcome(res, 404, 'not-found');
  });

  it('answers unknown resource types with 404', async () => {
    expectOutcome(await request(app).get('/fhir/Patient/123'), 404, 'not-supported');
    expectOutcome(await request(app).get('/fhir/Patient'), 404, 'not-supported');
  });

  it('answers a wrong method with 405 and an Allow header', async () => {
    const del = await request(app).delete('/fhir/metadata');
    expectOutcome(del, 405);
    expect(del.headers.allow).toBe('GET');
    const getOp = await request(app).get('/fhir/PlanDefinition/back-pain-follow-up/$apply');
    expectOutcome(getOp, 405);
    expect(getOp.headers.allow).toBe('POST');
    expectOutcome(
      await request(app).put('/fhir/Questionnaire/back-pain-intake').set('Content-Type', FHIR_JSON).send('{}'),
      405,
    );
    expectOutcome(await request(app).post('/fhir/Questionnaire').set('Content-Type', FHIR_JSON).send('{}'), 405);
  });

  it('serves JSON only: _format=json works, _format=xml is a 406', async () => {
    expect((await request(app).get('/fhir/metadata?_format=json')).status).toBe(200);
    expect((await request(app).get('/fhir/metadata?_format=application/fhir%2Bjson')).status).toBe(200);
    expectOutcome(await request(app).get('/fhir/metadata?_format=xml'), 406, 'not-supported');
  });

  it('answers paths outside /fhir with a 404 OperationOutcome too', async () => {
    expectOutcome(await request(app).get('/nothing-here'), 404);
  });

  it('sets security headers and serves FHIR JSON', async () => {
    const res = await request(app).get('/fhir/metadata');
    expect(res.status).toBe(200);
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    expect(res.headers['x-powered-by']).toBeUndefined();
    expect(res.headers['content-type']).toBe('application/fhir+json; charset=utf-8');
  });
});
