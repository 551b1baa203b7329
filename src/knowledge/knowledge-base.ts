/**
 * The knowledge base: every content resource (Questionnaire, PlanDefinition, ActivityDefinition, CodeSystem,
 * ValueSet, StructureDefinition, OperationDefinition, ...) loaded from the content folders, indexed by
 * type/id and by canonical url|version. Immutable once built; pure (no I/O).
 *
 * Every resource is deep-frozen when the knowledge base is built: the same objects are handed to every
 * request, so no caller can change what the next patient gets. A library that writes into its input
 * (sdc-populate resolves x-fhir-query variables into the Questionnaire; fhirpath.js annotates what it
 * returns) must be given its own copy (`structuredClone`).
 */
import { deepFreeze } from '../platform/deep-freeze.js';

export const KNOWLEDGE_TYPES = [
  'Questionnaire',
  'PlanDefinition',
  'ActivityDefinition',
  'Library',
  'CodeSystem',
  'ValueSet',
  'StructureDefinition',
  'OperationDefinition',
  'SearchParameter',
  'CapabilityStatement',
] as const;
export type KnowledgeType = (typeof KNOWLEDGE_TYPES)[number];

export type CanonicalResource = fhir4.FhirResource & {
  resourceType: KnowledgeType;
  id?: string;
  url?: string;
  version?: string;
  name?: string;
  status?: string;
};

export function isKnowledgeType(t: string): t is KnowledgeType {
  return (KNOWLEDGE_TYPES as readonly string[]).includes(t);
}

/** Split `url|version` into its parts. */
export function parseCanonical(canonical: string): { url: string; version?: string } {
  const bar = canonical.indexOf('|');
  return bar < 0 ? { url: canonical } : { url: canonical.slice(0, bar), version: canonical.slice(bar + 1) };
}

export class KnowledgeBase {
  private readonly byTypeId = new Map<string, CanonicalResource>();
  private readonly byUrl = new Map<string, CanonicalResource[]>();
  /** Where each resource came from (file path), for error messages. */
  private readonly origins = new Map<CanonicalResource, string>();

  constructor(entries: ReadonlyArray<{ resource: CanonicalResource; origin: string }>) {
    for (const { resource, origin } of entries) {
      if (!resource.id) throw new Error(`${origin}: ${resource.resourceType} has no id`);
      deepFreeze(resource);
      const key = `${resource.resourceType}/${resource.id}`;
      if (this.byTypeId.has(key))
        throw new Error(`${origin}: duplicate ${key} (also in ${this.origins.get(this.byTypeId.get(key)!)})`);
      this.byTypeId.set(key, resource);
      this.origins.set(resource, origin);
      if (resource.url) {
        const list = this.byUrl.get(resource.url) ?? [];
        list.push(resource);
        this.byUrl.set(resource.url, list);
      }
    }
  }

  /** Every resource, in load order. */
  all(): CanonicalResource[] {
    return [...this.byTypeId.values()];
  }

  ofType<T extends CanonicalResource['resourceType']>(type: T): Array<Extract<CanonicalResource, { resourceType: T }>> {
    return this.all().filter((r): r is Extract<CanonicalResource, { resourceType: T }> => r.resourceType === type);
  }

  read(type: string, id: string): CanonicalResource | undefined {
    return this.byTypeId.get(`${type}/${id}`);
  }

  /**
   * Resolve a canonical (`url` or `url|version`), optionally of one type. Without a version the newest
   * (highest version string by semver-ish compare, then last loaded) wins.
   */
  resolve<T extends CanonicalResource['resourceType']>(
    canonical: string,
    type?: T,
  ): Extract<CanonicalResource, { resourceType: T }> | undefined {
    const { url, version } = parseCanonical(canonical);
    let list = this.byUrl.get(url) ?? [];
    if (type) list = list.filter((r) => r.resourceType === type);
    if (version !== undefined) list = list.filter((r) => r.version === version);
    if (list.length === 0) return undefined;
    const sorted = [...list].sort((a, b) => compareVersions(a.version, b.version));
    return sorted[sorted.length - 1] as Extract<CanonicalResource, { resourceType: T }>;
  }

  originOf(resource: CanonicalResource): string | undefined {
    return this.origins.get(resource);
  }
}

export function compareVersions(a: string | undefined, b: string | undefined): number {
  const pa = (a ?? '').split(/[.-]/);
  const pb = (b ?? '').split(/[.-]/);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const x = pa[i] ?? '';
    const y = pb[i] ?? '';
    const nx = Number(x);
    const ny = Number(y);
    const c = Number.isFinite(nx) && Number.isFinite(ny) && x !== '' && y !== '' ? nx - ny : x.localeCompare(y);
    if (c !== 0) return c;
  }
  return 0;
}
