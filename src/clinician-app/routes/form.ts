/**
 * The intake form: `GET /questionnaire` (sanitized, the same for every session) and `GET /form`, the response
 * to load into it: a completed response to amend, this clinician's saved draft, or a fresh `$populate`.
 */
import type { Router } from 'express';
import type { AppContext } from '../context.js';
import { formAnswer, startedOr } from '../page-answers.js';
import { serverTiming } from '../server-timing.js';
import { jsonRoute } from './json.js';

export function registerForm(api: Router, ctx: AppContext): void {
  const { sessionOf } = ctx;

  api.get(
    '/questionnaire',
    jsonRoute(async (req) => {
      await sessionOf(req);
      return ctx.safeQuestionnaire;
    }),
  );

  api.get(
    '/form',
    jsonRoute(async (req, res) => {
      const ref = await sessionOf(req);
      const amend = typeof req.query.amend === 'string' ? req.query.amend : undefined;
      const query = { ...(amend !== undefined ? { amend } : {}), fresh: req.query.fresh === '1' };
      const answer = () => formAnswer(ctx, ref, query, serverTiming(res));
      // Only the plain form is what a launch's hand-off may have started; an amendment or a fresh start is not.
      return amend === undefined && !query.fresh ? startedOr(ctx, ref, '/form', answer) : answer();
    }),
  );
}
