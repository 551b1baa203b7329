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
}

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
    },
    {
      clientId: 'periplan-tablet',
      name: 'PeriPlan waiting-room tablet',
      redirectUris: [`${base}/tablet/callback`],
      standaloneUrl: `${base}/tablet/`,
    },
  ];
}
