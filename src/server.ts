/**
 * The whole server, composed: the module's FHIR API (/fhir, with the write path's $submit), the clinician
 * SMART app (/app) and, unless FHIR_SERVER_URL points at a clinic's EHR, the embedded sandbox EHR (/ehr).
 *
 * The module reaches the EHR only over HTTP (fhir-kit-client, openid-client) at its public FHIR base, even
 * when the EHR runs in this process: then every run of the default set-up exercises the real integration,
 * and a clinic's EHR is a configuration change. `publicUrl` must be final (real port) before this is called,
 * because SMART issuers and redirect URIs are built from it.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import path from 'node:path';
import type express from 'express';
import type { Request } from 'express';
import { dataSourceForRequest } from './api/data-source.js';
import type { Logger } from './platform/log.js';
import { createApp } from './app.js';
import { createClinicianApp } from './clinician-app/index.js';
import type { Config } from './config/index.js';
import { createEmbeddedEhr, type EmbeddedEhr } from './ehr/index.js';
import { PERMISSION_FOR, grantFor, parseScopes, type Interaction } from './ehr/store/index.js';
import type { KnowledgeBase } from './knowledge/index.js';
import { openModuleState, type ModuleState } from './module-state.js';
import { forbidden, unauthorized } from './outcomes/index.js';
import { createWritePath, resolveProposal, type WritePath, type WritePathOptions } from './submission/index.js';
import { createTablet } from './tablet/index.js';

type Tablet = Awaited<ReturnType<typeof createTablet>>;

export interface ModuleServer {
  app: express.Express;
  /** The EHR's FHIR base URL (embedded or the clinic's). */
  fhirBaseUrl: string;
  ehr?: EmbeddedEhr;
  writePath: WritePath;
  tablet: Tablet;
  /** Where the module's own state is: PostgreSQL when DATABASE_URL is set (`postgres`), else SQLite. */
  state: ModuleState;
  /** The clinician SMART app (its router is mounted at /app; tests reach its session store). */
  clinicianApp: Awaited<ReturnType<typeof createClinicianApp>>;
  /** Start background work that talks to the EHR over HTTP (call once the server answers requests). */
  start(): Promise<void>;
  close(): Promise<void>;
}

/**
 * Every write a submission's transaction makes with the caller's token (build-bundle.ts): conditional creates
 * of the response, its Observations, Flags, ServiceRequest proposals, CarePlan and Provenance; an amendment
 * also updates the response. Checked before anything is stored.
 */
const SUBMISSION_WRITES: readonly (readonly [string, Interaction])[] = [
  ['QuestionnaireResponse', 'create'],
  ['Observation', 'create'],
  ['Flag', 'create'],
  ['ServiceRequest', 'create'],
  ['CarePlan', 'create'],
  ['Provenance', 'create'],
];
const AMENDMENT_WRITE = ['QuestionnaireResponse', 'update'] as const;
/**
 * Written resources in no patient's compartment, which a `patient/` scope can never write (the store's
 * compartment rule): the submission's Provenance targets the response, flags and proposals, not the Patient.
 */
const OUTSIDE_PATIENT_COMPARTMENT = new Set(['Provenance']);

function bearerOf(req: Request): string | undefined {
  const header = req.headers.authorization;
  return typeof header === 'string' ? /^Bearer\s+(\S+)$/i.exec(header.trim())?.[1] : undefined;
}

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

