/**
 * The module as several replicas behind a real load balancer, on one machine: a PostgreSQL (given, or a
 * throwaway cluster), the sandbox EHR on its own (`src/ehr/main.ts`, the replicas' FHIR server), N module
 * processes (`src/main.ts`, as under a supervisor) with DATABASE_URL and FHIR_SERVER_URL, and HAProxy in front
 * (round robin, no session affinity, health checks on /healthz for `"phase":"ready"`, `X-Served-By: <replica>`
 * on every answer so a test can see which replica served it). All on free loopback ports; `stop()` stops and
 * removes everything.
 *
 * `npm run replicas` brings the same set up for a person and prints the URLs; Ctrl-C stops all of it.
 * The HAProxy configuration written here is the one README "Beyond one machine" explains.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as oidc from 'openid-client';
import { Browser } from '../ehr/auth/harness.js';
import { startPostgresCluster, type PostgresCluster } from './postgres-cluster.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const HAPROXY = process.env.HAPROXY_BIN ?? '/usr/sbin/haproxy';
/** Shared by the EHR and the replicas (the EHR registers the app and the module's backend client with them). */
export const REPLICA_SECRETS = {
  SMART_CLIENT_SECRET: 'replicas-app-client-secret-0123456789',
  MODULE_CLIENT_ID: 'periplan-module',
  MODULE_CLIENT_SECRET: 'replicas-module-client-secret-0123456789',
  OUTBOX_STAFF_TOKEN: 'replicas-staff-token-0123456789abcdef',
} as const;

export interface ProcessHandle {
  name: string;
  port: number;
  /** http://127.0.0.1:<port> */
  url: string;
  dataDir: string;
  child: ChildProcess;
  /** Everything the process printed (stdout and stderr). */
  output(): string;
  exited: Promise<number | null>;
}

export interface ReplicaSet {
  /** The load balancer: what browsers, tablets and API clients use (the replicas' PUBLIC_URL, the EHR's APP_URL). */
  lbUrl: string;
  /** The sandbox EHR's base (its launcher is `${ehrUrl}/ehr`). */
  ehrUrl: string;
  /** Its FHIR base: the replicas' FHIR_SERVER_URL. */
  fhirBaseUrl: string;
  databaseUrl: string;
  ehr: ProcessHandle;
  replicas: ProcessHandle[];
  /** HAProxy's own process and its configuration file. */
  haproxy: { child: ChildProcess; configFile: string };
  /** Milliseconds from the first spawn until one client's requests through the load balancer had reached every replica. */
  startMs: number;
  stop(): Promise<void>;
}

