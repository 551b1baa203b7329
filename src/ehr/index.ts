/**
 * The embedded sandbox EHR: a durable FHIR R4 store, a SMART authorization server and a launcher page,
 * mounted together under `/ehr`. The module reaches it over HTTP exactly like a clinic's EHR (no in-process
 * shortcut), so pointing the module at a real EHR is configuration.
 *
 *   /ehr                 launcher: pick a patient and a clinician, launch the app (EHR or standalone launch)
 *   /ehr/auth            SMART / OpenID Connect authorization server (oidc-provider)
 *   /ehr/fhir            FHIR R4 REST store (SQLite, WAL), bearer tokens enforced
 *   /ehr/fhir/.well-known/smart-configuration
 */
import path from 'node:path';
import express, { type Router } from 'express';
import { createSmartAuth, sandboxClients, type Directory, type SmartAuth } from './auth/index.js';
import { createLauncherRouter } from './launcher/index.js';
import { createFhirStoreRouter, openFhirStore, seedSandbox, type FhirStore } from './store/index.js';

export interface EmbeddedEhrOptions {
  /** Public base URL of the server the EHR is mounted in at `/ehr` (no trailing slash), e.g. http://127.0.0.1:3000. */
  publicUrl: string;
  /**
   * Public base URL of the module whose apps the EHR registers (launch and redirect URLs under it). Default:
   * `publicUrl` (the EHR embedded in the module's own server); the EHR run on its own (src/ehr/main.ts) is
   * given the module's (its load balancer's) URL.
   */
  appUrl?: string;
  /** The EHR keeps its data in `${dataDir}/ehr`. */
  dataDir: string;
  /** Secret of the confidential clinician app client; without one it is a public client (PKCE only). */
  appClientSecret?: string;
  /** Secret of the module's backend client (client credentials); default: generated once and kept in dataDir. */
  moduleClientSecret?: string;
  /** Seed the sandbox patients, practitioner and weights on first start (default true). */
  seed?: boolean;
  ttl?: Parameters<typeof createSmartAuth>[0]['ttl'];
}

export interface EmbeddedEhr {
  router: Router;
  store: FhirStore;
  auth: SmartAuth;
  fhirBaseUrl: string;
  close(): Promise<void>;
}

function humanName(names: fhir4.HumanName[] | undefined): string {
  const n = names?.[0];
  if (!n) return 'Unnamed';
  return n.text ?? [...(n.prefix ?? []), ...(n.given ?? []), n.family].filter(Boolean).join(' ');
}

/** The launcher's and sign-in page's lists, read from the store (the only in-process use: it IS the EHR). */
function directoryOver(store: FhirStore): Directory {
  return {
    async listPatients() {
      const { matches } = store.search('Patient', [
        ['_count', '200'],
        ['_sort', 'family'],
      ]);
      return (matches as fhir4.Patient[]).map((p) => ({
        id: p.id!,
        name: humanName(p.name),
        ...(p.birthDate ? { birthDate: p.birthDate } : {}),
      }));
    },
    async listPractitioners() {
      const { matches } = store.search('Practitioner', [['_count', '200']]);
      return (matches as fhir4.Practitioner[]).map((p) => ({
        id: p.id!,
        name: humanName(p.name),
        ...(p.qualification?.[0]?.code.text ? { role: p.qualification[0].code.text } : {}),
      }));
    },
  };
}

export async function createEmbeddedEhr(options: EmbeddedEhrOptions): Promise<EmbeddedEhr> {
  const dataDir = path.join(options.dataDir, 'ehr');
  const fhirBaseUrl = `${options.publicUrl}/ehr/fhir`;
  const store = openFhirStore({ dataDir });
  if (options.seed ?? true) seedSandbox(store);
  const auth = await createSmartAuth({
    issuer: `${options.publicUrl}/ehr/auth`,
    fhirBaseUrl,
    dataDir,
    clients: sandboxClients(
      options.appUrl ?? options.publicUrl,
      options.appClientSecret ? { appClientSecret: options.appClientSecret } : {},
    ),
    directory: directoryOver(store),
    ...(options.moduleClientSecret ? { moduleClientSecret: options.moduleClientSecret } : {}),
    ...(options.ttl ? { ttl: options.ttl } : {}),
  });

  const router = express.Router();
  router.use('/auth', auth.router);
  router.use('/fhir', auth.wellKnownRouter); // before the store, which wants a token on every route
  router.use(
    '/fhir',
    createFhirStoreRouter({
      store,
      baseUrl: fhirBaseUrl,
      authorize: auth.authorizeRequest,
      security: auth.capabilitySecurity(),
    }),
  );
  router.use('/', createLauncherRouter({ auth }));

  return {
    router,
    store,
    auth,
    fhirBaseUrl,
    async close() {
      await auth.close();
      store.close();
    },
  };
}
