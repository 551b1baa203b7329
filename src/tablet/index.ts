/**
 * The clinic intake tablet (`/tablet`): a shared device in the waiting room on which a patient answers the
 * back-pain intake herself. Staff start a session for one patient (`createHandoff`, called server-side by the
 * clinician app for its signed-in user) and get a short single-use code; the tablet swaps the code for a
 * session scoped to that one patient and the Questionnaire, and nothing else: no worklist, no results, no
 * flags. Submit goes through the write path with the module's own credential (there is no user token on a
 * kiosk); the response names the patient as source and author, the staff member as enterer, and the device.
 *
 * This factory makes the shared context (`context.ts`) and mounts the route modules of `routes/`.
 */
import express from 'express';
import { consoleErrors, errorHandler } from '../platform/http/errors.js';
import { createTabletContext } from './context.js';
import type { Tablet, TabletOptions } from './options.js';
import { apiRouter } from './routes/api.js';
import { registerClaim } from './routes/claim.js';
import { registerForm } from './routes/form.js';
import { registerPages } from './routes/pages.js';
import { registerStaff } from './routes/staff.js';
import { registerSubmit } from './routes/submit.js';
import { cancelHandoff, createHandoff, sessionSummaries } from './staff.js';

export type { HandoffRequest, TabletAlert, TabletSessionSummary } from './contract.js';
export type { Tablet, TabletOptions } from './options.js';
export { TABLET_ALERT_SYSTEM } from './alert-flag.js';
export { COLLECTION_DEVICE_EXT, TABLET_RESPONSE_SYSTEM } from './response.js';
export { CODE_ALPHABET } from './staff.js';

/** Every route module of the tablet's API under `/api`, each given the tablet's shared context. */
const API_ROUTES = [registerClaim, registerForm, registerSubmit, registerStaff];

export async function createTablet(options: TabletOptions): Promise<Tablet> {
  const ctx = createTabletContext(options);
  const purgeTimer = setInterval(() => {
    ctx.store
      .purgeExpired(ctx.now())
      .catch((e: unknown) =>
        console.error('tablet: purging ended codes and sessions failed (tried again in a minute):', e),
      );
    ctx.throttle.prune();
  }, 60_000);
  purgeTimer.unref();

  const router = express.Router();
  registerPages(router, ctx);
  const api = apiRouter(ctx);
  for (const register of API_ROUTES) register(api, ctx);
  router.use('/api', api);
  // Errors leave through the one error path (OperationOutcome, Retry-After on 429), never cached.
  router.use(errorHandler({ log: consoleErrors('tablet'), noStore: true }));

  return {
    router,
    createHandoff: (request) => createHandoff(ctx, request),
    cancelHandoff: (code) => cancelHandoff(ctx, code),
    sessions: () => sessionSummaries(ctx),
    onAlert: (listener) => ctx.alerts.subscribe(listener),
    async close() {
      clearInterval(purgeTimer);
      await ctx.alerts.close();
      await ctx.store.close();
    },
  };
}
