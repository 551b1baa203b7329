// `npm start` as a user runs it: a real process, a temp DATA_DIR, port 0; and refusal to start on bad content or config.
import { spawn, type ChildProcess } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from '@jest/globals';
import { PROJECT_ROOT } from './support/app.js';

const TSX = path.join(PROJECT_ROOT, 'node_modules', '.bin', 'tsx');
const temps: string[] = [];
const tempDir = () => {
  const d = mkdtempSync(path.join(os.tmpdir(), 'periplan-api-'));
  temps.push(d);
  return d;
};
afterAll(() => {
  for (const d of temps) rmSync(d, { recursive: true, force: true });
});

function start(env: Record<string, string>): {
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
} {
  const child = spawn(TSX, ['src/main.ts'], {
    cwd: PROJECT_ROOT,
    env: { ...process.env, LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr!.on('data', (b: Buffer) => (out += b.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, output: () => out, exited };
}

async function waitFor<T>(probe: () => T | undefined, what: string, timeoutMs = 60_000): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = probe();
    if (v !== undefined) return v;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('npm start', () => {
  it('serves /fhir/metadata on a free port, creates DATA_DIR, prints the URL, and stops on SIGTERM', async () => {
    const dataDir = path.join(tempDir(), 'data');
    const proc = start({ PORT: '0', DATA_DIR: dataDir });
    try {
      const ready = await waitFor(
        () => /ready: (http:\/\/\S+\/ehr) .*FHIR API: (http:\/\/\S+\/fhir\/metadata)/.exec(proc.output()) ?? undefined,
        'the ready line',
      );
      const [, launcher, url] = ready as unknown as [string, string, string];
      // The URL to open first is the sandbox EHR's launcher, and it answers.
      const page = await fetch(launcher);
      expect(page.status).toBe(200);
      expect(await page.text()).toContain('Launch');
      const res = await fetch(url);
      expect(res.status).toBe(200);
      const cs = (await res.json()) as fhir4.CapabilityStatement;
      expect(cs.resourceType).toBe('CapabilityStatement');
      expect(cs.implementation?.url).toBe(url.replace(/\/metadata$/, ''));
      expect(existsSync(dataDir)).toBe(true);
      proc.child.kill('SIGTERM');
      expect(await proc.exited).toBe(0);
    } finally {
      proc.child.kill('SIGKILL');
    }
  }, 90_000);

  it('exits 1 naming the file when the content is broken', async () => {
    const content = tempDir();
    for (const folder of ['questionnaires', 'plandefinitions', 'profiles'])
      cpSync(path.join(PROJECT_ROOT, folder), path.join(content, folder), { recursive: true });
    writeFileSync(
      path.join(content, 'plandefinitions', 'PlanDefinition-broken.json'),
      '{"resourceType": "PlanDefinition", "id": ',
    );
    const proc = start({ PORT: '0', DATA_DIR: path.join(content, 'data'), CONTENT_DIR: content });
    expect(await proc.exited).toBe(1);
    expect(proc.output()).toContain('PlanDefinition-broken.json');
  }, 90_000);

  it('exits 1 with the message on bad configuration', async () => {
    const proc = start({ PORT: 'not-a-port' });
    expect(await proc.exited).toBe(1);
    expect(proc.output()).toMatch(/Invalid configuration[\s\S]*PORT/);
  }, 90_000);
});
