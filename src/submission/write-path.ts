/**
 * The write path, assembled: outbox (SQLite under dataDir, or the one given: PostgreSQL) + writer (the module's FHIR client against `fhirBaseUrl`)
 * + background sender + submission service, with the server's CapabilityStatement read at start.
 *
 *   const writePath = createWritePath({ knowledge, dataDir, fhirBaseUrl, moduleCredentials: ehr.auth.moduleClient });
 *   await writePath.start();          // reads /metadata (unreachable: assume transactions, re-check later)
 *   createApp({ ..., submission: { writePath } });   // serves $submit, $submit-status and $outbox under /fhir
 *   ...
 *   await writePath.stop();           // waits for submissions in flight, stops the sender, closes the outbox
 */
import type { KnowledgeBase } from '../knowledge/index.js';
import {
  assumedCapabilities,
  createFhirBundleWriter,
  readCapabilities,
  type FhirServerTarget,
  type ServerCapabilities,
} from './fhir-writer.js';
import { clientCredentialsTokenSource } from './module-token.js';
import { openSqliteOutbox, type Outbox } from './outbox.js';
import { DECISION_REASON_SYSTEM, resolveProposal, type ProposalDecision } from './resolve-proposal.js';
import {
  SUBMISSION_KEY_TAG_SYSTEM,
  SUBMISSION_RULE_SYSTEM,
  amendmentKey,
  amendmentOf,
  submissionId,
} from './build-bundle.js';
import { rulesOfFlag } from './worklist-tags.js';
import { FhirError, preconditionFailed } from '../outcomes/index.js';
import { clientFor, STALE_AMENDMENT } from './fhir-writer.js';
import { strippedMarkerWarning, verifyPrefilledFrom } from '../forms/index.js';
import { createOutboxSender, type BackoffPolicy, type OutboxSender, type OutboxSenderOptions } from './sender.js';
import { createSubmissionService, type SubmissionService, type SubmitInput, type SubmitResult } from './service.js';

export interface WritePathLog {
  info(message: string): void;
  warn(message: string): void;
  error(message: string, err?: unknown): void;
}

export interface WritePathOptions {
  knowledge: KnowledgeBase;
  /** The outbox lives in `${dataDir}/outbox.sqlite` unless `outbox` is given. */
  dataDir: string;
  /** An outbox already open (PostgreSQL, when DATABASE_URL is set); the write path closes it on stop. */
  outbox?: Outbox;
  /** The FHIR server submissions go to (the clinic's EHR, or the embedded one's `/ehr/fhir`). */
  fhirBaseUrl: string;
  /** The module's own token, for retries when the user's token is gone. */
  getModuleToken?: () => Promise<string | undefined>;
  /** Or: client credentials to get one (client_secret_basic at the server's SMART token endpoint). */
  moduleCredentials?: { clientId: string; clientSecret: string; scopes: readonly string[] };
  /** Per-request timeout against the FHIR server (default 15 s): a slower answer counts as a transient failure. */
  timeoutMs?: number;
  /**
   * How long one attempt owns an entry before another sender may take it (default 4 × timeoutMs + 5 s: an
   * attempt is a token, maybe a search, and a transaction). After a crash, entries wait this long.
   */
  leaseMs?: number;
  /** How often the background sender looks for due entries (default 1 s). */
  pollMs?: number;
  backoff?: BackoffPolicy;
  /** How often to retry reading the CapabilityStatement when it could not be read at start (default 30 s). */
  capabilityRetryMs?: number;
  log?: WritePathLog;
  /**
   * What the rules may read about the subject when the caller sent no `data` (e.g. the API's FHIR data
   * source). Default: the Patient, read from the FHIR server with the user's token (3 s at most; on any
   * failure the rules run on the response alone — a submission is never refused because the EHR is down).
   */
  loadSubjectData?: (subject: string, bearerToken: string | undefined) => Promise<fhir4.FhirResource[]>;
}

export interface WritePath {
  service: SubmissionService;
  sender: OutboxSender;
  outbox: Outbox;
  /** What the FHIR server can do (assumed until its CapabilityStatement has been read). */
  readonly capabilities: ServerCapabilities;
  readonly target: FhirServerTarget;
  /** `service.submit`, tracked so that `stop()` waits for it. */
  submit(input: SubmitInput): Promise<SubmitResult>;
  /** `resolveProposal` against this write path's server (the user's token first, else the module's). */
  resolve(decision: ProposalDecision, now?: Date): ReturnType<typeof resolveProposal>;
  start(): Promise<void>;
  stop(): Promise<void>;
}

