/**
 * The data folder as the real server leaves it: private (folders 0700, files 0600) even when started under a
 * permissive umask, and guarded: a database it held that is emptied stops the next start (exit 1, naming the
 * file and what to do) instead of starting fresh and losing what was acknowledged.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from '@jest/globals';
import { PROJECT_ROOT } from './support/app.js';

const temps: string[] = [];
afterAll(() => {
  for (const d of temps) fs.rmSync(d, { recursive: true, force: true });
});

/** Start `node --import tsx src/main.ts` under umask 000; resolves with the exit code and the output. */
function run(env: Record<string, string>, untilReady: boolean): Promise<{ code: number | null; output: string }> {
  const child = spawn('sh', ['-c', 'umask 000; exec "$0" --import tsx src/main.ts', process.execPath], {
    cwd: PROJECT_ROOT,
    env: { ...process.env, LOG_LEVEL: 'warn', PORT: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const onData = (b: Buffer) => {
    output += b.toString();
    if (untilReady && /module ready/.test(output)) child.kill('SIGTERM');
  };
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);
  const killer = setTimeout(() => child.kill('SIGKILL'), 120_000);
  return new Promise((resolve) =>
    child.on('exit', (code) => {
      clearTimeout(killer);
      resolve({ code, output });
    }),
  );
}

function walk(dir: string): Array<{ file: string; dir: boolean; mode: number }> {
  const out: Array<{ file: string; dir: boolean; mode: number }> = [
    { file: dir, dir: true, mode: fs.statSync(dir).mode & 0o777 },
  ];
  for (const name of fs.readdirSync(dir)) {
    const p = path.join(dir, name);
    if (fs.statSync(p).isDirectory()) out.push(...walk(p));
    else out.push({ file: p, dir: false, mode: fs.statSync(p).mode & 0o777 });
  }
  return out;
}

describe('the data folder', () => {
  it('is 0700 with every file 0600 under umask 000; an emptied outbox then refuses the start, naming the file', async () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'periplan-datafolder-'));
    temps.push(root);
    const dataDir = path.join(root, 'data');
    const first = await run({ DATA_DIR: dataDir }, true);
    expect(first.code).toBe(0);
    const entries = walk(dataDir);
    expect(entries.filter((e) => !e.dir).map((e) => path.relative(dataDir, e.file))).toEqual(
      expect.arrayContaining([
        path.join('write-path', 'outbox.sqlite'),
        path.join('ehr', 'fhir-store.sqlite'),
        path.join('clinician-app', 'clinician-app.sqlite'),
        path.join('tablet', 'tablet.sqlite'),
      ]),
    );
    const loose = entries
      .filter((e) => e.mode !== (e.dir ? 0o700 : 0o600))
      .map((e) => `${path.relative(dataDir, e.file) || '.'} ${e.mode.toString(8)}`);
    expect(loose).toEqual([]);

    // The sandbox's example submissions were acknowledged into this outbox; emptying it must stop the start.
    const outbox = path.join(dataDir, 'write-path', 'outbox.sqlite');
    fs.truncateSync(outbox, 0);
    fs.rmSync(`${outbox}-wal`, { force: true });
    const second = await run({ DATA_DIR: dataDir }, false);
    expect(second.code).toBe(1);
    expect(second.output).toContain(`Refusing to start: The outbox database is empty (0 bytes)`);
    expect(second.output).toContain(outbox);
    expect(second.output).toMatch(/restore this file .* from a backup/);
  }, 240_000);
});
