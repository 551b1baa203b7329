/**
 * The one place where errors become FHIR OperationOutcomes (and HTTP statuses).
 *
 * Domain code throws `FhirError` (or returns an OperationOutcome built here); the HTTP adapter turns
 * whatever reaches it into an OperationOutcome with `outcomeFromUnknown`. Nothing else builds
 * OperationOutcome error bodies by hand.
 */

export type IssueSeverity = fhir4.OperationOutcomeIssue['severity'];
export type IssueCode = fhir4.OperationOutcomeIssue['code'];

export interface IssueInput {
  severity?: IssueSeverity;
  code: IssueCode;
  diagnostics: string;
  /** FHIRPath(s) to the offending element, e.g. `Parameters.parameter[0].value` or `QuestionnaireResponse.item[2]`. */
  expression?: string | string[];
}

export function issue(input: IssueInput): fhir4.OperationOutcomeIssue {
  const out: fhir4.OperationOutcomeIssue = {
    severity: input.severity ?? 'error',
    code: input.code,
    diagnostics: input.diagnostics,
  };
  if (input.expression !== undefined) {
    out.expression = Array.isArray(input.expression) ? input.expression : [input.expression];
  }
  return out;
}

export function operationOutcome(issues: fhir4.OperationOutcomeIssue[]): fhir4.OperationOutcome {
  return { resourceType: 'OperationOutcome', issue: issues };
}

/** An OperationOutcome saying all is well (FHIR requires at least one issue). */
export function allOk(diagnostics = 'All OK'): fhir4.OperationOutcome {
  return operationOutcome([issue({ severity: 'information', code: 'informational', diagnostics })]);
}

/** An error that knows its HTTP status and its OperationOutcome. Throw it from anywhere. */
export class FhirError extends Error {
  readonly status: number;
  readonly outcome: fhir4.OperationOutcome;

  constructor(status: number, issues: IssueInput | IssueInput[]) {
    const list = (Array.isArray(issues) ? issues : [issues]).map(issue);
    super(list.map((i) => i.diagnostics).join('; '));
    this.name = 'FhirError';
    this.status = status;
    this.outcome = operationOutcome(list);
  }
}

/** 429: the caller must wait `retryAfterSeconds` before trying again (sent as the Retry-After header). */
export class ThrottledError extends FhirError {
  readonly retryAfterSeconds: number;

  constructor(diagnostics: string, retryAfterSeconds: number, expression?: string | string[]) {
    super(429, { code: 'throttled', diagnostics, expression });
    this.retryAfterSeconds = Math.max(1, Math.ceil(retryAfterSeconds));
  }
}

// Constructors for the common cases, so statuses and codes stay consistent across the code base.
export const badRequest = (diagnostics: string, expression?: string | string[]) =>
  new FhirError(400, { code: 'invalid', diagnostics, expression });
export const notFound = (diagnostics: string, expression?: string | string[]) =>
  new FhirError(404, { code: 'not-found', diagnostics, expression });
export const unprocessable = (issues: IssueInput | IssueInput[]) => new FhirError(422, issues);
export const notSupported = (diagnostics: string, expression?: string | string[]) =>
  new FhirError(400, { code: 'not-supported', diagnostics, expression });
export const methodNotAllowed = (diagnostics: string) => new FhirError(405, { code: 'not-supported', diagnostics });
export const tooLarge = (diagnostics: string) => new FhirError(413, { code: 'too-costly', diagnostics });
export const unsupportedMediaType = (diagnostics: string) => new FhirError(415, { code: 'not-supported', diagnostics });
export const unauthorized = (diagnostics: string) => new FhirError(401, { code: 'login', diagnostics });
export const forbidden = (diagnostics: string) => new FhirError(403, { code: 'forbidden', diagnostics });
export const conflict = (diagnostics: string) => new FhirError(409, { code: 'conflict', diagnostics });
export const preconditionFailed = (diagnostics: string) => new FhirError(412, { code: 'conflict', diagnostics });

/** True when an OperationOutcome carries an error or fatal issue. */
export function hasErrors(outcome: fhir4.OperationOutcome): boolean {
  return outcome.issue.some((i) => i.severity === 'error' || i.severity === 'fatal');
}

/**
 * Any thrown value -> status + OperationOutcome. Unknown errors become a 500 whose diagnostics do not leak
 * internals; the caller logs the original.
 */
export function outcomeFromUnknown(err: unknown): { status: number; outcome: fhir4.OperationOutcome } {
  if (err instanceof FhirError) return { status: err.status, outcome: err.outcome };
  // body-parser / http-errors style errors carry a client status (e.g. 413 entity.too.large, 400 parse).
  if (typeof err === 'object' && err !== null) {
    const e = err as { status?: unknown; statusCode?: unknown; type?: unknown; message?: unknown };
    const status =
      typeof e.status === 'number' ? e.status : typeof e.statusCode === 'number' ? e.statusCode : undefined;
    if (status !== undefined && status >= 400 && status < 500) {
      const mapped = clientErrorFromHttpError(
        status,
        typeof e.type === 'string' ? e.type : '',
        typeof e.message === 'string' ? e.message : '',
      );
      return { status: mapped.status, outcome: mapped.outcome };
    }
  }
  if (isDiskFull(err)) {
    return {
      status: 507,
      outcome: operationOutcome([
        issue({
          severity: 'fatal',
          code: 'transient',
          diagnostics:
            "The server's disk is full, so this request could not be completed. Try again later; sending the same submission again is safe (it is never stored twice). Staff: free space in the data folder (GET /readyz shows it).",
        }),
      ]),
    };
  }
  // Not "nothing was stored": an error can come after a write that did happen (a submission safely in the
  // outbox, then a failure in bookkeeping). Claiming otherwise would make a user enter it a second time.
  return {
    status: 500,
    outcome: operationOutcome([
      issue({
        severity: 'fatal',
        code: 'exception',
        diagnostics:
          'Internal server error: the request may not have completed. Sending the same submission again is safe (it is never stored twice).',
      }),
    ]),
  };
}

/** SQLite's "database or disk is full" or the file system's ENOSPC, however deep in a cause chain. */
export function isDiskFull(err: unknown): boolean {
  for (
    let e = err, depth = 0;
    typeof e === 'object' && e !== null && depth < 5;
    e = (e as { cause?: unknown }).cause, depth++
  ) {
    const code = (e as { code?: unknown }).code;
    if (code === 'SQLITE_FULL' || code === 'ENOSPC') return true;
  }
  return false;
}

function clientErrorFromHttpError(status: number, type: string, message: string): FhirError {
  switch (type) {
    case 'entity.too.large':
      return tooLarge('The request body is larger than this server accepts.');
    case 'entity.parse.failed':
      return new FhirError(400, { code: 'structure', diagnostics: `The request body is not valid JSON: ${message}` });
    case 'encoding.unsupported':
    case 'charset.unsupported':
      return unsupportedMediaType(message);
    default:
      return new FhirError(status, {
        code: status === 404 ? 'not-found' : 'invalid',
        diagnostics: message || 'Bad request.',
      });
  }
}
