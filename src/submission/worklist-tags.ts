/**
 * The worklist search tags of a Flag (`meta.tag`), set where Flags are born (build-bundle.ts) and changed
 * where they are closed (resolve-proposal.ts: an outcome recorded, or a duplicate superseded), so a Flag from
 * any source ($submit, the clinician app, the tablet) reaches the clinician worklist, and leaves it only when
 * a clinician has recorded what happened to the patient.
 *
 * Why tags: R4 gives Flag no `code` or `status` search parameter, but `_tag` is a standard parameter every
 * FHIR server supports. An ACTIVE Flag carries its flag code (back-pain-flag system) and its flag-priority
 * (PH / PM / PL, the tier); a Flag that is no longer active carries neither, so the worklist query
 * (`Flag?_tag=<flag system>|<code>&_tag=<priority system>|<tier>`) only ever sees open Flags.
 */

export const FLAG_SYSTEM = 'https://periplan.app/fhir/CodeSystem/back-pain-flag';
export const FLAG_PRIORITY_SYSTEM = 'http://hl7.org/fhir/flag-priority-code';
export const FLAG_PRIORITY_EXTENSION = 'http://hl7.org/fhir/StructureDefinition/flag-priority';
/**
 * The three flag codes clinical-rules.md pins (what the rules raise), and the fourth this module adds for an
 * incomplete red-flag screen (screenIncompleteFlag): pinned codes may grow, never change meaning.
 */
export const FLAG_CODES = [
  'emergency-assessment',
  'imaging-follow-up',
  'bone-density-scan',
  'red-flag-screen-incomplete',
] as const;
export const SCREEN_INCOMPLETE_FLAG_CODE = 'red-flag-screen-incomplete';
/** The tiers, highest first (the worklist pages through them in this order). */
export const FLAG_TIERS = ['PH', 'PM', 'PL'] as const;

/** The worklist tags a Flag's code and flag-priority call for. */
export function worklistTags(flag: fhir4.Flag): fhir4.Coding[] {
  const code = flag.code?.coding?.find((c) => c.system === FLAG_SYSTEM)?.code;
  const priority = flag.extension
    ?.find((e) => e.url === FLAG_PRIORITY_EXTENSION)
    ?.valueCodeableConcept?.coding?.find((c) => c.system === FLAG_PRIORITY_SYSTEM)?.code;
  return [
    ...(code ? [{ system: FLAG_SYSTEM, code }] : []),
    ...(priority ? [{ system: FLAG_PRIORITY_SYSTEM, code: priority }] : []),
  ];
}

const isWorklistTag = (t: fhir4.Coding) => t.system === FLAG_SYSTEM || t.system === FLAG_PRIORITY_SYSTEM;

/**
 * The Flag with the worklist tags its status calls for: its code and tier when active, none otherwise. Other
 * tags are kept. Idempotent.
 */
export function withWorklistTags<T extends fhir4.Flag>(flag: T): T {
  const others = (flag.meta?.tag ?? []).filter((t) => !isWorklistTag(t));
  const tag = [...others, ...(flag.status === 'active' ? worklistTags(flag) : [])];
  const { tag: _old, ...meta } = flag.meta ?? {};
  const hasMeta = tag.length > 0 || Object.keys(meta).length > 0;
  const { meta: _meta, ...rest } = flag;
  return (hasMeta ? { ...rest, meta: { ...meta, ...(tag.length ? { tag } : {}) } } : rest) as T;
}

/**
 * The worklist tiers, most serious first, each a pair of tag queries every FHIR server can answer (the flag
 * code AND the flag-priority). flag-priority alone cannot tell EMERGENCY from URGENT (both PH), but only
 * EMERGENCY rules raise `emergency-assessment`, so the code tells them apart.
 */
export const WORKLIST_TIERS = [
  { tier: 'stat', words: 'Emergency', codes: ['emergency-assessment'], priority: 'PH' },
  { tier: 'asap', words: 'Urgent', codes: ['imaging-follow-up', 'bone-density-scan'], priority: 'PH' },
  { tier: 'urgent', words: 'Soon', codes: [...FLAG_CODES], priority: 'PM' },
  { tier: 'routine', words: 'Routine', codes: [...FLAG_CODES], priority: 'PL' },
] as const;

