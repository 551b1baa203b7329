/**
 * A really full disk (a small tmpfs holds DATA_DIR; mounting one needs root, so elsewhere this file is
 * skipped and test/submission/disk-full.server.test.ts covers the same contract by fault injection): /readyz reports
 * the disk, and $submit answers 507 with a plain OperationOutcome instead of a 500 saying "nothing was stored".
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from '@jest/globals';
import { MODULE_CLIENT_ID, MODULE_SCOPES } from '../../src/ehr/auth/backend-client.js';
import { clientCredentialsTokenSource } from '../../src/submission/module-token.js';
import { submissionFor } from '../submission/support/fixtures.js';
import { PROJECT_ROOT } from './support/app.js';

const SECRET = 'disk-full-test-module-secret-0123456789';
const mountPoint = fs.mkdtempSync(path.join(os.tmpdir(), 'periplan-tmpfs-'));
const canMount = (() => {
  if (process.getuid?.() !== 0) return false;
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64m,mode=0700', 'tmpfs', mountPoint], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();
let child: ChildProcess | undefined;
afterAll(() => {
  if (child && child.exitCode === null) child.kill('SIGKILL');
  if (canMount) execFileSync('umount', ['-l', mountPoint]);
  fs.rmSync(mountPoint, { recursive: true, force: true });
});

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

// Mounting a small tmpfs needs root (CI runs as root); elsewhere the block is reported as skipped.
(canMount ? describe : describe.skip)('a full disk under the real server', () => {
  it('/readyz says the disk is full (503) and $submit answers 507, not "nothing was stored"', async () => {
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
      cwd: PROJECT_ROOT,
      env: {
        ...process.env,
        LOG_LEVEL: 'silent',
        PORT: String(port),
        DATA_DIR: path.join(mountPoint, 'data'),
        MODULE_CLIENT_SECRET: SECRET,
      },
      stdio: 'ignore',
    });
    const until = Date.now() + 120_000;
    while (
      (await fetch(`${base}/readyz`)
        .then((r) => r.status)
        .catch(() => 0)) !== 200
    ) {
      if (Date.now() > until) throw new Error('not ready');
      await new Promise((r) => setTimeout(r, 200));
    }
    // The token first: issuing one writes to the (soon full) authorization database.
    const token = await clientCredentialsTokenSource({
      fhirBaseUrl: `${base}/ehr/fhir`,
      clientId: MODULE_CLIENT_ID,
      clientSecret: SECRET,
      scopes: MODULE_SCOPES,
    }).getToken();

    // Fill the file system to the last block.
    const filler = fs.openSync(path.join(mountPoint, 'filler'), 'w');
    const chunk = Buffer.alloc(1024 * 1024, 1);
    for (let size = chunk.length; size >= 512;) {
      try {
        fs.writeSync(filler, chunk, 0, size);
      } catch {
        size = Math.floor(size / 2);
      }
    }
    fs.closeSync(filler);

    const readyz = await fetch(`${base}/readyz`);
    expect(readyz.status).toBe(503);
    const checks = ((await readyz.json()) as { checks: Record<string, { ok: boolean; detail: string }> }).checks;
    expect(checks.disk).toMatchObject({ ok: false, detail: expect.stringMatching(/disk full/) as unknown });

    const { response } = submissionFor('RF-01', 'sandbox-patient-2', 1);
    const res = await fetch(`${base}/fhir/QuestionnaireResponse/$submit`, {
      method: 'POST',
      headers: { 'content-type': 'application/fhir+json', authorization: `Bearer ${token}` },
      body: JSON.stringify(response),
    });
    const outcome = (await res.json()) as fhir4.OperationOutcome;
    expect({ status: res.status, diagnostics: outcome.issue[0]?.diagnostics }).toEqual({
      status: 507,
      diagnostics: expect.stringMatching(/disk is full/) as unknown,
    });

    // Room again: the same submission goes through, once.
    fs.rmSync(path.join(mountPoint, 'filler'));
    const again = await fetch(`${base}/fhir/QuestionnaireResponse/$submit`, {
      method: 'POST',
      headers: { 'content-type': 'application/fhir+json', authorization: `Bearer ${token}` },
      body: JSON.stringify(response),
    });
    expect(again.status).toBe(201);
    child.kill('SIGTERM');
    expect(await new Promise((resolve) => child!.on('exit', resolve))).toBe(0);
  }, 180_000);
});