const consoleLog: WritePathLog = {
  info: (m) => console.log(`[write-path] ${m}`),
  warn: (m) => console.warn(`[write-path] ${m}`),
  error: (m, e) => console.error(`[write-path] ${m}`, e ?? ''),
};

export function createWritePath(options: WritePathOptions): WritePath {
  const log = options.log ?? consoleLog;
  const timeoutMs = options.timeoutMs ?? 15_000;
  const target = moduleTarget(options, timeoutMs);
  let capabilities = assumedCapabilities();
  const outbox = options.outbox ?? openSqliteOutbox(options.dataDir);
  // An attempt = token + (search) + transaction, each bounded by timeoutMs: lease well past that.
  const leaseMs = options.leaseMs ?? 4 * timeoutMs + 5_000;
  const writer = createFhirBundleWriter(target, () => capabilities);
  const inFlight = new Set<Promise<unknown>>();
  /** Amendments sent, by key: superseding what the earlier version raised (awaited by the submitter). */
  const superseding = new Map<string, Promise<void>>();
  let stopped = false;
  const track = <T>(p: Promise<T>): Promise<T> => {
    inFlight.add(p);
    void p.finally(() => inFlight.delete(p)).catch(() => undefined);
    return p;
  };

  const sender = createOutboxSender({
    outbox,
    writer,
    leaseMs,
    ...(options.pollMs !== undefined ? { pollMs: options.pollMs } : {}),
    ...(options.backoff ? { backoff: options.backoff } : {}),
    onEvent: (e) => {
      if (e.type === 'sent' && amendmentOf(e.entry.bundle)) {
        const key = e.entry.key;
        const done = track(supersedeEarlierVersion(target, log, key, e.entry.bundle)).finally(() =>
          superseding.delete(key),
        );
        superseding.set(key, done);
      }
      logSendEvent(log, e);
    },
  });
  const service = submissionService(options.knowledge, outbox, sender, leaseMs, log);
  const submitting: SubmitContext = {
    service,
    target,
    superseding,
    reads: { knowledge: options.knowledge, target, timeoutMs, log },
    loadSubjectData:
      options.loadSubjectData ?? ((subject, bearerToken) => readPatient(target, timeoutMs, subject, bearerToken)),
  };

  const capabilityChecks = capabilityCheck({
    target,
    log,
    retryMs: options.capabilityRetryMs ?? 30_000,
    onRead: (read) => (capabilities = read),
    onRecovered: () => sender.wake(),
    stopped: () => stopped,
  });

  return {
    service,
    sender,
    outbox,
    get capabilities() {
      return capabilities;
    },
    target,
    submit: (input) => {
      if (stopped) return Promise.reject(new Error('The write path is stopped.'));
      return track(submitWithData(submitting, input));
    },
    resolve: (decision, now) => track(resolveProposal(target, decision, now)),
    async start() {
      stopped = false;
      if (!(await capabilityChecks.check())) capabilityChecks.schedule();
      const counts = await outbox.counts();
      if (counts.pending || counts.failed)
        log.info(`outbox: ${counts.pending} pending, ${counts.failed} failed submissions.`);
      sender.start();
    },
    async stop() {
      stopped = true;
      capabilityChecks.cancel();
      await Promise.allSettled([...inFlight]);
      await sender.stop();
      await outbox.close();
    },
  };
}

/** The FHIR server submissions go to, with the module's own credential (a token source, or client credentials). */
function moduleTarget(options: WritePathOptions, timeoutMs: number): FhirServerTarget {
  const tokens = options.moduleCredentials
    ? clientCredentialsTokenSource({ fhirBaseUrl: options.fhirBaseUrl, ...options.moduleCredentials, timeoutMs })
    : undefined;
  return {
    baseUrl: options.fhirBaseUrl.replace(/\/+$/, ''),
    timeoutMs,
    ...(options.getModuleToken
      ? { getToken: options.getModuleToken }
      : tokens
        ? { getToken: () => tokens.getToken(), invalidateToken: () => tokens.invalidate() }
        : {}),
  };
}

function submissionService(
  knowledge: KnowledgeBase,
  outbox: Outbox,
  sender: OutboxSender,
  leaseMs: number,
  log: WritePathLog,
): SubmissionService {
  return createSubmissionService({
    knowledge,
    outbox,
    sender,
    firstAttemptLeaseMs: leaseMs,
    onBookkeepingError: (key, err) =>
      log.error(
        `submission ${key} is stored in the outbox, but recording its first attempt failed; it stays queued`,
        err,
      ),
  });
}

