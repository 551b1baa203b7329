/** An EHR launch over plain HTTP (no browser), following the sandbox EHR's redirects with its cookies. */
import fs from 'node:fs';
import path from 'node:path';
import { expect } from '@jest/globals';
import type { AppHarness } from './harness.js';

const REPO = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');

/** A worked example's intake response (`examples/<name>/response.json`). */
export function exampleResponse(example: string): fhir4.QuestionnaireResponse {
  const file = path.join(REPO, 'examples', example, 'response.json');
  if (!fs.existsSync(file)) throw new Error(`missing worked example ${file}`);
  return JSON.parse(fs.readFileSync(file, 'utf8')) as fhir4.QuestionnaireResponse;
}

/** A call to the app's API as the page makes it, with the session handle and CSRF token of `who`. */
export async function appCall<T = unknown>(
  h: AppHarness,
  who: { session: string; csrf: string },
  method: string,
  pathname: string,
  body?: unknown,
): Promise<{ status: number; body: T }> {
  const res = await fetch(`${h.baseUrl}/app/api${pathname}`, {
    method,
    headers: {
      'x-session': who.session,
      'x-csrf-token': who.csrf,
      ...(body ? { 'content-type': 'application/json' } : {}),
    },
    ...(body ? { body: JSON.stringify(body) } : {}),
  });
  return { status: res.status, body: (await res.json().catch(() => undefined)) as T };
}

const get = (h: AppHarness, path: string) => fetch(`${h.baseUrl}${path}`, { redirect: 'manual' });

/**
 * Run an EHR launch the way a browser would, without one: returns the session handle and CSRF token, and the
 * answers the hand-off sent ahead for the launch's first view.
 */
export async function apiLaunch(
  h: AppHarness,
  patient = 'sandbox-patient-2',
  practitioner = 'sandbox-clinician',
): Promise<{ session: string; csrf: string; preloaded: Record<string, unknown>; authorizeUrl: URL }> {
  const created = (await (
    await fetch(`${h.baseUrl}/ehr/launches`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ practitioner, patient, app: 'periplan-app' }),
    })
  ).json()) as { url: string };
  let res = await get(h, new URL(created.url).pathname + new URL(created.url).search);
  expect(res.status).toBe(303);
  expect(res.headers.get('set-cookie')).toBeNull(); // the app never relies on a cookie (iframe-safe)
  const authorizeUrl = new URL(res.headers.get('location')!);
  // Follow the EHR's redirects (its interaction completes without a page for an EHR launch) with its cookies.
  const cookies = new Map<string, string>();
  let next = authorizeUrl.href;
  for (let i = 0; i < 10 && !next.includes('/app/callback'); i++) {
    res = await fetch(next, {
      redirect: 'manual',
      headers: { cookie: [...cookies].map(([k, v]) => `${k}=${v}`).join('; ') },
    });
    for (const c of res.headers.getSetCookie()) {
      const [pair] = c.split(';');
      const [k, v] = pair!.split('=');
      cookies.set(k!, v ?? '');
    }
    next = new URL(res.headers.get('location')!, next).href;
  }
  res = await get(h, new URL(next).pathname + new URL(next).search);
  expect(res.status).toBe(303);
  expect(res.headers.get('set-cookie')).toBeNull();
  const code = new URL(res.headers.get('location')!, h.baseUrl).searchParams.get('handoff')!;
  const handed = await fetch(`${h.baseUrl}/app/api/handoff`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ code }),
  });
  expect(handed.status).toBe(200);
  const body = (await handed.json()) as { session: string; csrf: string; preloaded: Record<string, unknown> };
  // single use
  const again = await fetch(`${h.baseUrl}/app/api/handoff`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ code }),
  });
  expect(again.status).toBe(401);
  return { ...body, authorizeUrl };
}
