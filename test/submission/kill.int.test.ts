/**
 * kill -9 mid-submission: a child process stores submissions in its outbox and is SIGKILLed while their first
 * attempt is in flight — either before the server saw them ('hang') or after the server wrote them but before
 * the answer arrived ('slow'). The write path restarted on the same data folder sends each exactly once.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { KnowledgeBase } from '../../src/knowledge/index.js';
import { SUBMISSION_TAG_SYSTEM, submissionId } from '../../src/submission/build-bundle.js';
import { openSqliteOutbox } from '../../src/submission/outbox.js';
import { startFaultProxy, type FaultProxy } from './support/fault-proxy.js';
import { getKnowledge, testWritePath, waitFor } from './support/fixtures.js';
import { startEmbeddedEhr, tmpDir, type TestFhirServer } from './support/servers.js';

const child = path.join(path.dirname(fileURLToPath(import.meta.url)), 'support', 'submit-child.ts');
let ehr: TestFhirServer;
let proxy: FaultProxy;
let kb: KnowledgeBase;
const children = new Set<ChildProcess>();

beforeAll(async () => {
  [ehr, kb] = await Promise.all([startEmbeddedEhr(), getKnowledge()]);
  proxy = await startFaultProxy(ehr.port);
});
afterAll(async () => {
  // A failed test must not leave its child running.
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await proxy?.close();
  await ehr?.close();
});

describe('kill -9 mid-submission', () => {
  it.each(['hang', 'slow'] as const)(
    'first attempt %s when killed → after restart each submission exists exactly once',
    async (mode) => {
      const dataDir = tmpDir('write-path-kill-');
      const submissions = [0, 1, 2].map((n) => ({
        example: n === 1 ? 'BMD-01' : 'RF-01',
        patientId: `kill-${mode}-${n}`,
        n,
      }));
      for (const s of submissions)
        await ehr.seedPatient({ resourceType: 'Patient', id: s.patientId, gender: 'female', birthDate: '1975-01-01' });
      proxy.mode = 'pass';
      proxy.slowMs = 120_000;

      const config = {
        dataDir,
        fhirBaseUrl: proxy.url('/ehr/fhir'),
        moduleCredentials: ehr.moduleCredentials,
        submissions,
      };
      const proc = spawn(process.execPath, ['--import', 'tsx', child, JSON.stringify(config)], {
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      children.add(proc);
      let out = '';
      proc.stdout.on('data', (c: Buffer) => (out += c.toString()));
      const exited = new Promise<NodeJS.Signals | null>((resolve) =>
        proc.on('exit', (_code, signal) => resolve(signal)),
      );
      await waitFor(
        'child ready',
        () => {
          if (proc.exitCode !== null) throw new Error(`the child exited (code ${proc.exitCode}) before it was ready`);
          return out.includes('ready');
        },
        60_000,
      );
      // Capabilities and the module token went through; now the submissions' writes are held.
      const hitsBefore = proxy.hits[mode];
      proxy.mode = mode;

      const outbox = openSqliteOutbox(dataDir);
      try {
        await waitFor(
          'all stored and in flight',
          async () =>
            (await outbox.counts()).pending === submissions.length &&
            proxy.hits[mode] - hitsBefore >= submissions.length,
          30_000,
        );
        if (mode === 'slow') {
          // The server has written them; only the answers are outstanding.
          const keyOf = (s: (typeof submissions)[number]) =>
            encodeURIComponent(`urn:test:submission|${s.patientId}-${s.example}-${s.n}`);
          await waitFor('written on the server', async () => {
            const found = await Promise.all(
              submissions.map((s) => ehr.search('QuestionnaireResponse', `identifier=${keyOf(s)}`)),
            );
            return found.every((f) => f.length === 1);
          });
        }
        proc.kill('SIGKILL');
        expect(await exited).toBe('SIGKILL');
        expect(out).not.toMatch(/sent|queued/); // killed before any attempt finished
      } finally {
        await outbox.close();
      }

      proxy.mode = 'pass';
      const restarted = testWritePath(
        { fhirBaseUrl: proxy.url('/ehr/fhir'), moduleCredentials: ehr.moduleCredentials! },
        kb,
        { dataDir },
      );
      await restarted.start();
      try {
        await waitFor(
          'all sent after restart',
          async () => (await restarted.outbox.counts()).sent === submissions.length,
          20_000,
        );
        for (const s of submissions) {
          const key = `urn:test:submission|${s.patientId}-${s.example}-${s.n}`;
          const expectedProposals = s.example === 'BMD-01' ? 2 : 1;
          const counts = await Promise.all([
            ehr.search('QuestionnaireResponse', `identifier=${encodeURIComponent(key)}`),
            ehr.search('Provenance', `_tag=${encodeURIComponent(`${SUBMISSION_TAG_SYSTEM}|${submissionId(key)}`)}`),
            ehr.search('Flag', `subject=Patient/${s.patientId}`),
            ehr.search('ServiceRequest', `subject=Patient/${s.patientId}`),
            ehr.search('CarePlan', `subject=Patient/${s.patientId}`),
          ]);
          expect({ key, counts: counts.map((c) => c.length) }).toEqual({
            key,
            counts: [1, 1, expectedProposals, expectedProposals, 1],
          });
        }
      } finally {
        await restarted.stop();
      }
    },
    60_000,
  );
});
