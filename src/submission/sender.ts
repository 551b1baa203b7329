/**
 * Drains the outbox: sends each due entry to the FHIR server and records the outcome.
 *
 * Classification: network errors, timeouts, 401 (a token to refresh), 408, 429 and 5xx are transient (retry
 * with capped exponential backoff and jitter, forever — a submission is never dropped); any other 4xx is
 * permanent (the server will never accept this bundle as it is) and the entry is marked failed for staff to
 * see, never silently lost.
 *
 * The user's token is used for the first attempt only (it is never stored); retries use the module's own
 * credential (FhirServerTarget.getToken).
 */
import { WriteError, outcomeText, retryAfterMsOf, type BundleWriter } from './fhir-writer.js';
import type { Outbox, OutboxEntry } from './outbox.js';
import { printable } from '../platform/text.js';

export type { BundleWriter } from './fhir-writer.js';

export interface SendFailure {
  transient: boolean;
  message: string;
  /** The server's Retry-After (429/503): the next attempt is not before it. */
  retryAfterMs?: number;
}

/**
 * `userToken`: the attempt ran with the user's own token (the first one). Then a 401 or 403 is the EHR
 * refusing the USER: permanent — retrying with the module's credential would write in the user's name what
 * the EHR would not let the user write.
 */
export function classifyWriteError(err: unknown, options: { userToken?: boolean } = {}): SendFailure {
  if (err instanceof WriteError) return writeErrorFailure(err);
  const e = err as { response?: { status?: number; data?: unknown }; message?: string; name?: string };
  const status = e?.response?.status;
  if (options.userToken && (status === 401 || status === 403)) {
    return {
      transient: false,
      message: `The FHIR server refused the user's credentials (${status}); nothing was written. Sign in again and resubmit.`,
    };
  }
  if (typeof status === 'number') return httpFailure(err, status, e.response?.data);
  return unreachableFailure(err);
}

/** The writer's own verdict, as it judged it. */
function writeErrorFailure(err: WriteError): SendFailure {
  return {
    transient: err.transient,
    message: err.message,
    ...(err.retryAfterMs !== undefined ? { retryAfterMs: err.retryAfterMs } : {}),
  };
}

/**
 * An HTTP answer: 5xx, 408, 429 and 401 are transient (401: the token expired or was revoked; a retry uses a
 * fresh module token). 403 is permanent: never work around a refusal by retrying with other credentials.
 */
function httpFailure(err: unknown, status: number, data: unknown): SendFailure {
  const detail = describeBody(data);
  const transient = status >= 500 || status === 401 || status === 408 || status === 429;
  const retryAfterMs = retryAfterMsOf(err);
  return {
    transient,
    message: `FHIR server answered ${status}${detail ? `: ${detail}` : ''}`,
    ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
  };
}

/** fetch TypeError (connection refused, reset), AbortError/TimeoutError (our timeout), DNS failures: transient. */
function unreachableFailure(err: unknown): SendFailure {
  const e = err as { message?: string; name?: string; cause?: { code?: string; message?: string } } | undefined;
  const cause = e?.cause;
  const why =
    e?.name === 'TimeoutError' || e?.name === 'AbortError' ? 'no answer in time' : (e?.message ?? String(err));
  return { transient: true, message: `FHIR server unreachable: ${why}${cause?.code ? ` (${cause.code})` : ''}` };
}

function describeBody(data: unknown): string {
  if (!data) return '';
  try {
    const body = typeof data === 'string' ? (JSON.parse(data) as unknown) : data;
    // The server's own words (diagnostics, or details.text where servers such as Medplum put them).
    const text = outcomeText(body);
    if (text) return text;
  } catch {
    /* not JSON: fall through */
  }
  return printable(data).slice(0, 200);
}

export interface BackoffPolicy {
  baseMs: number;
  maxMs: number;
}

export const defaultBackoff: BackoffPolicy = { baseMs: 1000, maxMs: 5 * 60_000 };

/** attempt 1 -> ~base, doubling, capped, with +-20 % jitter so a recovering server is not stampeded. */
export function nextDelayMs(attempts: number, policy: BackoffPolicy, random: () => number = Math.random): number {
  const raw = Math.min(policy.maxMs, policy.baseMs * 2 ** Math.max(0, attempts - 1));
  return Math.round(raw * (0.8 + 0.4 * random()));
}

