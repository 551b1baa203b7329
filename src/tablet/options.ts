/** What the waiting-room tablet is given when the server composes it (`createTablet`), and what it gives back. */
import type { Request, Router } from 'express';
import type { KnowledgeBase } from '../knowledge/knowledge-base.js';
import type { FhirServerTarget, SubmitInput, SubmitResult } from '../submission/index.js';
import type { AlertHub } from './alerts.js';
import type { HandoffRequest, TabletAlert, TabletSessionSummary } from './contract.js';
import type { TabletStore } from './store.js';

export interface TabletOptions {
  /** The tablet lives at `${publicUrl}/tablet`. */
  publicUrl: string;
  /** Codes and sessions: `${dataDir}/tablet/tablet.sqlite`, unless `store` is given. */
  dataDir: string;
  /** Where codes and sessions live (default: SQLite under `dataDir`); PostgreSQL when replicas share them. The tablet closes it. */
  store?: TabletStore;
  /** How live alerts reach their listeners (default: in process); PostgreSQL LISTEN/NOTIFY across replicas. The tablet closes it. */
  alerts?: AlertHub;
  knowledge: KnowledgeBase;
  /**
   * The write path (or anything with its `submit`); the tablet never passes a user token. Its `target` (FHIR
   * base + the module's credential) is where the emergency alert Flag is written.
   */
  writePath: { submit(input: SubmitInput): Promise<SubmitResult>; readonly target?: FhirServerTarget };
  /** How long a hand-off code is valid (default 10 minutes). */
  codeTtlMs?: number;
  /** Inactivity on the tablet before it wipes itself (default 3 minutes; the last 30 s show a countdown). */
  idleTimeoutMs?: number;
  /** Upper bound of a tablet session on the server (default 60 minutes). */
  sessionTtlMs?: number;
  /**
   * After a session that was never submitted ends, how long `POST /submit` with its handle is still accepted
   * (default 24 hours): a submission queued on a tablet that was offline until after the session's end is
   * not lost. Every other route treats the session as ended.
   */
  submitGraceMs?: number;
  /**
   * Wrong codes allowed per client address, and per tablet name, in 10 minutes (default 10); further wrong
   * codes from it are answered 429 with Retry-After. A valid code is always accepted.
   */
  maxFailedClaims?: number;
  /** The clock (ms since the epoch) for codes, sessions, the wrong-code windows and expected ages; default Date.now. */
  now?: () => number;
  /**
   * Staff authentication for `GET /tablet/api/alerts` (the live emergency feed): return who it is, or throw.
   * Without it the route is not served; use `onAlert` in-process instead.
   */
  authorizeStaff?: (req: Request) => fhir4.Reference | Promise<fhir4.Reference>;
}

export interface Tablet {
  router: Router;
  createHandoff(request: HandoffRequest): Promise<{ code: string; expiresAt: string; url: string; handoffId: string }>;
  /** Revoke a code not yet used (staff closed the hand-off). True when it was still valid. */
  cancelHandoff(code: string): Promise<boolean>;
  /** Live emergency alerts (of every replica sharing the alert hub); returns an unsubscribe function. */
  onAlert(listener: (alert: TabletAlert) => void): () => void;
  /** Codes waiting for a tablet, tablet sessions in progress or recently sent, for staff (who, which tablet, since when; never answers). */
  sessions(): Promise<TabletSessionSummary[]>;
  close(): Promise<void>;
}
