/**
 * The worklist: patients with active flags, filtered by flag and sorted by tier or date, paged on the FHIR
 * server (never loading every Flag).
 *
 * R4 gives Flag no `code` or `status` search parameter, so flags carry search tags (`meta.tag`): the flag
 * code (back-pain-flag system) and its flag-priority (PH / PM / PL, i.e. the tier). `_tag` is a standard
 * parameter every FHIR server supports. The write path sets them on every Flag it writes and removes them
 * when a clinician records what happened to the patient (src/submission/worklist-tags.ts): the app only reads
 * them. Sorting by tier is done by paging through the tiers in order, most serious first: Emergency (stat),
 * Urgent (asap), Soon (urgent), Routine (routine). flag-priority alone says PH for both Emergency and
 * Urgent; the flag code tells them apart (WORKLIST_TIERS). One count query per tier, then only the slices
 * the page needs, each sorted by date. Each row names the rule that raised the Flag (its id and title).
 */
import type { KnowledgeBase } from '../knowledge/index.js';
import { SUBMISSION_RULE_SYSTEM } from '../submission/build-bundle.js';
import {
  FLAG_CODES,
  FLAG_PRIORITY_SYSTEM,
  FLAG_SYSTEM,
  rulesOfFlag,
  WORKLIST_TIERS,
  worklistTierOf,
} from '../submission/worklist-tags.js';
import { nextPageUrl } from '../platform/fhir-client/index.js';
import type { EhrAccess, SessionRef } from './ehr-access.js';

// Re-exported (not redefined) for code that imported them from here before, e.g. bench/app-render.ts.
export { FLAG_CODES, FLAG_PRIORITY_SYSTEM, FLAG_SYSTEM };

const RULE_CODE_SYSTEM = 'https://periplan.app/fhir/CodeSystem/back-pain-rule';

export const PAGE_SIZE = 20;

export interface WorklistRow {
  flagId: string;
  flag: string;
  /** The flag-priority tag (PH / PM / PL). */
  tier: string;
  /** The rule tier as a FHIR request priority: stat (Emergency), asap (Urgent), urgent (Soon), routine. */
  tierCode: string;
  tierWords: string;
  /** The rule(s) that raised the Flag (the rule codings of its code; ", "-joined when several) and their titles. */
  ruleId?: string;
  ruleTitle?: string;
  since?: string;
  status: string;
  patient?: { id: string; name: string; birthDate?: string };
}

function name(p: fhir4.Patient): string {
  const n = p.name?.[0];
  return n?.text ?? [...(n?.given ?? []), n?.family].filter(Boolean).join(' ') ?? 'Unnamed';
}

/**
 * The rules that raised a Flag: the rule codings of its code (every Flag the module writes has them); a Flag
 * written before they were added still has its submission-rule identifier. A tablet alert may name several.
 */
function rulesRaising(f: fhir4.Flag): string[] {
  const named = rulesOfFlag(f);
  const fromIdentifier = f.identifier?.find((i) => i.system === SUBMISSION_RULE_SYSTEM)?.value?.split('#')[1];
  return named.length ? named : fromIdentifier ? [fromIdentifier] : [];
}

function worklistRow(
  f: fhir4.Flag,
  patients: Map<string, fhir4.Patient>,
  ruleTitles: Map<string, string>,
): WorklistRow {
  const p = f.subject?.reference ? patients.get(f.subject.reference) : undefined;
  return {
    flagId: f.id!,
    flag: f.code?.text ?? f.code?.coding?.[0]?.display ?? 'Flag',
    ...tierOfRow(f),
    ...ruleOfRow(f, ruleTitles),
    ...(f.period?.start ? { since: f.period.start } : {}),
    status: f.status,
    ...(p ? { patient: patientOfRow(p) } : {}),
  };
}

/** The flag-priority tag, and the rule tier the worklist sorts and words it by. */
function tierOfRow(f: fhir4.Flag): Pick<WorklistRow, 'tier' | 'tierCode' | 'tierWords'> {
  const worklistTier = worklistTierOf(f);
  return {
    tier: f.meta?.tag?.find((t) => t.system === FLAG_PRIORITY_SYSTEM)?.code ?? '',
    tierCode: worklistTier?.tier ?? 'unknown',
    tierWords: worklistTier?.words ?? 'Unknown',
  };
}

