/**
 * The worklist search tags of a Flag (`meta.tag`), set where Flags are born (build-bundle.ts) and changed
 * where they are closed (resolve-proposal.ts), so a Flag from any source ($submit, the clinician app, a
 * future tablet) reaches the clinician worklist, and leaves it when decided.
 *
 * Why tags: R4 gives Flag no `code` or `status` search parameter, but `_tag` is a standard parameter every
 * FHIR server supports. An ACTIVE Flag carries its flag code (back-pain-flag system) and its flag-priority
 * (PH / PM / PL, the tier); a Flag that is no longer active carries neither, so the worklist query
 * (`Flag?_tag=<flag system>|<code>&_tag=<priority system>|<tier>`) only ever sees open Flags.
 */

export const FLAG_SYSTEM = 'https://periplan.app/fhir/CodeSystem/back-pain-flag';
export const FLAG_PRIORITY_SYSTEM = 'http://hl7.org/fhir/flag-priority-code';
export const FLAG_PRIORITY_EXTENSION = 'http://hl7.org/fhir/StructureDefinition/flag-priority';
export const FLAG_CODES = ['emergency-assessment', 'imaging-follow-up', 'bone-density-scan'] as const;
/** The tiers, highest first (the worklist pages through them in this order). */
export const FLAG_TIERS = ['PH', 'PM', 'PL'] as const;

/** The worklist tags a Flag's code and flag-priority call for. */
export function worklistTags(flag: fhir4.Flag): fhir4.Coding[] {
  const code = flag.code?.coding?.find((c) => c.system === FLAG_SYSTEM)?.code;
  const priority = flag.extension
    ?.find((e) => e.url === FLAG_PRIORITY_EXTENSION)
    ?.valueCodeableConcept?.coding?.find((c) => c.system === FLAG_PRIORITY_SYSTEM)?.code;
  return [...(code ? [{ system: FLAG_SYSTEM, code }] : []), ...(priority ? [{ system: FLAG_PRIORITY_SYSTEM, code: priority }] : [])];
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
