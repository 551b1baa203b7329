/**
 * The clinician SMART app (`/app`): EHR and standalone launch, the intake form (LHC-Forms), results with
 * their basis, proposal decisions and the worklist.
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
import { randomBytes, timingSafeEqual } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import express, { type Request, type Response, type Router } from 'express';
import { DEFAULT_MAX_JSON_DEPTH, jsonBody } from '../platform/http/json-body.js';
import * as oidc from 'openid-client';
import { deepFreeze, type KnowledgeBase } from '../knowledge/index.js';
import { badRequest, FhirError, forbidden, notFound, unauthorized } from '../outcomes/index.js';
import { populateQuestionnaire } from '../forms/index.js';
import type { FhirServerTarget } from '../submission/fhir-writer.js';
import type { SubmitInput, SubmitResult } from '../submission/service.js';
import { SUBMISSION_ITEM_SYSTEM, submissionKeyOf } from '../submission/build-bundle.js';
import { assetVersion, LFORMS_DIR, LFORMS_VERSION, lformsPageCsp, modulePreloadTags, SHARED_BROWSER_DIR, staticFiles, withLformsTags } from '../platform/lforms/assets.js';
import { scriptCacheWorker } from '../platform/lforms/script-cache.js';
import { createEhrAccess, type SessionRef } from './ehr-access.js';
import { createLaunchPrefetch } from './launch-prefetch.js';
import { serverTiming } from './server-timing.js';
import { buildResultsView, historyPoints, itemIdentifierValue } from './results.js';
import { decisionReasons, errorPage, loadStyle } from './helpers.js';
import { createProposalSupport } from './proposals.js';
import { sanitizeQuestionnaire, withoutPrefillExpressions } from '../forms/sanitize.js';
import { openSqliteSessionStore, type ClinicianSession, type SessionStore } from './session-store.js';
import { createSmartClient, SmartError } from './smart.js';
import { consoleErrors, errorHandler } from '../platform/http/errors.js';
import { FLAG_CODES } from '../submission/worklist-tags.js';
import { DEFAULT_UNDO_WINDOW_MS, FLAG_OUTCOME_CODES, FLAG_OUTCOME_DISPLAY, recordFlagOutcome, undoDecision } from '../submission/resolve-proposal.js';
import { createWorklist } from './worklist.js';
import { registerTabletStaffRoutes, type OutboxForStaff, type TabletForStaff } from './tablet-staff.js';

/** The app's own browser modules, CSS and page shell. */
const PUBLIC_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), 'public');

export const INTAKE_URL = 'https://periplan.app/fhir/Questionnaire/back-pain-intake';

export interface ResolveProposalInput {
  target: string;
  decision: 'accept' | 'dismiss';
  reason?: fhir4.Coding;
  note?: string;
  who: fhir4.Reference;
  bearerToken?: string;
}
export type ResolveProposal = (target: FhirServerTarget, input: ResolveProposalInput, now?: Date) => Promise<unknown>;

export interface ClinicianAppOptions {
  /** Public base URL of the whole server, no trailing slash (the app lives at `${publicUrl}${basePath}`). */
  publicUrl: string;
  basePath?: string;
  dataDir: string;
  knowledge: KnowledgeBase;
  clientId: string;
  clientSecret?: string;
  /** The write path (createSubmissionService / createWritePath). */
  submission: { submit(input: SubmitInput): Promise<SubmitResult> };
  resolveProposal?: ResolveProposal;
  /** FHIR base URLs (`iss`) the app accepts; anything else is refused before any request is made. */
  allowedIssuers: string[];
  /** The FHIR base for a standalone launch (default: the first allowed issuer). */
  defaultIssuer?: string;
  /** Origins allowed to frame the app (default: the allowed issuers' origins and our own). */
  frameAncestors?: string[];
  sessionStore?: SessionStore;
  /**
   * Upper bound of a session, even when tokens are refreshed (default 12 h: longer than an `online_access`
   * refresh token lives, so that when the EHR sign-in ends the app session can still save the draft).
   */
  sessionTtlMs?: number;
  /** Accept http issuers other than loopback ones (the sandbox on 127.0.0.1 works without it). Never in production. */
  allowInsecureHttp?: boolean;
  /** The waiting-room tablet (createTablet): staff start tablet sessions, see them, and hear emergency alerts. */
  tablet?: TabletForStaff;
  /** The write path's outbox, for the staff view of submissions not yet in the EHR. */
  outbox?: OutboxForStaff;
  /** Heartbeat interval of the alert stream (default 25 s). */
  alertHeartbeatMs?: number;
  /** How long the clinician who accepted, dismissed or recorded a flag outcome may undo it (default 10 min). */
  undoWindowMs?: number;
  /** The clock of every recorded act and of the undo window (tests fix it; default: the system clock). */
  now?: () => Date;
}

