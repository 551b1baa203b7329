// The service worker of a page that renders LHC-Forms: keeps this release's scripts and styles (versioned URLs,
// never API answers, never pages) in Cache Storage, and serves them from there.
//
// Why: Chromium keeps V8's compiled code of a script from the HTTP cache only from its third load (the first
// load caches the file, the second compiles it again and stores the compiled code, the third uses it), so the
// second launch in a browser compiles LHC-Forms' 3 MB of JavaScript again. Scripts that a service worker puts
// into Cache Storage while it installs are compiled and their code cached at once, so from the second launch
// on the browser only deserialises them.
//
// The server fills in RELEASE (src/platform/lforms/script-cache.ts): the cache's name (one per release) and
// the files the page loads. A new release is a new worker script: it caches the new files and drops the old.
/* global self, caches, URLPattern */
const RELEASE = { cache: 'lforms-page-scripts', scope: '/', files: [] };

const scopePath = new URL(RELEASE.scope, self.location.href).pathname;
const base = scopePath.slice(0, scopePath.lastIndexOf('/'));
const isReleaseFile = (url) => url.origin === self.location.origin && RELEASE.files.includes(url.pathname);

self.addEventListener('install', (event) => {
  self.skipWaiting();
  event.waitUntil(
    (async () => {
      const cache = await caches.open(RELEASE.cache);
      // Usually from the HTTP cache: the page that registered this worker has just loaded the same files.
      await cache.addAll(RELEASE.files);
      // Where the browser supports it, the browser itself answers from the cache (no worker start-up per
      // launch), and navigations and API calls never wait for this worker.
      if (event.addRoutes && typeof URLPattern === 'function') {
        await event
          .addRoutes([
            { condition: { requestMode: 'navigate' }, source: 'network' },
            { condition: { urlPattern: new URLPattern({ pathname: `${base}/api/*` }) }, source: 'network' },
            ...RELEASE.files.map((pathname) => ({
              condition: { urlPattern: new URLPattern({ pathname }) },
              source: 'cache',
            })),
          ])
          .catch(() => undefined);
      }
    })(),
  );
});

self.addEventListener('activate', (event) => {
  event.waitUntil(
    caches
      .keys()
      .then((names) =>
        Promise.all(
          names.filter((n) => n.startsWith('lforms-page-scripts') && n !== RELEASE.cache).map((n) => caches.delete(n)),
        ),
      ),
  );
});

// Browsers without static routes: the release's files from the cache, everything else untouched (network).
self.addEventListener('fetch', (event) => {
  const url = new URL(event.request.url);
  if (event.request.method !== 'GET' || !isReleaseFile(url)) return;
  event.respondWith(
    caches
      .open(RELEASE.cache)
      .then((c) => c.match(event.request))
      .then((hit) => hit ?? fetch(event.request)),
  );
});
