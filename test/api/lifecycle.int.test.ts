/**
 * The real server process through start and stop, as a supervisor runs it (docs/operations.md): requests
 * while it starts are answered 503 + Retry-After, never left hanging; SIGTERM under keep-alive load lets
 * every accepted submission finish (201, written to the embedded EHR) and refuses the rest with
 * 503 + Connection: close; the process exits 0; after a restart on the same data folder every acknowledged
 * submission is in the EHR exactly once. And SIGTERM sent to `npm start` frees the port.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from '@jest/globals';
import { MODULE_CLIENT_ID, MODULE_SCOPES } from '../../src/ehr/auth/backend-client.js';
import { clientCredentialsTokenSource } from '../../src/submission/module-token.js';
import { submissionFor } from '../submission/support/fixtures.js';
import { PROJECT_ROOT } from './support/app.js';

const MODULE_SECRET = 'lifecycle-test-module-secret-0123456789';
const children = new Set<ChildProcess>();
const temps: string[] = [];
const tempDir = () => {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'periplan-lifecycle-'));
  temps.push(d);
  return d;
};
afterAll(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  for (const d of temps) fs.rmSync(d, { recursive: true, force: true });
});

/** A port nobody listens on right now (the server is told to use it, so probes can start before it opens). */
async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

interface Proc {
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
}

function startServer(command: 'node' | 'npm', env: Record<string, string>): Proc {
  const [cmd, args] =
    command === 'npm' ? ['npm', ['start', '--silent']] : [process.execPath, ['--import', 'tsx', 'src/main.ts']];
  const child = spawn(cmd, args as string[], {
    cwd: PROJECT_ROOT,
    env: { ...process.env, LOG_LEVEL: 'warn', MODULE_CLIENT_SECRET: MODULE_SECRET, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  let out = '';
  child.stdout!.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr!.on('data', (b: Buffer) => (out += b.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, output: () => out, exited };
}

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** One request; rejects with the socket error, or with "hung" when no answer came within `timeoutMs`. */
function request(
  port: number,
  options: {
    method?: string;
    path: string;
    body?: string;
    headers?: Record<string, string>;
    agent?: http.Agent;
    timeoutMs?: number;
  },
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        method: options.method ?? 'GET',
        path: options.path,
        headers: options.headers,
        agent: options.agent ?? false,
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
        res.on('error', reject);
      },
    );
    req.setTimeout(options.timeoutMs ?? 20_000, () => req.destroy(Object.assign(new Error('hung'), { code: 'HUNG' })));
    req.on('error', reject);
    req.end(options.body);
  });
}

async function waitUntil<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 90_000): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const ready = (port: number) =>
  waitUntil('ready', async () =>
    (await request(port, { path: '/readyz', timeoutMs: 10_000 })).status === 200 ? true : undefined,
  );
const portIsFree = async (port: number) => {
  const s = net.createServer();
  const ok = await new Promise<boolean>((resolve) => {
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => resolve(true));
  });
  if (ok) await new Promise<void>((resolve) => s.close(() => resolve()));
  return ok;
};

describe('starting', () => {
  it('answers every request while it starts (503 + Retry-After, OperationOutcome) and /healthz at once; none hangs', async () => {
    const port = await freePort();
    const proc = startServer('node', { PORT: String(port), DATA_DIR: path.join(tempDir(), 'data') });
    const answers: Array<{ path: string; status: number; retryAfter?: string; resourceType?: string }> = [];
    const failures: string[] = [];
    const probes = new Set<Promise<void>>();
    let up = false;
    const probe = (p: string) => {
      const done = request(port, { path: p, timeoutMs: 15_000 })
        .then((a) => {
          answers.push({
            path: p,
            status: a.status,
            ...(a.headers['retry-after'] ? { retryAfter: String(a.headers['retry-after']) } : {}),
            resourceType: (JSON.parse(a.body || '{}') as { resourceType?: string }).resourceType,
          });
          if (p === '/fhir/metadata' && a.status === 200) up = true;
        })
        .catch((err: NodeJS.ErrnoException) => {
          // Refused before the port opens: nothing was accepted. Anything else (a hang, a reset) is a failure.
          if (err.code !== 'ECONNREFUSED') failures.push(`${p}: ${err.code ?? err.message}`);
        })
        .finally(() => probes.delete(done));
      probes.add(done);
    };
    const until = Date.now() + 90_000;
    let i = 0;
    while (!up && Date.now() < until && proc.child.exitCode === null) {
      probe(i++ % 3 === 2 ? '/healthz' : '/fhir/metadata');
      await new Promise((r) => setTimeout(r, 20));
    }
    await Promise.all([...probes]);
    try {
      expect(failures).toEqual([]);
      expect(up).toBe(true);
      const early = answers.filter((a) => a.path === '/fhir/metadata' && a.status !== 200);
      expect(early.length).toBeGreaterThan(0);
      for (const a of early)
        expect(a).toEqual({
          path: '/fhir/metadata',
          status: 503,
          retryAfter: expect.stringMatching(/^\d+$/) as unknown,
          resourceType: 'OperationOutcome',
        });
      expect(answers.filter((a) => a.path === '/healthz').every((a) => a.status === 200)).toBe(true);
      // Ready: /readyz lists each check with its figures.
      const readyz = await request(port, { path: '/readyz' });
      expect(readyz.status).toBe(200);
      const body = JSON.parse(readyz.body) as {
        status: string;
        checks: Record<string, { ok: boolean; waiting?: number }>;
      };
      expect(body.status).toBe('ready');
      expect(Object.keys(body.checks).sort()).toEqual(['content', 'disk', 'ehr', 'outbox', 'stores']);
      expect(body.checks.outbox?.waiting).toBe(0);
    } finally {
      proc.child.kill('SIGTERM');
      expect(await proc.exited).toBe(0);
    }
  }, 150_000);
});

