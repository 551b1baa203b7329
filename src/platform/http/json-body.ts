/**
 * Request bodies: FHIR JSON only, size-limited, depth-limited, and free of prototype-polluting keys.
 *
 * Why not `express.json()`: it cannot limit nesting depth and it lets `__proto__` keys through to code
 * that may later copy them onto real objects. Here the raw bytes are read (body-parser's `raw`, which
 * enforces the size limit and answers 413), then:
 * 1. the text is scanned once, without recursion, for nesting deeper than MAX_JSON_DEPTH (400) — before
 *    `JSON.parse`, so hostile nesting never reaches recursive code;
 * 2. `JSON.parse` (400 with the parser's position on malformed JSON);
 * 3. an iterative walk rejects (400) any key `__proto__`, `constructor` or `prototype`, naming its path.
 *
 * Reject, not strip: no FHIR element has those names, so such a body is either an attack or a bug, and
 * silently changing clinical data would hide both. Rejection keeps what is stored equal to what was sent.
 */
import type { NextFunction, Request, Response } from 'express';
import express from 'express';
import { FhirError, badRequest, unsupportedMediaType } from '../../outcomes/index.js';

export const FHIR_JSON_TYPES = ['application/fhir+json', 'application/json'] as const;
const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

/** Nesting depth for the app and tablet APIs and other internal JSON routes (the FHIR API's is MAX_JSON_DEPTH). */
export const DEFAULT_MAX_JSON_DEPTH = 64;

export interface JsonBodyOptions {
  limitBytes: number;
  maxDepth: number;
}

export interface JsonBodyReaderOptions extends JsonBodyOptions {
  /** Media types read as JSON. */
  mediaTypes: readonly string[];
  /**
   * A body of another type: `reject` answers 415; `skip` leaves `req.body` undefined for the route to judge
   * (as `express.json()` does), for routes that also take other bodies.
   */
  otherTypes: 'reject' | 'skip';
}

/** Express middleware: parses FHIR JSON bodies into `req.body` (undefined when there is no body). */
export function fhirJsonBody(options: JsonBodyOptions) {
  return jsonBody({ ...options, mediaTypes: FHIR_JSON_TYPES, otherTypes: 'reject' });
}

/**
 * The one JSON body reader of the server (the FHIR API, the EHR, the clinician app and tablet APIs, the
 * launcher): size, media type, charset, nesting depth and hostile keys are checked the same way everywhere.
 */
export function jsonBody(options: JsonBodyReaderOptions) {
  // `type: () => true`: read every body; the content type is checked below so that a wrong one gets a 415.
  const readRaw = express.raw({ type: () => true, limit: options.limitBytes });
  return function parseJson(req: Request, res: Response, next: NextFunction): void {
    if (!hasBody(req)) {
      req.body = undefined;
      next();
      return;
    }
    const mediaType = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
    if (!options.mediaTypes.includes(mediaType)) {
      if (options.otherTypes === 'skip') {
        next();
        return;
      }
      next(
        unsupportedMediaType(
          `Request bodies must be ${options.mediaTypes === FHIR_JSON_TYPES ? 'FHIR JSON (Content-Type application/fhir+json or application/json)' : options.mediaTypes.join(' or ')}, got ${mediaType ? `'${mediaType.slice(0, 100)}'` : 'no Content-Type'}.`,
        ),
      );
      return;
    }
    const charset = /;\s*charset=("?)([^";]+)\1/i.exec(req.headers['content-type'] ?? '')?.[2]?.toLowerCase();
    if (charset !== undefined && charset !== 'utf-8' && charset !== 'utf8') {
      next(unsupportedMediaType(`Only UTF-8 request bodies are accepted, got charset '${charset.slice(0, 40)}'.`));
      return;
    }
    readRaw(req, res, (err?: unknown) => {
      if (err) {
        next(err);
        return;
      }
      try {
        const bytes = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
        req.body = parseJsonBody(bytes, options.maxDepth);
        next();
      } catch (parseErr) {
        next(parseErr);
      }
    });
  };
}