export interface ReplicaSetOptions {
  replicas?: number;
  /** A database for the module's state; default: a throwaway PostgreSQL cluster started (and removed) here. */
  databaseUrl?: string;
  /** More environment for every replica (e.g. OUTBOX_LEASE_MS). */
  replicaEnv?: Record<string, string>;
  /** LOG_LEVEL of the EHR and the replicas (default warn). */
  logLevel?: string;
  /** How long the whole set may take to come up (default 180 s). */
  startTimeoutMs?: number;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

export function spawnNode(name: string, script: string, port: number, env: Record<string, string>): ProcessHandle {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), `periplan-${name}-`));
  // `node --import tsx <script>` directly (as under a supervisor): a kill reaches the server itself.
  const child = spawn(process.execPath, ['--import', 'tsx', script], {
    cwd: ROOT,
    env: { ...process.env, PORT: String(port), HOST: '127.0.0.1', DATA_DIR: dataDir, CONTENT_DIR: ROOT, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const keep = (b: Buffer) => {
    out = (out + b.toString()).slice(-20_000);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { name, port, url: `http://127.0.0.1:${port}`, dataDir, child, output: () => out, exited };
}

/**
 * HAProxy in front of the replicas. Why each line is there: README "Beyond one machine" and docs/operations.md
 * ("Behind a load balancer").
 */
export function haproxyConfig(lbPort: number, replicas: readonly { name: string; port: number }[]): string {
  return [
    'global',
    '  maxconn 4096',
    'defaults',
    '  mode http',
    '  timeout connect 2s',
    '  timeout client 60s',
    // Longer than the alert stream's 25 s heartbeat, and than the slowest $submit (its EHR write is bounded by 15 s).
    '  timeout server 60s',
    '  timeout http-keep-alive 10s',
    // A connection that cannot be made (replica killed, port closed) is tried again on another replica; a
    // request that reached a replica is never re-sent by the balancer: a POST may already have been stored.
    '  retries 3',
    '  retry-on conn-failure',
    '  option redispatch 1',
    '  option forwardfor',
    'frontend periplan',
    `  bind 127.0.0.1:${lbPort}`,
    '  default_backend replicas',
    'backend replicas',
    '  balance roundrobin',
    // Traffic only to a replica that is up and serving: /healthz says `"phase":"ready"` (not starting, not
    // stopping). Not /readyz: it also checks what every replica shares (the EHR, PostgreSQL), and a slow EHR
    // would take every replica out at once — a total outage where the module could still accept and queue.
    '  option httpchk',
    '  http-check send meth GET uri /healthz',
    `  http-check expect string '"phase":"ready"'`,
    '  timeout check 2s',
    '  default-server check inter 1s fastinter 250ms downinter 500ms fall 2 rise 2',
    '  http-response set-header X-Served-By %[srv_name]',
    ...replicas.map((r) => `  server ${r.name} 127.0.0.1:${r.port}`),
    '',
  ].join('\n');
}

async function until<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  timeoutMs: number,
  describe: () => string,
): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > end) throw new Error(`Timed out waiting for ${what}.\n${describe()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const isReady = async (url: string) => ((await fetch(`${url}/readyz`)).status === 200 ? true : undefined);

export async function startReplicaSet(options: ReplicaSetOptions = {}): Promise<ReplicaSet> {
  if (!fs.existsSync(HAPROXY))
    throw new Error(
      `HAProxy is not installed (${HAPROXY}): install it with \`bash scripts/setup-system.sh\` (Debian package \`haproxy\`).`,
    );
  const began = Date.now();
  const cleanups: (() => Promise<void> | void)[] = [];
  const processes: ProcessHandle[] = [];
  const stop = async () => {
    for (const p of processes) if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGTERM');
    await Promise.all(
      processes.map((p) =>
        Promise.race([p.exited, new Promise((r) => setTimeout(r, 10_000))]).then(() => {
          if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
        }),
      ),
    );
    for (const p of processes) fs.rmSync(p.dataDir, { recursive: true, force: true });
    for (const c of cleanups.reverse()) await c();
  };
  try {
    let cluster: PostgresCluster | undefined;
    let databaseUrl = options.databaseUrl;
    if (!databaseUrl) {
      cluster = await startPostgresCluster();
      cleanups.push(() => cluster!.stop());
      databaseUrl = cluster.url;
    }
    const count = options.replicas ?? 3;
    const lbPort = await freePort();
    const ehrPort = await freePort();
    const lbUrl = `http://127.0.0.1:${lbPort}`;
    const ehrUrl = `http://127.0.0.1:${ehrPort}`;
    const fhirBaseUrl = `${ehrUrl}/ehr/fhir`;
    const logLevel = options.logLevel ?? 'warn';

    const ehr = spawnNode('ehr', 'src/ehr/main.ts', ehrPort, {
      APP_URL: lbUrl,
      SMART_CLIENT_SECRET: REPLICA_SECRETS.SMART_CLIENT_SECRET,
      MODULE_CLIENT_SECRET: REPLICA_SECRETS.MODULE_CLIENT_SECRET,
      LOG_LEVEL: logLevel,
    });
    processes.push(ehr);
    const replicas: ProcessHandle[] = [];
    for (let i = 1; i <= count; i++) {
      const replica = spawnNode(`replica-${i}`, 'src/main.ts', await freePort(), {
        PUBLIC_URL: lbUrl,
        FHIR_SERVER_URL: fhirBaseUrl,
        ...REPLICA_SECRETS,
        DATABASE_URL: databaseUrl,
        // The balancer is the one proxy in front: the tablet's wrong-code limit counts the client's address.
        TRUST_PROXY: 'loopback',
        LOG_LEVEL: logLevel,
        ...options.replicaEnv,
      });
      processes.push(replica);
      replicas.push(replica);
    }
    const describe = () =>
      [ehr, ...replicas]
        .map((p) => `--- ${p.name} (exit ${p.child.exitCode ?? 'running'}):\n${p.output().slice(-3000)}`)
        .join('\n');
    const timeout = options.startTimeoutMs ?? 180_000;
    const failed = Promise.race(
      [ehr, ...replicas].map((p) =>
        p.exited.then((code) => Promise.reject(new Error(`${p.name} exited (${code}) while starting.\n${describe()}`))),
      ),
    );
    failed.catch(() => undefined);
    await Promise.race([
      failed,
      Promise.all([
        until('the EHR', () => isReady(ehrUrl), timeout, describe),
        ...replicas.map((r) => until(r.name, () => isReady(r.url), timeout, describe)),
      ]),
    ]);

    // The balancer last, so that its first checks find every replica up.
    const configDir = fs.mkdtempSync(path.join(os.tmpdir(), 'periplan-haproxy-'));
    cleanups.push(() => fs.rmSync(configDir, { recursive: true, force: true }));
    const configFile = path.join(configDir, 'haproxy.cfg');
    fs.writeFileSync(configFile, haproxyConfig(lbPort, replicas));
    // -db: stay in the foreground (the child is HAProxy itself, so stopping it is one signal).
    const lb = spawn(HAPROXY, ['-db', '-f', configFile], { stdio: ['ignore', 'pipe', 'pipe'] });
    let lbOut = '';
    lb.stdout.on('data', (b: Buffer) => (lbOut = (lbOut + b.toString()).slice(-10_000)));
    lb.stderr.on('data', (b: Buffer) => (lbOut = (lbOut + b.toString()).slice(-10_000)));
    const lbExited = new Promise<void>((resolve) => lb.on('exit', () => resolve()));
    cleanups.push(async () => {
      if (lb.exitCode === null && lb.signalCode === null) lb.kill('SIGTERM');
      await lbExited;
    });

    // Ready when one client's consecutive requests through the balancer have reached every replica.
    const seen = new Set<string>();
    await until(
      'the load balancer to serve every replica',
      async () => {
        const res = await fetch(`${lbUrl}/healthz`);
        await res.arrayBuffer();
        if (res.status === 200) seen.add(res.headers.get('x-served-by') ?? '');
        return replicas.every((r) => seen.has(r.name)) ? true : undefined;
      },
      timeout,
      () => `${describe()}\n--- haproxy:\n${lbOut}`,
    );
    return {
      lbUrl,
      ehrUrl,
      fhirBaseUrl,
      databaseUrl,
      ehr,
      replicas,
      haproxy: { child: lb, configFile },
      startMs: Date.now() - began,
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

/**
 * A clinician's access token from the EHR (an EHR launch of the app's client, done as the app would): user/
 * scopes for every patient, for API clients of the replicas (`$submit`).
 */
export async function clinicianToken(
  set: Pick<ReplicaSet, 'ehrUrl' | 'lbUrl' | 'fhirBaseUrl'>,
  patient: string,
): Promise<string> {
  const created = await fetch(`${set.ehrUrl}/ehr/launches`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ practitioner: 'sandbox-clinician', patient, app: 'periplan-app' }),
  });
  const { launch: launchId } = (await created.json()) as { launch: string };
  const config = await oidc.discovery(
    new URL(`${set.ehrUrl}/ehr/auth`),
    'periplan-app',
    undefined,
    oidc.ClientSecretBasic(REPLICA_SECRETS.SMART_CLIENT_SECRET),
    { execute: [oidc.allowInsecureRequests] },
  );
  const verifier = oidc.randomPKCECodeVerifier();
  const redirect = `${set.lbUrl}/app/callback`;
  const url = oidc.buildAuthorizationUrl(config, {
    redirect_uri: redirect,
    scope:
      'launch openid fhirUser user/Patient.rs user/QuestionnaireResponse.crus user/Observation.crs user/Flag.crus user/ServiceRequest.crus user/CarePlan.crs user/Provenance.crs',
    launch: launchId,
    aud: set.fhirBaseUrl,
    code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    state: 'replicas-test',
  });
  const { url: back } = await new Browser().follow(url.href, redirect);
  const tokens = await oidc.authorizationCodeGrant(config, new URL(back), {
    pkceCodeVerifier: verifier,
    expectedState: 'replicas-test',
  });
  return tokens.access_token;
}

