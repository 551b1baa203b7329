/**
 * What the staff side (the clinician app) and the waiting-room tablet say to each other: hand-off codes,
 * the sessions staff see, and emergency alerts. The clinician app depends on this file only, never on the
 * tablet's implementation; createTablet's result satisfies `TabletForStaff`.
 */

export interface HandoffRequest {
  patientId: string;
  /** Shown on the tablet so the patient can check it is her form (first name is enough). */
  patientName?: string;
  /** The staff member starting the session (recorded as the response's enterer). */
  staff: fhir4.Reference;
  /**
   * Patient.birthDate from the record. Never sent to the tablet nor stored: only the range of ages she may
   * type without being asked to check it (`ExpectedAge`) is.
   */
  birthDate?: string;
}

export interface TabletAlert {
  id: string;
  patient: fhir4.Reference;
  device: string;
  staff: fhir4.Reference;
  /** Rule ids of the EMERGENCY rules that fired, e.g. RF-01. */
  rules: string[];
  at: string;
}

export interface TabletSessionSummary {
  patient: fhir4.Reference;
  /** The tablet's name (absent while the code has not been typed on one). */
  device?: string;
  staff: fhir4.Reference;
  /** The hand-off this row comes from (`createHandoff(…).handoffId`), from the code to the tablet session. */
  handoffId?: string;
  /** When staff created the code (codes not yet taken only). */
  createdAt?: string;
  /** When the code stops working (codes not yet taken only). */
  expiresAt?: string;
  claimedAt?: string;
  /** The tablet's last call to the server: a tablet that went quiet mid-form may be offline (its answers stay on it). */
  lastSeenAt?: string;
  /**
   * `waiting-for-code`: a code staff created, not yet typed on a tablet; `in-progress`: on the tablet now (or
   * waiting there for the network); `received`: the server has it; `ended-unsent`: the session has ended without
   * a submission, and a tablet that went offline may still hold the answers: they are accepted until `submitUntil`.
   */
  state: 'waiting-for-code' | 'in-progress' | 'received' | 'ended-unsent';
  /** With `ended-unsent`: until when the tablet's queued submission is still accepted. */
  submitUntil?: string;
  emergency: boolean;
}

/** What the app needs of the tablet (createTablet's result has it). */
export interface TabletForStaff {
  createHandoff(request: HandoffRequest): Promise<{ code: string; expiresAt: string; url: string; handoffId?: string }>;
  cancelHandoff?(code: string): Promise<boolean>;
  sessions(): Promise<TabletSessionSummary[]>;
  /** Alerts raised on any replica sharing the tablet's alert hub (this one only without DATABASE_URL). */
  onAlert(listener: (alert: TabletAlert) => void): () => void;
}
