/**
 * The server under benchmark, in its own process (so the load generator does not share its CPU):
 * the real app from createApp, plus `POST /bare` — a bare Express endpoint that parses the same JSON body
 * and returns it, as the floor that HTTP + JSON alone cost on this machine in this run.
 * Prints `port=<n> workers=<n>` when listening.
 *
 * `WORKERS=<n>` (optional, default 1): run n copies with node:cluster sharing one port, the way a clinic runs
 * the module on a machine with n cores (one process per core). That is safe for the module API under /fhir:
 * the knowledge is read-only and `$apply` stores nothing, so the processes share no state. The primary
 * process only forks and accepts connections (round-robin to the workers); each worker loads the knowledge
 * itself. With 1 (the default) the server is a single process, as before.
 */
import cluster from 'node:cluster';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { createApp } from '../src/app.js';
import { loadConfig } from '../src/config/index.js';
import { loadKnowledge } from '../src/knowledge/index.js';

const workers = Math.max(1, Math.floor(Number(process.env.WORKERS ?? 1)) || 1);

if (workers > 1 && cluster.isPrimary) {
  // All workers listen on port 0 through the primary, so they share one (random) port.
  let listening = 0;
  cluster.on('listening', (_worker, address) => {
    listening += 1;
    if (listening === workers) console.log(`port=${address.port} workers=${workers}`);
  });
  cluster.on('exit', (_worker, code) => {
    if (code !== 0) console.error(`bench worker exited with ${code}`);
  });
  for (let i = 0; i < workers; i++) cluster.fork();
  process.on('SIGTERM', () => {
    for (const worker of Object.values(cluster.workers ?? {})) worker?.kill('SIGTERM');
    process.exit(0);
  });
} else {
  const config = loadConfig({ ...process.env, LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn', PORT: '0' });
  const knowledge = await loadKnowledge(config.contentDir);

  const outer = express();
  outer.post(
    '/bare',
    express.json({ limit: config.BODY_LIMIT_BYTES, type: ['application/json', 'application/fhir+json'] }),
    (req, res) => {
      res.json(req.body);
    },
  );
  outer.use(createApp({ config, knowledge }));
  const server = outer.listen(0, '127.0.0.1', () => {
    if (cluster.isPrimary) console.log(`port=${(server.address() as AddressInfo).port} workers=1`);
  });
  process.on('SIGTERM', () => server.close(() => process.exit(0)));
  if (cluster.isWorker) process.on('disconnect', () => process.exit(0)); // the primary is gone
}
