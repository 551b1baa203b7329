/** The tablet's JSON API router under `/api`: bodies parsed with a size and depth limit, same-origin only, never cached. */
import express, { type Router } from 'express';
import { forbidden } from '../../outcomes/index.js';
import { DEFAULT_MAX_JSON_DEPTH, jsonBody } from '../../platform/http/json-body.js';
import type { TabletContext } from '../context.js';

export function apiRouter(ctx: TabletContext): Router {
  const api = express.Router();
  api.use(
    jsonBody({
      limitBytes: 1024 * 1024,
      maxDepth: DEFAULT_MAX_JSON_DEPTH,
      mediaTypes: ['application/json'],
      otherTypes: 'skip',
    }),
  );
  api.use((req, _res, next) => {
    // Custom headers already need a preflight this router never grants; a foreign Origin is refused outright.
    const origin = req.header('origin');
    if (req.method !== 'GET' && origin && origin !== ctx.base.origin)
      return next(forbidden('Cross-origin request refused.'));
    next();
  });
  api.use((_req, res, next) => {
    res.setHeader('Cache-Control', 'no-store');
    next();
  });
  return api;
}
