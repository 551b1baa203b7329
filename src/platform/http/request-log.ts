import type { RequestHandler } from 'express';
import type { Logger } from '../log.js';

/** One log line per request, when it finishes: method, path, status, duration. */
export function requestLogger(log: Logger): RequestHandler {
  // At level warn and above there is no per-request line: no timer and no listener per request either.
  if (log.enabled?.('info') === false) return (_req, _res, next) => next();
  return (req, res, next) => {
    const started = process.hrtime.bigint();
    res.on('finish', () => {
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      log.info(`${req.method} ${req.originalUrl.slice(0, 300)} ${res.statusCode} ${ms.toFixed(1)}ms`);
    });
    next();
  };
}
