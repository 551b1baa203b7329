/**
 * A full disk after a submission is durably in the outbox: recording the first attempt fails (SQLITE_FULL),
 * but the user must hear "saved, sending" — never "nothing was stored" — because the submission is stored and
 * will reach the EHR (re-entering it would duplicate it). The failure is injected at the outbox boundary,
 * after the real durable add, against the real embedded EHR.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { KnowledgeBase } from '../../src/knowledge/index.js';
import { isDiskFull, outcomeFromUnknown } from '../../src/outcomes/index.js';
import { assumedCapabilities, createFhirBundleWriter } from '../../src/submission/fhir-writer.js';
import { clientCredentialsTokenSource } from '../../src/submission/module-token.js';
import { openSqliteOutbox, type Outbox } from '../../src/submission/outbox.js';
import { createOutboxSender } from '../../src/submission/sender.js';
import { createSubmissionService } from '../../src/submission/service.js';
import { getKnowledge, submissionFor } from './support/fixtures.js';
import { startEmbeddedEhr, tmpDir, type TestFhirServer } from './support/servers.js';

const diskFullError = () => Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' });

let ehr: TestFhirServer;
let kb: KnowledgeBase;
beforeAll(async () => {
  [ehr, kb] = await Promise.all([startEmbeddedEhr(), getKnowledge()]);
}, 60_000);
afterAll(async () => {
  await ehr?.close();
});

describe('a full disk after the durable add', () => {
  it('answers "saved, sending" (queued) when recording the first attempt fails; the sender sends it once the disk has room', async () => {
    const real = openSqliteOutbox(tmpDir('disk-full-'));
    let full = false;
    const bookkeeping = async (fn: () => Promise<void>) => {
      if (full) throw diskFullError();
      await fn();
    };
    // The real outbox; once `full`, every write after the add fails the way SQLite fails on a full disk.
    const outbox: Outbox = {
      ...real,
      add: async (key, bundle, options) => {
        const result = await real.add(key, bundle, options);
        full = true; // the disk fills up right after the submission was made durable
        return result;
      },
      markSent: (id, response, now) => bookkeeping(() => real.markSent(id, response, now)),
      markRetry: (id, error, next) => bookkeeping(() => real.markRetry(id, error, next)),
      markFailed: (id, error) => bookkeeping(() => real.markFailed(id, error)),
    };
    const tokens = clientCredentialsTokenSource({ fhirBaseUrl: ehr.fhirBaseUrl, ...ehr.moduleCredentials! });
    const writer = createFhirBundleWriter(
      { baseUrl: ehr.fhirBaseUrl, timeoutMs: 5000, getToken: () => tokens.getToken() },
      assumedCapabilities,
    );
    const sender = createOutboxSender({ outbox, writer, leaseMs: 60_000 });
    const errors: unknown[] = [];
    const service = createSubmissionService({
      knowledge: kb,
      outbox,
      sender,
      firstAttemptLeaseMs: 0,
      onBookkeepingError: (_key, err) => errors.push(err),
    });

    const { patient, response } = submissionFor('RF-01', 'disk-full-1');
    await ehr.seedPatient(patient);
    const result = await service.submit({ response, data: [patient] });
    expect(result.state).toBe('queued');
    expect(result.message).toMatch(/^Saved, sending/);
    expect(errors.map(isDiskFull)).toEqual([true]);
    expect((await real.get(result.key))?.status).toBe('pending');

    // Room again: the background sender's next pass finishes it, without a second copy in the EHR.
    full = false;
    try {
      expect(await sender.drain(new Date(Date.now() + 120_000))).toBe(1);
      expect((await real.get(result.key))?.status).toBe('sent');
      const found = await ehr.search<fhir4.QuestionnaireResponse>(
        'QuestionnaireResponse',
        `identifier=${encodeURIComponent(result.key)}`,
      );
      expect(found).toHaveLength(1);
    } finally {
      real.close();
    }
  }, 60_000);

  it('a full disk reaching the HTTP layer is 507 with a plain OperationOutcome, and no error claims "nothing was stored"', () => {
    const full = outcomeFromUnknown(
      Object.assign(new Error('write failed', { cause: Object.assign(new Error('no space'), { code: 'ENOSPC' }) })),
    );
    expect(full.status).toBe(507);
    expect(full.outcome.issue[0]?.diagnostics).toMatch(/disk is full/);
    expect(full.outcome.issue[0]?.diagnostics).toMatch(/same submission again is safe/);
    const other = outcomeFromUnknown(new Error('boom'));
    expect(other.status).toBe(500);
    expect(other.outcome.issue[0]?.diagnostics).not.toMatch(/nothing was stored/);
  });
});