/** `npm run replicas`: the set for a person to use; Ctrl-C (or SIGTERM) stops and removes all of it. */
if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const count = Number(process.env.REPLICAS ?? 3);
  console.log(`Starting PostgreSQL, the sandbox EHR, ${count} module replicas and HAProxy…`);
  const set = await startReplicaSet({ replicas: count, logLevel: process.env.LOG_LEVEL ?? 'warn' });
  console.log(
    [
      `Ready in ${(set.startMs / 1000).toFixed(1)} s.`,
      `  Sandbox EHR (pick a patient, Launch):  ${set.ehrUrl}/ehr`,
      `  Load balancer (the app, API, tablet):  ${set.lbUrl}/app/  ${set.lbUrl}/fhir/metadata  ${set.lbUrl}/tablet/`,
      `  Replicas:                              ${set.replicas.map((r) => `${r.name} ${r.url}`).join(', ')}`,
      `  FHIR server (FHIR_SERVER_URL):         ${set.fhirBaseUrl}`,
      `  PostgreSQL (DATABASE_URL):             ${set.databaseUrl}`,
      `  HAProxy configuration:                 ${set.haproxy.configFile}`,
      'Every answer through the load balancer names its replica in X-Served-By. Ctrl-C stops everything.',
    ].join('\n'),
  );
  let stopping = false;
  const shutdown = () => {
    if (stopping) return;
    stopping = true;
    console.log('Stopping…');
    void set.stop().then(() => process.exit(0));
  };
  process.on('SIGINT', shutdown);
  process.on('SIGTERM', shutdown);
}
