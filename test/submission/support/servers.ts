/**
 * FHIR servers the write path is tested against, all over real HTTP on port 0:
 * - the embedded EHR (createEmbeddedEhr: SQLite store + SMART auth; the module credential gets the token);
 * - Medplum's in-memory FHIR engine (@medplum/fhir-router FhirRouter + MemoryRepository) behind a small
 *   Express adapter: an independently written server, to show the write path is not tied to ours;
 * - the same Medplum server without `transaction` in its CapabilityStatement (and 405 on POST /).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import express from 'express';
import { getStatus } from '@medplum/core';
import { FhirRouter, MemoryRepository } from '@medplum/fhir-router';
import { createEmbeddedEhr, type EmbeddedEhr } from '../../../src/ehr/index.js';
import { clientCredentialsTokenSource } from '../../../src/submission/module-token.js';
import {
  PERSONALITIES,
  startPersonalityProxy,
  type Personality,
  type PersonalityProxy,
} from '../../support/fhir-personality.js';

export interface TestFhirServer {
  name: string;
  /** The FHIR base URL the write path is given. */
  fhirBaseUrl: string;
  port: number;
  moduleCredentials?: { clientId: string; clientSecret: string; scopes: readonly string[] };
  /**
   * Put a Patient on the server (test set-up, not the path under test) and return it as stored: with its own
   * id, or with one the server assigns when the server only takes ids it assigned (`serverAssignedIds`).
   */
  seedPatient(patient: fhir4.Patient): Promise<fhir4.Patient>;
  /** The server itself, when `fhirBaseUrl` is a proxy in front of it (for a test's own out-of-band writes). */
  directFhirBaseUrl?: string;
  /** The server assigns every id (a client-chosen id such as `Patient/example-rf-01` is refused). */
  serverAssignedIds?: boolean;
  /** Search over HTTP (with a module token where the server wants one); all pages' resources. */
  search<T extends fhir4.FhirResource>(type: T['resourceType'], query: string): Promise<T[]>;
  read<T extends fhir4.FhirResource>(ref: string): Promise<T>;
  close(): Promise<void>;
}

export const tmpDir = (prefix: string) => fs.mkdtempSync(path.join(os.tmpdir(), prefix));

export async function listen(app: express.Express, port = 0): Promise<{ server: Server; port: number }> {
  const server: Server = await new Promise((resolve, reject) => {
    const s = app.listen(port, '127.0.0.1', () => resolve(s));
    s.once('error', reject);
  });
  return { server, port: (server.address() as AddressInfo).port };
}

export function closeServer(server: Server): Promise<void> {
  server.closeAllConnections?.();
  return new Promise((resolve) => server.close(() => resolve()));
}

function httpHelpers(fhirBaseUrl: string, token: () => Promise<string | undefined>) {
  const get = async (url: string) => {
    const t = await token();
    const res = await fetch(url, {
      headers: { accept: 'application/fhir+json', ...(t ? { authorization: `Bearer ${t}` } : {}) },
    });
    if (!res.ok) throw new Error(`GET ${url}: ${res.status} ${await res.text()}`);
    return res.json() as Promise<fhir4.FhirResource>;
  };
  return {
    async search<T extends fhir4.FhirResource>(type: string, query: string): Promise<T[]> {
      const out: T[] = [];
      let url: string | undefined = `${fhirBaseUrl}/${type}?${query}${query ? '&' : ''}_count=1000`;
      while (url) {
        const bundle = (await get(url)) as fhir4.Bundle;
        for (const e of bundle.entry ?? []) if (e.resource?.resourceType === type) out.push(e.resource as T);
        url = bundle.link?.find((l) => l.relation === 'next')?.url;
      }
      return out;
    },
    read: async <T extends fhir4.FhirResource>(ref: string) => (await get(`${fhirBaseUrl}/${ref}`)) as T,
  };
}

export async function startEmbeddedEhr(
  options: { dataDir?: string; port?: number } = {},
): Promise<TestFhirServer & { ehr: EmbeddedEhr; app: express.Express }> {
  const app = express();
  const { server, port } = await listen(app, options.port ?? 0);
  const dataDir = options.dataDir ?? tmpDir('write-path-ehr-');
  const ehr = await createEmbeddedEhr({ publicUrl: `http://127.0.0.1:${port}`, dataDir, seed: false });
  app.use('/ehr', ehr.router);
  const creds = ehr.auth.moduleClient;
  const tokens = clientCredentialsTokenSource({ fhirBaseUrl: ehr.fhirBaseUrl, ...creds });
  return {
    name: 'embedded EHR',
    app,
    ehr,
    port,
    fhirBaseUrl: ehr.fhirBaseUrl,
    moduleCredentials: creds,
    async seedPatient(patient) {
      return ehr.store.update(patient).resource;
    },
    ...httpHelpers(ehr.fhirBaseUrl, () => tokens.getToken()),
    async close() {
      await closeServer(server);
      await ehr.close();
    },
  };
}