export async function createModuleServer(
  config: Config,
  deps: { knowledge: KnowledgeBase; logger: Logger; now?: () => Date },
): Promise<ModuleServer> {
  const { knowledge, logger } = deps;
  // A per-start secret is enough for the embedded EHR: it learns the secret from us, in this process.
  const appClientSecret =
    config.SMART_CLIENT_SECRET ?? (config.FHIR_SERVER_URL ? undefined : randomBytes(24).toString('base64url'));
  const ehr = config.FHIR_SERVER_URL ? undefined : await embeddedEhr(config, appClientSecret);
  const fhirBaseUrl = ehr?.fhirBaseUrl ?? config.FHIR_SERVER_URL!.replace(/\/+$/, '');
  const moduleCredentials = moduleCredentialsOf(config, ehr);
  if (!moduleCredentials) {
    logger.warn(
      'No MODULE_CLIENT_ID/MODULE_CLIENT_SECRET: queued submissions are retried without a credential of the module and may be refused by the EHR.',
    );
  }

  const state = await openModuleState(config, logger);
  const writePath = createWritePath({
    knowledge,
    dataDir: path.join(config.dataDir, 'write-path'),
    ...(state.outbox ? { outbox: state.outbox } : {}),
    fhirBaseUrl,
    ...(moduleCredentials ? { moduleCredentials } : {}),
    ...(config.OUTBOX_LEASE_MS ? { leaseMs: config.OUTBOX_LEASE_MS } : {}),
    log: writePathLog(logger),
  });
  const staffMember = staffMemberCheck(config, ehr);

  // The waiting-room tablet: hand-off codes, one patient's form, wiped after use (docs/tablet.md).
  const tablet = await createTablet({
    publicUrl: config.publicUrl,
    dataDir: config.dataDir,
    ...(state.tablet ? { store: state.tablet } : {}),
    ...(state.alerts ? { alerts: state.alerts } : {}),
    knowledge,
    writePath,
    authorizeStaff: staffMember,
  });
  // The tablet first: the clinician app starts its sessions, lists them and relays its alerts.
  const clinicianApp = await openClinicianApp(config, deps, {
    state,
    appClientSecret,
    writePath,
    fhirBaseUrl,
    ehr,
    tablet,
  });
  const app = moduleApp(config, deps, { fhirBaseUrl, writePath, ehr, staffMember, clinicianApp, tablet });

  return {
    app,
    fhirBaseUrl,
    ...(ehr ? { ehr } : {}),
    writePath,
    start: () => writePath.start(),
    tablet,
    state,
    clinicianApp,
    async close() {
      await tablet.close();
      await writePath.stop();
      await clinicianApp.close();
      await ehr?.close();
      await state.close();
    },
  };
}

function embeddedEhr(config: Config, appClientSecret: string | undefined): Promise<EmbeddedEhr> {
  return createEmbeddedEhr({
    publicUrl: config.publicUrl,
    dataDir: config.dataDir,
    ...(appClientSecret ? { appClientSecret } : {}),
    ...(config.MODULE_CLIENT_SECRET ? { moduleClientSecret: config.MODULE_CLIENT_SECRET } : {}),
  });
}

/** The module's own credential: the embedded EHR's module client, else the configured one (if any). */
function moduleCredentialsOf(
  config: Config,
  ehr: EmbeddedEhr | undefined,
): { clientId: string; clientSecret: string; scopes: readonly string[] } | undefined {
  if (ehr) return ehr.auth.moduleClient;
  return config.MODULE_CLIENT_ID && config.MODULE_CLIENT_SECRET
    ? {
        clientId: config.MODULE_CLIENT_ID,
        clientSecret: config.MODULE_CLIENT_SECRET,
        scopes: config.MODULE_CLIENT_SCOPES.split(/\s+/),
      }
    : undefined;
}

function writePathLog(logger: Logger): WritePathOptions['log'] {
  return {
    info: (m) => logger.info(`[write-path] ${m}`),
    warn: (m) => logger.warn(`[write-path] ${m}`),
    error: (m, e) => logger.error(`[write-path] ${m}`, e),
  };
}

type StaffMember = (req: Request) => Promise<fhir4.Reference>;

/**
 * The outbox view shows who is waiting for what: staff only. With the sandbox EHR, a clinician's token
 * from it; otherwise a configured staff token.
 */