/**
 * Reading the CapabilityStatement: `check()` once, and when it could not be read, `schedule()` to try again
 * every `retryMs` until it is (then `onRecovered`) or the write path stops.
 */
function capabilityCheck(o: {
  target: FhirServerTarget;
  log: WritePathLog;
  retryMs: number;
  onRead: (capabilities: ServerCapabilities) => void;
  onRecovered: () => void;
  stopped: () => boolean;
}) {
  let timer: NodeJS.Timeout | undefined;
  const check = () => readAndReportCapabilities(o.target, o.log, o.onRead);
  const schedule = (): void => {
    if (o.stopped()) return;
    timer = setTimeout(() => {
      void check().then((ok) => {
        if (ok) o.onRecovered();
        else schedule();
      });
    }, o.retryMs);
    timer.unref();
  };
  return {
    check,
    schedule,
    cancel: () => {
      if (timer) clearTimeout(timer);
    },
  };
}

/** A refusal is logged as an error; a submission still not sent after 3, 10 and 30 attempts as a warning. */
function logSendEvent(log: WritePathLog, e: Parameters<NonNullable<OutboxSenderOptions['onEvent']>>[0]): void {
  if (e.type === 'failed')
    log.error(`submission ${e.entry.key} refused by the FHIR server, kept as failed: ${e.message}`);
  else if (e.type === 'retry' && [3, 10, 30].includes(e.entry.attempts + 1))
    log.warn(`submission ${e.entry.key} not sent yet (${e.entry.attempts + 1} attempts): ${e.message}`);
}

/**
 * Read the server's CapabilityStatement (`onRead` takes it as soon as it is read) and say what it can do; false
 * when it could not be read (a full R4 server with transactions is assumed meanwhile).
 */
async function readAndReportCapabilities(
  target: FhirServerTarget,
  log: WritePathLog,
  onRead: (capabilities: ServerCapabilities) => void,
): Promise<boolean> {
  try {
    const capabilities = await readCapabilities(target);
    onRead(capabilities);
    const who = capabilities.software ? ` (${capabilities.software})` : '';
    log.info(
      `FHIR server ${target.baseUrl}${who}: ${capabilities.transaction ? 'transactions' : 'NO transactions (one-by-one writes)'}.`,
    );
    for (const limitation of capabilities.limitations) log.warn(`FHIR server ${target.baseUrl}: ${limitation}`);
    return true;
  } catch (err) {
    log.warn(
      `Cannot read the CapabilityStatement of ${target.baseUrl} (${(err as Error)?.message ?? err}): assuming a full R4 server with transactions; will check again. Submissions are kept in the outbox meanwhile.`,
    );
    return false;
  }
}

/** What reading the record on a submitter's behalf needs. */
interface RecordReads {
  knowledge: KnowledgeBase;
  target: FhirServerTarget;
  timeoutMs: number;
  log: WritePathLog;
}

interface SubmitContext {
  service: SubmissionService;
  target: FhirServerTarget;
  superseding: Map<string, Promise<void>>;
  reads: RecordReads;
  loadSubjectData: (subject: string, bearerToken: string | undefined) => Promise<fhir4.FhirResource[]>;
}

/**
 * A submission with what the rules may read about its subject, its record sources proven; a stale amendment
 * refused (412). Resolves once an amendment has superseded what the earlier version raised.
 */
async function submitWithData(c: SubmitContext, input: SubmitInput): Promise<SubmitResult> {
  if (input.amends) await checkNotStale(c.target, input.amends, input.response, input.bearerToken);
  const subject = input.response?.subject?.reference;
  const [data, proven] = await Promise.all([
    !subject || input.data.some((r) => r.resourceType === 'Patient')
      ? input.data
      : c.loadSubjectData(subject, input.bearerToken).then((read) => [...input.data, ...read]),
    proveRecordSources(c.reads, input.response, input.bearerToken),
  ]);
  const submitted = await c.service.submit({ ...input, response: proven.response, data });
  const result = proven.warnings.length ? { ...submitted, warnings: proven.warnings } : submitted;
  if (input.amends && result.state === 'failed' && result.entry.lastError === STALE_AMENDMENT && !result.duplicate)
    throw preconditionFailed(STALE_AMENDMENT);
  await c.superseding.get(result.key);
  return result;
}

/** The subject's Patient, read with the user's token (3 s at most); nothing on any failure. */
async function readPatient(
  target: FhirServerTarget,
  timeoutMs: number,
  subject: string,
  bearerToken: string | undefined,
): Promise<fhir4.FhirResource[]> {
  const id = /^Patient\/([A-Za-z0-9\-.]{1,64})$/.exec(subject)?.[1];
  if (!id || !bearerToken) return []; // the module's own credential may not read patients (least privilege)
  try {
    const client = await clientFor(target, bearerToken);
    const patient = await client.read('Patient', id, { timeoutMs: Math.min(3000, timeoutMs) });
    return patient?.resourceType === 'Patient' ? [patient] : [];
  } catch {
    return [];
  }
}

