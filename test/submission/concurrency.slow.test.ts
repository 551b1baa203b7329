/**
 * 200 parallel submissions for 50 patients (four each, from three examples) against the embedded
 * EHR: every submission is present exactly once, and the Flags are consistent — each response has exactly the
 * Flags its CarePlan proposed, each pointing at that response and at no other patient's.
 */
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import { expect } from '../support/expect.js';
import type { KnowledgeBase } from '../../src/knowledge/index.js';
import type { WritePath } from '../../src/submission/write-path.js';
import { ext, getKnowledge, submissionFor, testWritePath, waitFor } from './support/fixtures.js';
import { startEmbeddedEhr, type TestFhirServer } from './support/servers.js';

// RF-01 twice: its CarePlan is small (the store's validation of 30 KB CarePlans dominates this test's time).
const EXAMPLES = ['RF-01', 'BMD-01', 'RF-01', 'RF-02'];
let ehr: TestFhirServer;
let kb: KnowledgeBase;
let writePath: WritePath;

beforeAll(async () => {
  [ehr, kb] = await Promise.all([startEmbeddedEhr(), getKnowledge()]);
  writePath = testWritePath(ehr, kb, { timeoutMs: 10_000 });
  await writePath.start();
});
afterAll(async () => {
  await writePath?.stop();
  await ehr?.close();
});

describe('concurrency', () => {
  it('200 parallel submissions for 50 patients: all present once, Flags consistent', async () => {
    const jobs = Array.from({ length: 200 }, (_, i) => {
      const patientId = `conc-${i % 50}`;
      return submissionFor(EXAMPLES[Math.floor(i / 50)]!, patientId, i);
    });
    for (let p = 0; p < 50; p++) await ehr.seedPatient(jobs[p]!.patient);

    // Plus 20 exact duplicates racing their originals.
    const all = [...jobs, ...jobs.slice(0, 20)];
    const results = await Promise.all(
      all.map(({ patient, response }) => writePath.submit({ response, data: [patient] })),
    );
    expect(results.filter((r) => !r.duplicate)).toHaveLength(200);
    // Under this load some first attempts may time out ("saved, sending"): the outbox finishes them. A
    // duplicate reports its original's state at that moment.
    for (const r of results) expect(r.state).toMatch(/^(sent|queued)$/);
    for (const r of results.slice(200)) expect(r.duplicate).toBe(true);
    await waitFor('all sent', async () => (await writePath.outbox.counts()).sent === 200, 60_000);
    expect(await writePath.outbox.counts()).toEqual({ pending: 0, sent: 200, failed: 0 });

    const [qrs, flags, carePlans, provenances] = await Promise.all([
      ehr.search<fhir4.QuestionnaireResponse>('QuestionnaireResponse', ''),
      ehr.search<fhir4.Flag>('Flag', ''),
      ehr.search<fhir4.CarePlan>('CarePlan', ''),
      ehr.search<fhir4.Provenance>('Provenance', ''),
    ]);
    expect(qrs).toHaveLength(200);
    expect(new Set(qrs.map((q) => q.identifier?.value)).size).toBe(200);
    expect(carePlans).toHaveLength(200);
    expect(provenances).toHaveLength(200);

    const qrById = new Map(qrs.map((q) => [`QuestionnaireResponse/${q.id}`, q]));
    const flagsByResponse = new Map<string, fhir4.Flag[]>();
    for (const flag of flags) {
      const detail = ext(flag, 'http://hl7.org/fhir/StructureDefinition/flag-detail')?.valueReference?.reference ?? '';
      const qr = qrById.get(detail);
      expect(qr, `Flag/${flag.id} points at a response that exists`).toBeDefined();
      expect(flag.subject.reference).toBe(qr!.subject?.reference);
      flagsByResponse.set(detail, [...(flagsByResponse.get(detail) ?? []), flag]);
    }
    for (const carePlan of carePlans) {
      const qrRef = carePlan.supportingInfo?.[0]?.reference ?? '';
      const proposed = (carePlan.contained ?? [])
        .filter((r) => r.resourceType === 'Flag')
        .map((f) => (f as fhir4.Flag).code.coding?.[0]?.code)
        .sort();
      const written = (flagsByResponse.get(qrRef) ?? []).map((f) => f.code.coding?.[0]?.code).sort();
      expect({ qrRef, written }).toEqual({ qrRef, written: proposed });
    }
  }, 120_000);
});
