/**
 * The thin HTTP adapter: handlers return a `FhirResult` (or throw), and only this file writes responses.
 * The error middleware here is the one place where errors become HTTP responses (via `outcomeFromUnknown`).
 */
import type { ErrorRequestHandler, NextFunction, Request, RequestHandler, Response } from 'express';
import { outcomeFromUnknown, ThrottledError } from '../outcomes/index.js';
import type { Logger } from './log.js';

export const FHIR_CONTENT_TYPE = 'application/fhir+json; charset=utf-8';

export interface FhirResult {
  status?: number;
  resource: fhir4.FhirResource;
  headers?: Record<string, string>;
}

export type FhirHandler = (req: Request) => FhirResult | Promise<FhirResult>;

export function sendResource(res: Response, result: FhirResult): void {
  res.status(result.status ?? 200);
  for (const [name, value] of Object.entries(result.headers ?? {})) res.setHeader(name, value);
  res.setHeader('Content-Type', FHIR_CONTENT_TYPE);
  res.send(JSON.stringify(result.resource));
}

/** Wrap a handler: its result is written as FHIR JSON; anything it throws goes to the error middleware. */
export function fhirRoute(handler: FhirHandler): RequestHandler {
  return async (req: Request, res: Response, next: NextFunction) => {
    try {
      sendResource(res, await handler(req));
    } catch (err) {
      next(err);
    }
  };
}

/** The error middleware: every error, from any layer, leaves as an OperationOutcome with its status. */
export function fhirErrorHandler(log: Logger): ErrorRequestHandler {
  return (err: unknown, req: Request, res: Response, _next: NextFunction) => {
    const { status, outcome } = outcomeFromUnknown(err);
    if (status >= 500) log.error(`${req.method} ${req.originalUrl.slice(0, 200)} failed`, err);
    if (res.headersSent) {
      // Too late for a status: cut the connection so the client sees a failure, not a truncated success.
      res.destroy();
      return;
    }
    const allow = (err as { allow?: unknown } | null)?.allow;
    const headers: Record<string, string> = typeof allow === 'string' ? { Allow: allow } : {};
    if (err instanceof ThrottledError) headers['Retry-After'] = String(err.retryAfterSeconds);
    sendResource(res, { status, resource: outcome, headers });
  };
}

/** One log line per request, when it finishes: method, path, status, duration. */
export function requestLogger(log: Logger): RequestHandler {
  // At level warn and above there is no per-request line: no timer and no listener per request either.
  if (log.enabled?.('info') === false) return (_req, _res, next) => next();
  return (req, res, next) => {
    const started = process.hrtime.bigint();
    res.on('finish', () => {
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      log.info(`${req.method} ${req.originalUrl.slice(0, 300)} ${res.statusCode} ${ms.toFixed(1)}ms`);
    });
    next();
  };
}
