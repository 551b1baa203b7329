/** What the clinician app is given when the server composes it (`createClinicianApp`). */
import type { KnowledgeBase } from '../knowledge/index.js';
import type { FhirServerTarget } from '../submission/fhir-writer.js';
import type { SubmitInput, SubmitResult } from '../submission/service.js';
import type { SessionStore } from './session-store.js';
import type { OutboxForStaff, TabletForStaff } from './tablet-staff.js';

export const INTAKE_URL = 'https://periplan.app/fhir/Questionnaire/back-pain-intake';

export interface ResolveProposalInput {
  target: string;
  decision: 'accept' | 'dismiss';
  reason?: fhir4.Coding;
  note?: string;
  who: fhir4.Reference;
  bearerToken?: string;
}
export type ResolveProposal = (target: FhirServerTarget, input: ResolveProposalInput, now?: Date) => Promise<unknown>;

export interface ClinicianAppOptions {
  /** Public base URL of the whole server, no trailing slash (the app lives at `${publicUrl}${basePath}`). */
  publicUrl: string;
  basePath?: string;
  dataDir: string;
  knowledge: KnowledgeBase;
  clientId: string;
  clientSecret?: string;
  /** The write path (createSubmissionService / createWritePath). */
  submission: { submit(input: SubmitInput): Promise<SubmitResult> };
  resolveProposal?: ResolveProposal;
  /** FHIR base URLs (`iss`) the app accepts; anything else is refused before any request is made. */
  allowedIssuers: string[];
  /** The FHIR base for a standalone launch (default: the first allowed issuer). */
  defaultIssuer?: string;
  /** Origins allowed to frame the app (default: the allowed issuers' origins and our own). */
  frameAncestors?: string[];
  sessionStore?: SessionStore;
  /**
   * Upper bound of a session, even when tokens are refreshed (default 12 h: longer than an `online_access`
   * refresh token lives, so that when the EHR sign-in ends the app session can still save the draft).
   */
  sessionTtlMs?: number;
  /** Accept http issuers other than loopback ones (the sandbox on 127.0.0.1 works without it). Never in production. */
  allowInsecureHttp?: boolean;
  /** The waiting-room tablet (createTablet): staff start tablet sessions, see them, and hear emergency alerts. */
  tablet?: TabletForStaff;
  /** The write path's outbox, for the staff view of submissions not yet in the EHR. */
  outbox?: OutboxForStaff;
  /** Heartbeat interval of the alert stream (default 25 s). */
  alertHeartbeatMs?: number;
  /** How long the clinician who accepted, dismissed or recorded a flag outcome may undo it (default 10 min). */
  undoWindowMs?: number;
  /** The clock of every recorded act and of the undo window (tests fix it; default: the system clock). */
  now?: () => Date;
}
