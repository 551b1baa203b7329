/**
 * Durability: a writer process is killed with SIGKILL in the middle of writing; every write it acknowledged
 * (printed after the store call returned) must be in the reopened store, at that version, with that content.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { afterAll, describe, it } from '@jest/globals';
import { expect } from '../../support/expect.js';
import { openFhirStore } from '../../../src/ehr/store/index.js';

const childScript = fileURLToPath(new URL('./writer-child.ts', import.meta.url));
const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

interface Ack {
  ref: string;
  version: string;
  marker: string;
}

/** Start the writer; resolve with its acknowledgements once `killAfter` have arrived and it was SIGKILLed. */
function writeThenKill(dataDir: string, killAfter: number): Promise<{ acks: Ack[]; signal: NodeJS.Signals | null }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', childScript, dataDir], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const acks: Ack[] = [];
    let buffer = '';
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdout.on('data', (d: Buffer) => {
      buffer += d.toString();
      const lines = buffer.split('\n');
      buffer = lines.pop() ?? '';
      for (const line of lines) {
        const [word, ref, version, marker] = line.split(' ');
        if (word === 'ack' && ref && version && marker) acks.push({ ref, version, marker });
      }
      if (acks.length >= killAfter && child.exitCode === null && !child.killed) child.kill('SIGKILL');
    });
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      if (signal !== 'SIGKILL') reject(new Error(`writer exited with ${code}: ${stderr}`));
      else resolve({ acks, signal });
    });
  });
}

describe('durability', () => {
  it('keeps every acknowledged write after kill -9', async () => {
    const dataDir = mkdtempSync(path.join(os.tmpdir(), 'fhir-store-durable-'));
    dirs.push(dataDir);
    const { acks, signal } = await writeThenKill(dataDir, 300);
    expect(signal).toBe('SIGKILL');
    expect(acks.length).toBeGreaterThanOrEqual(300);

    const store = openFhirStore({ dataDir });
    try {
      const lastPatientVersion = new Map<string, number>();
      for (const ack of acks) {
        const [type, id] = ack.ref.split('/') as [string, string];
        const version = store.vread(type, id, ack.version);
        expect(version.meta?.versionId).toBe(ack.version);
        if (ack.marker !== 'start') {
          const text = JSON.stringify(version);
          expect(text, ack.ref).toContain(ack.marker);
        }
        if (type === 'Patient')
          lastPatientVersion.set(id, Math.max(lastPatientVersion.get(id) ?? 0, Number(ack.version)));
        else expect(store.read(type, id).meta?.versionId).toBe('1');
      }
      for (const [id, version] of lastPatientVersion) {
        // The writer may have committed one more write it did not get to acknowledge: at least, never less.
        expect(Number(store.read('Patient', id).meta?.versionId)).toBeGreaterThanOrEqual(version);
      }
      const observations = acks.filter((a) => a.ref.startsWith('Observation/'));
      const found = store.search('Observation', [
        ['code', 'http://loinc.org|29463-7'],
        ['_count', '1000'],
      ]);
      expect(found.total).toBeGreaterThanOrEqual(observations.length);
      expect(found.total).toBeLessThanOrEqual(observations.length + 1);
    } finally {
      store.close();
    }
    const db = new Database(path.join(dataDir, 'fhir-store.sqlite'), { readonly: true });
    expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
    db.close();
  });
});
