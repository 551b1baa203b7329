// The tablet page's service worker: lets the page itself load while the tablet is offline, so that a reload
// during an outage still shows the unfinished form or the queued submission (both are in the encrypted vault).
// It caches the page shell and its static files (versioned URLs: the app's own modules, LHC-Forms) and
// nothing else: API requests (`<base>/api/…`) are never answered from, nor put into, a cache.
/* global self, caches, Response */
const CACHE = 'periplan-tablet-shell';
const BASE = new URL(self.registration.scope).pathname.replace(/\/$/, ''); // e.g. /tablet

const isStatic = (url) => url.pathname.startsWith(`${BASE}/assets/`) || url.pathname.startsWith(`${BASE}/lforms/`);
const isShell = (url) => url.pathname === `${BASE}/`;

self.addEventListener('install', () => self.skipWaiting());
self.addEventListener('activate', (event) => event.waitUntil(self.clients.claim()));

// The page posts the URLs of the static files it loaded (some before this worker controlled it): cache those,
// and drop cached files of an earlier release that the page no longer loads.
self.addEventListener('message', (event) => {
  const urls = (event.data?.cache ?? [])
    .map((u) => new URL(u, self.location.href))
    .filter((u) => u.origin === self.location.origin && isStatic(u));
  if (!urls.length) return;
  const wanted = new Set(urls.map((u) => u.href));
  event.waitUntil(
    caches.open(CACHE).then(async (c) => {
      for (const req of await c.keys()) if (isStatic(new URL(req.url)) && !wanted.has(req.url)) await c.delete(req);
      // The shell too: the first page load happened before this worker was there to see it.
      await Promise.all(
        [`${BASE}/`, ...urls.map((u) => u.href)].map((u) =>
          c.match(u).then((hit) => hit ?? c.add(u).catch(() => undefined)),
        ),
      );
    }),
  );
});

self.addEventListener('fetch', (event) => {
  const url = new URL(event.request.url);
  if (event.request.method !== 'GET' || url.origin !== self.location.origin) return;
  if (event.request.mode === 'navigate' && isShell(url)) {
    // The shell: the network first (a new release, new asset versions), the cached copy when offline.
    event.respondWith(
      fetch(event.request)
        .then((res) => {
          if (res.ok) {
            const copy = res.clone();
            caches.open(CACHE).then((c) => c.put(`${BASE}/`, copy));
          }
          return res;
        })
        .catch(() => caches.match(`${BASE}/`).then((hit) => hit ?? Response.error())),
    );
  } else if (isStatic(url)) {
    // Versioned files never change under the same URL: the cache first.
    event.respondWith(
      caches.match(event.request).then(
        (hit) =>
          hit ??
          fetch(event.request).then((res) => {
            if (res.ok) {
              const copy = res.clone();
              caches.open(CACHE).then((c) => c.put(event.request, copy));
            }
            return res;
          }),
      ),
    );
  }
  // Everything else (the API above all) goes to the network untouched.
});