function staffMemberCheck(config: Config, ehr: EmbeddedEhr | undefined): StaffMember {
  return async (req) => {
    const token = bearerOf(req);
    if (!token) throw unauthorized('This is for staff: send Authorization: Bearer <token>.');
    if (config.OUTBOX_STAFF_TOKEN && sameSecret(token, config.OUTBOX_STAFF_TOKEN))
      return { display: 'staff tool (OUTBOX_STAFF_TOKEN)' };
    const access = ehr ? await ehr.auth.verifyAccessToken(token) : undefined;
    if (ehr && !access) throw unauthorized('The access token is not valid (expired, revoked or unknown).');
    const practitioner = access?.fhirUser ? /(?:^|\/)(Practitioner\/[^/]+)$/.exec(access.fhirUser)?.[1] : undefined;
    // The staff views span every patient: a token bound to one patient, or one that may not read responses
    // at all (an app registered with no FHIR scopes), is not a staff member's.
    const acrossPatients = access
      ? grantFor(parseScopes(access.scopes), 'QuestionnaireResponse', 'read') === 'all'
      : false;
    if (practitioner && acrossPatients) return { reference: practitioner };
    throw forbidden(
      'This token does not belong to a clinician or staff member (a user-level token that may read responses).',
    );
  };
}

function openClinicianApp(
  config: Config,
  deps: { knowledge: KnowledgeBase; now?: () => Date },
  parts: {
    state: ModuleState;
    appClientSecret: string | undefined;
    writePath: WritePath;
    fhirBaseUrl: string;
    ehr: EmbeddedEhr | undefined;
    tablet: Tablet;
  },
): ReturnType<typeof createClinicianApp> {
  const { state, appClientSecret, writePath, fhirBaseUrl, ehr, tablet } = parts;
  const allowedIssuers = config.SMART_ALLOWED_ISSUERS
    ? config.SMART_ALLOWED_ISSUERS.split(',').map((s) => s.trim().replace(/\/+$/, ''))
    : [fhirBaseUrl];
  return createClinicianApp({
    publicUrl: config.publicUrl,
    dataDir: config.dataDir,
    ...(state.sessions ? { sessionStore: state.sessions } : {}),
    knowledge: deps.knowledge,
    clientId: config.SMART_CLIENT_ID,
    ...(appClientSecret ? { clientSecret: appClientSecret } : {}),
    submission: writePath,
    resolveProposal,
    allowedIssuers,
    defaultIssuer: fhirBaseUrl,
    // http issuers only for the sandbox on this machine; a clinic's EHR must be https.
    allowInsecureHttp:
      ehr !== undefined ||
      allowedIssuers.every((i) => i.startsWith('https://') || /^http:\/\/(127\.0\.0\.1|localhost)[:/]/.test(i)),
    tablet,
    outbox: writePath.outbox,
    undoWindowMs: config.UNDO_WINDOW_MINUTES * 60_000,
    ...(deps.now ? { now: deps.now } : {}),
  });
}

function moduleApp(
  config: Config,
  deps: { knowledge: KnowledgeBase; logger: Logger },
  parts: {
    fhirBaseUrl: string;
    writePath: WritePath;
    ehr: EmbeddedEhr | undefined;
    staffMember: StaffMember;
    clinicianApp: ModuleServer['clinicianApp'];
    tablet: Tablet;
  },
): express.Express {
  const { fhirBaseUrl, writePath, ehr, staffMember, clinicianApp, tablet } = parts;
  const authorizeSubmit = ehr ? submitAuthorizer(ehr) : undefined;
  const authorizeStatus = ehr ? statusAuthorizer(config, ehr) : undefined;
  return createApp({
    config,
    knowledge: deps.knowledge,
    logger: deps.logger,
    dataSourceFor: dataSourceForRequest({
      baseUrl: fhirBaseUrl,
      timeoutMs: config.FHIR_SERVER_TIMEOUT_MS,
      ...(config.FHIR_SERVER_TOKEN ? { staticToken: config.FHIR_SERVER_TOKEN } : {}),
    }),
    submission: {
      writePath,
      authorizeStaff: async (req: Request) => {
        await staffMember(req);
      },
      ...(authorizeSubmit ? { authorizeSubmit } : {}),
      ...(authorizeStatus ? { authorizeStatus } : {}),
    },
    mounts: [
      ...(ehr ? [{ path: '/ehr', handler: ehr.router }] : []),
      { path: '/app', handler: clinicianApp.router },
      { path: '/tablet', handler: tablet.router },
    ],
    homePath: ehr ? '/ehr' : '/app/',
  });
}

