/**
 * The server under benchmark, in its own process (so the load generator does not share its CPU):
 * the real app from createApp, plus `POST /bare` — a bare Express endpoint that parses the same JSON body
 * and returns it, as the floor that HTTP + JSON alone cost on this machine in this run.
 * Prints `port=<n>` when listening.
 */
import type { AddressInfo } from 'node:net';
import express from 'express';
import { createApp } from '../src/app.js';
import { loadConfig } from '../src/config/index.js';
import { loadKnowledge } from '../src/knowledge/index.js';

const config = loadConfig({ ...process.env, LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn', PORT: '0' });
const knowledge = await loadKnowledge(config.contentDir);

const outer = express();
outer.post('/bare', express.json({ limit: config.BODY_LIMIT_BYTES, type: ['application/json', 'application/fhir+json'] }), (req, res) => {
  res.json(req.body);
});
outer.use(createApp({ config, knowledge }));
const server = outer.listen(0, '127.0.0.1', () => {
  console.log(`port=${(server.address() as AddressInfo).port}`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
