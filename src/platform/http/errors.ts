/**
 * The one place where an error becomes an HTTP response. Every router of the server (the FHIR API, the
 * sandbox EHR's store and launcher, the clinician app, the tablet) ends with this middleware, so an error
 * has one shape per kind of route wherever it is thrown:
 * - FHIR routes and JSON app APIs: an OperationOutcome as `application/fhir+json`, with `expression` where
 *   an element is at fault (`outcomeFromUnknown`), `Allow` on a 405 and `Retry-After` on a 429;
 * - HTML pages (where the router says so): the router's own error page, with the same status.
 */
import type { ErrorRequestHandler, NextFunction, Request, Response } from 'express';
import { outcomeFromUnknown, ThrottledError } from '../../outcomes/index.js';
import type { Logger } from '../log.js';
import { sendResource } from './fhir-route.js';

export interface ErrorHandlerOptions {
  log: Pick<Logger, 'error'>;
  /**
   * Errors of a library this router uses, turned into FhirErrors (or anything `outcomeFromUnknown` reads)
   * before they are answered; return the error unchanged when it is not one of them.
   */
  translate?: (err: unknown) => unknown;
  /** Requests that ask for a page rather than data, and the page that tells their error. */
  html?: { wanted: (req: Request) => boolean; page: (message: string, status: number) => string };
  /** Answers that hold a patient's data or a session's state: never stored by a cache. */
  noStore?: boolean;
}

export function errorHandler(options: ErrorHandlerOptions): ErrorRequestHandler {
  return (thrown: unknown, req: Request, res: Response, _next: NextFunction) => {
    const err = options.translate ? options.translate(thrown) : thrown;
    const { status, outcome } = outcomeFromUnknown(err);
    if (status >= 500) options.log.error(`${req.method} ${req.originalUrl.slice(0, 200)} failed`, err);
    if (res.headersSent) {
      // Too late for a status: cut the connection so the client sees a failure, not a truncated success.
      res.destroy();
      return;
    }
    if (options.noStore) res.setHeader('Cache-Control', 'no-store');
    if (options.html?.wanted(req)) {
      res
        .status(status)
        .type('html')
        .send(options.html.page(outcome.issue[0]?.diagnostics ?? 'Something went wrong.', status));
      return;
    }
    const allow = (err as { allow?: unknown } | null)?.allow;
    const headers: Record<string, string> = typeof allow === 'string' ? { Allow: allow } : {};
    if (err instanceof ThrottledError) headers['Retry-After'] = String(err.retryAfterSeconds);
    sendResource(res, { status, resource: outcome, headers });
  };
}

/** The handler for FHIR routes alone (no pages): an OperationOutcome for every error. */
export function fhirErrorHandler(log: Pick<Logger, 'error'>): ErrorRequestHandler {
  return errorHandler({ log });
}

/** A logger for the parts of the server that are given none: errors on stderr, named by their part. */
export function consoleErrors(part: string): Pick<Logger, 'error'> {
  return { error: (message, err) => console.error(`${part}: ${message}`, err) };
}
