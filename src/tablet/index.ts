/**
 * The clinic intake tablet (`/tablet`): a shared device in the waiting room on which a patient answers the
 * back-pain intake herself. Staff start a session for one patient (`createHandoff`, called server-side by the
 * clinician app for its signed-in user) and get a short single-use code; the tablet swaps the code for a
 * session scoped to that one patient and the Questionnaire, and nothing else: no worklist, no results, no
 * flags. Submit goes through the write path with the module's own credential (there is no user token on a
 * kiosk); the response names the patient as source and author, the staff member as enterer, and the device.
 */
import { randomBytes, randomInt } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import express, { type Request } from 'express';
import { z } from 'zod';
import type { KnowledgeBase } from '../knowledge/knowledge-base.js';
import { badRequest, FhirError, forbidden, ThrottledError, unauthorized } from '../outcomes/index.js';
import { consoleErrors, errorHandler } from '../platform/http/errors.js';
import { openEventStream } from '../api/event-stream.js';
import { DEFAULT_MAX_JSON_DEPTH, jsonBody } from '../platform/http/json-body.js';
import { applyPlanDefinition } from '../rules/index.js';
import { assetVersion, LFORMS_DIR, LFORMS_VERSION, lformsPageCsp, REVALIDATE, SHARED_BROWSER_DIR, staticFiles, withLformsTags } from '../platform/lforms/assets.js';
import { sanitizeQuestionnaire, withoutPrefillExpressions } from '../forms/sanitize.js';
import type { FhirServerTarget, SubmitInput, SubmitResult } from '../submission/index.js';
import { clientFor, FLAG_PRIORITY_EXTENSION, FLAG_PRIORITY_SYSTEM, FLAG_SYSTEM, FOLLOW_UP_PLAN, withRuleCodes, withWorklistTags } from '../submission/index.js';
import { httpStatusOf, serverReasonOf } from '../platform/fhir-client/index.js';
import { canonicalResponseText, LANGUAGES, translateQuestionnaire, type Language } from './questionnaire.js';
import { openSqliteTabletStore, sha256, type TabletSession, type TabletStore } from './store.js';
import { createInProcessAlertHub, type AlertHub } from './alerts.js';
import { expectedAgeRange, type ExpectedAge } from './expected-age.js';
import { createClaimThrottle } from './throttle.js';
import type { HandoffRequest, TabletAlert, TabletSessionSummary } from './contract.js';

export type { HandoffRequest, TabletAlert, TabletSessionSummary } from './contract.js';

const INTAKE_URL = 'https://periplan.app/fhir/Questionnaire/back-pain-intake';
export const TABLET_RESPONSE_SYSTEM = 'https://periplan.app/fhir/sid/tablet-response';
export const TABLET_ALERT_SYSTEM = 'https://periplan.app/fhir/sid/tablet-alert';
export const COLLECTION_DEVICE_EXT = 'https://periplan.app/fhir/StructureDefinition/ext-collection-device';
/** No 0/O, 1/I/L: read aloud or typed on a tablet without confusion. */
export const CODE_ALPHABET = 'ABCDEFGHJKMNPQRSTUVWXYZ23456789';
/**
 * 31⁸ ≈ 8.5 × 10¹¹ codes. A valid code is never refused, whatever the wrong-code limits say, so the code space
 * alone must make guessing hopeless at the rate this server can answer (docs/tablet.md, "Codes").
 */
const CODE_LENGTH = 8;
/** The pinned linkId of the age item (clinical-rules.md): the one the tablet asks the patient to check. */
const AGE_LINK_ID = 'age';
/** Wrong codes are counted in windows of this length. */
const CLAIM_WINDOW_MS = 10 * 60_000;
const PUBLIC_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), 'public');

