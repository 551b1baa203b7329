/**
 * What a verified access token allows: the FHIR store's `AccessContext` (src/ehr/store/access.ts), which
 * `verifyAccessToken` / `authorizeRequest` produce. Re-exported so the auth module's public surface names it.
 */
export type { AccessContext } from '../store/access.js';
