/**
 * The HTTP server's life: starting, ready, stopping. The one `request` handler attached at `listen` is this
 * dispatcher, so no request is ever accepted without an answer:
 *
 * - starting: `503` + `Retry-After` (OperationOutcome), except the paths the start itself needs (the embedded
 *   EHR: the write path reads its CapabilityStatement over HTTP, through this very server);
 * - ready: everything goes to the app;
 * - stopping: new work is refused with `503` + `Connection: close` (so keep-alive connections close after
 *   their next answer; those still idle are closed with the listener at the end); requests already in flight finish, and while they (or the module's background sender) still run, the
 *   drain paths (the embedded EHR) keep serving them — the module reaches its EHR only over HTTP, so closing
 *   the listener first would leave in-flight submissions unable to reach it. Then the listener closes, the
 *   stores flush and close, and the process exits 0. All of it bounded by one timeout.
 *
 * `GET /healthz` (alive) and `GET /readyz` (each check, JSON) are answered here in every phase.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from './log.js';
import { FhirError } from '../outcomes/index.js';

export type Phase = 'starting' | 'ready' | 'stopping';

export interface ReadinessCheck {
  ok: boolean;
  /** Plain words; numbers where there are some. */
  detail: string;
  [extra: string]: unknown;
}

export type ReadinessChecks = Record<string, ReadinessCheck>;

export interface LifecycleOptions {
  log: Logger;
  /** Seconds a client is told to wait (Retry-After) while the server starts or stops. */
  retryAfterSeconds?: number;
  /** Path prefixes served while starting (once `serveEarly` is given) and, while stopping, as long as work is in flight. */
  drainPrefixes: readonly string[];
}

type Handler = (req: http.IncomingMessage, res: http.ServerResponse) => void;

const FHIR_JSON = 'application/fhir+json; charset=utf-8';
/** How long a refused request's body is read before the answer is sent anyway (a slow or endless upload). */
const BODY_DRAIN_MS = 2000;

/** What the dispatcher knows: the phase, the app once it exists, and the requests being served. */
interface LifecycleState {
  phase: Phase;
  app: Handler | undefined;
  early: boolean;
  checks: (() => Promise<ReadinessChecks>) | undefined;
  /** Requests being served (not counting drain-path requests): what a shutdown waits for. */
  inFlight: Set<http.ServerResponse>;
  /** Everything being served, for Connection: close and ending event streams at shutdown. */
  allInFlight: Set<http.ServerResponse>;
  drainOpen: boolean;
  idleWaiters: Set<() => void>;
  retryAfter: string;
  isDrainPath: (url: string) => boolean;
}

function refuse(
  state: LifecycleState,
  req: http.IncomingMessage,
  res: http.ServerResponse,
  diagnostics: string,
  close: boolean,
): void {
  // The body is read (and dropped) before answering: closing a connection with unread bytes in it makes the
  // kernel send a reset, and the client would see "connection reset" instead of this answer.
  req.resume();
  if (req.complete) {
    writeRefusal(state, res, diagnostics, close);
    return;
  }
  let answered = false;
  const answer = () => {
    if (answered) return;
    answered = true;
    clearTimeout(timer);
    writeRefusal(state, res, diagnostics, close);
  };
  const timer = setTimeout(answer, BODY_DRAIN_MS);
  req.once('end', answer);
  req.once('error', answer);
}

function writeRefusal(state: LifecycleState, res: http.ServerResponse, diagnostics: string, close: boolean): void {
  const error = new FhirError(503, { code: 'transient', diagnostics });
  res.statusCode = 503;
  res.setHeader('Content-Type', FHIR_JSON);
  res.setHeader('Retry-After', state.retryAfter);
  res.setHeader('Cache-Control', 'no-store');
  if (close) res.setHeader('Connection', 'close');
  res.end(JSON.stringify(error.outcome));
}

function json(state: LifecycleState, res: http.ServerResponse, status: number, body: unknown): void {
  res.statusCode = status;
  res.setHeader('Content-Type', 'application/json; charset=utf-8');
  res.setHeader('Cache-Control', 'no-store');
  if (state.phase === 'stopping') res.setHeader('Connection', 'close');
  res.end(JSON.stringify(body));
}