export interface OutboxSenderOptions {
  outbox: Outbox;
  writer: BundleWriter;
  backoff?: BackoffPolicy;
  /** How often to look for due entries. */
  pollMs?: number;
  /** A claimed entry is invisible to other senders for this long (longer than one attempt can take). */
  leaseMs?: number;
  /** How many entries the background sender sends at once. */
  concurrency?: number;
  onEvent?: (event: { type: 'sent' | 'retry' | 'failed'; entry: OutboxEntry; message?: string }) => void;
}

export interface OutboxSender {
  /** Try to send one entry now (used right after a submission is stored, with the user's token). */
  sendEntry(entry: OutboxEntry, bearerToken?: string): Promise<'sent' | 'retry' | 'failed'>;
  /** Send everything due (batch after batch, until nothing is due); resolves with how many were attempted. */
  drain(now?: Date): Promise<number>;
  /** Ask the background loop to look now (e.g. after the server is seen to be back). */
  wake(): void;
  start(): void;
  stop(): Promise<void>;
}

/**
 * One attempt at one entry, its outcome recorded: sent; a transient failure retried after the backoff (not
 * before the server's Retry-After); a permanent one marked failed.
 */
async function sendOne(
  to: Pick<OutboxSenderOptions, 'outbox' | 'writer' | 'onEvent'> & { backoff: BackoffPolicy },
  entry: OutboxEntry,
  bearerToken?: string,
): Promise<'sent' | 'retry' | 'failed'> {
  try {
    const response = await to.writer.write(entry.bundle, {
      ...(bearerToken ? { bearerToken } : {}),
      retry: entry.attempts > 0,
    });
    await to.outbox.markSent(entry.id, response);
    to.onEvent?.({ type: 'sent', entry });
    return 'sent';
  } catch (err) {
    const failure = classifyWriteError(err, { userToken: bearerToken !== undefined });
    if (failure.transient) {
      // Not before the server's Retry-After, when it gave one (429, 503).
      const next = new Date(
        Date.now() + Math.max(nextDelayMs(entry.attempts + 1, to.backoff), failure.retryAfterMs ?? 0),
      );
      await to.outbox.markRetry(entry.id, failure.message, next);
      to.onEvent?.({ type: 'retry', entry, message: failure.message });
      return 'retry';
    }
    await to.outbox.markFailed(entry.id, failure.message);
    to.onEvent?.({ type: 'failed', entry, message: failure.message });
    return 'failed';
  }
}

export function createOutboxSender(options: OutboxSenderOptions): OutboxSender {
  const { outbox, writer } = options;
  const backoff = options.backoff ?? defaultBackoff;
  const pollMs = options.pollMs ?? 1000;
  const leaseMs = options.leaseMs ?? 60_000;
  const concurrency = options.concurrency ?? 4;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<unknown> = Promise.resolve();
  let stopped = true;
  let stopRequested = false;

  const sendEntry = (entry: OutboxEntry, bearerToken?: string) =>
    sendOne({ outbox, writer, backoff, onEvent: options.onEvent }, entry, bearerToken);

  async function drain(now?: Date): Promise<number> {
    let attempted = 0;
    // A fixed `now` (tests) drains one batch; otherwise batch after batch while entries are due (bounded, so
    // that tiny backoffs against a dead server cannot spin here forever: the next poll carries on).
    for (let batch = 0; batch < (now ? 1 : 50) && !stopRequested; batch++) {
      const due = await outbox.claimDue(now ?? new Date(), concurrency * 5, leaseMs);
      if (due.length === 0) break;
      let next = 0;
      const lane = async () => {
        while (next < due.length) await sendEntry(due[next++]!);
      };
      await Promise.all(Array.from({ length: Math.min(concurrency, due.length) }, lane));
      attempted += due.length;
    }
    return attempted;
  }

  let draining = false;
  function schedule(delay = pollMs): void {
    if (stopped) return;
    if (timer) clearTimeout(timer);
    timer = setTimeout(() => {
      timer = undefined;
      if (draining) return schedule();
      draining = true;
      running = drain()
        .catch((err: unknown) => console.error('outbox drain failed', err))
        .finally(() => {
          draining = false;
          schedule();
        });
    }, delay);
    timer.unref();
  }

  return {
    sendEntry,
    drain,
    wake() {
      if (!stopped && !draining) schedule(0);
    },
    start() {
      if (!stopped) return;
      stopped = false;
      stopRequested = false;
      schedule();
    },
    async stop() {
      stopped = true;
      stopRequested = true;
      if (timer) clearTimeout(timer);
      timer = undefined;
      await running;
    },
  };
}
