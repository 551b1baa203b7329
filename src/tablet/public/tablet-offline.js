// Offline page load: the service worker (sw.js) keeps the shell and the static files this page loaded.
import { BASE } from './tablet-page.js';

export function registerServiceWorker() {
  const sw = navigator.serviceWorker;
  if (!sw) return;
  sw.register(`${BASE}/sw.js`, { scope: `${BASE}/`, updateViaCache: 'none' }).then(cacheStaticFiles, () => undefined);
}

/** Ask the service worker to cache the static files this page loaded (modules and LHC-Forms included). */
export function cacheStaticFiles() {
  const urls = window.performance.getEntriesByType('resource').map((e) => e.name);
  navigator.serviceWorker?.ready.then((reg) => reg.active?.postMessage({ cache: urls })).catch(() => undefined);
}