const random = (bytes = 32) => randomBytes(bytes).toString('base64url');

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

function humanName(p: fhir4.Patient | fhir4.Practitioner | undefined): string {
  const n = p?.name?.[0];
  if (!n) return 'Unnamed';
  return n.text ?? [...(n.prefix ?? []), ...(n.given ?? []), n.family].filter(Boolean).join(' ');
}

export async function createClinicianApp(options: ClinicianAppOptions): Promise<{ router: Router; close(): Promise<void>; store: SessionStore }> {
  const basePath = options.basePath ?? '/app';
  const appUrl = `${options.publicUrl}${basePath}`;
  const store = options.sessionStore ?? openSqliteSessionStore(path.join(options.dataDir, 'clinician-app'));
  const smart = createSmartClient({
    clientId: options.clientId,
    ...(options.clientSecret ? { clientSecret: options.clientSecret } : {}),
    redirectUri: `${appUrl}/callback`,
    ...(options.allowInsecureHttp ? { allowInsecureHttp: true } : {}),
  });
  const ehr = createEhrAccess({ store, smart });
  const prefetch = createLaunchPrefetch();
  const now = options.now ?? (() => new Date());
  const undoWindowMs = options.undoWindowMs ?? DEFAULT_UNDO_WINDOW_MS;
  const worklist = createWorklist(ehr, options.knowledge);
  const allowed = new Set(options.allowedIssuers.map((i) => i.replace(/\/+$/, '')));
  const defaultIssuer = options.defaultIssuer ?? options.allowedIssuers[0];
  const sessionTtlMs = options.sessionTtlMs ?? 12 * 60 * 60_000;
  const version = assetVersion(PUBLIC_DIR, SHARED_BROWSER_DIR);
  const own = staticFiles(PUBLIC_DIR);
  const shared = staticFiles(SHARED_BROWSER_DIR);
  const lforms = staticFiles(LFORMS_DIR);
  const origins = (urls: string[]) => [...new Set(urls.map((u) => new URL(u).origin))];
  const frameAncestors = options.frameAncestors ?? origins([options.publicUrl, ...options.allowedIssuers]);

  const questionnaire = options.knowledge.resolve(INTAKE_URL, 'Questionnaire') as fhir4.Questionnaire | undefined;
  if (!questionnaire) throw new Error(`createClinicianApp: the intake Questionnaire ${INTAKE_URL} is not in the knowledge base`);
  // Served to every session as is: frozen like the knowledge it comes from.
  const safeQuestionnaire = deepFreeze(withoutPrefillExpressions(sanitizeQuestionnaire(questionnaire)));
  const intakeCanonical = `${questionnaire.url}|${questionnaire.version}`;
  const reasonCodes = decisionReasons(options.knowledge);
  const { decisionRecords } = createProposalSupport({ ehr });

  const shell = withLformsTags(
    fs
      .readFileSync(path.join(PUBLIC_DIR, 'index.html'), 'utf8')
      .replaceAll('{{base}}', basePath)
      .replaceAll('{{v}}', version)
      .replaceAll('{{lformsVersion}}', LFORMS_VERSION)
      .replace('{{appModulePreloads}}', [modulePreloadTags(`${basePath}/assets/${version}`, PUBLIC_DIR), modulePreloadTags(`${basePath}/assets/${version}/shared`, SHARED_BROWSER_DIR)].join('\n')),
    basePath,
  );
  const scriptCache = scriptCacheWorker({ shell, scope: `${basePath}/ui` });

  const csp = lformsPageCsp({
    formAction: `'self' ${origins(options.allowedIssuers).join(' ')}`,
    frameAncestors: frameAncestors.map((o) => (o === new URL(options.publicUrl).origin ? "'self'" : o)).join(' '),
  });

  const router = express.Router();
  router.use((_req, res, next) => {
    res.setHeader('Content-Security-Policy', csp);
    res.setHeader('Referrer-Policy', 'no-referrer');
    res.setHeader('X-Content-Type-Options', 'nosniff');
    res.removeHeader('X-Frame-Options'); // frame-ancestors decides (an EHR frames the app)
    res.setHeader('Cross-Origin-Resource-Policy', 'same-origin');
    next();
  });

  // ---- static files ------------------------------------------------------------------------------
  router.get(`/assets/${version}/:file`, (req, res, next) => (own(req, res, String(req.params.file)) ? undefined : next()));
  router.get(`/assets/${version}/shared/:file`, (req, res, next) => (shared(req, res, String(req.params.file)) ? undefined : next()));
  router.get(`/lforms/${LFORMS_VERSION}/*splat`, (req, res, next) => {
    const rel = ([] as string[]).concat(req.params.splat as string | string[]).join('/');
    return lforms(req, res, rel) ? undefined : next();
  });

  router.get('/sw.js', (req, res) => scriptCache.serve(req, res));

  function sendShell(res: Response) {
    res.setHeader('Cache-Control', 'no-store');
    res.type('html').send(shell);
  }
  router.get('/', (_req, res) => sendShell(res));
  router.get('/ui', (_req, res) => sendShell(res));

  // ---- SMART launch --------------------------------------------------------------------------------
  async function startAuthorization(res: Response, iss: string, launch: string | undefined) {
    const state = random();
    const codeVerifier = oidc.randomPKCECodeVerifier();
    const nonce = random();
    const url = await serverTiming(res).time('discovery', () => smart.authorizationUrl({ iss, ...(launch ? { launch } : {}), state, codeVerifier, nonce, standalone: !launch }));
    await store.putLaunch({ state, issuer: iss, codeVerifier, nonce, ...(launch ? { launch } : {}), createdAt: Date.now() });
    res.setHeader('Cache-Control', 'no-store');
    res.redirect(303, url.href);
  }

  function checkIssuer(raw: unknown): string {
    const iss = typeof raw === 'string' ? raw.replace(/\/+$/, '') : '';
    if (!iss) throw badRequest('The launch has no iss (the FHIR server to use).');
    if (!allowed.has(iss)) throw forbidden(`This app is not configured to work with the FHIR server ${iss}.`);
    return iss;
  }

  router.get('/launch', async (req, res) => {
    const iss = checkIssuer(req.query.iss);
    const launch = typeof req.query.launch === 'string' && req.query.launch ? req.query.launch : undefined;
    if (!launch) throw badRequest('The EHR launch has no launch parameter. To start the app on its own, open it without iss.');
    await startAuthorization(res, iss, launch);
  });

  router.get('/login', async (req, res) => {
    await startAuthorization(res, checkIssuer(req.query.iss ?? defaultIssuer), undefined);
  });

  router.get('/callback', async (req, res) => {
    if (typeof req.query.error === 'string') {
      throw new FhirError(401, { code: 'login', diagnostics: `The EHR did not authorize the app: ${String(req.query.error_description ?? req.query.error)}` });
    }
    const state = typeof req.query.state === 'string' ? req.query.state : '';
    const pending = state ? await store.takeLaunch(state, 10 * 60_000) : undefined;
    if (!pending) throw badRequest('This sign-in link is unknown, used or expired. Launch the app from the EHR again.');
    const result = await serverTiming(res).time('token', () => smart.exchange(pending.issuer, new URL(req.originalUrl, options.publicUrl), pending));
    const handle = random();
    const now = Date.now();
    const session: ClinicianSession = {
      issuer: pending.issuer,
      tokens: result.tokens,
      csrf: random(),
      ...(result.patient ? { patient: result.patient } : {}),
      ...(result.encounter ? { encounter: result.encounter } : {}),
      ...(result.fhirUser ? { fhirUser: result.fhirUser } : {}),
      needPatientBanner: result.needPatientBanner,
      ...(result.smartStyleUrl ? { smartStyleUrl: result.smartStyleUrl } : {}),
      createdAt: now,
      expiresAt: now + sessionTtlMs,
    };
    await store.putSession(handle, session);
    prefetchLaunch({ handle, session });
    const code = random();
    await store.putHandoff(code, handle, now);
    res.setHeader('Cache-Control', 'no-store');
    res.redirect(303, `${basePath}/ui?handoff=${encodeURIComponent(code)}`);
  });

  // ---- API ---------------------------------------------------------------------------------------
  const api = express.Router();
  api.use(jsonBody({ limitBytes: 2 * 1024 * 1024, maxDepth: DEFAULT_MAX_JSON_DEPTH, mediaTypes: ['application/json'], otherTypes: 'skip' }));
  api.use((req, res, next) => {
    res.setHeader('Cache-Control', 'no-store');
    // Same-origin only: a cross-site page must not drive the API (belt and braces with the custom headers).
    const origin = req.headers.origin;
    if (origin && origin !== new URL(options.publicUrl).origin) throw forbidden('Cross-origin requests are not accepted.');
    // A write may make what the launch read ahead stale: from now on this session reads live.
    if (!['GET', 'HEAD'].includes(req.method) && req.get('x-session')) prefetch.forget(req.get('x-session')!);
    next();
  });

  api.post('/handoff', async (req, res) => {
    const code = typeof req.body?.code === 'string' ? req.body.code : '';
    const handle = code ? await store.takeHandoff(code, 60_000, Date.now()) : undefined;
    const session = handle ? await store.getSession(handle, Date.now()) : undefined;
    if (!handle || !session) throw unauthorized('This sign-in has already been used or has expired. Launch the app from the EHR again.');
    res.json({ session: handle, csrf: session.csrf });
  });

  async function sessionOf(req: Request): Promise<SessionRef> {
    const handle = req.get('x-session') ?? '';
    const session = handle ? await store.getSession(handle, Date.now()) : undefined;
    if (!session) throw unauthorized('No session: launch the app from the EHR.');
    if (!['GET', 'HEAD'].includes(req.method)) {
      const csrf = req.get('x-csrf-token') ?? '';
      if (!csrf || !sameSecret(csrf, session.csrf)) throw forbidden('The request is missing its CSRF token.');
    }
    return { handle, session };
  }

  const patientId = (raw: unknown): string => {
    const id = String(raw ?? '');
    if (!/^[A-Za-z0-9\-.]{1,64}$/.test(id)) throw badRequest('Invalid patient id.');
    return id;
  };

  async function readPatient(ref: SessionRef, id: string) {
    return ehr.json<fhir4.Patient>(ref, `Patient/${id}`);
  }

  function patientSummary(p: fhir4.Patient) {
    const mrn = p.identifier?.find((i) => /mrn/i.test(i.system ?? '') || i.type?.coding?.some((c) => c.code === 'MR'));
    return { id: p.id, name: humanName(p), birthDate: p.birthDate, gender: p.gender, mrn: mrn?.value };
  }

  /** The launch patient's submitted intakes, newest first. */
  async function readIntakes(ref: SessionRef, pid: string) {
    const b = await ehr.json<fhir4.Bundle>(ref, `QuestionnaireResponse?subject=Patient/${pid}&questionnaire=${encodeURIComponent(INTAKE_URL)}&status=completed,amended&_sort=-authored&_count=50`);
    return (b.entry ?? [])
      .map((e) => e.resource as fhir4.QuestionnaireResponse)
      .filter((qr) => qr?.resourceType === 'QuestionnaireResponse' && qr.subject?.reference === `Patient/${pid}` && !!qr.identifier?.value)
      .map((qr) => ({ id: qr.id, authored: qr.authored, status: qr.status, version: qr.meta?.versionId ?? '1' }));
  }

  function populate(ref: SessionRef, patient: fhir4.Patient) {
    return populateQuestionnaire(questionnaire!, { subject: patient, fetchResources: (query) => ehr.json<fhir4.Bundle>(ref, query) });
  }

  /**
   * What the page asks for right after a launch, started while the browser follows the redirect: the context
   * (patient, user), the intakes, and `$populate` when the launch will open a new intake form, the way the
   * page decides (no draft of this clinician, no intake yet).
   */
  function prefetchLaunch(ref: SessionRef) {
    const { handle, session } = ref;
    if (session.fhirUser) prefetch.put(handle, 'user', () => ehr.json<fhir4.Practitioner>(ref, session.fhirUser!));
    const pid = session.patient;
    if (!pid) return;
    const patient = prefetch.put(handle, 'patient', () => readPatient(ref, pid));
    const intakes = prefetch.put(handle, 'intakes', () => readIntakes(ref, pid));
    // The draft lookup runs alongside the EHR reads; with a draft or an intake, the page opens no new form.
    prefetch.put(handle, 'populate', async () => {
      const [p, list, draft] = await Promise.all([patient, intakes, store.findDraft(session.issuer, pid, session.fhirUser ?? 'unknown')]);
      return list.length || draft ? undefined : populate(ref, p);
    });
  }

  api.get('/context', async (req, res) => {
    const ref = await sessionOf(req);
    const s = ref.session;
    const timing = serverTiming(res);
    const [patient, user, style] = await Promise.all([
      s.patient ? timing.time('ehr', () => prefetch.take<fhir4.Patient>(ref.handle, 'patient') ?? readPatient(ref, s.patient!)) : undefined,
      s.fhirUser ? timing.time('ehr', () => prefetch.take<fhir4.Practitioner>(ref.handle, 'user') ?? ehr.json<fhir4.Practitioner>(ref, s.fhirUser!)).catch(() => undefined) : undefined,
      s.smartStyleUrl ? timing.time('style', () => loadStyle(s.smartStyleUrl!)) : undefined,
    ]);
    res.json({
      patient: patient ? patientSummary(patient) : undefined,
      user: s.fhirUser ? { reference: s.fhirUser, name: user ? humanName(user) : s.fhirUser } : undefined,
      needPatientBanner: s.needPatientBanner,
      style,
      decisionReasons: reasonCodes,
      flagCodes: FLAG_CODES,
      flagOutcomes: FLAG_OUTCOME_CODES.map((code) => ({ code, display: FLAG_OUTCOME_DISPLAY[code], noteRequired: code === 'not-needed' || code === 'entered-in-error' })),
      undoWindowMs,
      // The tablet buttons, panel and alert stream are for clinical staff only (see tablet-staff.ts).
      tablet: !!options.tablet && /(?:^|\/)Practitioner\/[^/]+$/.test(s.fhirUser ?? ''),
    });
  });

  api.get('/patients/:id', async (req, res) => {
    const ref = await sessionOf(req);
    res.json(patientSummary(await readPatient(ref, patientId(req.params.id))));
  });

  api.get('/questionnaire', async (req, res) => {
    await sessionOf(req);
    res.json(safeQuestionnaire);
  });

  /** The response to load into the form: a saved draft, a completed response to amend, or a fresh $populate. */
  api.get('/form', async (req, res) => {
    const ref = await sessionOf(req);
    const pid = ref.session.patient;
    if (!pid) throw badRequest('No patient is open: launch the app from the patient\'s record.');
    const user = ref.session.fhirUser ?? 'unknown';
    if (typeof req.query.amend === 'string') {
      const qr = await ehr.json<fhir4.QuestionnaireResponse>(ref, `QuestionnaireResponse/${patientId(req.query.amend)}`);
      if (qr.subject?.reference !== `Patient/${pid}`) throw forbidden('That response belongs to another patient.');
      res.json({ source: 'amend', response: qr });
      return;
    }
    const draft = await store.findDraft(ref.session.issuer, pid, user);
    if (draft && req.query.fresh !== '1') {
      res.json({ source: 'draft', response: draft.response, savedAt: draft.updatedAt });
      return;
    }
    const timing = serverTiming(res);
    const prefetched = req.query.fresh === '1' ? undefined : await timing.time('populate', async () => prefetch.take<Awaited<ReturnType<typeof populate>> | undefined>(ref.handle, 'populate'));
    const { response, outcome } =
      prefetched ?? (await timing.time('populate', async () => populate(ref, await timing.time('ehr', () => prefetch.take<fhir4.Patient>(ref.handle, 'patient') ?? readPatient(ref, pid)))));
    res.json({ source: 'populate', response, warnings: outcome.issue.filter((i) => i.severity !== 'information').map((i) => i.diagnostics).filter(Boolean) });
  });

  api.put('/draft', async (req, res) => {
    const ref = await sessionOf(req);
    const pid = ref.session.patient;
    if (!pid) throw badRequest('No patient is open.');
    const response = req.body?.response as fhir4.QuestionnaireResponse | undefined;
    if (response?.resourceType !== 'QuestionnaireResponse') throw badRequest('The draft must be a QuestionnaireResponse.', 'QuestionnaireResponse');
    const user = ref.session.fhirUser ?? 'unknown';
    const existing = await store.findDraft(ref.session.issuer, pid, user);
    const updatedAt = new Date().toISOString();
    const draft = {
      ...response,
      status: 'in-progress' as const,
      questionnaire: intakeCanonical,
      subject: { reference: `Patient/${pid}` },
      ...(ref.session.fhirUser ? { author: { reference: ref.session.fhirUser } } : {}),
    };
    await store.saveDraft({ id: existing?.id ?? random(12), issuer: ref.session.issuer, patient: pid, user, response: draft, updatedAt });
    res.json({ savedAt: updatedAt, message: `Draft saved at ${updatedAt}.` });
  });

  api.delete('/draft', async (req, res) => {
    const ref = await sessionOf(req);
    const d = ref.session.patient ? await store.findDraft(ref.session.issuer, ref.session.patient, ref.session.fhirUser ?? 'unknown') : undefined;
    if (d) await store.deleteDraft(d.id);
    res.status(204).end();
  });

  api.post('/submit', async (req, res) => {
    const ref = await sessionOf(req);
    const pid = ref.session.patient;
    if (!pid) throw badRequest('No patient is open.');
    const body = req.body as { response?: fhir4.QuestionnaireResponse; amendOf?: string; amendVersion?: string } | undefined;
    if (body?.response?.resourceType !== 'QuestionnaireResponse') throw badRequest('Expected a QuestionnaireResponse.', 'QuestionnaireResponse');
    // An amendment is a new VERSION of the stored response (same id and identifier, status amended), written
    // by the write path with If-Match on the version the form loaded: someone else's change since is a 412.
    let amends: { id: string; versionId: string; identifier: fhir4.Identifier } | undefined;
    if (body.amendOf) {
      const stored = await ehr.json<fhir4.QuestionnaireResponse>(ref, `QuestionnaireResponse/${patientId(body.amendOf)}`);
      if (stored.subject?.reference !== `Patient/${pid}`) throw forbidden('That response belongs to another patient.');
      if (!stored.identifier?.value || !stored.id) throw badRequest('This response was not submitted through PeriPlan (it has no identifier): it cannot be amended here.');
      const versionId = typeof body.amendVersion === 'string' && body.amendVersion ? body.amendVersion : (stored.meta?.versionId ?? '1');
      amends = { id: stored.id, versionId, identifier: stored.identifier };
    }
    // The EHR may be unreachable right now: the write path then keeps the submission and sends it later
    // ("saved, sending"); the rules read the age from the answers, so the Patient is a nice-to-have here.
    const patient = await readPatient(ref, pid).catch((err: unknown) => {
      if (err instanceof FhirError) throw err;
      return undefined;
    });
    const author = ref.session.fhirUser ? { reference: ref.session.fhirUser } : { reference: `Patient/${pid}` };
    const { id: _clientId, identifier: _clientIdentifier, meta: _clientMeta, ...answers } = body.response;
    const response: fhir4.QuestionnaireResponse = {
      ...answers,
      ...(amends ? { identifier: amends.identifier } : {}),
      status: amends ? 'amended' : 'completed',
      questionnaire: intakeCanonical,
      subject: { reference: `Patient/${pid}` },
      authored: new Date().toISOString(),
      author,
    };
    const result = await options.submission.submit({
      response,
      data: patient ? [patient] : [],
      author,
      bearerToken: await ehr.accessToken(ref),
      ...(amends ? { amends: { id: amends.id, versionId: amends.versionId } } : {}),
    });
    const d = await store.findDraft(ref.session.issuer, pid, ref.session.fhirUser ?? 'unknown');
    if (d) await store.deleteDraft(d.id);
    // The page finds the results by the response's identifier (an amendment's submission key is longer).
    const responseKey = result.response.identifier?.value ? `${result.response.identifier.system ?? ''}|${result.response.identifier.value}` : result.key;
    res.json({
      state: result.state,
      message: result.message,
      key: responseKey,
      duplicate: result.duplicate,
      // When the EHR cannot be reached yet, show what was computed (proposals cannot be decided until sent).
      ...(result.state !== 'sent' && result.carePlan ? { results: buildResultsView({ carePlan: result.carePlan, responseKey: result.key, live: [] }) } : {}),
    });
  });

  api.get('/patients/:id/results', async (req, res) => {
    const ref = await sessionOf(req);
    const pid = patientId(req.params.id);
    let qr: fhir4.QuestionnaireResponse | undefined;
    if (typeof req.query.key === 'string') {
      const b = await ehr.json<fhir4.Bundle>(ref, `QuestionnaireResponse?identifier=${encodeURIComponent(req.query.key)}`);
      qr = b.entry?.[0]?.resource as fhir4.QuestionnaireResponse | undefined;
    } else if (typeof req.query.response === 'string') {
      qr = await ehr.json<fhir4.QuestionnaireResponse>(ref, `QuestionnaireResponse/${patientId(req.query.response)}`);
    } else {
      const b = await ehr.json<fhir4.Bundle>(ref, `QuestionnaireResponse?subject=Patient/${pid}&status=completed,amended&_sort=-authored&_count=1`);
      qr = b.entry?.[0]?.resource as fhir4.QuestionnaireResponse | undefined;
    }
    if (!qr) throw notFound('No submitted intake for this patient yet.');
    if (qr.subject?.reference !== `Patient/${pid}`) throw forbidden('That response belongs to another patient.');
    if (!qr.identifier?.value) throw notFound('This response was not submitted through PeriPlan (it has no identifier).');
    // The submission that wrote this version (an amendment has its own key): its Flags, proposals and CarePlan.
    const key = submissionKeyOf(qr) ?? `${qr.identifier.system ?? ''}|${qr.identifier.value}`;
    const enc = encodeURIComponent;
    const [plans, srs, flags] = await Promise.all([
      ehr.json<fhir4.Bundle>(ref, `CarePlan?identifier=${enc(`${SUBMISSION_ITEM_SYSTEM}|${itemIdentifierValue(key, 'care-plan')}`)}`),
      ehr.json<fhir4.Bundle>(ref, `ServiceRequest?subject=Patient/${pid}&_count=500`),
      ehr.json<fhir4.Bundle>(ref, `Flag?subject=Patient/${pid}&_count=500`),
    ]);
    const carePlan = plans.entry?.[0]?.resource as fhir4.CarePlan | undefined;
    if (!carePlan) throw notFound('The results of this response are not in the record yet (it may still be sending).');
    const live = [...(srs.entry ?? []), ...(flags.entry ?? [])].map((e) => e.resource as fhir4.ServiceRequest | fhir4.Flag);
    const me = ref.session.fhirUser;
    const decisions = await decisionRecords(
      ref,
      live.filter((r) => (r.resourceType === 'ServiceRequest' ? r.intent === 'proposal' && r.status !== 'draft' : r.status !== 'active')),
      (author, recorded) => !!me && author === me && !!recorded && now().getTime() - Date.parse(recorded) <= undoWindowMs,
    );
    const view = buildResultsView({ carePlan, responseKey: key, ...(qr.authored ? { responseAuthored: qr.authored } : {}), live, decisions });
    res.json({ response: { id: qr.id, status: qr.status, authored: qr.authored, version: qr.meta?.versionId }, ...view });
  });

  /**
   * The patient's intakes, newest first (each can be opened), and whether this clinician has a draft for
   * her: a launch opens the draft if there is one, else her latest results, else a new intake form.
   */
  api.get('/patients/:id/intakes', async (req, res) => {
    const ref = await sessionOf(req);
    const pid = patientId(req.params.id);
    const launchPatient = ref.session.patient === pid ? prefetch.take<Awaited<ReturnType<typeof readIntakes>>>(ref.handle, 'intakes') : undefined;
    const intakes = await serverTiming(res).time('ehr', () => launchPatient ?? readIntakes(ref, pid));
    const draft = ref.session.patient === pid ? await store.findDraft(ref.session.issuer, pid, ref.session.fhirUser ?? 'unknown') : undefined;
    res.json({ intakes, draft: draft ? { savedAt: draft.updatedAt } : null });
  });

  api.get('/patients/:id/history', async (req, res) => {
    const ref = await sessionOf(req);
    const pid = patientId(req.params.id);
    const b = await ehr.json<fhir4.Bundle>(ref, `QuestionnaireResponse?subject=Patient/${pid}&questionnaire=${encodeURIComponent(INTAKE_URL)}&_sort=-authored&_count=50`);
    const current = (b.entry ?? []).map((e) => e.resource as fhir4.QuestionnaireResponse);
    // An amended response is a new version of the same resource: its earlier versions are points too.
    const earlier = await Promise.all(
      current
        .filter((qr) => qr.meta?.versionId && qr.meta.versionId !== '1')
        .map((qr) =>
          ehr
            .json<fhir4.Bundle>(ref, `QuestionnaireResponse/${qr.id}/_history?_count=50`)
            .then((h) => (h.entry ?? []).map((e) => e.resource as fhir4.QuestionnaireResponse).filter((v) => v && v.meta?.versionId !== qr.meta?.versionId))
            .catch(() => [] as fhir4.QuestionnaireResponse[]),
        ),
    );
    res.json({ points: historyPoints([...current, ...earlier.flat()]) });
  });

  api.post('/decisions', async (req, res) => {
    const ref = await sessionOf(req);
    if (!options.resolveProposal) throw new FhirError(501, { code: 'not-supported', diagnostics: 'Accepting or dismissing proposals is not available on this server.' });
    const body = req.body as { target?: string; decision?: string; reason?: string; note?: string } | undefined;
    const target = String(body?.target ?? '');
    // A Flag is closed by saying what happened to the patient (POST /flags/outcome), never by a decision on a proposal.
    if (!/^ServiceRequest\/[A-Za-z0-9\-.]{1,64}$/.test(target)) throw badRequest('target must be ServiceRequest/<id>. A Flag is closed by recording what happened to the patient.', 'target');
    if (body?.decision !== 'accept' && body?.decision !== 'dismiss') throw badRequest('decision must be accept or dismiss.', 'decision');
    const reason = body.reason ? reasonCodes.find((r) => r.code === body.reason) : undefined;
    if (body.decision === 'dismiss' && !reason) throw badRequest('Choose a reason for dismissing the proposal.', 'reason');
    const note = typeof body.note === 'string' && body.note.trim() ? body.note.trim().slice(0, 1000) : undefined;
    const who = { reference: ref.session.fhirUser ?? 'Practitioner/unknown' };
    const token = await ehr.accessToken(ref);
    const result = (await options.resolveProposal(
      { baseUrl: ref.session.issuer, getToken: async () => token },
      { target, decision: body.decision, ...(reason ? { reason } : {}), ...(note ? { note } : {}), who, bearerToken: token },
      now(),
    )) as { provenance?: fhir4.Provenance } | undefined;
    res.json({ ok: true, ...(result?.provenance?.id ? { provenance: result.provenance.id } : {}) });
  });

  /** What happened to the patient of a Flag: the act that closes it (who and when in a Provenance). */
  api.post('/flags/outcome', async (req, res) => {
    const ref = await sessionOf(req);
    const body = req.body as { target?: unknown; outcome?: unknown; note?: unknown } | undefined;
    const target = String(body?.target ?? '');
    if (!/^Flag\/[A-Za-z0-9\-.]{1,64}$/.test(target)) throw badRequest('target must be Flag/<id>.', 'target');
    const outcome = String(body?.outcome ?? '');
    if (!(FLAG_OUTCOME_CODES as readonly string[]).includes(outcome)) throw badRequest(`Choose what happened to the patient: one of ${FLAG_OUTCOME_CODES.join(', ')}.`, 'outcome');
    const note = typeof body?.note === 'string' && body.note.trim() ? body.note.trim().slice(0, 1000) : undefined;
    if (!ref.session.fhirUser) throw forbidden('Only a signed-in clinician can record what happened to a patient.');
    const token = await ehr.accessToken(ref);
    const { provenance } = await recordFlagOutcome(
      { baseUrl: ref.session.issuer, getToken: async () => token },
      { target, outcome, ...(note ? { note } : {}), who: { reference: ref.session.fhirUser }, bearerToken: token },
      now(),
    );
    res.json({ ok: true, provenance: provenance.id });
  });

  /** Undo an accept, a dismiss or a flag outcome: its author only, within the window; recorded as a new act. */
  api.post('/undo', async (req, res) => {
    const ref = await sessionOf(req);
    const body = req.body as { provenance?: unknown } | undefined;
    const provenance = String(body?.provenance ?? '');
    if (!/^[A-Za-z0-9\-.]{1,64}$/.test(provenance)) throw badRequest('provenance must be the id of the act to undo.', 'provenance');
    if (!ref.session.fhirUser) throw forbidden('Only the clinician who recorded it can undo it.');
    const token = await ehr.accessToken(ref);
    const result = await undoDecision(
      { baseUrl: ref.session.issuer, getToken: async () => token },
      { provenance, who: { reference: ref.session.fhirUser }, bearerToken: token, windowMs: undoWindowMs },
      now(),
    );
    res.json({ ok: true, undone: result.undone, provenance: result.provenance.id });
  });

  api.get('/worklist', async (req, res) => {
    const ref = await sessionOf(req);
    const flag = typeof req.query.flag === 'string' && (FLAG_CODES as readonly string[]).includes(req.query.flag) ? req.query.flag : undefined;
    const sort = req.query.sort === 'date' ? 'date' : 'tier';
    const page = Math.max(1, Math.min(10_000, Number.parseInt(String(req.query.page ?? '1'), 10) || 1));
    res.json({ page, pageSize: 20, ...(await worklist.page(ref, { ...(flag ? { flag } : {}), sort, page })) });
  });

  if (options.tablet) {
    registerTabletStaffRoutes(api, {
      tablet: options.tablet,
      ...(options.outbox ? { outbox: options.outbox } : {}),
      ehr,
      sessionOf,
      sessionAlive: async (handle) => (await store.getSession(handle, Date.now())) !== undefined,
      humanName,
      ...(options.alertHeartbeatMs ? { heartbeatMs: options.alertHeartbeatMs } : {}),
    });
  } else {
    api.all(['/tablet-handoff', '/tablet-handoff/cancel', '/tablet-sessions', '/alerts'], () => {
      throw new FhirError(501, { code: 'not-supported', diagnostics: 'The waiting-room tablet is not set up on this server.' });
    });
  }

  api.post('/logout', async (req, res) => {
    const ref = await sessionOf(req);
    await store.deleteSession(ref.handle);
    res.status(204).end();
  });

  router.use('/api', api);

  // The JSON API answers OperationOutcomes; the pages (launch, callback) an error page. Never cached.
  router.use(
    errorHandler({
      log: consoleErrors('clinician-app'),
      translate: signInErrors,
      html: { wanted: (req) => !req.path.startsWith('/api/'), page: (message) => errorPage(message, basePath, version) },
      noStore: true,
    }),
  );

  return {
    router,
    store,
    async close() {
      prefetch.close();
      await store.close();
    },
  };
}

/** The SMART client's and openid-client's errors, as the FhirErrors they mean for the user. */
function signInErrors(err: unknown): unknown {
  if (err instanceof SmartError) return new FhirError(502, { code: 'exception', diagnostics: err.message });
  if (err instanceof oidc.ResponseBodyError || err instanceof oidc.AuthorizationResponseError) {
    return new FhirError(401, { code: 'login', diagnostics: `Sign-in with the EHR failed: ${err.error}${err.error_description ? `: ${err.error_description}` : ''}` });
  }
  return err;
}
