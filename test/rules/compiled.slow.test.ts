/**
 * The compiled FHIRPath evaluator against fhirpath.js on seeded generated responses (the worked examples and
 * the subset's edges are in compiled.test.ts): 600 valid ones it must answer itself with fhirpath.js's
 * CarePlan, and 300 broken ones where the engine's default must fall back to fhirpath.js's result or error.
 * Seconds of `$apply` under both evaluators, so it runs in the `slow` jest project.
 */
import { describe, it } from '@jest/globals';
import { expect } from '../support/expect.js';
import { patientFor, randomResponse, seededRandom } from '../api/support/random-intake.js';
import { apply, calm, intake } from './compiled-support.js';

describe('compiled evaluator: same CarePlans as fhirpath.js', () => {
  it('answers 600 generated valid responses (sparse to complete, some all-No, some without Patient) exactly as fhirpath.js', () => {
    const rng = seededRandom(2026);
    for (let i = 0; i < 600; i++) {
      const subject = `Patient/g${i}`;
      let response = randomResponse(rng, intake, { subject, answerRate: 0.1 + 0.9 * rng() });
      if (i % 3 === 0) response = calm(response);
      if (i % 7 === 0) delete response.authored; // age from the $apply time
      const data: fhir4.FhirResource[] = i % 11 === 0 ? [response] : [patientFor(`g${i}`, response), response]; // sometimes no Patient
      const compiled = apply(data, subject, 'compiled');
      expect(compiled, `response ${i}`).toHaveProperty('carePlan');
      expect(compiled, `response ${i}`).toEqual(apply(data, subject, 'fhirpath.js'));
    }
  });

  it('falls back to fhirpath.js for answers outside its subset, with the reference result or error', () => {
    const rng = seededRandom(77);
    let fellBack = 0;
    for (let i = 0; i < 300; i++) {
      const subject = `Patient/c${i}`;
      // Broken answers: strings for numbers, Quantities, junk codings, empty answers.
      const response = randomResponse(rng, intake, { subject, answerRate: 0.9, corruptRate: 0.08 });
      const data = [patientFor(`c${i}`, response), response];
      const reference = apply(data, subject, 'fhirpath.js');
      if ('error' in apply(data, subject, 'compiled')) fellBack += 1;
      expect(apply(data, subject), `response ${i}`).toEqual(reference);
    }
    expect(fellBack).toBeGreaterThan(0); // the fallback was exercised, not just the fast path
  });
});
