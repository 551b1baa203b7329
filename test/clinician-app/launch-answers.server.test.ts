/**
 * The hand-off sends the launch's first view's answers ahead (src/clinician-app/page-answers.ts), so the page
 * does not wait for four more round trips while LHC-Forms starts. Over real HTTP against the composed server:
 * what is sent ahead depends on the view the page will open, each part is what its own route answers, and the
 * patients of interleaved launches never get each other's answers.
 */
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import { expect } from '../support/expect.js';
import { startAppHarness, type AppHarness } from './harness.js';
import { apiLaunch, appCall, exampleResponse } from './launch-support.js';

let h: AppHarness;
beforeAll(async () => {
  h = await startAppHarness();
}, 60_000);
afterAll(async () => {
  await h?.close();
});

type Who = { session: string; csrf: string };
/** The route's answer, which must be a success. */
async function call<T = unknown>(who: Who, method: string, pathname: string, body?: unknown): Promise<T> {
  const res = await appCall<T>(h, who, method, pathname, body);
  expect(res.status, `${method} ${pathname}`).toBeLessThan(300);
  return res.body;
}

interface FormAnswer {
  source: string;
  response: fhir4.QuestionnaireResponse;
}
const patientOf = (form: unknown) => (form as FormAnswer).response.subject?.reference;

describe("the hand-off sends the first view's answers ahead", () => {
  it('a patient with no intake (the form opens): the context, her intakes, the Questionnaire and her pre-filled form, each as its route answers it', async () => {
    const who = await apiLaunch(h, 'sandbox-patient-2');
    const ahead = who.preloaded;
    expect(Object.keys(ahead).sort()).toEqual([
      '/context',
      '/form',
      '/patients/sandbox-patient-2/intakes',
      '/questionnaire',
    ]);
    expect((ahead['/context'] as { patient: { id: string } }).patient.id).toBe('sandbox-patient-2');
    expect(ahead['/patients/sandbox-patient-2/intakes']).toEqual({ intakes: [], draft: null });
    expect((ahead['/form'] as FormAnswer).source).toBe('populate');
    expect(patientOf(ahead['/form'])).toBe('Patient/sandbox-patient-2');
    // The same session asking its routes afterwards (live reads now: what was read ahead is used once).
    expect(await call(who, 'GET', '/context')).toEqual(ahead['/context']);
    expect(await call(who, 'GET', '/patients/sandbox-patient-2/intakes')).toEqual(
      ahead['/patients/sandbox-patient-2/intakes'],
    );
    expect(await call(who, 'GET', '/questionnaire')).toEqual(ahead['/questionnaire']);
    const live = await call<FormAnswer>(who, 'GET', '/form');
    expect(live.source).toBe('populate');
    expect(live.response.item).toEqual((ahead['/form'] as FormAnswer).response.item);
  });

  it('a patient with a draft: the form ahead is her draft', async () => {
    const first = await apiLaunch(h, 'sandbox-patient-3');
    const draft = { ...((first.preloaded['/form'] as FormAnswer).response as object), status: 'in-progress' };
    await call(first, 'PUT', '/draft', { response: draft });
    const again = await apiLaunch(h, 'sandbox-patient-3');
    const intakes = again.preloaded['/patients/sandbox-patient-3/intakes'] as { draft: { savedAt: string } | null };
    expect(intakes.draft).not.toBeNull();
    expect((again.preloaded['/form'] as FormAnswer).source).toBe('draft');
  });

  it('a patient with an intake (her results open): the context and her intakes, no form', async () => {
    const first = await apiLaunch(h, 'sandbox-patient-6');
    const sent = await call<{ state: string }>(first, 'POST', '/submit', { response: exampleResponse('BMD-01') });
    expect(sent.state).toBe('sent');
    const again = await apiLaunch(h, 'sandbox-patient-6');
    expect(Object.keys(again.preloaded).sort()).toEqual(['/context', '/patients/sandbox-patient-6/intakes']);
    const intakes = again.preloaded['/patients/sandbox-patient-6/intakes'] as { intakes: unknown[] };
    expect(intakes.intakes.length).toBe(1);
  });

  it('interleaved launches for four patients: each hand-off carries its own patient only', async () => {
    const patients = ['sandbox-patient-4', 'sandbox-patient-5', 'sandbox-patient-1', 'sandbox-patient-2'];
    const launches = await Promise.all(patients.map((p) => apiLaunch(h, p)));
    launches.forEach((who, i) => {
      const pid = patients[i]!;
      expect((who.preloaded['/context'] as { patient: { id: string } }).patient.id, pid).toBe(pid);
      expect(
        Object.keys(who.preloaded).filter((k) => k.startsWith('/patients/')),
        pid,
      ).toEqual([`/patients/${pid}/intakes`]);
      expect(patientOf(who.preloaded['/form']), pid).toBe(`Patient/${pid}`);
    });
  });
});
