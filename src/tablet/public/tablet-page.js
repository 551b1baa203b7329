// What the tablet page is given by its shell (base path, idle timeout, the tablet's name, a QR hand-off code)
// and the few page-wide helpers: constants only, no state.
export const BASE = document.body.dataset.base;
export const IDLE_MS = Number(document.body.dataset.idle) || 180000;
export const WARN_MS = Math.min(30000, Math.floor(IDLE_MS / 2));
export const RETRY_MS = 5000;
export const PING_MS = 20000;
/** The service worker's cache (sw.js): the page shell and static files only, never answers; kept by the wipe. */
export const SHELL_CACHE = 'periplan-tablet-shell';
export const CONTAINER = 'lforms-form';
export const RESPONSE_SYSTEM = 'https://periplan.app/fhir/sid/tablet-response';
export const device =
  (new URL(location.href).searchParams.get('device') || 'tablet').replace(/[^A-Za-z0-9 _-]/g, '').slice(0, 40) ||
  'tablet';

export const $ = (id) => document.getElementById(id);

// QR hand-off: the clinician app shows a QR code of `/tablet/#code=ABC234`. The fragment never reaches a
// server; it is taken out of the address bar and the history at once, before anything else runs.
export const handoffCode = (() => {
  if (!location.hash) return null;
  const code = new window.URLSearchParams(location.hash.slice(1)).get('code');
  window.history.replaceState(null, '', `${location.pathname}${location.search}`);
  return code ? code.slice(0, 32) : null;
})();

export function show(screen) {
  for (const id of ['code-screen', 'form-screen', 'thanks-screen', 'lost-screen']) $(id).hidden = id !== screen;
}
