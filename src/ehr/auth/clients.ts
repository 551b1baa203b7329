/** Registered SMART apps, and the two the sandbox registers. */

export interface SmartClient {
  clientId: string;
  /** Shown on the sign-in page and the launcher. */
  name: string;
  redirectUris: string[];
  /**
   * Set: a confidential client that authenticates with HTTP Basic (client_secret_basic).
   * Unset: a public client (no secret; PKCE protects the code). PKCE is required for both.
   */
  clientSecret?: string;
  /** The app's SMART launch URL; the launcher opens `${launchUrl}?iss=…&launch=…` (EHR launch). */
  launchUrl?: string;
  /** Where a user starts the app on its own (standalone launch); shown as a link on the launcher. */
  standaloneUrl?: string;
  /**
   * The FHIR resource scopes this client may ever be granted (least privilege): a requested scope is granted
   * only when it is no wider than one of these (`patient/Flag.rs` fits under `user/Flag.crus`); others are
   * dropped, and the token response's `scope` says what was granted. Empty: no FHIR access at all.
   */
  scopes: readonly string[];
}

/**
 * What the clinician app's flows use (src/clinician-app/smart.ts APP_SCOPES): read the patient, the
 * practitioner and the patient's observations; write the submission (response, observations, flags,
 * proposals, care plan, provenance) and resolve proposals (update Flag and ServiceRequest). Nothing else,
 * no delete, no wildcard.
 */
export const CLINICIAN_APP_SCOPES: readonly string[] = [
  'user/Patient.rs',
  'user/Practitioner.rs',
  'user/Observation.crs',
  'user/QuestionnaireResponse.crus',
  'user/Flag.crus',
  'user/ServiceRequest.crus',
  'user/CarePlan.crs',
  'user/Provenance.crs',
];

/**
 * The waiting-room tablet uses no token of its own against the EHR: staff start it with the clinician app's
 * token, and its submission goes through the write path with the module's backend credential (src/tablet).
 * Its registration (a public client) may sign a user in, and reach no FHIR data.
 */
export const TABLET_SCOPES: readonly string[] = [];

/**
 * The clinician app (EHR launch; confidential when given a secret, since it exchanges the code in its own
 * server) and the waiting-room tablet (standalone; public, it runs in a browser and cannot keep a secret).
 */
export function sandboxClients(publicUrl: string, options: { appClientSecret?: string } = {}): SmartClient[] {
  const base = publicUrl.replace(/\/+$/, '');
  return [
    {
      clientId: 'periplan-app',
      name: 'PeriPlan back pain (clinician app)',
      redirectUris: [`${base}/app/callback`],
      ...(options.appClientSecret ? { clientSecret: options.appClientSecret } : {}),
      launchUrl: `${base}/app/launch`,
      standaloneUrl: `${base}/app/`,
      scopes: CLINICIAN_APP_SCOPES,
    },
    {
      clientId: 'periplan-tablet',
      name: 'PeriPlan waiting-room tablet',
      redirectUris: [`${base}/tablet/callback`],
      standaloneUrl: `${base}/tablet/`,
      scopes: TABLET_SCOPES,
    },
  ];
}
