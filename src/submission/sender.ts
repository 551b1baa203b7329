/**
 * Drains the outbox: sends each due entry to the FHIR server and records the outcome.
 *
 * Classification: network errors, timeouts, 408, 429 and 5xx are transient (retry with capped exponential
 * backoff and jitter, forever — a submission is never dropped); any other 4xx is permanent (the server will
 * never accept this bundle as it is) and the entry is marked failed for staff to see, never silently lost.
 */
import type { Outbox, OutboxEntry } from './outbox.js';

export interface BundleWriter {
  /** Send one submission bundle; resolves with the server's response Bundle. */
  write(bundle: fhir4.Bundle): Promise<fhir4.Bundle>;
}

export interface SendFailure {
  transient: boolean;
  message: string;
}

export function classifyWriteError(err: unknown): SendFailure {
  const e = err as { response?: { status?: number; data?: unknown }; message?: string; name?: string };
  const status = e?.response?.status;
  if (typeof status === 'number') {
    const detail = describeBody(e.response?.data);
    const transient = status >= 500 || status === 408 || status === 429;
    return { transient, message: `FHIR server answered ${status}${detail ? `: ${detail}` : ''}` };
  }
  // fetch TypeError (connection refused, reset), AbortError (our timeout), DNS failures: all transient.
  return { transient: true, message: `FHIR server unreachable: ${e?.message ?? String(err)}` };
}

function describeBody(data: unknown): string {
  if (!data) return '';
  try {
    const body = typeof data === 'string' ? (JSON.parse(data) as unknown) : data;
    const oo = body as fhir4.OperationOutcome;
    if (oo?.resourceType === 'OperationOutcome') return oo.issue.map((i) => i.diagnostics ?? i.code).join('; ').slice(0, 500);
  } catch {
    /* not JSON: fall through */
  }
  return String(data).slice(0, 200);
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
  /** A claimed entry is invisible to other senders for this long. */
  leaseMs?: number;
  onEvent?: (event: { type: 'sent' | 'retry' | 'failed'; entry: OutboxEntry; message?: string }) => void;
}

export interface OutboxSender {
  /** Try to send one entry now (used right after a submission is stored). */
  sendEntry(entry: OutboxEntry): Promise<'sent' | 'retry' | 'failed'>;
  /** Send everything due; resolves with how many were attempted. */
  drain(now?: Date): Promise<number>;
  start(): void;
  stop(): Promise<void>;
}

export function createOutboxSender(options: OutboxSenderOptions): OutboxSender {
  const { outbox, writer } = options;
  const backoff = options.backoff ?? defaultBackoff;
  const pollMs = options.pollMs ?? 1000;
  const leaseMs = options.leaseMs ?? 60_000;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<unknown> = Promise.resolve();
  let stopped = true;

  async function sendEntry(entry: OutboxEntry): Promise<'sent' | 'retry' | 'failed'> {
    try {
      const response = await writer.write(entry.bundle);
      outbox.markSent(entry.id, response);
      options.onEvent?.({ type: 'sent', entry });
      return 'sent';
    } catch (err) {
      const failure = classifyWriteError(err);
      if (failure.transient) {
        const next = new Date(Date.now() + nextDelayMs(entry.attempts + 1, backoff));
        outbox.markRetry(entry.id, failure.message, next);
        options.onEvent?.({ type: 'retry', entry, message: failure.message });
        return 'retry';
      }
      outbox.markFailed(entry.id, failure.message);
      options.onEvent?.({ type: 'failed', entry, message: failure.message });
      return 'failed';
    }
  }

  async function drain(now = new Date()): Promise<number> {
    const due = outbox.claimDue(now, 20, leaseMs);
    for (const entry of due) await sendEntry(entry);
    return due.length;
  }

  function schedule(): void {
    if (stopped) return;
    timer = setTimeout(() => {
      running = drain()
        .catch((err: unknown) => console.error('outbox drain failed', err))
        .finally(schedule);
    }, pollMs);
    timer.unref();
  }

  return {
    sendEntry,
    drain,
    start() {
      if (!stopped) return;
      stopped = false;
      schedule();
    },
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await running;
    },
  };
}