describe('stopping', () => {
  it('SIGTERM under keep-alive load: accepted submissions are written (201), the rest refused 503 + Connection: close, exit 0, all there after restart', async () => {
    const port = await freePort();
    const dataDir = path.join(tempDir(), 'data');
    const env = { PORT: String(port), DATA_DIR: dataDir, SHUTDOWN_TIMEOUT_MS: '30000' };
    const proc = startServer('node', env);
    await ready(port);
    const fhirBaseUrl = `http://127.0.0.1:${port}/ehr/fhir`;
    const token = await clientCredentialsTokenSource({
      fhirBaseUrl,
      clientId: MODULE_CLIENT_ID,
      clientSecret: MODULE_SECRET,
      scopes: MODULE_SCOPES,
    }).getToken();
    const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
    const results: Array<{
      key: string;
      status: number;
      connection?: string;
      retryAfter?: string;
      error?: string;
      afterSigterm: boolean;
    }> = [];
    let sigtermSent = false;
    let n = 0;
    const worker = async (w: number) => {
      for (;;) {
        const { response } = submissionFor(w % 2 ? 'RF-01' : 'BMD-01', `sandbox-patient-${(w % 3) + 1}`, n++);
        const key = `${response.identifier!.system}|${response.identifier!.value}`;
        const afterSigterm = sigtermSent;
        try {
          const a = await request(port, {
            method: 'POST',
            path: '/fhir/QuestionnaireResponse/$submit',
            body: JSON.stringify(response),
            headers: { 'content-type': 'application/fhir+json', authorization: `Bearer ${token}` },
            agent,
            timeoutMs: 25_000,
          });
          results.push({
            key,
            status: a.status,
            ...(a.headers.connection ? { connection: a.headers.connection } : {}),
            ...(a.headers['retry-after'] ? { retryAfter: String(a.headers['retry-after']) } : {}),
            afterSigterm,
          });
          if (a.status === 503) return;
        } catch (err) {
          results.push({ key, status: 0, error: (err as NodeJS.ErrnoException).code ?? String(err), afterSigterm });
          return;
        }
      }
    };
    const workers = [0, 1, 2, 3].map(worker);
    await waitUntil(
      'some submissions written',
      async () => (results.filter((r) => r.status === 201).length >= 8 ? true : undefined),
      60_000,
    );
    proc.child.kill('SIGTERM');
    sigtermSent = true;
    await Promise.all(workers);
    agent.destroy();
    expect(await proc.exited).toBe(0);
    expect(await portIsFree(port)).toBe(true);

    // Nothing hung, nothing reset mid-request, nothing merely queued (the EHR stayed reachable for in-flight work).
    const problems = results.filter(
      (r) =>
        !(
          r.status === 201 ||
          (r.status === 503 && r.connection === 'close' && r.retryAfter) ||
          r.error === 'ECONNREFUSED'
        ),
    );
    expect(problems).toEqual([]);
    expect(results.filter((r) => r.afterSigterm && r.status === 503).length).toBeGreaterThan(0);
    const acknowledged = results.filter((r) => r.status === 201).map((r) => r.key);

    // Restart on the same data folder: every acknowledged submission is in the EHR exactly once, nothing waits.
    const again = startServer('node', env);
    try {
      await ready(port);
      const token2 = await clientCredentialsTokenSource({
        fhirBaseUrl,
        clientId: MODULE_CLIENT_ID,
        clientSecret: MODULE_SECRET,
        scopes: MODULE_SCOPES,
      }).getToken();
      for (const key of acknowledged) {
        const found = await request(port, {
          path: `/ehr/fhir/QuestionnaireResponse?identifier=${encodeURIComponent(key)}&_summary=count`,
          headers: { authorization: `Bearer ${token2}` },
        });
        expect({ key, total: (JSON.parse(found.body) as fhir4.Bundle).total }).toEqual({ key, total: 1 });
      }
      const readyz = JSON.parse((await request(port, { path: '/readyz' })).body) as {
        checks: { outbox: { waiting: number } };
      };
      expect(readyz.checks.outbox.waiting).toBe(0);
    } finally {
      again.child.kill('SIGTERM');
      expect(await again.exited).toBe(0);
    }
  }, 240_000);

  it('SIGTERM sent to `npm start` stops the server and frees the port', async () => {
    const port = await freePort();
    const proc = startServer('npm', { PORT: String(port), DATA_DIR: path.join(tempDir(), 'data') });
    await ready(port);
    proc.child.kill('SIGTERM');
    expect(await proc.exited).toBe(0);
    await waitUntil('the port to be free', async () => ((await portIsFree(port)) ? true : undefined), 20_000);
  }, 150_000);
});
