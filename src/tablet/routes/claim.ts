/**
 * `POST /claim`: the tablet swaps the code staff gave it for a session scoped to that one patient. A valid
 * code is always taken; wrong codes are counted per address and per tablet name, and slowed down with 429.
 */
import { randomBytes } from 'node:crypto';
import type { Request, Router } from 'express';
import { z } from 'zod';
import { badRequest, FhirError, ThrottledError } from '../../outcomes/index.js';
import type { TabletContext } from '../context.js';
import type { Handoff } from '../store.js';

/** The pinned linkId of the age item (clinical-rules.md): the one the tablet asks the patient to check. */
const AGE_LINK_ID = 'age';

const claimBody = z.object({
  code: z.string().max(32),
  device: z
    .string()
    .regex(/^[A-Za-z0-9 _-]{1,40}$/)
    .optional(),
});

/** A wrong code: 404, or 429 with Retry-After once this address or tablet has typed too many. */
function refuseWrongCode(ctx: TabletContext, req: Request, device: string | undefined): never {
  // Per address (req.ip: the client's own behind a proxy, with TRUST_PROXY) and per tablet name, so one
  // tablet typing wrong codes slows down itself, not the others behind the same proxy or NAT.
  const keys = [`address ${req.ip ?? 'unknown'}`, ...(device ? [`device ${device}`] : [])];
  const waitSeconds = ctx.throttle.fail(keys);
  if (waitSeconds > 0)
    throw new ThrottledError('Too many attempts. Please ask the staff for help.', waitSeconds, 'code');
  throw new FhirError(404, {
    code: 'not-found',
    diagnostics:
      'This code does not work. It may have been used already or be too old. Please ask the staff for a new one.',
    expression: ['code'],
  });
}

/** The new tablet session of a taken code. */
async function openSession(ctx: TabletContext, handoff: Handoff, device: string, at: number): Promise<string> {
  const handle = randomBytes(32).toString('base64url');
  await ctx.store.putSession(handle, {
    patientId: handoff.patientId,
    ...(handoff.patientName ? { patientName: handoff.patientName } : {}),
    ...(handoff.handoffId ? { handoffId: handoff.handoffId } : {}),
    staff: handoff.staff,
    device,
    claimedAt: at,
    lastSeenAt: at,
    expiresAt: at + ctx.sessionTtlMs,
    submitUntil: at + ctx.sessionTtlMs + ctx.submitGraceMs,
  });
  return handle;
}

export function registerClaim(api: Router, ctx: TabletContext): void {
  api.post('/claim', async (req, res) => {
    const body = claimBody.safeParse(req.body);
    if (!body.success) throw badRequest('Send { code }.', 'code');
    const code = body.data.code.toUpperCase().replace(/[\s-]/g, '');
    // The code first: a valid one is taken whatever the wrong-code limits say (they count wrong codes only).
    const at = ctx.now();
    const handoff = /^[A-Z0-9]{4,12}$/.test(code) ? await ctx.store.takeHandoff(code, at) : undefined;
    if (!handoff) refuseWrongCode(ctx, req, body.data.device);
    const handle = await openSession(ctx, handoff, body.data.device ?? 'unnamed', at);
    // The expected age range (never the birth date): the page asks her to check an age outside it.
    const expectedAge = handoff.expectedAge ? { linkId: AGE_LINK_ID, ...handoff.expectedAge } : undefined;
    res.status(201).json({
      session: handle,
      ...(handoff.patientName ? { patientName: handoff.patientName } : {}),
      idleTimeoutMs: ctx.idleTimeoutMs,
      ...(expectedAge ? { expectedAge } : {}),
    });
  });
}
