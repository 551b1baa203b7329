// The tablet's calls to its server: JSON, the session handle in `X-Tablet-Session`, never cached.
import { BASE } from './tablet-page.js';

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

export async function api(state, path, { method = 'GET', body } = {}) {
  const headers = { Accept: 'application/json' };
  if (state.session) headers['X-Tablet-Session'] = state.session.handle;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const res = await fetch(`${BASE}/api/${path}`, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    cache: 'no-store',
  });
  if (res.status === 204) return null;
  const data = await res.json().catch(() => null);
  if (!res.ok) throw new ApiError(res.status, data?.issue?.[0]?.diagnostics || `HTTP ${res.status}`);
  return data;
}
