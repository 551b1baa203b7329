/**
 * A TCP-level honest fault injector: an HTTP proxy in front of a real FHIR server that can be down
 * (connection refused), answer 500, answer slowly (after forwarding: the write lands, the answer is late),
 * drop the connection after the upstream handled the request (the write lands, the answer is lost), or hang.
 */
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export type FaultMode = 'pass' | 'error-500' | 'slow' | 'drop-after-forward' | 'hang';

export interface FaultProxy {
  port: number;
  /** The proxied URL for a path on the upstream (e.g. '/ehr/fhir'). */
  url(path: string): string;
  mode: FaultMode;
  /** Delay for 'slow' (ms). */
  slowMs: number;
  /** Requests seen per mode, for asserting that a fault was actually hit. */
  hits: Record<FaultMode, number>;
  /** Stop listening: new connections are refused. */
  down(): Promise<void>;
  /** Listen again on the same port. */
  up(): Promise<void>;
  close(): Promise<void>;
}

export async function startFaultProxy(upstreamPort: number): Promise<FaultProxy> {
  const sockets = new Set<Socket>();
  const hits: Record<FaultMode, number> = { pass: 0, 'error-500': 0, slow: 0, 'drop-after-forward': 0, hang: 0 };
  const forward = (req: http.IncomingMessage, body: Buffer) =>
    new Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }>((resolve, reject) => {
      const upstream = http.request(
        {
          host: '127.0.0.1',
          port: upstreamPort,
          method: req.method,
          path: req.url,
          headers: { ...req.headers, host: `127.0.0.1:${upstreamPort}` },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () =>
            resolve({ status: res.statusCode ?? 502, headers: res.headers, body: Buffer.concat(chunks) }),
          );
          res.on('error', reject);
        },
      );
      upstream.on('error', reject);
      upstream.end(body);
    });

  const proxy: FaultProxy = {
    port: 0,
    url: (path) => `http://127.0.0.1:${proxy.port}${path}`,
    mode: 'pass',
    slowMs: 3000,
    hits,
    down: async () => {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
      });
    },
    up: () => listenOn(proxy.port),
    close: () => proxy.down(),
  };

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const mode = proxy.mode;
      hits[mode]++;
      const body = Buffer.concat(chunks);
      void (async () => {
        if (mode === 'hang') return; // never answer (the client's timeout fires)
        if (mode === 'error-500') {
          res.writeHead(500, { 'content-type': 'application/fhir+json' });
          res.end(
            JSON.stringify({
              resourceType: 'OperationOutcome',
              issue: [{ severity: 'error', code: 'exception', diagnostics: 'injected failure' }],
            }),
          );
          return;
        }
        const answer = await forward(req, body);
        if (mode === 'drop-after-forward') {
          req.socket.destroy();
          return;
        }
        if (mode === 'slow') await new Promise((r) => setTimeout(r, proxy.slowMs).unref());
        if (res.destroyed || req.socket.destroyed) return;
        const { 'transfer-encoding': _te, connection: _c, ...headers } = answer.headers;
        res.writeHead(answer.status, headers);
        res.end(answer.body);
      })().catch(() => req.socket.destroy());
    });
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  const listenOn = (port: number) =>
    new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => {
        server.off('error', reject);
        proxy.port = (server.address() as AddressInfo).port;
        resolve();
      });
    });
  await listenOn(0);
  return proxy;
}
