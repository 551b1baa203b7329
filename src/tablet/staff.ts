/**
 * What staff do and see through the tablet's contract (contract.ts): start a hand-off for one patient (a
 * short single-use code), revoke a code not yet used, and list the codes waiting and the tablets in use.
 */
import { randomBytes, randomInt } from 'node:crypto';
import { badRequest } from '../outcomes/index.js';
import type { TabletContext } from './context.js';
import type { HandoffRequest, TabletSessionSummary } from './contract.js';
import { expectedAgeRange, type ExpectedAge } from './expected-age.js';

/** No 0/O, 1/I/L: read aloud or typed on a tablet without confusion. */
export const CODE_ALPHABET = 'ABCDEFGHJKMNPQRSTUVWXYZ23456789';
/**
 * 31⁸ ≈ 8.5 × 10¹¹ codes. A valid code is never refused, whatever the wrong-code limits say, so the code space
 * alone must make guessing hopeless at the rate this server can answer (docs/tablet.md, "Codes").
 */
const CODE_LENGTH = 8;

function newCode(): string {
  let s = '';
  for (let i = 0; i < CODE_LENGTH; i++) s += CODE_ALPHABET[randomInt(CODE_ALPHABET.length)];
  return s;
}

export async function createHandoff(
  ctx: TabletContext,
  request: HandoffRequest,
): Promise<{ code: string; expiresAt: string; url: string; handoffId: string }> {
  if (!/^[A-Za-z0-9\-.]{1,64}$/.test(request.patientId)) throw badRequest('Invalid patient id.', 'patientId');
  if (!request.staff?.reference && !request.staff?.identifier)
    throw badRequest('The staff member starting the session must be named.', 'staff');
  const handoffId = randomBytes(12).toString('base64url');
  const createdAt = ctx.now();
  const expiresAt = createdAt + ctx.codeTtlMs;
  // Any moment the form can be filled: until the code expires plus a whole session after it.
  const expectedAge: ExpectedAge | undefined = expectedAgeRange(
    request.birthDate,
    createdAt,
    expiresAt + ctx.sessionTtlMs,
  );
  const handoff = {
    patientId: request.patientId,
    ...(request.patientName ? { patientName: request.patientName } : {}),
    staff: request.staff,
    expiresAt,
    createdAt,
    handoffId,
    ...(expectedAge ? { expectedAge } : {}),
  };
  // A code still waiting for another patient's tablet is never overwritten: draw again.
  let code = newCode();
  for (let attempt = 1; !(await ctx.store.putHandoff(code, handoff)); attempt++) {
    if (attempt >= 5) throw new Error('createTablet: no free hand-off code after 5 attempts');
    code = newCode();
  }
  return { code, expiresAt: new Date(expiresAt).toISOString(), url: `${ctx.base.origin}${ctx.basePath}/`, handoffId };
}

/** Revoke a code not yet used; true when it was still valid. */
export async function cancelHandoff(ctx: TabletContext, code: string): Promise<boolean> {
  const normal = code.toUpperCase().replace(/[\s-]/g, '');
  return /^[A-Z0-9]{4,12}$/.test(normal) && (await ctx.store.cancelHandoff(normal));
}

const iso = (ms: number) => new Date(ms).toISOString();
const patientRef = (id: string, name: string | undefined): fhir4.Reference => ({
  reference: `Patient/${id}`,
  ...(name ? { display: name } : {}),
});

/** Codes waiting for a tablet, then tablet sessions in progress or recently ended (never their answers). */
export async function sessionSummaries(ctx: TabletContext): Promise<TabletSessionSummary[]> {
  const at = ctx.now();
  const waiting = (await ctx.store.liveHandoffs(at)).map((h): TabletSessionSummary => ({
    patient: patientRef(h.patientId, h.patientName),
    ...(h.handoffId ? { handoffId: h.handoffId } : {}),
    staff: h.staff,
    ...(h.createdAt ? { createdAt: iso(h.createdAt) } : {}),
    expiresAt: iso(h.expiresAt),
    state: 'waiting-for-code',
    emergency: false,
  }));
  const live = (await ctx.store.liveSessions(at)).map((s): TabletSessionSummary => {
    const ended = s.expiresAt < at;
    return {
      patient: patientRef(s.patientId, s.patientName),
      ...(s.handoffId ? { handoffId: s.handoffId } : {}),
      device: s.device,
      staff: s.staff,
      ...(s.claimedAt ? { claimedAt: iso(s.claimedAt) } : {}),
      ...(s.lastSeenAt ? { lastSeenAt: iso(s.lastSeenAt) } : {}),
      state: s.submittedKey ? 'received' : ended ? 'ended-unsent' : 'in-progress',
      ...(ended && s.submitUntil ? { submitUntil: iso(s.submitUntil) } : {}),
      emergency: (s.alerted?.length ?? 0) > 0,
    };
  });
  return [...waiting, ...live];
}
