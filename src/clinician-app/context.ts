/**
 * What every route of the clinician app shares, made once by `createAppContext`: the session store, the
 * SMART client, the EHR access, the launch read-ahead, the intake Questionnaire, the clock, and the session
 * check every API call starts with.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Request } from 'express';
import { deepFreeze } from '../knowledge/index.js';
import { forbidden, unauthorized } from '../outcomes/index.js';
import { sanitizeQuestionnaire, withoutPrefillExpressions } from '../forms/sanitize.js';
import { assetVersion, SHARED_BROWSER_DIR } from '../platform/lforms/assets.js';
import { DEFAULT_UNDO_WINDOW_MS } from '../submission/resolve-proposal.js';
import { createEhrAccess, type EhrAccess, type SessionRef } from './ehr-access.js';
import { createLaunchPrefetch, type LaunchPrefetch } from './launch-prefetch.js';
import { decisionReasons } from './helpers.js';
import { INTAKE_URL, type ClinicianAppOptions } from './options.js';
import { createProposalSupport } from './proposals.js';
import { openSqliteSessionStore, type SessionStore } from './session-store.js';
import { createSmartClient, type SmartClient } from './smart.js';
import { createWorklist } from './worklist.js';

/** The app's own browser modules, CSS and page shell. */
export const PUBLIC_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), 'public');

export interface AppContext {
  options: ClinicianAppOptions;
  basePath: string;
  /** The version in the URLs of the browser files (they are cached for good). */
  version: string;
  store: SessionStore;
  smart: SmartClient;
  ehr: EhrAccess;
  prefetch: LaunchPrefetch;
  worklist: ReturnType<typeof createWorklist>;
  /** The clock of every recorded act and of the undo window. */
  now: () => Date;
  undoWindowMs: number;
  /** The intake Questionnaire as the knowledge base holds it (for `$populate`). */
  questionnaire: fhir4.Questionnaire;
  /** The same, as the browser may be given it. */
  safeQuestionnaire: fhir4.Questionnaire;
  intakeCanonical: string;
  reasonCodes: fhir4.Coding[];
  decisionRecords: ReturnType<typeof createProposalSupport>['decisionRecords'];
  /** The session of an API call (`X-Session`), with its CSRF token checked on every write; else 401/403. */
  sessionOf(this: void, req: Request): Promise<SessionRef>;
}

export const random = (bytes = 32) => randomBytes(bytes).toString('base64url');

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

export function createAppContext(options: ClinicianAppOptions): AppContext {
  const basePath = options.basePath ?? '/app';
  const appUrl = `${options.publicUrl}${basePath}`;
  const store = options.sessionStore ?? openSqliteSessionStore(path.join(options.dataDir, 'clinician-app'));
  const smart = createSmartClient({
    clientId: options.clientId,
    ...(options.clientSecret ? { clientSecret: options.clientSecret } : {}),
    redirectUri: `${appUrl}/callback`,
    ...(options.allowInsecureHttp ? { allowInsecureHttp: true } : {}),
  });
  const ehr = createEhrAccess({ store, smart });

  const questionnaire = options.knowledge.resolve(INTAKE_URL, 'Questionnaire');
  if (!questionnaire)
    throw new Error(`createClinicianApp: the intake Questionnaire ${INTAKE_URL} is not in the knowledge base`);

  async function sessionOf(req: Request): Promise<SessionRef> {
    const handle = req.get('x-session') ?? '';
    const session = handle ? await store.getSession(handle, Date.now()) : undefined;
    if (!session) throw unauthorized('No session: launch the app from the EHR.');
    if (!['GET', 'HEAD'].includes(req.method)) {
      const csrf = req.get('x-csrf-token') ?? '';
      if (!csrf || !sameSecret(csrf, session.csrf)) throw forbidden('The request is missing its CSRF token.');
    }
    return { handle, session };
  }

  return {
    options,
    basePath,
    version: assetVersion(PUBLIC_DIR, SHARED_BROWSER_DIR),
    store,
    smart,
    ehr,
    prefetch: createLaunchPrefetch(),
    worklist: createWorklist(ehr, options.knowledge),
    now: options.now ?? (() => new Date()),
    undoWindowMs: options.undoWindowMs ?? DEFAULT_UNDO_WINDOW_MS,
    questionnaire,
    // Served to every session as is: frozen like the knowledge it comes from.
    safeQuestionnaire: deepFreeze(withoutPrefillExpressions(sanitizeQuestionnaire(questionnaire))),
    intakeCanonical: `${questionnaire.url}|${questionnaire.version}`,
    reasonCodes: decisionReasons(options.knowledge),
    decisionRecords: createProposalSupport({ ehr }).decisionRecords,
    sessionOf,
  };
}