export interface TabletOptions {
  /** The tablet lives at `${publicUrl}/tablet`. */
  publicUrl: string;
  /** Codes and sessions: `${dataDir}/tablet/tablet.sqlite`, unless `store` is given. */
  dataDir: string;
  /** Where codes and sessions live (default: SQLite under `dataDir`); PostgreSQL when replicas share them. The tablet closes it. */
  store?: TabletStore;
  /** How live alerts reach their listeners (default: in process); PostgreSQL LISTEN/NOTIFY across replicas. The tablet closes it. */
  alerts?: AlertHub;
  knowledge: KnowledgeBase;
  /**
   * The write path (or anything with its `submit`); the tablet never passes a user token. Its `target` (FHIR
   * base + the module's credential) is where the emergency alert Flag is written.
   */
  writePath: { submit(input: SubmitInput): Promise<SubmitResult>; readonly target?: FhirServerTarget };
  /** How long a hand-off code is valid (default 10 minutes). */
  codeTtlMs?: number;
  /** Inactivity on the tablet before it wipes itself (default 3 minutes; the last 30 s show a countdown). */
  idleTimeoutMs?: number;
  /** Upper bound of a tablet session on the server (default 60 minutes). */
  sessionTtlMs?: number;
  /**
   * After a session that was never submitted ends, how long `POST /submit` with its handle is still accepted
   * (default 24 hours): a submission queued on a tablet that was offline until after the session's end is
   * not lost. Every other route treats the session as ended.
   */
  submitGraceMs?: number;
  /**
   * Wrong codes allowed per client address, and per tablet name, in 10 minutes (default 10); further wrong
   * codes from it are answered 429 with Retry-After. A valid code is always accepted.
   */
  maxFailedClaims?: number;
  /** The clock (ms since the epoch) for codes, sessions, the wrong-code windows and expected ages; default Date.now. */
  now?: () => number;
  /**
   * Staff authentication for `GET /tablet/api/alerts` (the live emergency feed): return who it is, or throw.
   * Without it the route is not served; use `onAlert` in-process instead.
   */
  authorizeStaff?: (req: Request) => fhir4.Reference | Promise<fhir4.Reference>;
}

export interface Tablet {
  router: express.Router;
  createHandoff(request: HandoffRequest): Promise<{ code: string; expiresAt: string; url: string; handoffId: string }>;
  /** Revoke a code not yet used (staff closed the hand-off). True when it was still valid. */
  cancelHandoff(code: string): Promise<boolean>;
  /** Live emergency alerts (of every replica sharing the alert hub); returns an unsubscribe function. */
  onAlert(listener: (alert: TabletAlert) => void): () => void;
  /** Codes waiting for a tablet, tablet sessions in progress or recently sent, for staff (who, which tablet, since when; never answers). */
  sessions(): Promise<TabletSessionSummary[]>;
  close(): Promise<void>;
}

const claimBody = z.object({ code: z.string().max(32), device: z.string().regex(/^[A-Za-z0-9 _-]{1,40}$/).optional() });
// Only the answers are taken from the tablet; their shape is checked here, their content by the write path.
const responseItem: z.ZodType<unknown> = z.lazy(() => z.object({ linkId: z.string().max(200), item: z.array(responseItem).max(100).optional(), answer: z.array(z.object({ item: z.array(responseItem).max(100).optional() }).loose()).max(50).optional() }).loose());
const responseBody = z.object({
  response: z.object({ resourceType: z.literal('QuestionnaireResponse'), item: z.array(responseItem).max(100).optional() }).loose(),
});

function newCode(): string {
  let s = '';
  for (let i = 0; i < CODE_LENGTH; i++) s += CODE_ALPHABET[randomInt(CODE_ALPHABET.length)];
  return s;
}

/** The codes of EMERGENCY (`stat`) rules in an $apply CarePlan. */
function emergencyRules(carePlan: fhir4.CarePlan): string[] {
  const out = new Set<string>();
  const walk = (actions: fhir4.RequestGroupAction[] | undefined) =>
    actions?.forEach((a) => {
      if (a.priority === 'stat') {
        const code = a.code?.[0]?.coding?.[0]?.code;
        if (code) out.add(code);
      }
      walk(a.action);
    });
  for (const c of carePlan.contained ?? []) if (c.resourceType === 'RequestGroup') walk((c as fhir4.RequestGroup).action);
  return [...out].sort();
}

