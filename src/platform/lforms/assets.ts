/**
 * Static files of the browser apps (the clinician app and the tablet), served from this process (no CDN):
 * their own ES modules and CSS, and the LHC-Forms build from node_modules. Each file is compressed once per
 * encoding (brotli, gzip; kept in memory) and sent with a long `immutable` cache lifetime; URLs carry a version
 * (LHC-Forms' version, a hash of the app's own files) so a new release gets new URLs.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import zlib from 'node:zlib';
import type { Request, Response } from 'express';

export const LFORMS_DIR = path.resolve(
  path.dirname(fileURLToPath(import.meta.url)),
  '../../../node_modules/lforms/dist/lforms',
);
export const LFORMS_VERSION = (
  JSON.parse(fs.readFileSync(path.join(LFORMS_DIR, '../../package.json'), 'utf8')) as { version: string }
).version;

/** Load order from the stack notes: styles, zone, runtime, polyfills, main, then the FHIR support. */
export const LFORMS_FILES = {
  css: ['webcomponent/styles.css'],
  js: [
    'webcomponent/assets/lib/zone.min.js',
    'webcomponent/runtime.js',
    'webcomponent/polyfills.js',
    'webcomponent/main.js',
    'fhir/R4/lformsFHIR.min.js',
  ],
};

const TYPES: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
  '.html': 'text/html; charset=utf-8',
  '.ico': 'image/x-icon',
};

interface Compressed {
  raw: Buffer;
  /** Text files are sent compressed; each encoding is made on its first request (browsers ask for brotli only). */
  text: boolean;
  br?: Buffer;
  gzip?: Buffer;
  type: string;
  hash: string;
}

function encoded(f: Compressed, encoding: 'br' | 'gzip'): Buffer {
  if (encoding === 'br')
    return (f.br ??= zlib.brotliCompressSync(f.raw, {
      params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 9, [zlib.constants.BROTLI_PARAM_SIZE_HINT]: f.raw.length },
    }));
  return (f.gzip ??= zlib.gzipSync(f.raw, { level: 9 }));
}

/** Versioned URLs: the content under one URL never changes, so browsers and proxies keep it a year without asking. */
export const IMMUTABLE = 'public, max-age=31536000, immutable';
/** A file whose URL stays the same across releases (a service worker script): kept, but revalidated every time. */
export const REVALIDATE = 'no-cache';

/** Browser modules the clinician app and the tablet both import; each router serves them at `<base>/assets/<version>/shared/<file>`. */
export const SHARED_BROWSER_DIR = path.resolve(
  path.dirname(fileURLToPath(import.meta.url)),
  '../../browser-shared/public',
);

/** A hash of the files in `dirs`: the version in asset URLs, so that a change gets new URLs. */
export function assetVersion(...dirs: string[]): string {
  const h = createHash('sha256');
  for (const dir of dirs)
    for (const f of fs.readdirSync(dir).sort()) h.update(f).update(fs.readFileSync(path.join(dir, f)));
  return h.digest('hex').slice(0, 12);
}

/**
 * Compressed files by absolute path, shared by every `staticFiles` of the process: the clinician app and the
 * tablet serve the same LHC-Forms build, and a server started again in the same process (tests do) finds it
 * compressed already. `stamp` (mtime and size) tells a file changed on disk from the one compressed.
 */
const compressedByPath = new Map<string, Compressed & { stamp: string }>();

function compress(full: string, type: string, stamp: string): Compressed {
  const hit = compressedByPath.get(full);
  if (hit?.stamp === stamp) return hit;
  const raw = fs.readFileSync(full);
  const entry: Compressed & { stamp: string } = {
    raw,
    text: type.startsWith('text/') || type.includes('svg'),
    type,
    stamp,
    hash: createHash('sha1').update(raw).digest('hex').slice(0, 16),
  };
  compressedByPath.set(full, entry);
  return entry;
}

/**
 * Serves files below `root` (no `..`, no source maps, known types only), compressed once and kept in memory.
 * `cacheControl`: IMMUTABLE for files under a versioned URL (the default), REVALIDATE for the rest.
 */
