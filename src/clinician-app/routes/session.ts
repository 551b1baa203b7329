/**
 * The page's session: `POST /handoff` swaps the single-use code of the callback for the session handle and
 * its CSRF token, with the answers of the launch's first view sent ahead (page-answers.ts); `GET /context` is
 * who and what is open; `POST /logout` ends the session.
 */
import type { Router } from 'express';
import { unauthorized } from '../../outcomes/index.js';
import type { AppContext } from '../context.js';
import { contextAnswer, launchAnswers, startedOr } from '../page-answers.js';
import { patientId, patientSummary, readPatient } from '../patient-reads.js';
import { serverTiming } from '../server-timing.js';
import { jsonRoute } from './json.js';

export function registerSession(api: Router, ctx: AppContext): void {
  const { store, sessionOf } = ctx;

  api.post(
    '/handoff',
    jsonRoute(async (req, res) => {
      const body = req.body as { code?: unknown } | undefined;
      const code = typeof body?.code === 'string' ? body.code : '';
      const handle = code ? await store.takeHandoff(code, 60_000, Date.now()) : undefined;
      const session = handle ? await store.getSession(handle, Date.now()) : undefined;
      if (!handle || !session)
        throw unauthorized('This sign-in has already been used or has expired. Launch the app from the EHR again.');
      const preloaded = await launchAnswers(ctx, { handle, session }, serverTiming(res));
      return { session: handle, csrf: session.csrf, preloaded };
    }),
  );

  api.get(
    '/context',
    jsonRoute(async (req, res) => {
      const ref = await sessionOf(req);
      return startedOr(ctx, ref, '/context', () => contextAnswer(ctx, ref, serverTiming(res)));
    }),
  );

  api.get(
    '/patients/:id',
    jsonRoute(async (req) => {
      const ref = await sessionOf(req);
      return patientSummary(await readPatient(ctx, ref, patientId(req.params.id)));
    }),
  );

  api.post('/logout', async (req, res) => {
    const ref = await sessionOf(req);
    await store.deleteSession(ref.handle);
    res.status(204).end();
  });
}