/**
 * The staff alert as a FHIR Flag the clinician worklist already shows at the top: `emergency-assessment`,
 * flag-priority PH, with the worklist tags. Written with the module's credential, as a conditional create on
 * the alert's identifier, so a repeated alert for the same session creates nothing new.
 */
async function writeAlertFlag(target: FhirServerTarget, alert: TabletAlert, sessionKey: string): Promise<void> {
  // The rules that fired are codings of its code too, so the worklist row names them like any other Flag's.
  const flag: fhir4.Flag = withWorklistTags(withRuleCodes({
    resourceType: 'Flag',
    identifier: [{ system: TABLET_ALERT_SYSTEM, value: sessionKey }],
    status: 'active',
    category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/flag-category', code: 'clinical', display: 'Clinical' }] }],
    code: {
      coding: [{ system: FLAG_SYSTEM, code: 'emergency-assessment', display: 'Emergency assessment' }],
      text: `Patient in the waiting room gave answers that need emergency assessment now (${alert.rules.join(', ')}); intake not yet submitted`,
    },
    subject: alert.patient,
    period: { start: alert.at },
    author: { display: `waiting-room tablet ${alert.device}` },
    extension: [{ url: FLAG_PRIORITY_EXTENSION, valueCodeableConcept: { coding: [{ system: FLAG_PRIORITY_SYSTEM, code: 'PH', display: 'High priority' }] } }],
  }, alert.rules));
  const client = await clientFor(target);
  await client
    .create(flag, { ifNoneExist: `identifier=${encodeURIComponent(`${TABLET_ALERT_SYSTEM}|${sessionKey}`)}` })
    .catch((err: unknown) => failed(err, 'to the alert Flag'));
}

/** A failed call, in words for the log: the status and the server's own reason. */
function failed(err: unknown, what: string): never {
  const status = httpStatusOf(err);
  if (status === undefined) throw err;
  throw new Error(`the FHIR server answered ${status} ${what}${serverReasonOf(err) ? `: ${serverReasonOf(err)}` : ''}`);
}

/**
 * Once the full submission is in the record it carries its own EMERGENCY Flag (from the rules, with its
 * basis); the tablet's early alert Flag is then closed so the worklist shows one row, not two.
 */
async function closeAlertFlag(target: FhirServerTarget, sessionKey: string): Promise<void> {
  const client = await clientFor(target);
  const found = await client
    .searchAll<fhir4.Flag>(`Flag?identifier=${encodeURIComponent(`${TABLET_ALERT_SYSTEM}|${sessionKey}`)}`)
    .catch((err: unknown) => failed(err, 'to the alert Flag search'));
  for (const flag of found.resources) {
    if (flag.status !== 'active') continue;
    const closed = withWorklistTags({ ...flag, status: 'inactive' as const, period: { ...flag.period, end: new Date().toISOString() } });
    await client.update(closed, flag.meta?.versionId ? { ifMatch: `W/"${flag.meta.versionId}"` } : {}).catch((err: unknown) => failed(err, 'when closing the alert Flag'));
  }
}