function ruleOfRow(f: fhir4.Flag, ruleTitles: Map<string, string>): Pick<WorklistRow, 'ruleId' | 'ruleTitle'> {
  const rules = rulesRaising(f);
  const ruleId = rules.length ? rules.join(', ') : undefined;
  return ruleId ? { ruleId, ruleTitle: rules.map((r) => ruleTitles.get(r) ?? r).join('; ') } : {};
}

function patientOfRow(p: fhir4.Patient): NonNullable<WorklistRow['patient']> {
  return { id: p.id!, name: name(p), ...(p.birthDate ? { birthDate: p.birthDate } : {}) };
}

export function createWorklist(ehr: EhrAccess, knowledge?: KnowledgeBase) {
  const ruleCodes = knowledge?.resolve(RULE_CODE_SYSTEM, 'CodeSystem');
  const ruleTitles = new Map((ruleCodes?.concept ?? []).map((c) => [c.code, c.display ?? c.code]));
  const query = (params: [string, string][]) => params.map(([k, v]) => `${k}=${encodeURIComponent(v)}`).join('&');

  async function count(ref: SessionRef, tags: [string, string][]): Promise<number> {
    const b = await ehr.json<fhir4.Bundle>(ref, `Flag?${query([...tags, ['_summary', 'count']])}`);
    return b.total ?? 0;
  }

  async function slice(ref: SessionRef, tags: [string, string][], offset: number, n: number) {
    const patients = new Map<string, fhir4.Patient>();
    const flags: fhir4.Flag[] = [];
    // A server may give fewer than `_count` per page (its own cap) and page on: follow its next links (on the
    // EHR's own base; one on another host is mapped onto it) until the slice is full.
    const issuer = ref.session.issuer.replace(/\/+$/, '');
    let next: string | undefined =
      `Flag?${query([...tags, ['_sort', '-date'], ['_count', String(n)], ['_offset', String(offset)], ['_include', 'Flag:subject']])}`;
    for (let pages = 0; next && flags.length < n && pages < n; pages++) {
      const b: fhir4.Bundle = await ehr.json<fhir4.Bundle>(ref, next);
      for (const e of b.entry ?? []) {
        if (e.resource?.resourceType === 'Patient')
          patients.set(`Patient/${e.resource.id}`, e.resource as fhir4.Patient);
        else if (e.resource?.resourceType === 'Flag' && e.search?.mode !== 'include' && flags.length < n)
          flags.push(e.resource as fhir4.Flag);
      }
      const url = nextPageUrl(b, issuer);
      next = url?.startsWith(`${issuer}/`) ? url.slice(issuer.length + 1) : undefined;
    }
    return flags.map((f) => worklistRow(f, patients, ruleTitles));
  }

  async function page(ref: SessionRef, input: { flag?: string; sort: 'tier' | 'date'; page: number }) {
    const base: [string, string][] = input.flag
      ? [['_tag', `${FLAG_SYSTEM}|${input.flag}`]]
      : [['_tag', FLAG_SYSTEM + '|' + FLAG_CODES.join(`,${FLAG_SYSTEM}|`)]];
    const offset = (input.page - 1) * PAGE_SIZE;
    if (input.sort === 'date') {
      const [total, rows] = await Promise.all([count(ref, base), slice(ref, base, offset, PAGE_SIZE)]);
      return { total, rows };
    }
    // Each tier: the base filter AND its flag codes AND its flag-priority (repeated _tag parameters are ANDed).
    const tierTags = WORKLIST_TIERS.map((t): [string, string][] => [
      ['_tag', t.codes.map((c) => `${FLAG_SYSTEM}|${c}`).join(',')],
      ['_tag', `${FLAG_PRIORITY_SYSTEM}|${t.priority}`],
    ]);
    const counts = await Promise.all(tierTags.map((tags) => count(ref, [...base, ...tags])));
    // Which part of each tier falls on this page; then fetch those slices in parallel.
    const slices: { tier: number; from: number; n: number }[] = [];
    let start = 0;
    let wanted = PAGE_SIZE;
    for (let i = 0; i < tierTags.length && wanted > 0; i++) {
      const n = counts[i]!;
      const from = Math.max(0, offset + (PAGE_SIZE - wanted) - start);
      if (from < n) {
        const take = Math.min(wanted, n - from);
        slices.push({ tier: i, from, n: take });
        wanted -= take;
      }
      start += n;
    }
    const rows = (
      await Promise.all(slices.map((sl) => slice(ref, [...base, ...tierTags[sl.tier]!], sl.from, sl.n)))
    ).flat();
    return { total: counts.reduce((a, b) => a + b, 0), rows };
  }

  return { page };
}