/**
 * Every submitter (the clinician app, the tablet, API clients) comes through here, so this is where an
 * answer's `ext-prefilled-from` is proven against the record before the rules read it or anything is stored:
 * the Observation it names is read with the submitter's own token (never the module's: what the submitter
 * may not read cannot vouch for its answer). Unreadable — no token, refused, EHR down, slow — counts as not
 * proven: the marker is stripped and the value is the submitter's.
 */
async function proveRecordSources(
  r: RecordReads,
  response: fhir4.QuestionnaireResponse,
  bearerToken: string | undefined,
): Promise<{ response: fhir4.QuestionnaireResponse; warnings: string[] }> {
  const questionnaire = r.knowledge.resolve(
    typeof response?.questionnaire === 'string' ? response.questionnaire : '',
    'Questionnaire',
  );
  const checked = await verifyPrefilledFrom(response, {
    ...(questionnaire ? { questionnaire } : {}),
    readObservation: async (id) => {
      if (!bearerToken) throw new Error('no access token to read the record with');
      return (await clientFor(r.target, bearerToken)).read('Observation', id, {
        timeoutMs: Math.min(3000, r.timeoutMs),
      });
    },
  });
  const warnings = checked.stripped.map(strippedMarkerWarning);
  for (const w of warnings) r.log.warn(`submission for ${response.subject?.reference ?? 'no subject'}: ${w}`);
  return { response: checked.response, warnings };
}

/**
 * An amendment of a version that is no longer current is refused before anything is stored (412), so the
 * user reloads instead of queueing an update that must fail. If the server cannot be asked, the If-Match
 * of the update decides when it is sent.
 */
async function checkNotStale(
  target: FhirServerTarget,
  amends: { id: string; versionId: string },
  response: fhir4.QuestionnaireResponse,
  bearerToken: string | undefined,
): Promise<void> {
  if (!response?.identifier?.value) return; // refused by the service (400)
  let current: fhir4.QuestionnaireResponse | undefined;
  try {
    const client = await clientFor(target, bearerToken);
    current = await client.read<fhir4.QuestionnaireResponse>('QuestionnaireResponse', amends.id);
  } catch (err) {
    const status = (err as { response?: { status?: number } }).response?.status;
    if (status === 404 || status === 410)
      throw new FhirError(404, {
        code: 'not-found',
        diagnostics: `QuestionnaireResponse/${amends.id} (the response being amended) does not exist.`,
      });
    return;
  }
  if (!current?.meta?.versionId || current.meta.versionId === amends.versionId) return;
  // Moved on because of this very amendment (sent before from another outbox): not stale, idempotent.
  const key = amendmentKey(response, amends.versionId);
  if (current.meta.tag?.some((t) => t.system === SUBMISSION_KEY_TAG_SYSTEM && t.code === key)) return;
  throw preconditionFailed(STALE_AMENDMENT);
}

type Item = fhir4.ServiceRequest | fhir4.Flag;

/** The response an amendment replaced, and the prefix of its own items' identifiers (`<submission id>#`). */
interface Amended {
  responseRef: string;
  ours: string;
}

const isOurs = (r: Item, ours: string) => !!r.identifier?.some((i) => i.value?.startsWith(ours));

/** Raised from the amended response (one of `refs` names it, any version) and not by the amendment itself. */
const raisedEarlier = (r: Item, refs: (string | undefined)[], a: Amended) =>
  refs.some((ref) => ref?.replace(/\/_history\/.*$/, '') === a.responseRef) && !isOurs(r, a.ours);

/** The rule that raised an item: a Flag's rule code, else the rule identifier. */
const ruleOf = (r: Item) =>
  (r.resourceType === 'Flag' ? rulesOfFlag(r)[0] : undefined) ??
  r.identifier?.find((i) => i.system === SUBMISSION_RULE_SYSTEM)?.value?.split('#')[1];

/** The amendment's own item of the same kind for the same rule, if it raised one. */
function successorOf<T extends Item>(item: T, all: T[], ours: string): string | undefined {
  const rule = ruleOf(item);
  const next = rule
    ? all.find(
        (r) =>
          isOurs(r, ours) &&
          ruleOf(r) === rule &&
          (r.resourceType !== 'ServiceRequest' ||
            r.code?.coding?.[0]?.code === (item as fhir4.ServiceRequest).code?.coding?.[0]?.code),
      )
    : undefined;
  return next?.id ? `${next.resourceType}/${next.id}` : undefined;
}

