/**
 * The form on the tablet: `GET /questionnaire` (the patient's copy, in her language), `POST /check` (the
 * answers so far against the EMERGENCY rules, to alert staff while she is still there), `POST /ping`
 * (heartbeat while the form is open) and `POST /end` (the tablet wipes its session).
 */
import { randomBytes } from 'node:crypto';
import type { Router } from 'express';
import { applyPlanDefinition } from '../../rules/index.js';
import { emergencyRules, writeAlertFlag } from '../alert-flag.js';
import type { TabletContext, TabletRef } from '../context.js';
import type { TabletAlert } from '../contract.js';
import { LANGUAGES, type Language } from '../questionnaire.js';
import { buildResponse } from '../response.js';
import { sha256 } from '../store.js';

/** Tell every listener, and put the patient at the top of the worklist with an alert Flag. */
function raiseAlert(ctx: TabletContext, { handle, session }: TabletRef, rules: string[]): void {
  const alert: TabletAlert = {
    id: randomBytes(8).toString('hex'),
    patient: {
      reference: `Patient/${session.patientId}`,
      ...(session.patientName ? { display: session.patientName } : {}),
    },
    device: session.device,
    staff: session.staff,
    rules,
    at: new Date(ctx.now()).toISOString(),
  };
  // This replica's listeners have it before publish resolves; a failure concerns the other replicas only.
  ctx.alerts
    .publish(alert)
    .catch((e: unknown) =>
      console.error(
        'tablet: the emergency alert could not be sent to the other replicas (their worklists see the Flag on their next reload):',
        e,
      ),
    );
  const target = ctx.options.writePath.target;
  if (target) {
    writeAlertFlag(target, alert, sha256(handle).slice(0, 32)).catch((e: unknown) =>
      console.error('tablet: the emergency alert Flag could not be written; staff were alerted live only:', e),
    );
  }
}

export function registerForm(api: Router, ctx: TabletContext): void {
  const { sessionOf, store } = ctx;

  api.get('/questionnaire', async (req, res) => {
    await sessionOf(req);
    const asked = req.query.lang;
    const lang =
      typeof asked === 'string' && (LANGUAGES as readonly string[]).includes(asked) ? (asked as Language) : 'en';
    res.type('application/fhir+json').send(ctx.perLanguage.get(lang));
  });

  // Emergency escalation while the patient is still there: evaluate the rules on the answers so far.
  api.post('/check', async (req, res) => {
    const ref = await sessionOf(req);
    const { handle, session } = ref;
    // Evaluated as if complete (the rules only read completed responses); never stored.
    const response = { ...buildResponse(ctx, req.body, session, 'completed'), id: 'tablet-check' };
    const rules = ctx.plan
      ? emergencyRules(
          applyPlanDefinition(ctx.plan, {
            subject: `Patient/${session.patientId}`,
            data: [response],
            knowledge: ctx.options.knowledge,
          }),
        )
      : [];
    // Recorded and compared in one step: two checks at once (on any replicas) raise each rule once.
    const fresh = rules.some((r) => !session.alerted?.includes(r)) ? await store.markAlerted(handle, rules) : [];
    if (fresh.length) raiseAlert(ctx, ref, rules);
    // The patient sees a calm message only, never which rule or why.
    res.json({ tellStaff: rules.length > 0 });
  });

  // Heartbeat: the tablet page calls it while the form is open so staff can tell "reading" from "offline".
  api.post('/ping', async (req, res) => {
    await sessionOf(req);
    res.status(204).end();
  });

  api.post('/end', async (req, res) => {
    const handle = req.header('x-tablet-session');
    if (handle) await store.deleteSession(handle);
    res.status(204).end();
  });
}
