/**
 * Search paging. Servers cap `_count` and page on their own terms, and a cluster node may name itself in its
 * `next` links: a link is followed only on the configured base, so the token is never sent to a host the
 * module was not configured for.
 */

/**
 * The `next` link of a search page, if it may be followed: on the configured server (same origin as the base)
 * as given; on another host mapped onto the configured base, the search's resource type and query kept.
 */
export function nextPageUrl(bundle: fhir4.Bundle | undefined, baseUrl: string): string | undefined {
  const next = bundle?.link?.find((l) => l.relation === 'next')?.url;
  if (!next) return undefined;
  const base = new URL(`${baseUrl.replace(/\/+$/, '')}/`);
  let link: URL;
  try {
    link = new URL(next, base);
  } catch {
    return undefined;
  }
  if (link.protocol !== 'http:' && link.protocol !== 'https:') return undefined;
  if (link.origin === base.origin) return link.toString();
  const type = link.pathname.split('/').filter(Boolean).at(-1);
  const path = type && /^[A-Z][A-Za-z]+$/.test(type) ? type : '';
  return path ? `${base.toString()}${path}${link.search}` : `${base.toString().replace(/\/$/, '')}${link.search}`;
}

/** Bounds of a search read page after page. */
export interface PagingLimits {
  /** At most this many pages (default 20). */
  maxPages?: number;
  /** At most this many matching resources (default 5000). */
  maxResources?: number;
}

export interface SearchResult<T> {
  resources: T[];
  /** Resources of other types the pages carried (`_include`d, or an OperationOutcome with `search.mode` outcome). */
  included: fhir4.FhirResource[];
  pages: number;
  /**
   * False when a bound stopped the reading with a `next` link still to follow (or a page seen twice): the
   * server has more than `resources` holds. Callers must not read absence in a truncated result as "none".
   */
  complete: boolean;
}

/** `Type?k=v&k=w` from parameters, encoded as fhir-kit-client encodes them (URLSearchParams). */
export function searchQuery(
  type: string,
  params: Record<string, string | number | readonly (string | number)[]> = {},
): string {
  const qs = new URLSearchParams();
  for (const [key, value] of Object.entries(params))
    for (const v of Array.isArray(value) ? value : [value]) qs.append(key, String(v));
  const s = qs.toString();
  return s ? `${type}?${s}` : type;
}