/** The tier of an active Flag from its worklist tags (undefined for a Flag not on the worklist). */
export function worklistTierOf(flag: fhir4.Flag): (typeof WORKLIST_TIERS)[number] | undefined {
  const tags = flag.meta?.tag ?? [];
  const code = tags.find((t) => t.system === FLAG_SYSTEM)?.code;
  const priority = tags.find((t) => t.system === FLAG_PRIORITY_SYSTEM)?.code;
  return WORKLIST_TIERS.find((t) => t.priority === priority && (t.codes as readonly string[]).includes(code ?? ''));
}

const RULE_SYSTEM = 'https://periplan.app/fhir/CodeSystem/back-pain-rule';

/**
 * The Flag with the rule(s) that raised it as codings of its code (back-pain-rule system), after its flag
 * code: the worklist names the rule from the Flag itself, whoever wrote it (the write path or the tablet's
 * early alert). Rules it already names are not repeated.
 */
export function withRuleCodes<T extends fhir4.Flag>(flag: T, rules: readonly string[]): T {
  const have = new Set((flag.code?.coding ?? []).filter((c) => c.system === RULE_SYSTEM).map((c) => c.code));
  const add = [...new Set(rules)].filter((r) => !have.has(r)).map((code) => ({ system: RULE_SYSTEM, code }));
  if (!add.length) return flag;
  return { ...flag, code: { ...flag.code, coding: [...(flag.code?.coding ?? []), ...add] } };
}

/** The rules a Flag names in its code (back-pain-rule system), in order. */
export function rulesOfFlag(flag: fhir4.Flag): string[] {
  return (flag.code?.coding ?? []).filter((c) => c.system === RULE_SYSTEM && c.code).map((c) => c.code!);
}
/** The rule whose action asks for the red-flag screen to be completed. */
export const SCREEN_INCOMPLETE_RULE = 'RF-00';
/** Local id of the worklist Flag an incomplete red-flag screen gets (the submission item identifier ends with it). */
export const SCREEN_INCOMPLETE_FLAG_ID = 'RF-00-worklist-flag';

/**
 * RF-00 (red-flag screen incomplete, SOON) raises no Flag of its own in `$apply`: it asks the clinician to
 * complete the screen. Without a Flag it would be on no worklist, and a patient whose screen stayed
 * incomplete could be forgotten. So the write path adds one, shaped like the rules' Flags (back-pain-flag
 * profile): code `red-flag-screen-incomplete` (a code of its own: `imaging-follow-up` would tell the clinician
 * that imaging is being considered, and put the patient under the "Imaging follow-up" filter, when what is
 * needed is the questions answered), flag-priority PM (Soon), text naming what is missing, flag-detail
 * pointing at the response. Undefined when RF-00 did not fire.
 */
export function screenIncompleteFlag(
  carePlan: fhir4.CarePlan,
  response: fhir4.QuestionnaireResponse,
): fhir4.Flag | undefined {
  const group = (carePlan.contained ?? []).find((r) => r.resourceType === 'RequestGroup') as
    fhir4.RequestGroup | undefined;
  const fired = group?.action?.some((a) =>
    a.code?.some((c) => c.coding?.some((k) => k.system === RULE_SYSTEM && k.code === SCREEN_INCOMPLETE_RULE)),
  );
  if (!fired) return undefined;
  return {
    resourceType: 'Flag',
    id: SCREEN_INCOMPLETE_FLAG_ID,
    meta: { profile: ['https://periplan.app/fhir/StructureDefinition/back-pain-flag'] },
    extension: [
      {
        url: FLAG_PRIORITY_EXTENSION,
        valueCodeableConcept: { coding: [{ system: FLAG_PRIORITY_SYSTEM, code: 'PM' }] },
      },
      ...(response.id
        ? [
            {
              url: 'http://hl7.org/fhir/StructureDefinition/flag-detail',
              valueReference: {
                reference: `QuestionnaireResponse/${response.id}`,
                display: 'Back pain intake questionnaire response',
              },
            },
          ]
        : []),
    ],
    status: 'active',
    category: [
      {
        coding: [
          { system: 'http://terminology.hl7.org/CodeSystem/flag-category', code: 'clinical', display: 'Clinical' },
        ],
      },
    ],
    code: {
      coding: [{ system: FLAG_SYSTEM, code: SCREEN_INCOMPLETE_FLAG_CODE, display: 'Red-flag screen incomplete' }],
      text: 'Red-flag screen incomplete: complete the red-flag questions',
    },
    subject: response.subject ?? group?.subject ?? { display: 'unknown' },
  };
}