/**
 * With the sandbox EHR the token can be judged here, before anything is stored: it must be live and grant
 * every write of the submission's transaction for this patient (the same rules the store applies), so that
 * what the store would refuse is refused now (403 naming the missing scopes), not after "saved, sending".
 */
function submitAuthorizer(ehr: EmbeddedEhr) {
  return async (token: string, subject: string | undefined, submission: { amends: boolean }) => {
    const access = await ehr.auth.verifyAccessToken(token);
    if (!access) throw unauthorized('The access token is not valid (expired, revoked or unknown).');
    const writes = submission.amends ? [...SUBMISSION_WRITES, AMENDMENT_WRITE] : SUBMISSION_WRITES;
    const scopes = parseScopes(access.scopes);
    refuseMissingWrites(writes, scopes, access.patient ? 'patient' : 'user');
    refuseCompartmentlessWrites(writes, scopes);
    const patientId = /(?:^|\/)Patient\/([^/]+)$/.exec(subject ?? '')?.[1];
    const patientOnly = writes.some(([type, interaction]) => grantFor(scopes, type, interaction) === 'patient');
    if (patientOnly && (!patientId || patientId !== access.patient)) {
      throw forbidden(
        `This access token is for another patient than ${subject ?? 'the subject of this response'}: it cannot write this submission. Nothing was saved.`,
      );
    }
  };
}

type Scopes = ReturnType<typeof parseScopes>;
type Writes = readonly (readonly [string, Interaction])[];

/** 403 naming every scope the submission's writes need and the token lacks. */
function refuseMissingWrites(writes: Writes, scopes: Scopes, context: 'patient' | 'user'): void {
  const missing = writes.filter(([type, interaction]) => grantFor(scopes, type, interaction) === 'none');
  if (missing.length) {
    throw forbidden(
      `This access token cannot write a submission: it lacks ${missing.map(([type, i]) => `${context}/${type}.${PERMISSION_FOR[i]}`).join(', ')} ` +
        `(a submission writes ${[...new Set(writes.map(([type]) => type))].join(', ')}). Nothing was saved.`,
    );
  }
}

/** 403 when only a patient/ scope covers a write outside any patient's compartment (the Provenance). */
function refuseCompartmentlessWrites(writes: Writes, scopes: Scopes): void {
  const compartmentless = writes.filter(
    ([type, interaction]) => OUTSIDE_PATIENT_COMPARTMENT.has(type) && grantFor(scopes, type, interaction) === 'patient',
  );
  if (compartmentless.length) {
    throw forbidden(
      `This access token cannot write a submission: it lacks ${compartmentless.map(([type, i]) => `user/${type}.${PERMISSION_FOR[i]}`).join(', ')} ` +
        "(the submission's Provenance names the response, flags and proposals, not the patient, so a patient/ scope cannot write it). Nothing was saved.",
    );
  }
}

/** $submit-status: a token allowed to read that patient's responses (or the staff token of the outbox view). */
function statusAuthorizer(config: Config, ehr: EmbeddedEhr) {
  return async (token: string, subject: string | undefined) => {
    if (config.OUTBOX_STAFF_TOKEN && sameSecret(token, config.OUTBOX_STAFF_TOKEN)) return;
    const access = await ehr.auth.verifyAccessToken(token);
    if (!access) throw unauthorized('The access token is not valid (expired, revoked or unknown).');
    if (subject === undefined) return;
    const grant = grantFor(parseScopes(access.scopes), 'QuestionnaireResponse', 'read');
    const patientId = /(?:^|\/)Patient\/([^/]+)$/.exec(subject)?.[1];
    if (grant === 'none' || (grant === 'patient' && (!patientId || patientId !== access.patient))) {
      throw forbidden(`This access token may not read responses of ${subject}.`);
    }
  };
}
