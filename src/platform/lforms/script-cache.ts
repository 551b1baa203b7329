/**
 * The service worker that keeps a page's LHC-Forms scripts compiled between launches (its source and why:
 * `public/script-cache-sw.js`). The server writes into it the files the page shell loads, so the worker caches
 * exactly what the page asks for, and a release with other files is a new worker (new bytes) that replaces it.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Request, Response } from 'express';
import { REVALIDATE } from './assets.js';

const SOURCE = fs.readFileSync(
  path.join(path.dirname(fileURLToPath(import.meta.url)), 'public', 'script-cache-sw.js'),
  'utf8',
);

/** Same-origin scripts, styles and module preloads a page shell names, in document order, each once. */
export function shellFiles(shell: string): string[] {
  const found = [...shell.matchAll(/<(?:script|link)\b[^>]*?\b(?:src|href)="(\/[^"/][^"]*)"/g)].map((m) => m[1]!);
  return [...new Set(found)].filter((f) => /\.(?:js|css)$/.test(f));
}

/**
 * The worker script for a page at `scope` (a path, e.g. `/app/ui`) whose shell is `shell`, and the handler that
 * serves it: `no-cache` (a worker keeps its URL across releases, so the browser must revalidate it), an ETag.
 */
export function scriptCacheWorker(options: { shell: string; scope: string }) {
  const files = shellFiles(options.shell);
  const release = createHash('sha256').update(SOURCE).update(JSON.stringify(files)).digest('hex').slice(0, 12);
  const source = SOURCE.replace(
    /^const RELEASE = .*;$/m,
    `const RELEASE = ${JSON.stringify({ cache: `lforms-page-scripts-${release}`, scope: options.scope, files })};`,
  );
  const etag = `"${release}"`;
  return {
    files,
    source,
    serve(req: Request, res: Response) {
      res.setHeader('Content-Type', 'text/javascript; charset=utf-8');
      res.setHeader('Cache-Control', REVALIDATE);
      res.setHeader('ETag', etag);
      res.setHeader('X-Content-Type-Options', 'nosniff');
      if (
        String(req.headers['if-none-match'] ?? '')
          .split(/\s*,\s*/)
          .includes(etag)
      ) {
        res.status(304).end();
        return;
      }
      res.end(source);
    },
  };
}
