/**
 * How long the hand-off waits for a launch's first view's answers (src/clinician-app/page-answers.ts): an EHR
 * that is slow or fails must cost the page no more time than it did before the hand-off carried them. The
 * answers not ready by the deadline are left out and kept for the route the page calls next, which then waits
 * for the same read (never a second one) or gets its error. The EHR and the deadline are controlled here.
 */
import { describe, it } from '@jest/globals';
import { expect } from '../support/expect.js';
import type { AppContext } from '../../src/clinician-app/context.js';
import type { SessionRef } from '../../src/clinician-app/ehr-access.js';
import { createLaunchPrefetch } from '../../src/clinician-app/launch-prefetch.js';
import { launchAnswers, startedOr } from '../../src/clinician-app/page-answers.js';
import type { ClinicianSession } from '../../src/clinician-app/session-store.js';
import { FhirError } from '../../src/outcomes/index.js';

interface Deferred<T> {
  promise: Promise<T>;
  resolve(value: T): void;
  reject(err: unknown): void;
}
function deferred<T>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (err: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

const PATIENT: fhir4.Patient = { resourceType: 'Patient', id: 'p1', name: [{ text: 'Ada Example' }] };
const INTAKE: fhir4.QuestionnaireResponse = {
  resourceType: 'QuestionnaireResponse',
  id: 'qr1',
  status: 'completed',
  subject: { reference: 'Patient/p1' },
  identifier: { value: 'k1' },
  authored: '2026-12-01T10:00:00Z',
};
const ONE_INTAKE: fhir4.Bundle = { resourceType: 'Bundle', type: 'searchset', entry: [{ resource: INTAKE }] };

/** The app's context with an EHR whose every read waits until the test answers it. */
function appWithEhr() {
  const reads: { path: string; answer: Deferred<unknown> }[] = [];
  const ctx = {
    prefetch: createLaunchPrefetch(),
    ehr: {
      json: (_ref: SessionRef, path: string) => {
        const answer = deferred<unknown>();
        reads.push({ path, answer });
        return answer.promise;
      },
    },
    store: { findDraft: () => Promise.resolve(undefined) },
    reasonCodes: [],
    undoWindowMs: 60_000,
    options: {},
  } as unknown as AppContext;
  const session = {
    issuer: 'http://ehr.test/fhir',
    patient: 'p1',
    fhirUser: 'Practitioner/d1',
    needPatientBanner: true,
    csrf: 'c',
  } as unknown as ClinicianSession;
  const ref: SessionRef = { handle: 'h1', session };
  const read = (prefix: string) => {
    const found = reads.find((r) => r.path.startsWith(prefix));
    if (!found) throw new Error(`no EHR read of ${prefix}; reads: ${reads.map((r) => r.path).join(', ')}`);
    return found.answer;
  };
  return { ctx, ref, reads, read };
}

const timing = { time: <T>(_name: string, work: () => Promise<T>) => work() };
const notAgain = () => Promise.reject(new Error('the route started the same reads again'));

describe('the hand-off waits for the first view’s answers until its deadline', () => {
  it('all answered in time: the context and the intakes are sent; no form for a patient with an intake', async () => {
    const { ctx, ref, read } = appWithEhr();
    const deadline = deferred<void>();
    const answering = launchAnswers(ctx, ref, timing, () => deadline.promise);
    read('Patient/p1').resolve(PATIENT);
    read('Practitioner/d1').resolve({ resourceType: 'Practitioner', id: 'd1', name: [{ text: 'Dr One' }] });
    read('QuestionnaireResponse?').resolve(ONE_INTAKE);
    const answers = await answering;
    expect(Object.keys(answers).sort()).toEqual(['/context', '/patients/p1/intakes']);
    expect((answers['/context'] as { patient: { id: string } }).patient.id).toBe('p1');
  });

  it('an EHR that has not answered by the deadline: those parts are left out, and the route waits for the same read', async () => {
    const { ctx, ref, reads, read } = appWithEhr();
    const deadline = deferred<void>();
    const answering = launchAnswers(ctx, ref, timing, () => deadline.promise);
    read('Practitioner/d1').resolve({ resourceType: 'Practitioner', id: 'd1' });
    read('QuestionnaireResponse?').resolve(ONE_INTAKE);
    await new Promise((resolve) => setImmediate(resolve)); // the intakes' answer is made from its read
    deadline.resolve(); // the Patient read is still under way
    const answers = await answering;
    expect(Object.keys(answers), 'sent although not ready').toEqual(['/patients/p1/intakes']);
    const readsSoFar = reads.length;
    const context = startedOr(ctx, ref, '/context', notAgain);
    read('Patient/p1').resolve(PATIENT);
    expect(((await context) as { patient: { id: string } }).patient.id).toBe('p1');
    expect(reads.length, 'EHR reads started again by the route').toBe(readsSoFar);
    // Used once: a later call reads afresh.
    await expect(startedOr(ctx, ref, '/context', () => Promise.resolve('fresh'))).resolves.toBe('fresh');
  });

  it('an EHR read that fails: the part is left out at once, and the route gives the same error', async () => {
    const { ctx, ref, read } = appWithEhr();
    const deadline = deferred<void>(); // never reached: every part settles first
    const answering = launchAnswers(ctx, ref, timing, () => deadline.promise);
    const gone = new FhirError(410, { code: 'deleted', diagnostics: 'The EHR says this patient was deleted (410).' });
    read('Patient/p1').reject(gone);
    read('Practitioner/d1').resolve({ resourceType: 'Practitioner', id: 'd1' });
    read('QuestionnaireResponse?').reject(gone);
    const answers = await answering;
    expect(answers).toEqual({});
    await expect(startedOr(ctx, ref, '/context', notAgain)).rejects.toBe(gone);
    await expect(startedOr(ctx, ref, '/patients/p1/intakes', notAgain)).rejects.toBe(gone);
  });
});
