/** Test support: a real store in a temporary DATA_DIR behind a real HTTP server on port 0. */
import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import os from 'node:os';
import path from 'node:path';
import express from 'express';
import type { Request } from 'express';
import { Client } from 'fhir-kit-client';
import { createFhirStoreRouter, openFhirStore } from '../../../src/ehr/store/index.js';
import type { AccessContext, FhirStore } from '../../../src/ehr/store/index.js';

export interface TestServer {
  store: FhirStore;
  baseUrl: string;
  dataDir: string;
  client(token?: string): Client;
  close(): Promise<void>;
}

/**
 * `tokens`: when given, the router requires a bearer token and looks it up here (the stand-in for the SMART
 * authorization server, which produces exactly this AccessContext from its own tokens).
 */
export async function startTestServer(
  options: { tokens?: Record<string, AccessContext>; dataDir?: string } = {},
): Promise<TestServer> {
  const dataDir = options.dataDir ?? mkdtempSync(path.join(os.tmpdir(), 'fhir-store-test-'));
  const store = openFhirStore({ dataDir });
  const app = express();
  const tokens = options.tokens;
  const authorize = tokens
    ? async (req: Request) => {
        const token = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '')?.[1];
        return token ? tokens[token] : undefined;
      }
    : undefined;
  app.use('/ehr/fhir', createFhirStoreRouter({ store, ...(authorize ? { authorize } : {}) }));
  const server: Server = await new Promise((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  const { port } = server.address() as AddressInfo;
  const baseUrl = `http://127.0.0.1:${port}/ehr/fhir`;
  return {
    store,
    baseUrl,
    dataDir,
    client: (token?: string) => new Client({ baseUrl, ...(token ? { bearerToken: token } : {}) }),
    async close() {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      store.close();
      if (!options.dataDir) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Plain fetch against the server, for headers and statuses fhir-kit-client hides. */
export async function http(
  baseUrl: string,
  method: string,
  pathAndQuery: string,
  options: { body?: unknown; headers?: Record<string, string>; token?: string } = {},
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- tests read response fields directly
): Promise<{ status: number; headers: Headers; body: any }> {
  const res = await fetch(`${baseUrl}/${pathAndQuery.replace(/^\//, '')}`, {
    method,
    headers: {
      Accept: 'application/fhir+json',
      ...(options.body !== undefined ? { 'Content-Type': 'application/fhir+json' } : {}),
      ...(options.token ? { Authorization: `Bearer ${options.token}` } : {}),
      ...(options.headers ?? {}),
    },
    ...(options.body !== undefined
      ? { body: typeof options.body === 'string' ? options.body : JSON.stringify(options.body) }
      : {}),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : undefined };
}

export const patient = (family: string, extra: Partial<fhir4.Patient> = {}): fhir4.Patient => ({
  resourceType: 'Patient',
  name: [{ family, given: ['Test'] }],
  gender: 'female',
  birthDate: '1975-05-05',
  ...extra,
});

export const weight = (
  patientId: string,
  kg: number,
  date: string,
  extra: Partial<fhir4.Observation> = {},
): fhir4.Observation => ({
  resourceType: 'Observation',
  status: 'final',
  code: { coding: [{ system: 'http://loinc.org', code: '29463-7', display: 'Body weight' }] },
  subject: { reference: `Patient/${patientId}` },
  effectiveDateTime: date,
  valueQuantity: { value: kg, unit: 'kg', system: 'http://unitsofmeasure.org', code: 'kg' },
  ...extra,
});
