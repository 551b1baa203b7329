/**
 * The page side of the app: the security headers of every answer (the CSP lets the EHR frame the app), the
 * versioned browser files and LHC-Forms, and the page shell at `/` and `/ui`.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Response, Router } from 'express';
import {
  LFORMS_DIR,
  LFORMS_VERSION,
  lformsPageCsp,
  modulePreloadTags,
  SHARED_BROWSER_DIR,
  staticFiles,
  withLformsTags,
} from '../../platform/lforms/assets.js';
import { scriptCacheWorker } from '../../platform/lforms/script-cache.js';
import { PUBLIC_DIR, type AppContext } from '../context.js';

const origins = (urls: string[]) => [...new Set(urls.map((u) => new URL(u).origin))];

export function registerPages(router: Router, ctx: AppContext): void {
  const { options, basePath, version } = ctx;
  const own = staticFiles(PUBLIC_DIR);
  const shared = staticFiles(SHARED_BROWSER_DIR);
  const lforms = staticFiles(LFORMS_DIR);
  const frameAncestors = options.frameAncestors ?? origins([options.publicUrl, ...options.allowedIssuers]);

  const shell = withLformsTags(
    fs
      .readFileSync(path.join(PUBLIC_DIR, 'index.html'), 'utf8')
      .replaceAll('{{base}}', basePath)
      .replaceAll('{{v}}', version)
      .replaceAll('{{lformsVersion}}', LFORMS_VERSION)
      .replace(
        '{{appModulePreloads}}',
        [
          modulePreloadTags(`${basePath}/assets/${version}`, PUBLIC_DIR),
          modulePreloadTags(`${basePath}/assets/${version}/shared`, SHARED_BROWSER_DIR),
        ].join('\n'),
      ),
    basePath,
  );
  const scriptCache = scriptCacheWorker({ shell, scope: `${basePath}/ui` });

  const csp = lformsPageCsp({
    formAction: `'self' ${origins(options.allowedIssuers).join(' ')}`,
    frameAncestors: frameAncestors.map((o) => (o === new URL(options.publicUrl).origin ? "'self'" : o)).join(' '),
  });

  router.use((_req, res, next) => {
    res.setHeader('Content-Security-Policy', csp);
    res.setHeader('Referrer-Policy', 'no-referrer');
    res.setHeader('X-Content-Type-Options', 'nosniff');
    res.removeHeader('X-Frame-Options'); // frame-ancestors decides (an EHR frames the app)
    res.setHeader('Cross-Origin-Resource-Policy', 'same-origin');
    next();
  });

  // ---- static files ------------------------------------------------------------------------------
  router.get(`/assets/${version}/:file`, (req, res, next) =>
    own(req, res, String(req.params.file)) ? undefined : next(),
  );
  router.get(`/assets/${version}/shared/:file`, (req, res, next) =>
    shared(req, res, String(req.params.file)) ? undefined : next(),
  );
  router.get(`/lforms/${LFORMS_VERSION}/*splat`, (req, res, next) => {
    const rel = ([] as string[]).concat(req.params.splat).join('/');
    return lforms(req, res, rel) ? undefined : next();
  });

  router.get('/sw.js', (req, res) => scriptCache.serve(req, res));

  function sendShell(res: Response) {
    res.setHeader('Cache-Control', 'no-store');
    res.type('html').send(shell);
  }
  router.get('/', (_req, res) => sendShell(res));
  router.get('/ui', (_req, res) => sendShell(res));
}
