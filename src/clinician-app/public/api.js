// Calls the app's own API. The session handle and CSRF token live in sessionStorage (one per tab and per
// frame; no cookies), and are sent as headers. Tokens for the EHR never reach the browser.
const base = document.body.dataset.base;
const KEY = 'periplan.session';

export function currentSession() {
  try {
    return JSON.parse(sessionStorage.getItem(KEY) ?? 'null');
  } catch {
    return null;
  }
}

export class ApiError extends Error {
  constructor(status, message, issues) {
    super(message);
    this.status = status;
    this.issues = issues ?? [];
  }
}

// Answers the hand-off sent ahead for the launch's first view, by API path. Each is used once, and only by
// that first view: a write, or the view being up, drops the rest, so no later view is shown a stale answer.
const preloaded = new Map();

/** The first view is up: whatever it did not ask for is no longer fresh enough to show. */
export function dropPreloaded() {
  preloaded.clear();
}

export async function api(method, path, body) {
  if (method !== 'GET') preloaded.clear();
  else if (preloaded.has(path)) {
    const answer = preloaded.get(path);
    preloaded.delete(path);
    return answer;
  }
  const s = currentSession();
  const headers = { accept: 'application/json' };
  if (s) {
    headers['x-session'] = s.session;
    headers['x-csrf-token'] = s.csrf;
  }
  if (body !== undefined) headers['content-type'] = 'application/json';
  let res;
  try {
    res = await fetch(`${base}/api${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: 'omit',
    });
  } catch {
    throw new ApiError(0, 'The PeriPlan server cannot be reached. Check the connection and try again.');
  }
  if (res.status === 204) return undefined;
  const json = await res.json().catch(() => ({}));
  if (!res.ok) {
    const issues = json.issue ?? [];
    const message =
      issues
        .map((i) => i.diagnostics)
        .filter(Boolean)
        .join(' ') || `The server answered ${res.status}.`;
    const err = new ApiError(res.status, message, issues);
    if (res.status === 401) window.dispatchEvent(new window.CustomEvent('periplan:session-ended', { detail: message }));
    throw err;
  }
  return json;
}

/**
 * Swap the single-use hand-off code from the callback for this tab's session handle and CSRF token. The
 * answer also carries what the launch's first view would ask for next, so the page need not wait for those
 * round trips while LHC-Forms starts.
 */
export async function redeemHandoff(code) {
  const res = await fetch(`${base}/api/handoff`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json' },
    body: JSON.stringify({ code }),
    credentials: 'omit',
  });
  const json = await res.json().catch(() => ({}));
  if (!res.ok) throw new ApiError(res.status, json.issue?.[0]?.diagnostics ?? 'The sign-in could not be completed.');
  sessionStorage.setItem(KEY, JSON.stringify({ session: json.session, csrf: json.csrf }));
  for (const [path, answer] of Object.entries(json.preloaded ?? {})) preloaded.set(path, answer);
}

export { base };