async function readyz(state: LifecycleState, res: http.ServerResponse): Promise<void> {
  const checks = state.checks;
  if (state.phase !== 'ready' || !checks) {
    json(state, res, 503, { status: 'not-ready', phase: state.phase, checks: {} });
    return;
  }
  let results: ReadinessChecks;
  try {
    results = await checks();
  } catch (err) {
    results = {
      readiness: { ok: false, detail: `The checks failed: ${err instanceof Error ? err.message : String(err)}` },
    };
  }
  const ok = Object.values(results).every((c) => c.ok);
  json(state, res, ok && state.phase === 'ready' ? 200 : 503, {
    status: ok && state.phase === 'ready' ? 'ready' : 'not-ready',
    phase: state.phase,
    checks: results,
  });
}

function track(state: LifecycleState, res: http.ServerResponse, countsForDrain: boolean): void {
  state.allInFlight.add(res);
  if (countsForDrain) state.inFlight.add(res);
  res.once('close', () => {
    state.allInFlight.delete(res);
    if (state.inFlight.delete(res) && state.inFlight.size === 0) for (const w of [...state.idleWaiters]) w();
  });
}

/** `GET /healthz` and `GET /readyz`, in every phase; false for any other request. */
function answeredProbe(
  state: LifecycleState,
  req: http.IncomingMessage,
  res: http.ServerResponse,
  pathOnly: string,
): boolean {
  const isRead = req.method === 'GET' || req.method === 'HEAD';
  if (pathOnly === '/healthz' && isRead) {
    json(state, res, 200, { status: 'alive', phase: state.phase });
    return true;
  }
  if (pathOnly === '/readyz' && isRead) {
    void readyz(state, res);
    return true;
  }
  return false;
}

/** Starting: the drain paths once the app serves early, a 503 for the rest. */
function serveStarting(
  state: LifecycleState,
  req: http.IncomingMessage,
  res: http.ServerResponse,
  pathOnly: string,
): void {
  if (state.app && state.early && state.isDrainPath(pathOnly)) {
    track(state, res, false);
    state.app(req, res);
    return;
  }
  refuse(state, req, res, 'The server is starting; try again in a few seconds.', false);
}

/** Stopping: the drain paths while they are open (closing the connection after), a 503 + close for the rest. */
function serveStopping(
  state: LifecycleState,
  req: http.IncomingMessage,
  res: http.ServerResponse,
  pathOnly: string,
): void {
  if (state.app && state.drainOpen && state.isDrainPath(pathOnly)) {
    res.setHeader('Connection', 'close');
    track(state, res, false);
    state.app(req, res);
    return;
  }
  refuse(state, req, res, 'The server is shutting down; nothing was done with this request. Try again shortly.', true);
}

/** The one request handler, in every phase. */
function dispatch(state: LifecycleState, req: http.IncomingMessage, res: http.ServerResponse): void {
  const url = req.url ?? '/';
  const pathOnly = url.split('?')[0]!;
  if (answeredProbe(state, req, res, pathOnly)) return;
  if (state.phase === 'starting') return serveStarting(state, req, res, pathOnly);
  if (state.phase === 'stopping') return serveStopping(state, req, res, pathOnly);
  track(state, res, !state.isDrainPath(pathOnly));
  state.app!(req, res);
}

/** Resolves once no counted request is in flight (or at once). */
function idle(state: LifecycleState): Promise<void> {
  return state.inFlight.size === 0
    ? Promise.resolve()
    : new Promise<void>((resolve) => {
        const done = () => {
          state.idleWaiters.delete(done);
          resolve();
        };
        state.idleWaiters.add(done);
      });
}

async function beginStop(state: LifecycleState): Promise<void> {
  state.phase = 'stopping';
  // Answers still to be written close their connection; event streams (open until the client leaves) end now.
  for (const res of state.allInFlight) {
    if (!res.headersSent) res.setHeader('Connection', 'close');
    else if (String(res.getHeader('Content-Type') ?? '').startsWith('text/event-stream')) res.end();
  }
  // Idle keep-alive connections are not cut here: a request already on its way over one (this process's own
  // calls to its embedded EHR included) would be reset unanswered. Their next request gets 503 +
  // Connection: close (or, on a drain path, its answer + Connection: close); the rest close with the listener.
  await idle(state);
}

