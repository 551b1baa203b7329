/**
 * The JSON API's router under `/api`: bodies parsed with a size and depth limit, never cached, same-origin
 * only, and a write ends the launch read-ahead of its session.
 */
import express, { type Router } from 'express';
import { DEFAULT_MAX_JSON_DEPTH, jsonBody } from '../../platform/http/json-body.js';
import { forbidden } from '../../outcomes/index.js';
import type { AppContext } from '../context.js';

export function apiRouter(ctx: AppContext): Router {
  const api = express.Router();
  api.use(
    jsonBody({
      limitBytes: 2 * 1024 * 1024,
      maxDepth: DEFAULT_MAX_JSON_DEPTH,
      mediaTypes: ['application/json'],
      otherTypes: 'skip',
    }),
  );
  api.use((req, res, next) => {
    res.setHeader('Cache-Control', 'no-store');
    // Same-origin only: a cross-site page must not drive the API (belt and braces with the custom headers).
    const origin = req.headers.origin;
    if (origin && origin !== new URL(ctx.options.publicUrl).origin)
      throw forbidden('Cross-origin requests are not accepted.');
    // A write may make what the launch read ahead stale: from now on this session reads live.
    if (!['GET', 'HEAD'].includes(req.method) && req.get('x-session')) ctx.prefetch.forget(req.get('x-session')!);
    next();
  });
  return api;
}
