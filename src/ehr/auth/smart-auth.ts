/**
 * The sandbox EHR's SMART App Launch authorization server, built on oidc-provider (not hand-rolled).
 *
 * How the SMART pieces map onto the library:
 * - `aud` (SMART) → resource indicator: every authorization is for the one resource, the FHIR base URL
 *   (`defaultResource`), and `aud` must name it (`extraParams.aud`).
 * - SMART resource scopes (`patient/Flag.crs`) → that resource server's scopes. Access tokens are
 *   opaque and stored, so `verifyAccessToken` can reject expired, unknown and revoked tokens.
 * - `launch` → `extraParams.launch`, checked against the launch contexts the launcher created.
 * - Sign-in → an interaction on every authorization request (sandbox: no passwords; the EHR launch
 *   already says who the clinician is, so it completes without a page; standalone shows a picker).
 * - Launch context (patient, encounter, fhirUser, need_patient_banner, smart_style_url) → stored per
 *   grant and added to the token response by a post-middleware on the token endpoint (also on refresh).
 * - PKCE: required for every client, S256 only (oidc-provider 9 knows no other method).
 *
 * This factory makes the shared context (`context.ts`) and the provider (`provider.ts`, `token-response.ts`),
 * and mounts the pages, the sign-in interaction and the provider's own endpoints.
 */
import express from 'express';
import { createAuthContext } from './context.js';
import { createLaunch } from './launches.js';
import type { SmartAuth, SmartAuthOptions } from './options.js';
import { createProvider } from './provider.js';
import { registerPages } from './routes/pages.js';
import { wellKnownRouter } from './routes/well-known.js';
import { createSignInRouter } from './sign-in.js';
import { capabilitySecurity, smartConfiguration } from './smart-metadata.js';
import { installTokenResponse } from './token-response.js';
import { createTokenChecks } from './tokens.js';

export type { CreateLaunchInput, SmartAuth, SmartAuthOptions } from './options.js';

export async function createSmartAuth(options: SmartAuthOptions): Promise<SmartAuth> {
  const auth = await createAuthContext(options);
  const { issuer, fhirBaseUrl, directory } = auth;
  const provider = createProvider(auth);
  installTokenResponse(provider, auth);

  const router = express.Router();
  registerPages(router);
  router.use(
    createSignInRouter({
      provider,
      db: auth.db,
      directory,
      clients: options.clients,
      mountPath: auth.mountPath,
      fhirBaseUrl,
      smartStyleUrl: auth.smartStyleUrl,
    }),
  );
  router.use(provider.callback());

  return {
    router,
    wellKnownRouter: wellKnownRouter(auth),
    ...createTokenChecks(auth, provider),
    smartConfiguration: () => smartConfiguration(issuer),
    capabilitySecurity: () => capabilitySecurity(issuer),
    createLaunch: (input) => createLaunch(auth, input),
    clients: options.clients,
    moduleClient: auth.moduleClient,
    fhirBaseUrl,
    issuer,
    directory,
    async close() {
      auth.close();
    },
  };
}