export async function createTablet(options: TabletOptions): Promise<Tablet> {
  const base = new URL(options.publicUrl);
  const basePath = `${base.pathname.replace(/\/+$/, '')}/tablet`;
  const codeTtlMs = options.codeTtlMs ?? 10 * 60_000;
  const idleTimeoutMs = options.idleTimeoutMs ?? 3 * 60_000;
  const sessionTtlMs = options.sessionTtlMs ?? 60 * 60_000;
  const submitGraceMs = options.submitGraceMs ?? 24 * 60 * 60_000;
  /** After a submit, how long a retry of the same submission (a lost acknowledgement) is still answered. */
  const retryWindowMs = 10 * 60_000;
  const maxFailedClaims = options.maxFailedClaims ?? 10;
  const now = options.now ?? Date.now;
  const store = options.store ?? openSqliteTabletStore(options.dataDir);
  const alerts = options.alerts ?? createInProcessAlertHub();
  const throttle = createClaimThrottle({ limit: maxFailedClaims, windowMs: CLAIM_WINDOW_MS, now });
  const purgeTimer = setInterval(() => {
    store.purgeExpired(now()).catch((e: unknown) => console.error('tablet: purging ended codes and sessions failed (tried again in a minute):', e));
    throttle.prune();
  }, 60_000);
  purgeTimer.unref();

  const questionnaire = options.knowledge.resolve(INTAKE_URL, 'Questionnaire') as fhir4.Questionnaire | undefined;
  if (!questionnaire) throw new Error(`createTablet: the intake Questionnaire ${INTAKE_URL} is not in the knowledge base`);
  const canonical = `${questionnaire.url}|${questionnaire.version}`;
  // The patient's copy: no HTML, no pre-fill expressions (the tablet has no token to evaluate them with).
  const patientCopy = withoutPrefillExpressions(sanitizeQuestionnaire(questionnaire));
  const perLanguage = new Map<Language, string>(LANGUAGES.map((l) => [l, JSON.stringify(translateQuestionnaire(patientCopy, l))]));
  const plan = options.knowledge.resolve(FOLLOW_UP_PLAN, 'PlanDefinition') as fhir4.PlanDefinition | undefined;

  const version = assetVersion(PUBLIC_DIR, SHARED_BROWSER_DIR);
  const own = staticFiles(PUBLIC_DIR);
  // The service worker keeps its URL across releases: revalidated on every load, never kept as immutable.
  const worker = staticFiles(PUBLIC_DIR, { cacheControl: REVALIDATE });
  const shared = staticFiles(SHARED_BROWSER_DIR);
  const lforms = staticFiles(LFORMS_DIR);
  const shell = withLformsTags(
    fs
      .readFileSync(path.join(PUBLIC_DIR, 'index.html'), 'utf8')
      .replaceAll('{{base}}', basePath)
      .replaceAll('{{v}}', version)
      .replaceAll('{{idle}}', String(idleTimeoutMs)),
    basePath,
  );

  // As the clinician app, but never framed, and no form posts anywhere (kiosk: nowhere else to go).
  const csp = lformsPageCsp({ formAction: "'none'", frameAncestors: "'none'" });

  /**
   * The session of the request, or 401. `forSubmit`: an ended session still counts within its submit window
   * (`submitUntil`: the grace period of a session never submitted, or the retry window after a submit).
   */
  async function sessionOf(req: Request, { forSubmit = false } = {}): Promise<{ handle: string; session: TabletSession }> {
    const handle = req.header('x-tablet-session') ?? '';
    const session = handle ? await store.getSession(handle, now()) : undefined;
    const at = now();
    const until = session ? (forSubmit ? Math.max(session.expiresAt, session.submitUntil ?? 0) : session.expiresAt) : 0;
    if (!session || until < at) throw unauthorized('This session has ended. Please hand the tablet back to the staff.');
    // Last seen, for the staff view; at most one write per 5 s per tablet (the form checks after each answer).
    if (!session.lastSeenAt || at - session.lastSeenAt > 5_000) {
      await store.touchSession(handle, at);
      session.lastSeenAt = at;
    }
    return { handle, session };
  }

  const router = express.Router();
  router.use((_req, res, next) => {
    res.setHeader('Content-Security-Policy', csp);
    res.setHeader('Referrer-Policy', 'no-referrer');
    res.setHeader('X-Content-Type-Options', 'nosniff');
    res.setHeader('X-Frame-Options', 'DENY');
    res.setHeader('Cross-Origin-Resource-Policy', 'same-origin');
    next();
  });
  router.get(`/assets/${version}/:file`, (req, res, next) => (own(req, res, String(req.params.file)) ? undefined : next()));
  router.get(`/assets/${version}/shared/:file`, (req, res, next) => (shared(req, res, String(req.params.file)) ? undefined : next()));
  // The service worker must live at the tablet's root to control `/tablet/` (the page registers it with updateViaCache 'none').
  router.get('/sw.js', (req, res, next) => (worker(req, res, 'sw.js') ? undefined : next()));
  router.get(`/lforms/${LFORMS_VERSION}/*splat`, (req, res, next) => {
    const rel = ([] as string[]).concat(req.params.splat as string | string[]).join('/');
    return lforms(req, res, rel) ? undefined : next();
  });
  router.get('/', (_req, res) => {
    // Not "storage": an accidental reload must keep the encrypted answers and a queued submission; the page
    // itself wipes storage in JavaScript after submit or idle (docs/tablet.md).
    res.setHeader('Cache-Control', 'no-store');
    res.setHeader('Clear-Site-Data', '"cache"');
    res.type('html').send(shell);
  });

  const api = express.Router();
  api.use(jsonBody({ limitBytes: 1024 * 1024, maxDepth: DEFAULT_MAX_JSON_DEPTH, mediaTypes: ['application/json'], otherTypes: 'skip' }));
  api.use((req, _res, next) => {
    // Custom headers already need a preflight this router never grants; a foreign Origin is refused outright.
    const origin = req.header('origin');
    if (req.method !== 'GET' && origin && origin !== base.origin) return next(forbidden('Cross-origin request refused.'));
    next();
  });
  api.use((_req, res, next) => {
    res.setHeader('Cache-Control', 'no-store');
    next();
  });

  api.post('/claim', async (req, res) => {
    const body = claimBody.safeParse(req.body);
    if (!body.success) throw badRequest('Send { code }.', 'code');
    const code = body.data.code.toUpperCase().replace(/[\s-]/g, '');
    // The code first: a valid one is taken whatever the wrong-code limits say (they count wrong codes only).
    const at = now();
    const handoff = /^[A-Z0-9]{4,12}$/.test(code) ? await store.takeHandoff(code, at) : undefined;
    if (!handoff) {
      // Per address (req.ip: the client's own behind a proxy, with TRUST_PROXY) and per tablet name, so one
      // tablet typing wrong codes slows down itself, not the others behind the same proxy or NAT.
      const keys = [`address ${req.ip ?? 'unknown'}`, ...(body.data.device ? [`device ${body.data.device}`] : [])];
      const waitSeconds = throttle.fail(keys);
      if (waitSeconds > 0) throw new ThrottledError('Too many attempts. Please ask the staff for help.', waitSeconds, 'code');
      throw new FhirError(404, { code: 'not-found', diagnostics: 'This code does not work. It may have been used already or be too old. Please ask the staff for a new one.', expression: ['code'] });
    }
    const handle = randomBytes(32).toString('base64url');
    const device = body.data.device ?? 'unnamed';
    await store.putSession(handle, {
      patientId: handoff.patientId,
      ...(handoff.patientName ? { patientName: handoff.patientName } : {}),
      ...(handoff.handoffId ? { handoffId: handoff.handoffId } : {}),
      staff: handoff.staff,
      device,
      claimedAt: at,
      lastSeenAt: at,
      expiresAt: at + sessionTtlMs,
      submitUntil: at + sessionTtlMs + submitGraceMs,
    });
    // The expected age range (never the birth date): the page asks her to check an age outside it.
    const expectedAge = handoff.expectedAge ? { linkId: AGE_LINK_ID, ...handoff.expectedAge } : undefined;
    res.status(201).json({ session: handle, ...(handoff.patientName ? { patientName: handoff.patientName } : {}), idleTimeoutMs, ...(expectedAge ? { expectedAge } : {}) });
  });

  api.get('/questionnaire', async (req, res) => {
    await sessionOf(req);
    const lang = (LANGUAGES as readonly string[]).includes(String(req.query.lang)) ? (String(req.query.lang) as Language) : 'en';
    res.type('application/fhir+json').send(perLanguage.get(lang));
  });

  /** The response as the module stores it: this patient, her own answers, the staff member, the device. */
  function buildResponse(raw: unknown, session: TabletSession, status: 'completed'): fhir4.QuestionnaireResponse {
    const body = responseBody.safeParse(raw);
    if (!body.success) throw badRequest('Send { response: QuestionnaireResponse }.', 'response');
    const r = body.data.response as unknown as fhir4.QuestionnaireResponse;
    const id = r.identifier;
    if (id && (id.system !== TABLET_RESPONSE_SYSTEM || !/^[0-9a-f-]{36}$/.test(id.value ?? ''))) throw badRequest('Unexpected identifier.', 'QuestionnaireResponse.identifier');
    const patient: fhir4.Reference = { reference: `Patient/${session.patientId}` };
    // Only the answers come from the tablet; everything that says whose and how is set here.
    const response: fhir4.QuestionnaireResponse = {
      resourceType: 'QuestionnaireResponse',
      ...(id ? { identifier: { system: TABLET_RESPONSE_SYSTEM, value: id.value! } } : {}),
      extension: [{ url: COLLECTION_DEVICE_EXT, valueReference: { display: `waiting-room tablet ${session.device}` } }],
      questionnaire: canonical,
      status,
      subject: patient,
      authored: new Date(now()).toISOString(),
      author: patient,
      source: patient,
      ...(r.item ? { item: r.item } : {}),
    };
    return canonicalResponseText(response, questionnaire!);
  }

  // Emergency escalation while the patient is still there: evaluate the rules on the answers so far.
  api.post('/check', async (req, res) => {
    const { handle, session } = await sessionOf(req);
    // Evaluated as if complete (the rules only read completed responses); never stored.
    const response = { ...buildResponse(req.body, session, 'completed'), id: 'tablet-check' };
    const rules = plan ? emergencyRules(applyPlanDefinition(plan, { subject: `Patient/${session.patientId}`, data: [response], knowledge: options.knowledge })) : [];
    // Recorded and compared in one step: two checks at once (on any replicas) raise each rule once.
    const fresh = rules.some((r) => !session.alerted?.includes(r)) ? await store.markAlerted(handle, rules) : [];
    if (fresh.length) {
      const alert: TabletAlert = { id: randomBytes(8).toString('hex'), patient: { reference: `Patient/${session.patientId}`, ...(session.patientName ? { display: session.patientName } : {}) }, device: session.device, staff: session.staff, rules, at: new Date(now()).toISOString() };
      // This replica's listeners have it before publish resolves; a failure concerns the other replicas only.
      alerts.publish(alert).catch((e: unknown) => console.error('tablet: the emergency alert could not be sent to the other replicas (their worklists see the Flag on their next reload):', e));
      const target = options.writePath.target;
      if (target) {
        writeAlertFlag(target, alert, sha256(handle).slice(0, 32)).catch((e: unknown) =>
          console.error('tablet: the emergency alert Flag could not be written; staff were alerted live only:', e),
        );
      }
    }
    // The patient sees a calm message only, never which rule or why.
    res.json({ tellStaff: rules.length > 0 });
  });

  api.post('/submit', async (req, res) => {
    let current: Awaited<ReturnType<typeof sessionOf>>;
    try {
      current = await sessionOf(req, { forSubmit: true });
    } catch (e) {
      // The tablet tells staff to enter these answers again; the log says it happened (never what was answered).
      console.warn('tablet: a submission arrived for a session that has ended (past its submit grace period) or never existed; refused');
      throw e;
    }
    const { handle, session } = current;
    const response = buildResponse(req.body, session, 'completed');
    const key = response.identifier ? `${response.identifier.system}|${response.identifier.value}` : undefined;
    if (session.submittedKey && session.submittedKey !== key) throw forbidden('This form has already been sent.');
    const result = await options.writePath.submit({ response, data: [], author: response.author!, enterer: session.staff });
    if (result.state === 'sent' && session.alerted?.length && options.writePath.target) {
      await closeAlertFlag(options.writePath.target, sha256(handle).slice(0, 32)).catch((e: unknown) => console.error('tablet: the alert Flag could not be closed:', e));
    }
    // Keep the (spent) session for a while so that a retry of the same submission is answered, not refused;
    // the grace period of an unsent session ends here (a second, different response is refused anyway).
    const sentAt = now();
    await store.putSession(handle, { ...session, submittedKey: result.key, expiresAt: Math.min(session.expiresAt, sentAt + retryWindowMs), submitUntil: sentAt + retryWindowMs });
    // Never the results or flags: the patient is thanked, nothing more.
    res.status(result.state === 'failed' ? 202 : 201).json({ state: result.state === 'failed' ? 'received' : result.state, duplicate: result.duplicate });
  });

  // Heartbeat: the tablet page calls it while the form is open so staff can tell "reading" from "offline".
  api.post('/ping', async (req, res) => {
    await sessionOf(req);
    res.status(204).end();
  });

  api.post('/end', async (req, res) => {
    const handle = req.header('x-tablet-session');
    if (handle) await store.deleteSession(handle);
    res.status(204).end();
  });

  async function sessions(): Promise<TabletSessionSummary[]> {
    const iso = (ms: number) => new Date(ms).toISOString();
    const patientRef = (id: string, name: string | undefined): fhir4.Reference => ({ reference: `Patient/${id}`, ...(name ? { display: name } : {}) });
    const at = now();
    const waiting = (await store.liveHandoffs(at)).map((h): TabletSessionSummary => ({
      patient: patientRef(h.patientId, h.patientName),
      ...(h.handoffId ? { handoffId: h.handoffId } : {}),
      staff: h.staff,
      ...(h.createdAt ? { createdAt: iso(h.createdAt) } : {}),
      expiresAt: iso(h.expiresAt),
      state: 'waiting-for-code',
      emergency: false,
    }));
    const live = (await store.liveSessions(at)).map((s): TabletSessionSummary => {
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

  if (options.authorizeStaff) {
    const authorizeStaff = options.authorizeStaff;
    api.get('/sessions', async (req, res) => {
      await authorizeStaff(req);
      res.json({ sessions: await sessions() });
    });
    api.get('/alerts', async (req, res) => {
      await authorizeStaff(req);
      let off = () => {};
      const stream = openEventStream(res, { onClose: () => off() });
      off = alerts.subscribe((a: TabletAlert) => stream.send('emergency', a));
    });
  }

  router.use('/api', api);
  // Errors leave through the one error path (OperationOutcome, Retry-After on 429), never cached.
  router.use(errorHandler({ log: consoleErrors('tablet'), noStore: true }));

  return {
    router,
    async createHandoff(request) {
      if (!/^[A-Za-z0-9\-.]{1,64}$/.test(request.patientId)) throw badRequest('Invalid patient id.', 'patientId');
      if (!request.staff?.reference && !request.staff?.identifier) throw badRequest('The staff member starting the session must be named.', 'staff');
      const handoffId = randomBytes(12).toString('base64url');
      const createdAt = now();
      const expiresAt = createdAt + codeTtlMs;
      // Any moment the form can be filled: until the code expires plus a whole session after it.
      const expectedAge: ExpectedAge | undefined = expectedAgeRange(request.birthDate, createdAt, expiresAt + sessionTtlMs);
      const handoff = { patientId: request.patientId, ...(request.patientName ? { patientName: request.patientName } : {}), staff: request.staff, expiresAt, createdAt, handoffId, ...(expectedAge ? { expectedAge } : {}) };
      // A code still waiting for another patient's tablet is never overwritten: draw again.
      let code = newCode();
      for (let attempt = 1; !(await store.putHandoff(code, handoff)); attempt++) {
        if (attempt >= 5) throw new Error('createTablet: no free hand-off code after 5 attempts');
        code = newCode();
      }
      return { code, expiresAt: new Date(expiresAt).toISOString(), url: `${base.origin}${basePath}/`, handoffId };
    },
    async cancelHandoff(code) {
      const normal = code.toUpperCase().replace(/[\s-]/g, '');
      return /^[A-Z0-9]{4,12}$/.test(normal) && (await store.cancelHandoff(normal));
    },
    sessions,
    onAlert: (listener) => alerts.subscribe(listener),
    async close() {
      clearInterval(purgeTimer);
      await alerts.close();
      await store.close();
    },
  };
}
