/**
 * The SMART launch: `/launch` (from the EHR) and `/login` (standalone) send the browser to the EHR's
 * authorization endpoint with PKCE, nonce and a server-side `state`; `/callback` exchanges the code, opens a
 * new session and hands the page a single-use code for it (see index.ts for the session design).
 */
import type { Response, Router } from 'express';
import * as oidc from 'openid-client';
import { badRequest, FhirError, forbidden } from '../../outcomes/index.js';
import { random, type AppContext } from '../context.js';
import type { SessionRef } from '../ehr-access.js';
import { populate, readIntakes, readPatient } from '../patient-reads.js';
import { serverTiming } from '../server-timing.js';
import { findSessionDraft, type ClinicianSession } from '../session-store.js';
import type { TokenResult } from '../smart.js';
import { printable } from '../../platform/text.js';

async function startAuthorization(ctx: AppContext, res: Response, iss: string, launch: string | undefined) {
  const state = random();
  const codeVerifier = oidc.randomPKCECodeVerifier();
  const nonce = random();
  const url = await serverTiming(res).time('discovery', () =>
    ctx.smart.authorizationUrl({ iss, ...(launch ? { launch } : {}), state, codeVerifier, nonce, standalone: !launch }),
  );
  await ctx.store.putLaunch({
    state,
    issuer: iss,
    codeVerifier,
    nonce,
    ...(launch ? { launch } : {}),
    createdAt: Date.now(),
  });
  res.setHeader('Cache-Control', 'no-store');
  res.redirect(303, url.href);
}

/** The FHIR server of a launch, when it is one of the allowed issuers. */
function checkIssuer(allowed: Set<string>, raw: unknown): string {
  const iss = typeof raw === 'string' ? raw.replace(/\/+$/, '') : '';
  if (!iss) throw badRequest('The launch has no iss (the FHIR server to use).');
  if (!allowed.has(iss)) throw forbidden(`This app is not configured to work with the FHIR server ${iss}.`);
  return iss;
}

/**
 * What the page asks for right after a launch, started while the browser follows the redirect: the context
 * (patient, user), the intakes, and `$populate` when the launch will open a new intake form, the way the
 * page decides (no draft of this clinician, no intake yet).
 */
function prefetchLaunch(ctx: AppContext, ref: SessionRef) {
  const { prefetch } = ctx;
  const { handle, session } = ref;
  if (session.fhirUser)
    void prefetch.put(handle, 'user', () => ctx.ehr.json<fhir4.Practitioner>(ref, session.fhirUser!));
  const pid = session.patient;
  if (!pid) return;
  const patient = prefetch.put(handle, 'patient', () => readPatient(ctx, ref, pid));
  const intakes = prefetch.put(handle, 'intakes', () => readIntakes(ctx, ref, pid));
  // The draft lookup runs alongside the EHR reads; with a draft or an intake, the page opens no new form.
  void prefetch.put(handle, 'populate', async () => {
    const [p, list, draft] = await Promise.all([patient, intakes, findSessionDraft(ctx.store, session, pid)]);
    return list.length || draft ? undefined : populate(ctx, ref, p);
  });
}

/** The new session of a completed sign-in (its own fresh handle: no session fixation). */
function newSession(pending: { issuer: string }, result: TokenResult, now: number, ttlMs: number): ClinicianSession {
  return {
    issuer: pending.issuer,
    tokens: result.tokens,
    csrf: random(),
    ...(result.patient ? { patient: result.patient } : {}),
    ...(result.encounter ? { encounter: result.encounter } : {}),
    ...(result.fhirUser ? { fhirUser: result.fhirUser } : {}),
    needPatientBanner: result.needPatientBanner,
    ...(result.smartStyleUrl ? { smartStyleUrl: result.smartStyleUrl } : {}),
    createdAt: now,
    expiresAt: now + ttlMs,
  };
}

export function registerLaunch(router: Router, ctx: AppContext): void {
  const { options, store } = ctx;
  const allowed = new Set(options.allowedIssuers.map((i) => i.replace(/\/+$/, '')));
  const defaultIssuer = options.defaultIssuer ?? options.allowedIssuers[0];
  const sessionTtlMs = options.sessionTtlMs ?? 12 * 60 * 60_000;

  router.get('/launch', async (req, res) => {
    const iss = checkIssuer(allowed, req.query.iss);
    const launch = typeof req.query.launch === 'string' && req.query.launch ? req.query.launch : undefined;
    if (!launch)
      throw badRequest('The EHR launch has no launch parameter. To start the app on its own, open it without iss.');
    await startAuthorization(ctx, res, iss, launch);
  });

  router.get('/login', async (req, res) => {
    await startAuthorization(ctx, res, checkIssuer(allowed, req.query.iss ?? defaultIssuer), undefined);
  });

  router.get('/callback', async (req, res) => {
    if (typeof req.query.error === 'string') {
      throw new FhirError(401, {
        code: 'login',
        diagnostics: `The EHR did not authorize the app: ${printable(req.query.error_description ?? req.query.error)}`,
      });
    }
    const state = typeof req.query.state === 'string' ? req.query.state : '';
    const pending = state ? await store.takeLaunch(state, 10 * 60_000) : undefined;
    if (!pending) throw badRequest('This sign-in link is unknown, used or expired. Launch the app from the EHR again.');
    const result = await serverTiming(res).time('token', () =>
      ctx.smart.exchange(pending.issuer, new URL(req.originalUrl, options.publicUrl), pending),
    );
    const handle = random();
    const now = Date.now();
    const session = newSession(pending, result, now, sessionTtlMs);
    await store.putSession(handle, session);
    prefetchLaunch(ctx, { handle, session });
    const code = random();
    await store.putHandoff(code, handle, now);
    res.setHeader('Cache-Control', 'no-store');
    res.redirect(303, `${ctx.basePath}/ui?handoff=${encodeURIComponent(code)}`);
  });
}