/** A CapabilityStatement for the Medplum adapter (Medplum's router has no /metadata of its own). */
function medplumCapabilities(transaction: boolean): fhir4.CapabilityStatement {
  const types = ['Patient', 'QuestionnaireResponse', 'Flag', 'ServiceRequest', 'Observation', 'CarePlan', 'Provenance'];
  return {
    resourceType: 'CapabilityStatement',
    status: 'active',
    date: '2026-11-24',
    kind: 'instance',
    fhirVersion: '4.0.1',
    format: ['json'],
    software: { name: `Medplum fhir-router in-memory (test adapter${transaction ? '' : ', no transactions'})` },
    rest: [
      {
        mode: 'server',
        resource: types.map((type) => ({
          type: type as fhir4.CapabilityStatementRestResource['type'],
          interaction: ['read', 'vread', 'update', 'create', 'search-type', 'history-instance'].map((code) => ({
            code: code as 'read',
          })),
          conditionalCreate: true,
        })),
        interaction: transaction ? [{ code: 'transaction' }, { code: 'batch' }] : [{ code: 'batch' }],
      },
    ],
  };
}

export async function startMedplumServer(
  options: { transaction?: boolean } = {},
): Promise<TestFhirServer & { repo: MemoryRepository }> {
  const transaction = options.transaction ?? true;
  const repo = new MemoryRepository();
  const router = new FhirRouter();
  const app = express();
  app.use(express.json({ type: ['application/json', 'application/fhir+json'], limit: '10mb' }));
  const send = (res: express.Response, status: number, body: unknown, headers: Record<string, string> = {}) => {
    res.status(status).set(headers).type('application/fhir+json').send(JSON.stringify(body));
  };
  app.get('/fhir/metadata', (_req, res) => send(res, 200, medplumCapabilities(transaction)));
  app.all('/fhir/*splat', async (req, res) => {
    if (!transaction && req.method === 'POST' && req.path === '/fhir/' && req.body?.type === 'transaction') {
      send(res, 405, {
        resourceType: 'OperationOutcome',
        issue: [{ severity: 'error', code: 'not-supported', diagnostics: 'transactions are not supported' }],
      });
      return;
    }
    const url = req.originalUrl.slice('/fhir'.length).replace(/^\//, '');
    const [outcome, resource] = await router.handleRequest(
      {
        method: req.method as 'GET',
        url,
        pathname: '',
        body: req.body,
        params: {},
        query: {},
        headers: req.headers,
        config: { transactions: true },
      },
      repo,
    );
    const status = getStatus(outcome);
    if (!resource) {
      send(res, status, outcome);
      return;
    }
    const r = resource as { resourceType: string; id?: string; meta?: { versionId?: string } };
    const headers: Record<string, string> = {};
    if (r.meta?.versionId) headers.ETag = `W/"${r.meta.versionId}"`;
    if (status === 201 && r.id)
      headers.Location = `${base}/${r.resourceType}/${r.id}/_history/${r.meta?.versionId ?? '1'}`;
    send(res, status, resource, headers);
  });
  const { server, port } = await listen(app);
  const base = `http://127.0.0.1:${port}/fhir`;
  return {
    name: transaction ? 'Medplum in-memory' : 'Medplum in-memory without transactions',
    repo,
    port,
    fhirBaseUrl: base,
    async seedPatient(patient) {
      return (await repo.updateResource(patient as never)) as unknown as fhir4.Patient;
    },
    ...httpHelpers(base, async () => undefined),
    async close() {
      await closeServer(server);
    },
  };
}

/** The servers the write path must work against (portability): ours, and an independent one with and without transactions. */
export const PORTABILITY_SERVERS: [string, () => Promise<TestFhirServer>][] = [
  ['embedded EHR', () => startEmbeddedEhr()],
  ['Medplum in-memory', () => startMedplumServer()],
  ['Medplum in-memory without transactions', () => startMedplumServer({ transaction: false })],
];

/**
 * The embedded EHR behind a FHIR server personality (test/support/fhir-personality.ts): the write path talks to
 * the proxy; the test's own checks (`search`, `read`) and its set-up go to the server directly, so they see
 * what was really stored. With `uuid-ids-only` the seeded patients get server-assigned ids.
 */
export async function startEmbeddedEhrAs(
  personality: Personality,
): Promise<TestFhirServer & { proxy: PersonalityProxy }> {
  const server = await startEmbeddedEhr();
  const proxy = await startPersonalityProxy(server.fhirBaseUrl, personality);
  const serverAssignedIds = personality === 'uuid-ids-only';
  return {
    ...server,
    name: `embedded EHR as ${personality}`,
    proxy,
    fhirBaseUrl: proxy.fhirBaseUrl,
    directFhirBaseUrl: server.fhirBaseUrl,
    serverAssignedIds,
    async seedPatient(patient) {
      if (!serverAssignedIds) return server.seedPatient(patient);
      const { id: _id, ...rest } = patient;
      return server.ehr.store.create(rest as fhir4.Patient).resource;
    },
    async close() {
      await proxy.close();
      await server.close();
    },
  };
}

/** The embedded EHR behind every personality: the suites of the write path run through each. */
export const PERSONALITY_SERVERS: [string, () => Promise<TestFhirServer>][] = PERSONALITIES.map((p) => [
  `embedded EHR as ${p}`,
  () => startEmbeddedEhrAs(p),
]);
