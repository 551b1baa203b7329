/**
 * What every part of the SMART authorization server shares, made once by `createAuthContext`: the settings
 * with their defaults, the durable store of grants and launches (swept every 10 minutes), the signing keys,
 * the module's backend client, and the directory lookups.
 */
import fs from 'node:fs';
import path from 'node:path';
import { AuthDatabase } from './auth-database.js';
import { loadOrCreateModuleSecret, moduleBackendClient, type BackendClient } from './backend-client.js';
import type { SmartClient } from './clients.js';
import type { Directory, DirectoryPatient, DirectoryPractitioner } from './directory.js';
import { loadOrCreateSecrets, type AuthSecrets } from './keys.js';
import type { SmartAuthOptions } from './options.js';

export const trimSlash = (url: string) => url.replace(/\/+$/, '');
export const splitScope = (scope: unknown) => (typeof scope === 'string' ? scope.split(' ').filter(Boolean) : []);

export interface AuthContext {
  options: SmartAuthOptions;
  issuer: string;
  fhirBaseUrl: string;
  /** The issuer's path, where the router is mounted (e.g. `/ehr/auth`). */
  mountPath: string;
  smartStyleUrl: string;
  accessTokenSeconds: number;
  refreshTokenSeconds: number;
  launchSeconds: number;
  directory: Directory;
  clientsById: Map<string, SmartClient>;
  db: AuthDatabase;
  secrets: AuthSecrets;
  moduleClient: BackendClient;
  findPractitioner(this: void, id: string): Promise<DirectoryPractitioner | undefined>;
  findPatient(id: string): Promise<DirectoryPatient | undefined>;
  close(): void;
}

export async function createAuthContext(options: SmartAuthOptions): Promise<AuthContext> {
  const issuer = trimSlash(options.issuer);
  const { directory } = options;
  const folder = path.join(options.dataDir, 'ehr-auth');
  fs.mkdirSync(folder, { recursive: true });
  const secrets = await loadOrCreateSecrets(path.join(folder, 'keys.json'));
  const moduleClient = moduleBackendClient(
    loadOrCreateModuleSecret(path.join(folder, 'module-client.json'), options.moduleClientSecret),
  );
  const db = new AuthDatabase(path.join(folder, 'auth.sqlite'));
  db.sweep();
  const sweeper = setInterval(() => db.sweep(), 10 * 60 * 1000);
  sweeper.unref();

  return {
    options,
    issuer,
    fhirBaseUrl: trimSlash(options.fhirBaseUrl),
    mountPath: new URL(issuer).pathname.replace(/\/+$/, ''),
    smartStyleUrl: options.smartStyleUrl ?? `${issuer}/smart-style.json`,
    accessTokenSeconds: options.ttl?.accessTokenSeconds ?? 3600,
    refreshTokenSeconds: options.ttl?.refreshTokenSeconds ?? 14 * 24 * 3600,
    launchSeconds: options.ttl?.launchSeconds ?? 600,
    directory,
    clientsById: new Map(options.clients.map((c) => [c.clientId, c])),
    db,
    secrets,
    moduleClient,
    findPractitioner: async (id) => (await directory.listPractitioners()).find((p) => p.id === id),
    findPatient: async (id) => (await directory.listPatients()).find((p) => p.id === id),
    close() {
      clearInterval(sweeper);
      db.close();
    },
  };
}