export function staticFiles(root: string, options: { cacheControl?: string } = {}) {
  const cacheControl = options.cacheControl ?? IMMUTABLE;
  const cache = new Map<string, Compressed>();
  function load(rel: string): Compressed | undefined {
    const hit = cache.get(rel);
    if (hit) return hit;
    const full = path.resolve(root, rel);
    if (!full.startsWith(root + path.sep)) return undefined;
    const type = TYPES[path.extname(full)];
    const stat = type && fs.existsSync(full) ? fs.statSync(full) : undefined;
    if (!type || !stat?.isFile()) return undefined;
    const entry = compress(full, type, `${stat.mtimeMs}:${stat.size}`);
    cache.set(rel, entry);
    return entry;
  }
  return function serve(req: Request, res: Response, rel: string): boolean {
    const f = load(rel);
    if (!f) return false;
    const accept = String(req.headers['accept-encoding'] ?? '');
    const encoding = f.text && /\bbr\b/.test(accept) ? 'br' : f.text && /\bgzip\b/.test(accept) ? 'gzip' : undefined;
    // One ETag per representation: a proxy must not answer a gzip client's revalidation with brotli bytes.
    const etag = `"${f.hash}${encoding ? `-${encoding}` : ''}"`;
    res.setHeader('Content-Type', f.type);
    res.setHeader('Cache-Control', cacheControl);
    res.setHeader('ETag', etag);
    res.setHeader('Vary', 'Accept-Encoding');
    res.setHeader('X-Content-Type-Options', 'nosniff');
    if (
      String(req.headers['if-none-match'] ?? '')
        .split(/\s*,\s*/)
        .includes(etag)
    ) {
      res.status(304).end();
      return true;
    }
    if (encoding) res.setHeader('Content-Encoding', encoding);
    res.end(encoding ? encoded(f, encoding) : f.raw);
    return true;
  };
}

/**
 * `<link rel="modulepreload">` for every ES module the page may import from `dir` (served at `urlPrefix`): the
 * browser fetches the whole graph at once instead of discovering it one import level at a time.
 */
export function modulePreloadTags(urlPrefix: string, dir: string): string {
  return fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.js'))
    .sort()
    .map((f) => `<link rel="modulepreload" href="${urlPrefix}/${f}">`)
    .join('\n');
}

/**
 * zone.js (LHC-Forms runs Angular in it) reads these flags when it loads. By default it also redefines every
 * `on…` event-handler property of every DOM interface (`onclick`, `onload`…): 90–135 ms of a launch's main
 * thread on the 2-core machine, most of zone.js's start. LHC-Forms and its components listen with
 * `addEventListener` (still patched, so Angular sees every event). The `on…` handlers LHC-Forms sets itself are
 * on FileReader (zone.js's FileReader patch covers them), on the script tags of `loadFHIRLibs` (the pages load
 * the FHIR support themselves) and on jQuery's XMLHttpRequests for URL-backed search lists (the intake form
 * has none): a form with such lists would need this checked again.
 */
const ZONE_FLAGS_SCRIPT = 'window.__Zone_disable_on_property = true;';

/** The CSP source that lets exactly ZONE_FLAGS_SCRIPT run inline (no other inline script). */
const ZONE_FLAGS_HASH = `'sha256-${createHash('sha256').update(ZONE_FLAGS_SCRIPT).digest('base64')}'`;

/**
 * Fill the LHC-Forms placeholders of a page shell: `{{lformsFlags}}` (first in `<head>`, before anything that
 * could block the parser), `{{lformsCss}}` and `{{lformsJs}}`.
 */
export function withLformsTags(shell: string, basePath: string): string {
  const url = (f: string) => `${basePath}/lforms/${LFORMS_VERSION}/${f}`;
  return shell
    .replace('{{lformsFlags}}', `<script>${ZONE_FLAGS_SCRIPT}</script>`)
    .replace('{{lformsCss}}', LFORMS_FILES.css.map((f) => `<link rel="stylesheet" href="${url(f)}">`).join('\n'))
    .replace('{{lformsJs}}', LFORMS_FILES.js.map((f) => `<script src="${url(f)}" defer></script>`).join('\n'));
}

/**
 * The Content-Security-Policy of a page that renders LHC-Forms. LHC-Forms (Angular) injects component styles
 * at run time, so style-src needs 'unsafe-inline'; scripts do not. Pages differ only in where forms may post
 * and who may frame them.
 */
export function lformsPageCsp(options: { formAction: string; frameAncestors: string }): string {
  return [
    "default-src 'self'",
    `script-src 'self' ${ZONE_FLAGS_HASH}`,
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data:",
    "font-src 'self'",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    `form-action ${options.formAction}`,
    `frame-ancestors ${options.frameAncestors}`,
  ].join('; ');
}
