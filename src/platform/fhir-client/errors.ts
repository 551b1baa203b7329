/**
 * What a FHIR server's failure says: its HTTP status, how long it asked us to wait, and its reason in words.
 * fhir-kit-client rejects with `{ response: { status, data }, config: { headers } }`; a failure with no
 * status had no answer at all (connection refused, reset, our timeout).
 */

/** The HTTP status of a failed call (undefined: no answer at all). */
export function httpStatusOf(err: unknown): number | undefined {
  return (err as { response?: { status?: number } } | null)?.response?.status;
}

/** True when the call got no answer because our own timeout fired. */
export function timedOut(err: unknown): boolean {
  const name = (err as { name?: string } | null)?.name;
  return name === 'TimeoutError' || name === 'AbortError';
}

/**
 * How long the server asked to wait (`Retry-After`: seconds or an HTTP date) on a 429/503 answer, in ms;
 * undefined when it did not say.
 */
export function retryAfterMsOf(err: unknown, now = Date.now()): number | undefined {
  const headers = (err as { config?: { headers?: { get?(name: string): string | null } } } | null)?.config?.headers;
  const value = typeof headers?.get === 'function' ? headers.get('retry-after') : null;
  return parseRetryAfter(value, now);
}

/** Capped at an hour: a server's typo must not park a submission for days. */
export function parseRetryAfter(value: string | null | undefined, now = Date.now()): number | undefined {
  if (!value) return undefined;
  const trimmed = value.trim();
  const ms = /^\d+$/.test(trimmed) ? Number(trimmed) * 1000 : Date.parse(trimmed) - now;
  return Number.isFinite(ms) ? Math.min(Math.max(0, ms), 3_600_000) : undefined;
}

/** The reason an OperationOutcome gives, in words (diagnostics, else details.text as Medplum writes it, else the code). */
export function outcomeText(body: unknown): string | undefined {
  const oo = body as fhir4.OperationOutcome | undefined;
  if (oo?.resourceType !== 'OperationOutcome' || !Array.isArray(oo.issue)) return undefined;
  const text = oo.issue
    .map((i) => i.diagnostics ?? i.details?.text ?? i.details?.coding?.[0]?.display ?? i.code)
    .filter(Boolean)
    .join('; ');
  return text ? text.slice(0, 500) : undefined;
}

/**
 * The server's reason for a failed call, for staff to read: its OperationOutcome in words, else the start of
 * whatever it answered; undefined when it said nothing (or never answered).
 */
export function serverReasonOf(err: unknown): string | undefined {
  const data = (err as { response?: { data?: unknown } } | null)?.response?.data;
  if (data === undefined || data === null || data === '') return undefined;
  try {
    const body = typeof data === 'string' ? (JSON.parse(data) as unknown) : data;
    const text = outcomeText(body);
    if (text) return text;
  } catch {
    /* not JSON: its own words, shortened */
  }
  if (typeof data === 'object' && Object.keys(data).length === 0) return undefined;
  return (typeof data === 'string' ? data : JSON.stringify(data)).slice(0, 200);
}