function hasBody(req: Request): boolean {
  if (req.headers['transfer-encoding'] !== undefined) return true;
  const length = req.headers['content-length'];
  return length !== undefined && length !== '0';
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Bytes -> JSON value, or a FhirError (400) saying exactly what is wrong. Exported for tests and the bench. */
export function parseJsonBody(bytes: Uint8Array, maxDepth: number): unknown {
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    throw new FhirError(400, { code: 'structure', diagnostics: 'The request body is not valid UTF-8.' });
  }
  if (text.trim() === '') return undefined;
  const depth = maxNestingDepth(bytes);
  if (depth > maxDepth) {
    throw new FhirError(400, {
      code: 'structure',
      diagnostics: `The request body is nested ${depth} levels deep; this server accepts at most ${maxDepth}.`,
    });
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new FhirError(400, {
      code: 'structure',
      diagnostics: `The request body is not valid JSON: ${err instanceof Error ? err.message : String(err)}.`,
    });
  }
  rejectForbiddenKeys(value);
  return value;
}

/**
 * Deepest `{`/`[` nesting outside strings, in one pass and constant stack. Over the UTF-8 bytes (≈2× faster
 * than over the decoded string): every structural character is ASCII, and no byte of a multi-byte character is.
 */
export function maxNestingDepth(bytes: Uint8Array): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < bytes.length; i++) {
    const c = bytes[i]!;
    if (inString) {
      if (c === 0x5c /* \ */) i++;
      else if (c === 0x22 /* " */) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x7b /* { */ || c === 0x5b /* [ */) {
      depth++;
      if (depth > max) max = depth;
    } else if (c === 0x7d /* } */ || c === 0x5d /* ] */) depth--;
  }
  return max;
}

/**
 * Throws 400 naming the first forbidden key and where it is. Every request body passes here, so the check
 * itself is a plain walk that builds no paths; only a body that has such a key is walked again with paths.
 */
function rejectForbiddenKeys(root: unknown): void {
  if (hasForbiddenKey(root)) rejectForbiddenKeysWithPaths(root);
}

function hasForbiddenKey(root: unknown): boolean {
  const stack: unknown[] = [root];
  while (stack.length > 0) {
    const value = stack.pop();
    if (typeof value !== 'object' || value === null) continue;
    if (Array.isArray(value)) {
      for (const v of value) stack.push(v);
      continue;
    }
    for (const key of Object.keys(value)) {
      if (FORBIDDEN_KEYS.has(key)) return true;
      stack.push((value as Record<string, unknown>)[key]);
    }
  }
  return false;
}

/** Iterative walk: throws 400 naming the first forbidden key and where it is (FHIRPath-like path). */
function rejectForbiddenKeysWithPaths(root: unknown): void {
  const stack: Array<{ value: unknown; path: string }> = [{ value: root, path: rootName(root) }];
  while (stack.length > 0) {
    const { value, path } = stack.pop()!;
    if (Array.isArray(value)) {
      value.forEach((v, i) => stack.push({ value: v, path: `${path}[${i}]` }));
    } else if (typeof value === 'object' && value !== null) {
      for (const key of Object.keys(value)) {
        if (FORBIDDEN_KEYS.has(key)) {
          throw badRequest(
            `The request body contains the key '${key}', which no FHIR element has; it is refused for safety.`,
            `${path}.${key}`,
          );
        }
        stack.push({ value: (value as Record<string, unknown>)[key], path: `${path}.${key}` });
      }
    }
  }
}

function rootName(value: unknown): string {
  const type = (value as { resourceType?: unknown } | null)?.resourceType;
  return typeof type === 'string' && /^[A-Z][A-Za-z]{0,63}$/.test(type) ? type : '$this';
}
