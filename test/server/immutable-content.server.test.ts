/**
 * Shared content is immutable and patients never meet, over real HTTP in one composed server (sandbox EHR,
 * module FHIR API, clinician app, tablet): several patients' pre-fills and submissions interleaved, each with
 * her own weight from the sandbox seed; and after every public operation, every knowledge artifact is exactly
 * what was loaded, and the public Questionnaire names no patient.
 */
import path from 'node:path';
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import { expect } from '../support/expect.js';
import { applyCalculatedExpressions } from '../../src/forms/calculate.js';
import { EXTRACTED_OBSERVATION_IDENTIFIER_SYSTEM } from '../../src/forms/index.js';
import { loadKnowledge, type KnowledgeBase } from '../../src/knowledge/index.js';
import { startAppHarness, type AppHarness } from '../clinician-app/harness.js';
import { apiLaunch } from '../clinician-app/launch-support.js';
import { completeAnswers, intakeResponse } from '../forms/support.js';
import { sandboxLatestWeightKg, sandboxPatients } from '../support/sandbox-seed.js';
import { answersTo as answerOf, valuesOnly } from '../support/responses.js';

const REPO = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');
const FHIR_JSON = 'application/fhir+json';
const STAFF: fhir4.Reference = { reference: 'Practitioner/sandbox-clinician', display: 'Sandbox clinician' };
/** Four women whose newest seeded weights all differ (79.5 kg first: the weight the first launch leaked). */
const PATIENTS = ['sandbox-patient-5', 'sandbox-patient-6', 'sandbox-patient-2', 'sandbox-patient-4'];

let h: AppHarness;
let knowledge: KnowledgeBase;
/** Every artifact as JSON, taken right after load, before the server saw a request. */
let asLoaded: Map<string, string>;

beforeAll(async () => {
  knowledge = await loadKnowledge(REPO);
  asLoaded = snapshot(knowledge);
  h = await startAppHarness({ knowledge });
});
afterAll(async () => {
  await h?.close();
});

function snapshot(kb: KnowledgeBase): Map<string, string> {
  return new Map(kb.all().map((r) => [`${r.resourceType}/${r.id}`, JSON.stringify(r)]));
}

function expectAsLoaded(): void {
  const now = snapshot(knowledge);
  expect([...now.keys()]).toEqual([...asLoaded.keys()]);
  for (const [key, json] of now) expect(json, key).toBe(asLoaded.get(key));
}