/** Undecided proposals the amended response raised. */
const earlierProposals = (requests: fhir4.ServiceRequest[], a: Amended) =>
  requests.filter(
    (r) =>
      r.intent === 'proposal' &&
      r.status === 'draft' &&
      raisedEarlier(
        r,
        (r.supportingInfo ?? []).map((s) => s.reference),
        a,
      ),
  );

/** Open Flags the amended response raised. */
const earlierFlags = (flags: fhir4.Flag[], a: Amended) =>
  flags.filter(
    (f) =>
      f.status === 'active' &&
      raisedEarlier(
        f,
        (f.extension ?? [])
          .filter((e) => e.url === 'http://hl7.org/fhir/StructureDefinition/flag-detail')
          .map((e) => e.valueReference?.reference),
        a,
      ),
  );

/** Every resource of a type about the subject, every page: servers cap _count and page on their own terms. */
async function searchSubject<T extends fhir4.FhirResource>(
  target: FhirServerTarget,
  subject: string,
  type: string,
): Promise<T[]> {
  const client = await clientFor(target);
  return (await client.searchAll<T>(`${type}?subject=${encodeURIComponent(subject)}&_count=500`, { maxPages: 5000 }))
    .resources;
}

/** Dismiss an earlier item as a duplicate its successor carries forward; one decided meanwhile (409) is left. */
async function dismissAsDuplicate(
  target: FhirServerTarget,
  ref: string,
  successor: string,
  why: { note: string; who: fhir4.Reference },
): Promise<void> {
  try {
    await resolveProposal(target, {
      target: ref,
      decision: 'dismiss',
      reason: { system: DECISION_REASON_SYSTEM, code: 'duplicate' },
      note: `${why.note} Carried forward by ${successor}.`,
      who: why.who,
      supersededBy: successor,
    });
  } catch (err) {
    if (!(err instanceof FhirError && err.status === 409)) throw err; // 409: already decided meanwhile
  }
}

/**
 * After an amendment is in the record, each of the earlier version's open Flags and undecided proposals:
 *  - whose rule the amendment fires again (it raised its own Flag / proposal for that rule) is carried
 *    forward: dismissed as a "duplicate" through resolveProposal (one transaction each), with a
 *    Provenance that names the amendment's item replacing it, so the worklist shows one row, not two;
 *  - whose rule no longer fires stays open. The amendment is not an assessment of the patient: an
 *    EMERGENCY flag raised once (saddle numbness answered Yes, then amended to No) leaves the worklist
 *    only when a clinician records what happened (an outcome, e.g. "not needed" with a note), never
 *    silently; the results page lists it as an open flag of an earlier intake.
 * Errors are logged, not thrown: the amendment itself is saved; an item left open is decided by hand.
 */
async function supersedeEarlierVersion(
  target: FhirServerTarget,
  log: WritePathLog,
  key: string,
  bundle: fhir4.Bundle,
): Promise<void> {
  const amendment = amendmentOf(bundle);
  const subject = amendment?.response.subject?.reference;
  if (!amendment || !subject) return;
  const amended: Amended = {
    responseRef: `QuestionnaireResponse/${amendment.response.id}`,
    ours: `${submissionId(key)}#`,
  };
  const why = {
    note: `Superseded by the amended response of ${amendment.response.authored ?? 'a later date'} (replacing version ${amendment.versionId}).`,
    who: amendment.response.author ?? { reference: subject },
  };
  try {
    const requests = await searchSubject<fhir4.ServiceRequest>(target, subject, 'ServiceRequest');
    for (const p of earlierProposals(requests, amended)) {
      const successor = successorOf(p, requests, amended.ours);
      if (successor) await dismissAsDuplicate(target, `ServiceRequest/${p.id}`, successor, why);
    }
    const all = await searchSubject<fhir4.Flag>(target, subject, 'Flag');
    for (const f of earlierFlags(all, amended)) {
      const successor = successorOf(
        f,
        all.filter((x) => x.status === 'active'),
        amended.ours,
      );
      if (successor) await dismissAsDuplicate(target, `Flag/${f.id}`, successor, why);
      else
        log.info(
          `amendment ${key}: Flag/${f.id} (${ruleOf(f) ?? 'no rule'}) no longer fires; it stays open until a clinician records an outcome`,
        );
    }
  } catch (err) {
    log.error(`amendment ${key}: superseding the earlier version's open proposals and flags failed`, err);
  }
}
