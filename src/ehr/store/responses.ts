/**
 * FHIR response shapes shared by the HTTP router and the Bundle processor: ETags, locations, searchset and
 * history Bundles with their paging links.
 */
import type { HistoryEntry, Resource, SearchResult } from './store.js';

export const etagOf = (resource: Resource) => `W/"${resource.meta?.versionId ?? ''}"`;

/** RFC 7231 date for Last-Modified. */
export const httpDate = (iso: string | undefined) => new Date(iso ?? Date.now()).toUTCString();

/** A searchset Bundle with total, self/first/next/previous links and absolute fullUrls. */
export function searchsetBundle(baseUrl: string, resourceType: string, result: SearchResult): fhir4.Bundle {
  const { parsed, total } = result;
  const link = (offset: number) => {
    const params = new URLSearchParams(parsed.query.filter(([k]) => k !== '_count'));
    params.set('_count', String(parsed.count));
    if (offset > 0) params.set('_offset', String(offset));
    return `${baseUrl}/${resourceType}?${params.toString()}`;
  };
  const links: fhir4.BundleLink[] = [
    { relation: 'self', url: link(parsed.offset) },
    { relation: 'first', url: link(0) },
  ];
  if (parsed.count > 0 && parsed.offset + parsed.count < total)
    links.push({ relation: 'next', url: link(parsed.offset + parsed.count) });
  if (parsed.count > 0 && parsed.offset > 0)
    links.push({ relation: 'previous', url: link(Math.max(0, parsed.offset - parsed.count)) });
  if (parsed.count > 0 && total > 0)
    links.push({ relation: 'last', url: link(Math.floor((total - 1) / parsed.count) * parsed.count) });
  return {
    resourceType: 'Bundle',
    type: 'searchset',
    total,
    link: links,
    entry: [
      ...result.matches.map((resource) => ({
        fullUrl: `${baseUrl}/${resource.resourceType}/${resource.id}`,
        resource,
        search: { mode: 'match' as const },
      })),
      ...result.included.map((resource) => ({
        fullUrl: `${baseUrl}/${resource.resourceType}/${resource.id}`,
        resource,
        search: { mode: 'include' as const },
      })),
    ],
  };
}

/** An instance history Bundle, newest version first; deletions appear as entries without a resource. */
export function historyBundle(
  baseUrl: string,
  resourceType: string,
  id: string,
  history: { entries: HistoryEntry[]; total: number },
  page: { count: number; offset: number },
): fhir4.Bundle {
  const self = `${baseUrl}/${resourceType}/${id}/_history`;
  const link = (offset: number) => `${self}?_count=${page.count}${offset > 0 ? `&_offset=${offset}` : ''}`;
  const links: fhir4.BundleLink[] = [{ relation: 'self', url: link(page.offset) }];
  if (page.offset + page.count < history.total) links.push({ relation: 'next', url: link(page.offset + page.count) });
  if (page.offset > 0) links.push({ relation: 'previous', url: link(Math.max(0, page.offset - page.count)) });
  return {
    resourceType: 'Bundle',
    type: 'history',
    total: history.total,
    link: links,
    entry: history.entries.map((e) => ({
      fullUrl: `${baseUrl}/${resourceType}/${id}`,
      ...(e.resource ? { resource: e.resource } : {}),
      request: { method: e.method, url: e.method === 'POST' ? resourceType : `${resourceType}/${id}` },
      response: {
        status: e.method === 'DELETE' ? '204 No Content' : e.method === 'POST' ? '201 Created' : '200 OK',
        etag: `W/"${e.versionId}"`,
        lastModified: e.lastUpdated,
      },
    })),
  };
}
