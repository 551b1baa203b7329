/**
 * The page side of the tablet: the security headers of every answer (never framed), the versioned browser
 * files, the service worker at the tablet's root, LHC-Forms, and the page shell at `/`.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Router } from 'express';
import {
  LFORMS_DIR,
  LFORMS_VERSION,
  lformsPageCsp,
  REVALIDATE,
  SHARED_BROWSER_DIR,
  staticFiles,
  withLformsTags,
} from '../../platform/lforms/assets.js';
import { PUBLIC_DIR, type TabletContext } from '../context.js';

export function registerPages(router: Router, ctx: TabletContext): void {
  const { basePath, version } = ctx;
  const own = staticFiles(PUBLIC_DIR);
  // The service worker keeps its URL across releases: revalidated on every load, never kept as immutable.
  const worker = staticFiles(PUBLIC_DIR, { cacheControl: REVALIDATE });
  const shared = staticFiles(SHARED_BROWSER_DIR);
  const lforms = staticFiles(LFORMS_DIR);
  const shell = withLformsTags(
    fs
      .readFileSync(path.join(PUBLIC_DIR, 'index.html'), 'utf8')
      .replaceAll('{{base}}', basePath)
      .replaceAll('{{v}}', version)
      .replaceAll('{{idle}}', String(ctx.idleTimeoutMs)),
    basePath,
  );

  // As the clinician app, but never framed, and no form posts anywhere (kiosk: nowhere else to go).
  const csp = lformsPageCsp({ formAction: "'none'", frameAncestors: "'none'" });

  router.use((_req, res, next) => {
    res.setHeader('Content-Security-Policy', csp);
    res.setHeader('Referrer-Policy', 'no-referrer');
    res.setHeader('X-Content-Type-Options', 'nosniff');
    res.setHeader('X-Frame-Options', 'DENY');
    res.setHeader('Cross-Origin-Resource-Policy', 'same-origin');
    next();
  });
  router.get(`/assets/${version}/:file`, (req, res, next) =>
    own(req, res, String(req.params.file)) ? undefined : next(),
  );
  router.get(`/assets/${version}/shared/:file`, (req, res, next) =>
    shared(req, res, String(req.params.file)) ? undefined : next(),
  );
  // The service worker must live at the tablet's root to control `/tablet/` (the page registers it with updateViaCache 'none').
  router.get('/sw.js', (req, res, next) => (worker(req, res, 'sw.js') ? undefined : next()));
  router.get(`/lforms/${LFORMS_VERSION}/*splat`, (req, res, next) => {
    const rel = ([] as string[]).concat(req.params.splat).join('/');
    return lforms(req, res, rel) ? undefined : next();
  });
  router.get('/', (_req, res) => {
    // Not "storage": an accidental reload must keep the encrypted answers and a queued submission; the page
    // itself wipes storage in JavaScript after submit or idle (docs/tablet.md).
    res.setHeader('Cache-Control', 'no-store');
    res.setHeader('Clear-Site-Data', '"cache"');
    res.type('html').send(shell);
  });
}
