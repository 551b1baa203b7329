/**
 * The thin HTTP adapter of FHIR routes: handlers return a `FhirResult` (or throw), and this file writes the
 * resource; what they throw goes to the one error handler (errors.ts).
 */
import type { NextFunction, Request, RequestHandler, Response } from 'express';

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
