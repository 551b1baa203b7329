/**
 * Concurrency: 200 parallel creates and updates over HTTP land exactly once each, with consecutive versions,
 * while another process writes to the same database file (it queues on SQLite's write lock: no SQLITE_BUSY).
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import { expect } from '../../support/expect.js';
import { http, patient, startTestServer, weight } from './support.js';
import type { TestServer } from './support.js';

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(async () => server.close());

const childScript = fileURLToPath(new URL('./writer-child.ts', import.meta.url));

function otherProcessWriting(dataDir: string, count: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', childScript, dataDir, String(count)], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let acks = 0;
    let stderr = '';
    child.stdout.on(
      'data',
      (d: Buffer) =>
        (acks += d
          .toString()
          .split('\n')
          .filter((l) => l.startsWith('ack ')).length),
    );
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('exit', (code) => (code === 0 ? resolve(acks) : reject(new Error(`writer exited ${code}: ${stderr}`))));
  });
}

describe('concurrency', () => {
  it('200 parallel creates and updates: every one acknowledged, present once, versions consecutive', async () => {
    const targets = await Promise.all(
      Array.from(
        { length: 10 },
        async (_, i) =>
          (await http(server.baseUrl, 'POST', 'Patient', { body: patient(`Parallel-${i}`) })).body as fhir4.Patient,
      ),
    );
    const other = otherProcessWriting(server.dataDir, 100);
    const creates = Array.from({ length: 100 }, (_, i) =>
      http(server.baseUrl, 'POST', 'Observation', {
        body: weight(targets[i % 10]!.id!, 50 + i / 10, '2026-01-01', {
          identifier: [{ system: 'urn:test:parallel', value: `C-${i}` }],
        }),
      }),
    );
    const updates = Array.from({ length: 100 }, (_, i) => {
      const target = targets[i % 10]!;
      return http(server.baseUrl, 'PUT', `Patient/${target.id}`, {
        body: { ...target, name: [{ family: target.name![0]!.family, given: [`U-${i}`] }] },
      });
    });
    const results = await Promise.all([...creates, ...updates]);
    expect(results.map((r) => r.status).filter((s) => s >= 300)).toEqual([]);
    expect(await other).toBe(101);

    for (let i = 0; i < 100; i++) {
      const found = await http(server.baseUrl, 'GET', `Observation?identifier=urn:test:parallel|C-${i}`);
      expect(found.body.total, `C-${i}`).toBe(1);
    }
    for (const target of targets) {
      const history = await http(server.baseUrl, 'GET', `Patient/${target.id}/_history?_count=100`);
      expect(history.body.total).toBe(11);
      expect(history.body.entry.map((e: fhir4.BundleEntry) => e.resource?.meta?.versionId)).toEqual(
        Array.from({ length: 11 }, (_, k) => String(11 - k)),
      );
    }
    const versions = results.slice(100).map((r) => `${r.body.id}@${r.body.meta.versionId}`);
    expect(new Set(versions).size).toBe(100);
  });

  it('parallel conditional creates of the same identifier create exactly one resource', async () => {
    const body = patient('Once', { identifier: [{ system: 'urn:test:once', value: 'ONE' }] });
    const results = await Promise.all(
      Array.from({ length: 50 }, () =>
        http(server.baseUrl, 'POST', 'Patient', { body, headers: { 'If-None-Exist': 'identifier=urn:test:once|ONE' } }),
      ),
    );
    expect(results.filter((r) => r.status === 201)).toHaveLength(1);
    expect(results.filter((r) => r.status === 200)).toHaveLength(49);
    expect(new Set(results.map((r) => r.body.id)).size).toBe(1);
  });
});