async function fhir<T>(
  method: 'GET' | 'POST',
  pathname: string,
  body?: unknown,
  token?: string,
): Promise<{ status: number; body: T }> {
  const res = await fetch(`${h.baseUrl}${pathname}`, {
    method,
    headers: {
      accept: FHIR_JSON,
      ...(body === undefined ? {} : { 'content-type': FHIR_JSON }),
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: res.status, body: (await res.json()) as T };
}

async function app<T>(
  method: 'GET' | 'POST',
  pathname: string,
  session: { session: string; csrf: string },
  body?: unknown,
): Promise<{ status: number; body: T }> {
  const res = await fetch(`${h.baseUrl}/app/api${pathname}`, {
    method,
    headers: {
      'x-session': session.session,
      ...(method === 'POST' ? { 'x-csrf-token': session.csrf, 'content-type': 'application/json' } : {}),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: res.status, body: (await res.json()) as T };
}

const populateBody = (patientId: string): fhir4.Parameters => ({
  resourceType: 'Parameters',
  parameter: [{ name: 'subject', valueReference: { reference: `Patient/${patientId}` } }],
});

/**
 * The pre-filled response completed as a clinician would: every other question answered, the pre-filled age
 * and weight kept as they came (so a wrong pre-fill reaches the record, as it did), the scores recomputed.
 */
function completed(prefilled: fhir4.QuestionnaireResponse, patientId: string): fhir4.QuestionnaireResponse {
  const answers: ReturnType<typeof completeAnswers> = { ...completeAnswers() };
  for (const linkId of ['age', 'weight-kg', 'ost-score', 'orai-score']) delete answers[linkId];
  for (const linkId of ['age', 'weight-kg']) {
    const a = answerOf(prefilled, linkId);
    if (a) answers[linkId] = a;
  }
  const intake = knowledge.resolve(
    'https://periplan.app/fhir/Questionnaire/back-pain-intake',
    'Questionnaire',
  ) as fhir4.Questionnaire;
  const response = applyCalculatedExpressions(intake, intakeResponse(answers, 'completed', intake));
  delete response.id;
  return {
    ...response,
    subject: { reference: `Patient/${patientId}` },
    authored: prefilled.authored ?? response.authored,
  };
}

/** Body weights recorded for her by extraction from a submitted response (not the seeded readings). */
function extractedWeights(patientId: string): number[] {
  const { matches } = h.ehr.store.search('Observation', [
    ['subject', `Patient/${patientId}`],
    ['code', 'http://loinc.org|29463-7'],
  ]);
  return (matches as fhir4.Observation[])
    .filter((o) => o.identifier?.some((i) => i.system === EXTRACTED_OBSERVATION_IDENTIFIER_SYSTEM))
    .map((o) => o.valueQuantity?.value as number);
}

function storedWeights(patientId: string): number[] {
  const { matches } = h.ehr.store.search('QuestionnaireResponse', [['subject', `Patient/${patientId}`]]);
  return (matches as fhir4.QuestionnaireResponse[]).map((qr) => answerOf(qr, 'weight-kg')?.[0]?.valueDecimal as number);
}

describe('patients never meet (one server, interleaved)', () => {
  it('the sandbox seed gives these patients different weights', () => {
    const weights = PATIENTS.map(sandboxLatestWeightKg);
    expect(new Set(weights).size).toBe(PATIENTS.length);
  });

  it('concurrent launches, $populate and $submit for four patients: each is pre-filled and recorded with her own weight only', async () => {
    const runs = await Promise.all(
      PATIENTS.map(async (patientId) => {
        const launched = await apiLaunch(h, patientId);
        const token = (await h.app.store.getSession(launched.session, Date.now()))!.tokens.access_token;
        // The module FHIR API's $populate with her token, then the app's form (its own $populate).
        const populated = await fhir<fhir4.Parameters>(
          'POST',
          '/fhir/Questionnaire/back-pain-intake/$populate',
          populateBody(patientId),
          token,
        );
        const form = await app<{ source: string; response: fhir4.QuestionnaireResponse }>('GET', '/form', launched);
        // Submitted through the app, and through the module FHIR API's $submit with her token.
        const viaApp = await app<{ state: string }>('POST', '/submit', launched, {
          response: completed(form.body.response, patientId),
        });
        const fromFhir = populated.body.parameter?.find((p) => p.name === 'response')?.resource as
          fhir4.QuestionnaireResponse | undefined;
        const viaFhir = fromFhir
          ? await fhir<fhir4.Parameters>(
              'POST',
              '/fhir/QuestionnaireResponse/$submit',
              completed(fromFhir, patientId),
              token,
            )
          : undefined;
        return { patientId, populated, fromFhir, form, viaApp, viaFhir };
      }),
    );
    for (const run of runs) {
      const kg = sandboxLatestWeightKg(run.patientId);
      expect(run.populated.status, run.patientId).toBe(200);
      expect(run.fromFhir?.subject, run.patientId).toEqual({ reference: `Patient/${run.patientId}` });
      expect(valuesOnly(answerOf(run.fromFhir, 'weight-kg')), `$populate for ${run.patientId}`).toEqual([
        { valueDecimal: kg },
      ]);
      expect(run.form.body.source).toBe('populate');
      expect(valuesOnly(answerOf(run.form.body.response, 'weight-kg')), `app form for ${run.patientId}`).toEqual([
        { valueDecimal: kg },
      ]);
      expect(run.viaApp.body.state, run.patientId).toBe('sent');
      expect(run.viaFhir?.status, run.patientId).toBe(201);
      // What reached her record: her own weight, in both responses and in every extracted Observation.
      expect(storedWeights(run.patientId), `responses of ${run.patientId}`).toEqual([kg, kg]);
      expect(extractedWeights(run.patientId).length, run.patientId).toBeGreaterThan(0);
      expect(new Set(extractedWeights(run.patientId)), `extracted weights of ${run.patientId}`).toEqual(new Set([kg]));
    }
    expectAsLoaded();
  });

  it('after every public operation every knowledge artifact is as loaded, and the public Questionnaire names no patient', async () => {
    const patientId = 'sandbox-patient-3';
    const launched = await apiLaunch(h, patientId);
    const token = (await h.app.store.getSession(launched.session, Date.now()))!.tokens.access_token;
    const checks: Array<[string, () => Promise<number>]> = [];
    const step = (name: string, run: () => Promise<number>) => checks.push([name, run]);

    let prefilled: fhir4.QuestionnaireResponse | undefined;
    step('$populate (instance, her token)', async () => {
      const r = await fhir<fhir4.Parameters>(
        'POST',
        '/fhir/Questionnaire/back-pain-intake/$populate',
        populateBody(patientId),
        token,
      );
      prefilled = r.body.parameter?.find((p) => p.name === 'response')?.resource as fhir4.QuestionnaireResponse;
      return r.status;
    });
    step('$populate (type level, Patient sent in the request, no token)', async () => {
      const someoneElse: fhir4.Patient = { resourceType: 'Patient', id: 'someone-else', birthDate: '1960-02-02' };
      const body: fhir4.Parameters = {
        resourceType: 'Parameters',
        parameter: [
          { name: 'canonical', valueCanonical: 'https://periplan.app/fhir/Questionnaire/back-pain-intake' },
          { name: 'subject', valueReference: { reference: 'Patient/someone-else' } },
          {
            name: 'context',
            part: [
              { name: 'name', valueString: 'patient' },
              { name: 'content', resource: someoneElse },
            ],
          },
        ],
      };
      return (await fhir('POST', '/fhir/Questionnaire/$populate', body)).status;
    });
    const response = () => completed(prefilled!, patientId);
    step('$validate', async () => (await fhir('POST', '/fhir/QuestionnaireResponse/$validate', response())).status);
    step('$extract', async () => (await fhir('POST', '/fhir/QuestionnaireResponse/$extract', response())).status);
    step('$apply', async () => {
      const patient = h.ehr.store.read('Patient', patientId);
      const data: fhir4.Bundle = {
        resourceType: 'Bundle',
        type: 'collection',
        entry: [{ resource: patient as fhir4.Patient }, { resource: { ...response(), id: 'qr-apply' } }],
      };
      const body: fhir4.Parameters = {
        resourceType: 'Parameters',
        parameter: [
          { name: 'subject', valueString: `Patient/${patientId}` },
          { name: 'data', resource: data },
        ],
      };
      return (await fhir('POST', '/fhir/PlanDefinition/back-pain-follow-up/$apply', body)).status;
    });
    step('$submit', async () => (await fhir('POST', '/fhir/QuestionnaireResponse/$submit', response(), token)).status);
    step('read, search and metadata', async () => {
      const statuses = await Promise.all(
        [
          '/fhir/Questionnaire/back-pain-intake',
          '/fhir/Questionnaire?url=https://periplan.app/fhir/Questionnaire/back-pain-intake',
          '/fhir/PlanDefinition?_summary=true',
          '/fhir/ActivityDefinition',
          '/fhir/metadata',
        ].map(async (p) => (await fhir('GET', p)).status),
      );
      return statuses.every((s) => s === 200) ? 200 : Math.max(...statuses);
    });
    step('app: context, questionnaire, form, draft, submit', async () => {
      const statuses = [
        (await app('GET', '/context', launched)).status,
        (await app('GET', '/questionnaire', launched)).status,
      ];
      const form = await app<{ response: fhir4.QuestionnaireResponse }>('GET', '/form?fresh=1', launched);
      statuses.push(form.status);
      const draft = await fetch(`${h.baseUrl}/app/api/draft`, {
        method: 'PUT',
        headers: { 'x-session': launched.session, 'x-csrf-token': launched.csrf, 'content-type': 'application/json' },
        body: JSON.stringify({ response: form.body.response }),
      });
      statuses.push(draft.status);
      statuses.push(
        (await app('POST', '/submit', launched, { response: completed(form.body.response, patientId) })).status,
      );
      return statuses.every((s) => s === 200) ? 200 : Math.max(...statuses);
    });
    step('tablet: claim, questionnaire in English and Spanish, check, submit', async () => {
      const { code } = await h.tablet.createHandoff({ patientId, patientName: 'Marieke', staff: STAFF });
      const post = (p: string, body: unknown, session?: string) =>
        fetch(`${h.baseUrl}/tablet/api/${p}`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', ...(session ? { 'x-tablet-session': session } : {}) },
          body: JSON.stringify(body),
        });
      const claimed = await post('claim', { code, device: 'bay-1' });
      const session = ((await claimed.json()) as { session: string }).session;
      const statuses = [claimed.status];
      for (const lang of ['en', 'es'])
        statuses.push(
          (
            await fetch(`${h.baseUrl}/tablet/api/questionnaire?lang=${lang}`, {
              headers: { 'x-tablet-session': session },
            })
          ).status,
        );
      const { item } = response();
      statuses.push(
        (await post('check', { response: { resourceType: 'QuestionnaireResponse', item } }, session)).status,
      );
      statuses.push(
        (
          await post(
            'submit',
            {
              response: {
                resourceType: 'QuestionnaireResponse',
                identifier: { system: 'https://periplan.app/fhir/sid/tablet-response', value: crypto.randomUUID() },
                item,
              },
            },
            session,
          )
        ).status,
      );
      return statuses.every((s) => s < 300) ? 200 : Math.max(...statuses);
    });

    for (const [name, run] of checks) {
      expect(await run(), name).toBeLessThan(300);
      expectAsLoaded();
    }

    const pub = await fhir<fhir4.Questionnaire>('GET', '/fhir/Questionnaire/back-pain-intake');
    expect(pub.status).toBe(200);
    const text = JSON.stringify(pub.body);
    for (const p of [...sandboxPatients().map((x) => x.id), 'someone-else']) expect(text, p).not.toContain(p);
    expect(text).toContain('Patient/{{%patient.id}}');
  });
});
