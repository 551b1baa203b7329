/**
 * The module's own backend client (`periplan-module`): OAuth 2 client credentials, so the submission outbox
 * can retry a write after the user's token is gone (a restart, an expired session).
 *
 * Least privilege: only what the write path and `resolveProposal` do — create and find (by identifier) the
 * resources of a submission, and update ServiceRequest and Flag when a clinician resolves a proposal. No
 * Patient access, no delete, nothing else. (`s` on each type: the writer's idempotency checks are searches.)
 *
 * Sandbox: a shared secret (client_secret_basic), from configuration or generated once and kept under the
 * data folder (mode 0600). A real EHR does this with SMART Backend Services: `private_key_jwt` client
 * authentication with a registered public key (JWKS), no shared secret; see docs/write-path.md.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';

export const MODULE_CLIENT_ID = 'periplan-module';

export const MODULE_SCOPES: readonly string[] = [
  'system/QuestionnaireResponse.crus', // u: an amendment is a new version of the response (PUT with If-Match)
  'system/Flag.crus',
  'system/ServiceRequest.crus',
  'system/CarePlan.crs',
  'system/Provenance.crs',
  'system/Observation.crs',
];

export interface BackendClient {
  clientId: string;
  name: string;
  clientSecret: string;
  /** The only scopes this client can ever get (requested ∩ these). */
  scopes: readonly string[];
}

/** The secret from configuration, else the one generated on first start (`file`, created mode 0600). */
export function loadOrCreateModuleSecret(file: string, configured?: string): string {
  if (configured) return configured;
  try {
    const saved = JSON.parse(fs.readFileSync(file, 'utf8')) as { clientSecret?: unknown };
    if (typeof saved.clientSecret === 'string' && saved.clientSecret.length >= 32) return saved.clientSecret;
    throw new Error(`${file} holds no usable clientSecret; delete it to generate a new one`);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  const clientSecret = randomBytes(32).toString('base64url');
  try {
    fs.writeFileSync(file, JSON.stringify({ clientId: MODULE_CLIENT_ID, clientSecret }, null, 2), {
      mode: 0o600,
      flag: 'wx',
    });
    return clientSecret;
  } catch (error) {
    // Another process created it first: use theirs.
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return loadOrCreateModuleSecret(file);
    throw error;
  }
}

export function moduleBackendClient(clientSecret: string): BackendClient {
  return {
    clientId: MODULE_CLIENT_ID,
    name: 'PeriPlan back-pain module (backend service)',
    clientSecret,
    scopes: MODULE_SCOPES,
  };
}