export function createLifecycle(options: LifecycleOptions) {
  const state: LifecycleState = {
    phase: 'starting',
    app: undefined,
    early: false,
    checks: undefined,
    inFlight: new Set(),
    allInFlight: new Set(),
    drainOpen: true,
    idleWaiters: new Set(),
    retryAfter: String(options.retryAfterSeconds ?? 5),
    isDrainPath: (url: string) =>
      options.drainPrefixes.some((p) => url === p || url.startsWith(`${p}/`) || url.startsWith(`${p}?`)),
  };
  const handler: Handler = (req, res) => dispatch(state, req, res);

  return {
    handler,
    get phase(): Phase {
      return state.phase;
    },
    /** The app exists: serve the drain paths (the embedded EHR) already, the rest still 503. */
    serveEarly(handlerOfApp: Handler): void {
      state.app = handlerOfApp;
      state.early = true;
    },
    /** Everything is up: the app serves all requests; `/readyz` runs these checks. */
    markReady(handlerOfApp: Handler, readiness: () => Promise<ReadinessChecks>): void {
      state.app = handlerOfApp;
      state.checks = readiness;
      if (state.phase === 'starting') state.phase = 'ready';
    },
    inFlightCount: () => state.inFlight.size,
    /**
     * Stop taking work and wait for what is in flight. Call `closeDrainPaths` once the module's own background
     * work is stopped: from then on the drain paths are refused too.
     */
    beginStop: (): Promise<void> => beginStop(state),
    closeDrainPaths(): void {
      state.drainOpen = false;
    },
  };
}

export type Lifecycle = ReturnType<typeof createLifecycle>;

/**
 * Opens the port at once with the lifecycle's handler, so every request from here on gets an answer (503 while
 * starting). Resolves to the server and the port it bound: with PORT=0 the real port is known only now.
 */
export async function openPort(
  handler: http.RequestListener,
  port: number,
  host: string,
): Promise<{ server: http.Server; port: number }> {
  const server = http.createServer(handler);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  return { server, port: (server.address() as AddressInfo).port };
}

export interface SignalStopOptions {
  log: Logger;
  lifecycle: Lifecycle;
  server: http.Server;
  /** The start still running, if a signal comes early: it finishes first, so half-opened stores close properly. */
  started: Promise<unknown>;
  timeoutMs: number;
  /** After the work in flight is done, how long idle keep-alive connections may still bring a request (503). */
  lingerMs: number;
  /** Work that must finish while the drain paths still serve it (the module's submissions reach its EHR). */
  finishWork?: () => Promise<void>;
  /** Stores and clients to close once the listener is closed. */
  close: () => Promise<void>;
}

/**
 * SIGTERM / SIGINT: refuse new work, let the work in flight finish, close the listener, then the stores, and exit
 * 0; all of it bounded by `timeoutMs` (exit 1 beyond it). A second signal changes nothing.
 */
export function stopOnSignals(options: SignalStopOptions): void {
  const { log, lifecycle, server, timeoutMs } = options;
  let stopping = false;
  const shutdown = async () => {
    await options.started.catch(() => undefined);
    await lifecycle.beginStop();
    await options.finishWork?.();
    lifecycle.closeDrainPaths();
    // A keep-alive client that was between two requests when the stop began sends its next one now: it gets
    // 503 + Connection: close. Closing its idle connection at that instant would reset the request unanswered.
    await new Promise((resolve) => setTimeout(resolve, options.lingerMs));
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeIdleConnections();
    });
    await options.close();
    log.info('Stopped: requests finished, stores closed.');
  };
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info(`${signal}: shutting down (at most ${timeoutMs} ms)`);
    setTimeout(() => {
      console.error(
        `Shutdown did not finish within SHUTDOWN_TIMEOUT_MS (${timeoutMs} ms): exiting with work unfinished.`,
      );
      process.exit(1);
    }, timeoutMs).unref();
    shutdown()
      .then(() => process.exit(0))
      .catch((err: unknown) => {
        log.error('Shutdown failed', err);
        process.exit(1);
      });
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}
