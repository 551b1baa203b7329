/** What the sandbox EHR's SMART authorization server is given (`createSmartAuth`), and what it gives back. */
import type { Request, Router } from 'express';
import type { AccessContext } from './access-context.js';
import type { BackendClient } from './backend-client.js';
import type { SmartClient } from './clients.js';
import type { Directory } from './directory.js';

export interface SmartAuthOptions {
  /** Issuer = where the router is mounted, e.g. http://127.0.0.1:3000/ehr/auth (no trailing slash). */
  issuer: string;
  /** FHIR base URL of the protected store, e.g. http://127.0.0.1:3000/ehr/fhir: the only `aud`. */
  fhirBaseUrl: string;
  /** Folder for durable data; this module uses `${dataDir}/ehr-auth/`. */
  dataDir: string;
  clients: SmartClient[];
  directory: Directory;
  ttl?: {
    /** Access token lifetime (default 3600 s). */
    accessTokenSeconds?: number;
    /** Refresh token lifetime with offline_access (default 14 days); online_access gets at most 8 h. */
    refreshTokenSeconds?: number;
    /** How long a launch id from the launcher stays usable (default 600 s); it is also single-use. */
    launchSeconds?: number;
  };
  /** Style sheet URL for apps (`smart_style_url`); default `${issuer}/smart-style.json`, served here. */
  smartStyleUrl?: string;
  /**
   * Secret of the module's backend client `periplan-module` (client credentials, `system/` scopes: see
   * backend-client.ts). Default: generated on first start and kept in `${dataDir}/ehr-auth/module-client.json`.
   */
  moduleClientSecret?: string;
}

export interface CreateLaunchInput {
  /** Patient id. */
  patient: string;
  /** Practitioner id: the clinician signed in to the EHR. */
  practitioner: string;
  encounter?: string;
  /** Default true: the app shows who the patient is (false when the EHR frames it with its own banner). */
  needPatientBanner?: boolean;
  smartStyleUrl?: string;
  /** Bind the launch to one app; another client presenting it is refused. */
  clientId?: string;
}

export interface SmartAuth {
  /** Mount at the issuer's path (e.g. `/ehr/auth`): OAuth/OpenID endpoints, sign-in pages, assets. */
  router: Router;
  /** Mount at the FHIR base path (e.g. `/ehr/fhir`) before the store: serves `/.well-known/smart-configuration`. */
  wellKnownRouter: Router;
  /** The AccessContext of a valid token; undefined for expired, revoked, unknown or foreign tokens. */
  verifyAccessToken(token: string): Promise<AccessContext | undefined>;
  /**
   * The store's `authorize(req)` hook. No Authorization header → undefined (the store answers 401).
   * A header that is not a valid Bearer token → throws a 401 FhirError saying why (and sets WWW-Authenticate).
   */
  authorizeRequest(this: void, req: Request): Promise<AccessContext | undefined>;
  smartConfiguration(): Record<string, unknown>;
  /** The CapabilityStatement `rest.security` block (SMART oauth-uris): pass to the store router's `security`. */
  capabilitySecurity(): fhir4.CapabilityStatementRestSecurity;
  /** Creates a short-lived, single-use launch context; returns the opaque `launch` id. */
  createLaunch(input: CreateLaunchInput): Promise<{ launch: string; expiresAt: Date }>;
  readonly clients: readonly SmartClient[];
  /** The module's backend client (client credentials): what the submission outbox uses for retries. */
  readonly moduleClient: BackendClient;
  readonly fhirBaseUrl: string;
  readonly issuer: string;
  readonly directory: Directory;
  close(): Promise<void>;
}
