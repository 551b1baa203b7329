/**
 * The clinician SMART app (`/app`): EHR and standalone launch, the intake form (LHC-Forms), results with
 * their basis, proposal decisions and the worklist. This factory composes the route modules of `routes/`,
 * each given the one shared context (`context.ts`).
 *
 * Session design (works inside an EHR iframe, where third-party cookies are blocked or partitioned):
 *   - NO cookie. `/launch` stores the PKCE verifier, nonce and issuer server-side under a random `state`;
 *     the `state` that comes back to `/callback` is the only binding between the two (single use, 10 min).
 *   - `/callback` exchanges the code (server-side, confidential client), creates a NEW session with a fresh
 *     256-bit handle (so a handle can never be planted beforehand: no session fixation), and redirects to
 *     the page with a single-use 60-second hand-off code. The page swaps that code for the handle and a
 *     CSRF token (POST), keeps both in `sessionStorage` (per tab, per frame) and removes the code from the URL.
 *   - Every API call sends `X-Session: <handle>`; state-changing calls also `X-CSRF-Token`. A custom header
 *     cannot be sent cross-site without a CORS preflight (which this router never grants), and the token
 *     must match the session's, so forged requests fail twice over.
 *   - Access and refresh tokens stay in the server's session store. The browser never sees them.
 */
import express, { type Router } from 'express';
import * as oidc from 'openid-client';
import { FhirError } from '../outcomes/index.js';
import { consoleErrors, errorHandler } from '../platform/http/errors.js';
import { createAppContext } from './context.js';
import { errorPage } from './helpers.js';
import type { ClinicianAppOptions } from './options.js';
import { apiRouter } from './routes/api.js';
import { registerDecisions } from './routes/decisions.js';
import { registerDrafts } from './routes/drafts.js';
import { registerForm } from './routes/form.js';
import { registerLaunch } from './routes/launch.js';
import { registerPages } from './routes/pages.js';
import { registerResults } from './routes/results.js';
import { registerSession } from './routes/session.js';
import { registerSubmit } from './routes/submit.js';
import { registerTablet } from './routes/tablet.js';
import { registerWorklist } from './routes/worklist.js';
import type { SessionStore } from './session-store.js';
import { SmartError } from './smart.js';

export { INTAKE_URL, type ClinicianAppOptions, type ResolveProposal, type ResolveProposalInput } from './options.js';

/** Every route module of the JSON API under `/api`, each given the app's shared context. */
const API_ROUTES = [
  registerSession,
  registerForm,
  registerDrafts,
  registerSubmit,
  registerResults,
  registerDecisions,
  registerWorklist,
  registerTablet,
];

export async function createClinicianApp(
  options: ClinicianAppOptions,
): Promise<{ router: Router; close(): Promise<void>; store: SessionStore }> {
  const ctx = createAppContext(options);
  const router = express.Router();
  registerPages(router, ctx);
  registerLaunch(router, ctx);
  const api = apiRouter(ctx);
  for (const register of API_ROUTES) register(api, ctx);
  router.use('/api', api);

  // The JSON API answers OperationOutcomes; the pages (launch, callback) an error page. Never cached.
  router.use(
    errorHandler({
      log: consoleErrors('clinician-app'),
      translate: signInErrors,
      html: {
        wanted: (req) => !req.path.startsWith('/api/'),
        page: (message) => errorPage(message, ctx.basePath, ctx.version),
      },
      noStore: true,
    }),
  );

  return {
    router,
    store: ctx.store,
    async close() {
      ctx.prefetch.close();
      await ctx.store.close();
    },
  };
}

/** The SMART client's and openid-client's errors, as the FhirErrors they mean for the user. */
function signInErrors(err: unknown): unknown {
  if (err instanceof SmartError) return new FhirError(502, { code: 'exception', diagnostics: err.message });
  if (err instanceof oidc.ResponseBodyError || err instanceof oidc.AuthorizationResponseError) {
    return new FhirError(401, {
      code: 'login',
      diagnostics: `Sign-in with the EHR failed: ${err.error}${err.error_description ? `: ${err.error_description}` : ''}`,
    });
  }
  return err;
}
