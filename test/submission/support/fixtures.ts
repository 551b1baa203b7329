/**
 * Shared test data and helpers for the write-path tests. No test-runner imports here: child processes the
 * tests spawn (support/submit-child.ts) import this file too, outside jest. Hooks live in use-write-path.ts.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadKnowledge, type KnowledgeBase } from '../../../src/knowledge/index.js';
import { createWritePath, type WritePath, type WritePathOptions } from '../../../src/submission/write-path.js';
import type { OutboxEntry } from '../../../src/submission/outbox.js';
import { tmpDir, type TestFhirServer } from './servers.js';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

let knowledge: Promise<KnowledgeBase> | undefined;
export const getKnowledge = () => (knowledge ??= loadKnowledge(repoRoot));

const readJson = <T>(file: string) => JSON.parse(fs.readFileSync(path.join(repoRoot, file), 'utf8')) as T;

/**
 * An example's Patient and response, moved to `patientId` with its own identifier. The response keeps the
 * example's local id on purpose: many clients' responses share local ids, and submissions must not collide.
 */
export function submissionFor(
  example: string,
  patientId: string,
  n = 0,
): { patient: fhir4.Patient; response: fhir4.QuestionnaireResponse } {
  const patient = { ...readJson<fhir4.Patient>(`examples/${example}/patient.json`), id: patientId };
  const original = readJson<fhir4.QuestionnaireResponse>(`examples/${example}/response.json`);
  const response: fhir4.QuestionnaireResponse = {
    ...original,
    identifier: { system: 'urn:test:submission', value: `${patientId}-${example}-${n}` },
    subject: { reference: `Patient/${patientId}` },
  };
  return { patient, response };
}

/**
 * `submissionFor`, with the Patient put on the server first: the response's subject is the id the server
 * stored it under (its own, when the server assigns ids).
 */
export async function seededSubmission(
  server: Pick<TestFhirServer, 'seedPatient'>,
  example: string,
  patientId: string,
  n = 0,
): Promise<{ patient: fhir4.Patient; response: fhir4.QuestionnaireResponse; patientId: string; subject: string }> {
  const { patient, response } = submissionFor(example, patientId, n);
  const stored = await server.seedPatient(patient);
  const subject = `Patient/${stored.id}`;
  return {
    patient: stored,
    response: { ...response, subject: { reference: subject } },
    patientId: stored.id!,
    subject,
  };
}

/**
 * Wait until a submission is in the record: `sent` at once, or queued and then sent by the background sender
 * (a rate-limited or slow first attempt). Fails on `failed`, with the reason the outbox kept.
 */
export async function untilSent(writePath: WritePath, key: string, timeoutMs = 30_000): Promise<OutboxEntry> {
  let entry = await writePath.outbox.get(key);
  await waitFor(
    `submission ${key} sent`,
    async () => {
      entry = await writePath.outbox.get(key);
      if (entry?.status === 'failed') throw new Error(`submission ${key} failed: ${entry.lastError}`);
      return entry?.status === 'sent';
    },
    timeoutMs,
  );
  return entry!;
}

export const silentLog = { info: () => undefined, warn: () => undefined, error: () => undefined };

/** Fast retries for tests: short timeouts, polls and backoff. */
export function testWritePath(
  server: Pick<TestFhirServer, 'fhirBaseUrl' | 'moduleCredentials'>,
  kb: KnowledgeBase,
  overrides: Partial<WritePathOptions> = {},
): WritePath {
  return createWritePath({
    knowledge: kb,
    dataDir: tmpDir('write-path-outbox-'),
    fhirBaseUrl: server.fhirBaseUrl,
    ...(server.moduleCredentials ? { moduleCredentials: server.moduleCredentials } : {}),
    timeoutMs: 10_000, // tests wait for states, not for a short budget: a loaded machine is not a slow server
    pollMs: 25,
    backoff: { baseMs: 25, maxMs: 250 },
    capabilityRetryMs: 100,
    log: silentLog,
    ...overrides,
  });
}

export async function waitFor(
  what: string,
  predicate: () => boolean | Promise<boolean>,
  timeoutMs = 20_000,
): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

export const ext = (r: { extension?: fhir4.Extension[] }, url: string) => r.extension?.find((e) => e.url === url);
