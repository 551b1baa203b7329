/**
 * The staff side of the waiting-room tablet (tablet-staff.ts) when the server has a tablet; without one its
 * routes answer 501, so the page can tell "not set up here" from an error.
 */
import type { Router } from 'express';
import { FhirError } from '../../outcomes/index.js';
import type { AppContext } from '../context.js';
import { humanName } from '../patient-reads.js';
import { registerTabletStaffRoutes } from '../tablet-staff.js';

export function registerTablet(api: Router, ctx: AppContext): void {
  const { options, store } = ctx;
  if (!options.tablet) {
    api.all(['/tablet-handoff', '/tablet-handoff/cancel', '/tablet-sessions', '/alerts'], () => {
      throw new FhirError(501, {
        code: 'not-supported',
        diagnostics: 'The waiting-room tablet is not set up on this server.',
      });
    });
    return;
  }
  registerTabletStaffRoutes(api, {
    tablet: options.tablet,
    ...(options.outbox ? { outbox: options.outbox } : {}),
    ehr: ctx.ehr,
    sessionOf: ctx.sessionOf,
    sessionAlive: async (handle) => (await store.getSession(handle, Date.now())) !== undefined,
    humanName,
    ...(options.alertHeartbeatMs ? { heartbeatMs: options.alertHeartbeatMs } : {}),
  });
}
