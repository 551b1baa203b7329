/**
 * Faults between the module and the FHIR server (a proxy in front of the embedded EHR injects them):
 * down before and during a submission, 500s, slow answers, answers lost after the write landed.
 * The user is told "saved, sending"; after recovery every submission exists exactly once.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { KnowledgeBase } from '../../src/knowledge/index.js';
import { SUBMISSION_TAG_SYSTEM, submissionId } from '../../src/submission/build-bundle.js';
import type { SubmitResult } from '../../src/submission/service.js';
import type { WritePath } from '../../src/submission/write-path.js';
import { startFaultProxy, type FaultMode, type FaultProxy } from './support/fault-proxy.js';
import { getKnowledge, submissionFor, testWritePath, waitFor } from './support/fixtures.js';
import { startEmbeddedEhr, type TestFhirServer } from './support/servers.js';

let ehr: TestFhirServer;
let proxy: FaultProxy;
let kb: KnowledgeBase;
let writePath: WritePath;
const submitted: { key: string; patientId: string; result: SubmitResult }[] = [];

beforeAll(async () => {
  [ehr, kb] = await Promise.all([startEmbeddedEhr(), getKnowledge()]);
  proxy = await startFaultProxy(ehr.port);
});
afterAll(async () => {
  await writePath?.stop();
  await proxy?.close();
  await ehr?.close();
});

async function submitOne(label: string, n: number): Promise<SubmitResult> {
  const patientId = `fault-${label}-${n}`;
  const { patient, response } = submissionFor('RF-01', patientId, n);
  await ehr.seedPatient(patient);
  const result = await writePath.submit({ response, data: [patient] });
  submitted.push({ key: result.key, patientId, result });
  return result;
}

/** Every submission exactly once: its response, its Provenance, one Flag, one proposal, one CarePlan. */
async function expectEachExactlyOnce(): Promise<void> {
  for (const { key, patientId } of submitted) {
    const [system, value] = key.split('|');
    const qrs = await ehr.search('QuestionnaireResponse', `identifier=${encodeURIComponent(`${system}|${value}`)}`);
    const provenances = await ehr.search(
      'Provenance',
      `_tag=${encodeURIComponent(`${SUBMISSION_TAG_SYSTEM}|${submissionId(key)}`)}`,
    );
    const flags = await ehr.search('Flag', `subject=Patient/${patientId}`);
    const proposals = await ehr.search('ServiceRequest', `subject=Patient/${patientId}`);
    const carePlans = await ehr.search('CarePlan', `subject=Patient/${patientId}`);
    expect({ key, counts: [qrs.length, provenances.length, flags.length, proposals.length, carePlans.length] }).toEqual(
      { key, counts: [1, 1, 1, 1, 1] },
    );
  }
}

describe('faults', () => {
  it('server down before the module starts and during submissions: "saved, sending", then sent once each', async () => {
    await proxy.down();
    writePath = testWritePath({ fhirBaseUrl: proxy.url('/ehr/fhir'), moduleCredentials: ehr.moduleCredentials! }, kb, {
      timeoutMs: 800,
    });
    await writePath.start();
    expect(writePath.capabilities.known).toBe(false); // assumed (transactions), re-checked later
    const results = await Promise.all([0, 1, 2].map((n) => submitOne('down', n)));
    for (const r of results) {
      expect(r.state).toBe('queued');
      expect(r.message).toMatch(/^Saved, sending/);
      expect(r.entry.status).toBe('pending');
    }
    expect((await writePath.outbox.get(results[0]!.key))?.lastError).toMatch(/unreachable/);
    await proxy.up();
    await waitFor('all sent', async () =>
      (await Promise.all(results.map((r) => writePath.outbox.get(r.key)))).every((e) => e?.status === 'sent'),
    );
    await waitFor('capabilities read', () => writePath.capabilities.known);
    await expectEachExactlyOnce();
  });

  const faults: [FaultMode, string][] = [
    ['error-500', 'the server answers 500'],
    ['drop-after-forward', 'the connection drops after the server wrote (answer lost)'],
    ['slow', 'the server answers after the client gave up (timeout; the write landed)'],
    ['hang', 'the server never answers'],
  ];
  it.each(faults)('%s: %s → queued, then exactly once after recovery', async (mode) => {
    proxy.slowMs = 1200; // > timeoutMs (800)
    const hitsBefore = proxy.hits[mode];
    proxy.mode = mode;
    const results = await Promise.all([0, 1].map((n) => submitOne(mode, n)));
    for (const r of results) expect(r.state).toBe('queued');
    expect(proxy.hits[mode]).toBeGreaterThan(hitsBefore);
    // Let a few retries fail as well, then recover.
    await new Promise((r) => setTimeout(r, 200));
    proxy.mode = 'pass';
    await waitFor('all sent', async () =>
      (await Promise.all(results.map((r) => writePath.outbox.get(r.key)))).every((e) => e?.status === 'sent'),
    );
    await expectEachExactlyOnce();
  });

  it('a resubmission while queued creates no second outbox entry and nothing twice on the server', async () => {
    proxy.mode = 'error-500';
    const first = await submitOne('resubmit', 0);
    expect(first.state).toBe('queued');
    const { patient, response } = submissionFor('RF-01', 'fault-resubmit-0', 0);
    const again = await writePath.submit({ response, data: [patient] });
    expect(again).toMatchObject({ duplicate: true, state: 'queued', key: first.key });
    proxy.mode = 'pass';
    await waitFor('sent', async () => (await writePath.outbox.get(first.key))?.status === 'sent');
    expect((await writePath.outbox.counts()).pending).toBe(0);
    await expectEachExactlyOnce();
  });
});
