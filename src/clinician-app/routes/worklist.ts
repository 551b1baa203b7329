/** `GET /worklist`: the flagged patients, by tier or by date, one page of 20 at a time (see worklist.ts). */
import type { Router } from 'express';
import { FLAG_CODES } from '../../submission/worklist-tags.js';
import type { AppContext } from '../context.js';
import { jsonRoute } from './json.js';
import { printable } from '../../platform/text.js';

export function registerWorklist(api: Router, ctx: AppContext): void {
  api.get(
    '/worklist',
    jsonRoute(async (req) => {
      const ref = await ctx.sessionOf(req);
      const flag =
        typeof req.query.flag === 'string' && (FLAG_CODES as readonly string[]).includes(req.query.flag)
          ? req.query.flag
          : undefined;
      const sort = req.query.sort === 'date' ? 'date' : 'tier';
      const page = Math.max(1, Math.min(10_000, Number.parseInt(printable(req.query.page ?? '1'), 10) || 1));
      return { page, pageSize: 20, ...(await ctx.worklist.page(ref, { ...(flag ? { flag } : {}), sort, page })) };
    }),
  );
}
