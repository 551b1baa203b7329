/**
 * The emergency alert as a FHIR Flag: which rules of an `$apply` CarePlan are EMERGENCY ones, the Flag that
 * puts the patient at the top of the worklist while she is still in the waiting room, and its closing once the
 * full submission (with its own Flag) is in the record.
 */
import {
  clientFor,
  FLAG_PRIORITY_EXTENSION,
  FLAG_PRIORITY_SYSTEM,
  FLAG_SYSTEM,
  withRuleCodes,
  withWorklistTags,
} from '../submission/index.js';
import type { FhirServerTarget } from '../submission/index.js';
import { httpStatusOf, serverReasonOf } from '../platform/fhir-client/index.js';
import type { TabletAlert } from './contract.js';

export const TABLET_ALERT_SYSTEM = 'https://periplan.app/fhir/sid/tablet-alert';

/** The codes of EMERGENCY (`stat`) rules in an $apply CarePlan. */
export function emergencyRules(carePlan: fhir4.CarePlan): string[] {
  const out = new Set<string>();
  const walk = (actions: fhir4.RequestGroupAction[] | undefined) =>
    actions?.forEach((a) => {
      if (a.priority === 'stat') {
        const code = a.code?.[0]?.coding?.[0]?.code;
        if (code) out.add(code);
      }
      walk(a.action);
    });
  for (const c of carePlan.contained ?? [])
    if (c.resourceType === 'RequestGroup') walk((c as fhir4.RequestGroup).action);
  return [...out].sort();
}

/**
 * The staff alert as a FHIR Flag the clinician worklist already shows at the top: `emergency-assessment`,
 * flag-priority PH, with the worklist tags. Written with the module's credential, as a conditional create on
 * the alert's identifier, so a repeated alert for the same session creates nothing new.
 */
export async function writeAlertFlag(target: FhirServerTarget, alert: TabletAlert, sessionKey: string): Promise<void> {
  // The rules that fired are codings of its code too, so the worklist row names them like any other Flag's.
  const flag: fhir4.Flag = withWorklistTags(
    withRuleCodes(
      {
        resourceType: 'Flag',
        identifier: [{ system: TABLET_ALERT_SYSTEM, value: sessionKey }],
        status: 'active',
        category: [
          {
            coding: [
              { system: 'http://terminology.hl7.org/CodeSystem/flag-category', code: 'clinical', display: 'Clinical' },
            ],
          },
        ],
        code: {
          coding: [{ system: FLAG_SYSTEM, code: 'emergency-assessment', display: 'Emergency assessment' }],
          text: `Patient in the waiting room gave answers that need emergency assessment now (${alert.rules.join(', ')}); intake not yet submitted`,
        },
        subject: alert.patient,
        period: { start: alert.at },
        author: { display: `waiting-room tablet ${alert.device}` },
        extension: [
          {
            url: FLAG_PRIORITY_EXTENSION,
            valueCodeableConcept: { coding: [{ system: FLAG_PRIORITY_SYSTEM, code: 'PH', display: 'High priority' }] },
          },
        ],
      },
      alert.rules,
    ),
  );
  const client = await clientFor(target);
  await client
    .create(flag, { ifNoneExist: `identifier=${encodeURIComponent(`${TABLET_ALERT_SYSTEM}|${sessionKey}`)}` })
    .catch((err: unknown) => failed(err, 'to the alert Flag'));
}

/** A failed call, in words for the log: the status and the server's own reason. */
function failed(err: unknown, what: string): never {
  const status = httpStatusOf(err);
  if (status === undefined) throw err;
  throw new Error(`the FHIR server answered ${status} ${what}${serverReasonOf(err) ? `: ${serverReasonOf(err)}` : ''}`);
}

/**
 * Once the full submission is in the record it carries its own EMERGENCY Flag (from the rules, with its
 * basis); the tablet's early alert Flag is then closed so the worklist shows one row, not two.
 */
export async function closeAlertFlag(target: FhirServerTarget, sessionKey: string): Promise<void> {
  const client = await clientFor(target);
  const found = await client
    .searchAll<fhir4.Flag>(`Flag?identifier=${encodeURIComponent(`${TABLET_ALERT_SYSTEM}|${sessionKey}`)}`)
    .catch((err: unknown) => failed(err, 'to the alert Flag search'));
  for (const flag of found.resources) {
    if (flag.status !== 'active') continue;
    const closed = withWorklistTags({
      ...flag,
      status: 'inactive' as const,
      period: { ...flag.period, end: new Date().toISOString() },
    });
    await client
      .update(closed, flag.meta?.versionId ? { ifMatch: `W/"${flag.meta.versionId}"` } : {})
      .catch((err: unknown) => failed(err, 'when closing the alert Flag'));
  }
}
