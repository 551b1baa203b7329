/**
 * What every route of the tablet shares, made once by `createTabletContext`: the settings with their
 * defaults, the clock, the store of codes and sessions, the alert hub, the wrong-code throttle, the patient's
 * copy of the intake per language, and the session check every tablet call starts with.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Request } from 'express';
import { unauthorized } from '../outcomes/index.js';
import { assetVersion, SHARED_BROWSER_DIR } from '../platform/lforms/assets.js';
import { sanitizeQuestionnaire, withoutPrefillExpressions } from '../forms/sanitize.js';
import { FOLLOW_UP_PLAN } from '../submission/index.js';
import { createInProcessAlertHub, type AlertHub } from './alerts.js';
import type { TabletOptions } from './options.js';
import { LANGUAGES, translateQuestionnaire, type Language } from './questionnaire.js';
import { openSqliteTabletStore, type TabletSession, type TabletStore } from './store.js';
import { createClaimThrottle, type ClaimThrottle } from './throttle.js';

const INTAKE_URL = 'https://periplan.app/fhir/Questionnaire/back-pain-intake';
/** Wrong codes are counted in windows of this length. */
const CLAIM_WINDOW_MS = 10 * 60_000;
/** The tablet's browser modules, CSS, page shell and service worker. */
export const PUBLIC_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), 'public');

export interface TabletRef {
  handle: string;
  session: TabletSession;
}

export interface TabletContext {
  options: TabletOptions;
  /** The server's public URL, and the tablet's path under it. */
  base: URL;
  basePath: string;
  /** The version in the URLs of the browser files (they are cached for good). */
  version: string;
  codeTtlMs: number;
  idleTimeoutMs: number;
  sessionTtlMs: number;
  submitGraceMs: number;
  /** After a submit, how long a retry of the same submission (a lost acknowledgement) is still answered. */
  retryWindowMs: number;
  now: () => number;
  store: TabletStore;
  alerts: AlertHub;
  throttle: ClaimThrottle;
  questionnaire: fhir4.Questionnaire;
  canonical: string;
  /** The patient's copy of the intake, as JSON text, per language. */
  perLanguage: Map<Language, string>;
  /** The PlanDefinition whose EMERGENCY rules the answers so far are checked against. */
  plan: fhir4.PlanDefinition | undefined;
  /**
   * The session of the request, or 401. `forSubmit`: an ended session still counts within its submit window
   * (`submitUntil`: the grace period of a session never submitted, or the retry window after a submit).
   */
  sessionOf(this: void, req: Request, opts?: { forSubmit?: boolean }): Promise<TabletRef>;
}

export function createTabletContext(options: TabletOptions): TabletContext {
  const base = new URL(options.publicUrl);
  const now = options.now ?? Date.now;
  const store = options.store ?? openSqliteTabletStore(options.dataDir);
  const alerts = options.alerts ?? createInProcessAlertHub();
  const throttle = createClaimThrottle({ limit: options.maxFailedClaims ?? 10, windowMs: CLAIM_WINDOW_MS, now });

  const questionnaire = options.knowledge.resolve(INTAKE_URL, 'Questionnaire');
  if (!questionnaire)
    throw new Error(`createTablet: the intake Questionnaire ${INTAKE_URL} is not in the knowledge base`);
  // The patient's copy: no HTML, no pre-fill expressions (the tablet has no token to evaluate them with).
  const patientCopy = withoutPrefillExpressions(sanitizeQuestionnaire(questionnaire));

  async function sessionOf(req: Request, { forSubmit = false } = {}): Promise<TabletRef> {
    const handle = req.header('x-tablet-session') ?? '';
    const session = handle ? await store.getSession(handle, now()) : undefined;
    const at = now();
    const until = session ? (forSubmit ? Math.max(session.expiresAt, session.submitUntil ?? 0) : session.expiresAt) : 0;
    if (!session || until < at) throw unauthorized('This session has ended. Please hand the tablet back to the staff.');
    // Last seen, for the staff view; at most one write per 5 s per tablet (the form checks after each answer).
    if (!session.lastSeenAt || at - session.lastSeenAt > 5_000) {
      await store.touchSession(handle, at);
      session.lastSeenAt = at;
    }
    return { handle, session };
  }

  return {
    options,
    base,
    basePath: `${base.pathname.replace(/\/+$/, '')}/tablet`,
    version: assetVersion(PUBLIC_DIR, SHARED_BROWSER_DIR),
    codeTtlMs: options.codeTtlMs ?? 10 * 60_000,
    idleTimeoutMs: options.idleTimeoutMs ?? 3 * 60_000,
    sessionTtlMs: options.sessionTtlMs ?? 60 * 60_000,
    submitGraceMs: options.submitGraceMs ?? 24 * 60 * 60_000,
    retryWindowMs: 10 * 60_000,
    now,
    store,
    alerts,
    throttle,
    questionnaire,
    canonical: `${questionnaire.url}|${questionnaire.version}`,
    perLanguage: new Map<Language, string>(
      LANGUAGES.map((l) => [l, JSON.stringify(translateQuestionnaire(patientCopy, l))]),
    ),
    plan: options.knowledge.resolve(FOLLOW_UP_PLAN, 'PlanDefinition'),
    sessionOf,
  };
}
