/**
 * `POST /submit`: the patient's answers go to the write path with the module's own credential (a kiosk has no
 * user token), exactly once per session; a retry of the same submission is answered, a second one refused.
 */
import type { Request, Router } from 'express';
import { forbidden } from '../../outcomes/index.js';
import { closeAlertFlag } from '../alert-flag.js';
import type { TabletContext, TabletRef } from '../context.js';
import { buildResponse } from '../response.js';
import { sha256 } from '../store.js';

/** The session of a submission, which may have ended within its submit window; a refusal is logged. */
async function submittingSession(ctx: TabletContext, req: Request): Promise<TabletRef> {
  try {
    return await ctx.sessionOf(req, { forSubmit: true });
  } catch (e) {
    // The tablet tells staff to enter these answers again; the log says it happened (never what was answered).
    console.warn(
      'tablet: a submission arrived for a session that has ended (past its submit grace period) or never existed; refused',
    );
    throw e;
  }
}

export function registerSubmit(api: Router, ctx: TabletContext): void {
  const { writePath } = ctx.options;

  api.post('/submit', async (req, res) => {
    const { handle, session } = await submittingSession(ctx, req);
    const response = buildResponse(ctx, req.body, session, 'completed');
    const key = response.identifier ? `${response.identifier.system}|${response.identifier.value}` : undefined;
    if (session.submittedKey && session.submittedKey !== key) throw forbidden('This form has already been sent.');
    const result = await writePath.submit({ response, data: [], author: response.author!, enterer: session.staff });
    if (result.state === 'sent' && session.alerted?.length && writePath.target) {
      await closeAlertFlag(writePath.target, sha256(handle).slice(0, 32)).catch((e: unknown) =>
        console.error('tablet: the alert Flag could not be closed:', e),
      );
    }
    // Keep the (spent) session for a while so that a retry of the same submission is answered, not refused;
    // the grace period of an unsent session ends here (a second, different response is refused anyway).
    const sentAt = ctx.now();
    await ctx.store.putSession(handle, {
      ...session,
      submittedKey: result.key,
      expiresAt: Math.min(session.expiresAt, sentAt + ctx.retryWindowMs),
      submitUntil: sentAt + ctx.retryWindowMs,
    });
    // Never the results or flags: the patient is thanked, nothing more.
    res
      .status(result.state === 'failed' ? 202 : 201)
      .json({ state: result.state === 'failed' ? 'received' : result.state, duplicate: result.duplicate });
  });
}
