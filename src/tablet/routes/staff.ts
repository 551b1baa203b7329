/**
 * Staff routes of the tablet itself, served only when the server says how to authenticate staff
 * (`authorizeStaff`): `GET /sessions` and `GET /alerts` (the live emergency feed, text/event-stream).
 * The clinician app reaches the same through the contract (contract.ts) in-process instead.
 */
import type { Router } from 'express';
import { openEventStream } from '../../api/event-stream.js';
import type { TabletContext } from '../context.js';
import type { TabletAlert } from '../contract.js';
import { sessionSummaries } from '../staff.js';

export function registerStaff(api: Router, ctx: TabletContext): void {
  const authorizeStaff = ctx.options.authorizeStaff;
  if (!authorizeStaff) return;
  api.get('/sessions', async (req, res) => {
    await authorizeStaff(req);
    res.json({ sessions: await sessionSummaries(ctx) });
  });
  api.get('/alerts', async (req, res) => {
    await authorizeStaff(req);
    let off = () => {};
    const stream = openEventStream(res, { onClose: () => off() });
    off = ctx.alerts.subscribe((a: TabletAlert) => stream.send('emergency', a));
  });
}
