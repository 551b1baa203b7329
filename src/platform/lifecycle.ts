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

export function createLifecycle(options: LifecycleOptions) {
  const retryAfter = String(options.retryAfterSeconds ?? 5);
  let phase: Phase = 'starting';
  let app: Handler | undefined;
  let early = false;
  let checks: (() => Promise<ReadinessChecks>) | undefined;
  /** Requests being served (not counting drain-path requests): what a shutdown waits for. */
  const inFlight = new Set<http.ServerResponse>();
  /** Everything being served, for Connection: close and ending event streams at shutdown. */
  const allInFlight = new Set<http.ServerResponse>();
  let drainOpen = true;
  const idleWaiters = new Set<() => void>();

  const isDrainPath = (url: string) =>
    options.drainPrefixes.some((p) => url === p || url.startsWith(`${p}/`) || url.startsWith(`${p}?`));

  function refuse(req: http.IncomingMessage, res: http.ServerResponse, diagnostics: string, close: boolean): void {
    // The body is read (and dropped) before answering: closing a connection with unread bytes in it makes the
    // kernel send a reset, and the client would see "connection reset" instead of this answer.
    req.resume();
    if (req.complete) {
      writeRefusal(res, diagnostics, close);
      return;
    }
    let answered = false;
    const answer = () => {
      if (answered) return;
      answered = true;
      clearTimeout(timer);
      writeRefusal(res, diagnostics, close);
    };
    const timer = setTimeout(answer, BODY_DRAIN_MS);
    req.once('end', answer);
    req.once('error', answer);
  }

  function writeRefusal(res: http.ServerResponse, diagnostics: string, close: boolean): void {
    const error = new FhirError(503, { code: 'transient', diagnostics });
    res.statusCode = 503;
    res.setHeader('Content-Type', FHIR_JSON);
    res.setHeader('Retry-After', retryAfter);
    res.setHeader('Cache-Control', 'no-store');
    if (close) res.setHeader('Connection', 'close');
    res.end(JSON.stringify(error.outcome));
  }

  function json(res: http.ServerResponse, status: number, body: unknown): void {
    res.statusCode = status;
    res.setHeader('Content-Type', 'application/json; charset=utf-8');
    res.setHeader('Cache-Control', 'no-store');
    if (phase === 'stopping') res.setHeader('Connection', 'close');
    res.end(JSON.stringify(body));
  }

  async function readyz(res: http.ServerResponse): Promise<void> {
    if (phase !== 'ready' || !checks) {
      json(res, 503, { status: 'not-ready', phase, checks: {} });
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
    json(res, ok && phase === 'ready' ? 200 : 503, {
      status: ok && phase === 'ready' ? 'ready' : 'not-ready',
      phase,
      checks: results,
    });
  }

  function track(res: http.ServerResponse, countsForDrain: boolean): void {
    allInFlight.add(res);
    if (countsForDrain) inFlight.add(res);
    res.once('close', () => {
      allInFlight.delete(res);
      if (inFlight.delete(res) && inFlight.size === 0) for (const w of [...idleWaiters]) w();
    });
  }

  const handler: Handler = (req, res) => {
    const url = req.url ?? '/';
    const pathOnly = url.split('?')[0]!;
    if (pathOnly === '/healthz' && (req.method === 'GET' || req.method === 'HEAD')) {
      json(res, 200, { status: 'alive', phase });
      return;
    }
    if (pathOnly === '/readyz' && (req.method === 'GET' || req.method === 'HEAD')) {
      void readyz(res);
      return;
    }
    if (phase === 'starting') {
      if (app && early && isDrainPath(pathOnly)) {
        track(res, false);
        app(req, res);
        return;
      }
      refuse(req, res, 'The server is starting; try again in a few seconds.', false);
      return;
    }
    if (phase === 'stopping') {
      if (app && drainOpen && isDrainPath(pathOnly)) {
        res.setHeader('Connection', 'close');
        track(res, false);
        app(req, res);
        return;
      }
      refuse(req, res, 'The server is shutting down; nothing was done with this request. Try again shortly.', true);
      return;
    }
    track(res, !isDrainPath(pathOnly));
    app!(req, res);
  };

  /** Resolves once no counted request is in flight (or at once). */
  const idle = (): Promise<void> =>
    inFlight.size === 0
      ? Promise.resolve()
      : new Promise<void>((resolve) => {
          const done = () => {
            idleWaiters.delete(done);
            resolve();
          };
          idleWaiters.add(done);
        });

  return {
    handler,
    get phase(): Phase {
      return phase;
    },
    /** The app exists: serve the drain paths (the embedded EHR) already, the rest still 503. */
    serveEarly(handlerOfApp: Handler): void {
      app = handlerOfApp;
      early = true;
    },
    /** Everything is up: the app serves all requests; `/readyz` runs these checks. */
    markReady(handlerOfApp: Handler, readiness: () => Promise<ReadinessChecks>): void {
      app = handlerOfApp;
      checks = readiness;
      if (phase === 'starting') phase = 'ready';
    },
    inFlightCount: () => inFlight.size,
    /**
     * Stop taking work and wait for what is in flight. Call `closeDrainPaths` once the module's own background
     * work is stopped: from then on the drain paths are refused too.
     */
    async beginStop(): Promise<void> {
      phase = 'stopping';
      // Answers still to be written close their connection; event streams (open until the client leaves) end now.
      for (const res of allInFlight) {
        if (!res.headersSent) res.setHeader('Connection', 'close');
        else if (String(res.getHeader('Content-Type') ?? '').startsWith('text/event-stream')) res.end();
      }
      // Idle keep-alive connections are not cut here: a request already on its way over one (this process's own
      // calls to its embedded EHR included) would be reset unanswered. Their next request gets 503 +
      // Connection: close (or, on a drain path, its answer + Connection: close); the rest close with the listener.
      await idle();
    },
    closeDrainPaths(): void {
      drainOpen = false;
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
