/**
 * Pre-verifying the caller's token against a remote EHR before a submission is queued.
 *
 * With the embedded sandbox the server checks the token locally (`authorizeSubmit` in server.ts). With a
 * clinic's EHR only the EHR can judge it, and the first judgement used to come with the first send: a bad
 * token was a permanent 401/403 after the user had already been told "saved, sending". So, before anything
 * is stored, one cheap authorized read with the caller's token: `GET <subject>?_elements=id` (the subject's
 * own record, which this module reads for the rules anyway; `_elements=id` so that nothing else of it
 * crosses the wire; a server that does not know `_elements` returns the whole Patient, which is fine).
 *
 * - 401 / 403 → refused now with that status (nothing stored, nothing sent);
 * - anything else (200, 404, 5xx, a network failure, a timeout) → accepted and queued as before: a
 *   submission is never lost because the EHR is down or slow, and the first send judges the token again.
 */
import { FhirError, unauthorized } from '../outcomes/index.js';
import { FhirClient, httpStatusOf } from '../platform/fhir-client/index.js';
import type { FhirServerTarget } from './fhir-writer.js';

/** Longest the check may hold up a submission: slower = "cannot tell", accept. */
export const PREVERIFY_TIMEOUT_MS = 3000;

const RELATIVE_REFERENCE = /^([A-Z][A-Za-z]{1,63})\/([A-Za-z0-9\-.]{1,64})$/;

/** The HTTP status of one authorized read with the caller's token; undefined when there was no answer. */
async function statusOfRead(
  baseUrl: string,
  token: string,
  path: string,
  timeoutMs: number,
): Promise<number | undefined> {
  try {
    await new FhirClient({ baseUrl, bearerToken: token, timeoutMs }).get(path);
    return 200;
  } catch (err) {
    return httpStatusOf(err);
  }
}

/** `Type/id` of the subject, relative to `baseUrl`; undefined when it is not a reference to this server. */
export function subjectPath(subject: string | undefined, baseUrl: string): string | undefined {
  if (!subject) return undefined;
  const relative = subject.startsWith(`${baseUrl}/`) ? subject.slice(baseUrl.length + 1) : subject;
  return RELATIVE_REFERENCE.test(relative) ? relative : undefined;
}

/**
 * An `authorizeSubmit` for a remote EHR: throws a FhirError 401/403 when the EHR refuses the caller's token
 * for the subject; returns quietly otherwise (including when the EHR cannot be asked).
 */
export function remoteTokenCheck(
  target: Pick<FhirServerTarget, 'baseUrl' | 'timeoutMs'>,
  options: { timeoutMs?: number } = {},
) {
  const baseUrl = target.baseUrl.replace(/\/+$/, '');
  const timeoutMs = options.timeoutMs ?? Math.min(PREVERIFY_TIMEOUT_MS, target.timeoutMs ?? PREVERIFY_TIMEOUT_MS);
  return async (token: string, subject: string | undefined): Promise<void> => {
    const path = subjectPath(subject, baseUrl);
    if (!path) return; // no subject: the service refuses the response itself (400)
    const status = await statusOfRead(baseUrl, token, `${path}?_elements=id`, timeoutMs);
    if (status === undefined) return; // unreachable or too slow: accept, the outbox keeps it and the first send judges the token
    if (status === 401)
      throw unauthorized(
        `The record system (${baseUrl}) does not accept your access token (401): sign in again. Nothing was saved.`,
      );
    if (status === 403) {
      throw new FhirError(403, {
        code: 'forbidden',
        diagnostics: `The record system (${baseUrl}) does not let your access token see ${path} (403), so it would refuse this submission. Nothing was saved.`,
        expression: 'QuestionnaireResponse.subject',
      });
    }
  };
}

/**
 * An `authorizeStatus` for a remote EHR: the caller's token must be allowed to read the subject
 * (`GET <subject>?_elements=id` answers 2xx). Unlike the submit check it fails closed: a refusal (401, 403,
 * 404) or no answer refuses, because a state disclosed to the wrong caller cannot be taken back. Without a
 * subject (an unknown key) only the token is judged, by a search that returns nothing (`Patient?_count=0`):
 * a 401 refuses, anything else lets the caller hear "unknown key", exactly as for a key it may not see.
 */
export function remoteReadCheck(
  target: Pick<FhirServerTarget, 'baseUrl' | 'timeoutMs'>,
  options: { timeoutMs?: number } = {},
) {
  const baseUrl = target.baseUrl.replace(/\/+$/, '');
  const timeoutMs = options.timeoutMs ?? Math.min(PREVERIFY_TIMEOUT_MS, target.timeoutMs ?? PREVERIFY_TIMEOUT_MS);
  return async (token: string, subject: string | undefined): Promise<void> => {
    const path = subjectPath(subject, baseUrl);
    const status = await statusOfRead(baseUrl, token, path ? `${path}?_elements=id` : 'Patient?_count=0', timeoutMs);
    if (status === undefined) {
      throw new FhirError(503, {
        code: 'transient',
        diagnostics: `The record system (${baseUrl}) could not be asked whether your access token may see this submission; try again.`,
      });
    }
    if (status === 401)
      throw unauthorized(`The record system (${baseUrl}) does not accept your access token (401): sign in again.`);
    if (!path) return;
    if (status < 200 || status >= 300)
      throw new FhirError(403, {
        code: 'forbidden',
        diagnostics: `The record system (${baseUrl}) does not let your access token see ${path} (${status}).`,
      });
  };
}
