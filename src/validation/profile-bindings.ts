/**
 * Required bindings a profile adds (e.g. the Flag's code to the back-pain flag codes). Neither Medplum nor
 * the lantana package checks bindings made by a profile, so they are checked here: for each element the
 * profile's differential binds `required`, the codes found at that element must be in the ValueSet.
 *
 * ValueSets are expanded from their `compose` (listed concepts, or every code of a CodeSystem that is
 * known in full); a ValueSet that cannot be expanded offline (filters, LOINC as a whole) is skipped.
 */
import { issue } from '../outcomes/index.js';
import { coreCodeSystemHasCode, coreDefinition, flattenConcepts } from './canonicals.js';

type Code = { system?: string; code: string };

/** The module's own ValueSets and CodeSystems (R4 core ones are looked up on demand). */
export class Terminology {
  private readonly valueSets = new Map<string, fhir4.ValueSet>();
  private readonly codeSystems = new Map<string, fhir4.CodeSystem>();

  add(r: fhir4.ValueSet | fhir4.CodeSystem): void {
    if (!r.url) return;
    if (r.resourceType === 'ValueSet') this.valueSets.set(r.url, r);
    else this.codeSystems.set(r.url, r);
  }

  /** Does the ValueSet contain the code? `undefined` when the ValueSet cannot be expanded here. */
  contains(valueSetUrl: string, c: Code): boolean | undefined {
    const url = valueSetUrl.split('|')[0]!;
    const vs = this.valueSets.get(url) ?? coreDefinition(url, 'ValueSet');
    if (!vs) return undefined;
    if (vs.expansion?.contains)
      return vs.expansion.contains.some((e) => e.code === c.code && (c.system === undefined || e.system === c.system));
    let unknown = false;
    for (const inc of vs.compose?.include ?? []) {
      const verdict = this.includeHas(inc, c);
      if (verdict === true) return true;
      if (verdict === undefined) unknown = true;
    }
    return unknown ? undefined : false;
  }

  /** Does one include of a ValueSet have the code? `undefined` when that cannot be told offline. */
  private includeHas(inc: fhir4.ValueSetComposeInclude, c: Code): boolean | undefined {
    if (inc.filter?.length || inc.valueSet?.length || !inc.system) return undefined;
    if (c.system !== undefined && inc.system !== c.system) return false;
    if (inc.concept) return inc.concept.some((k) => k.code === c.code);
    const local = this.codeSystems.get(inc.system);
    if (local) return flattenConcepts(local.concept).includes(c.code);
    return coreCodeSystemHasCode(inc.system, c.code);
  }
}

interface Located {
  value: unknown;
  path: string;
}

/** Values at an element id such as `Flag.extension:priority.value[x]`, with their FHIRPaths. */
function valuesAt(resource: Record<string, unknown>, elementId: string, sliceUrls: Map<string, string>): Located[] {
  const segments = elementId.split('.');
  let current: Located[] = [{ value: resource, path: segments[0]! }];
  let idSoFar = segments[0]!;
  for (const segment of segments.slice(1)) {
    idSoFar += `.${segment}`;
    const [name, slice] = segment.split(':') as [string, string | undefined];
    const next: Located[] = [];
    for (const { value, path } of current) {
      if (!value || typeof value !== 'object') continue;
      const obj = value as Record<string, unknown>;
      const keys = name.endsWith('[x]')
        ? Object.keys(obj).filter((k) => k.startsWith(name.slice(0, -3)) && /^[A-Z]/.test(k.slice(name.length - 3)))
        : [name];
      for (const key of keys) {
        const v = obj[key];
        const list = Array.isArray(v)
          ? v.map((x, i) => ({ value: x as unknown, path: `${path}.${key}[${i}]` }))
          : v === undefined
            ? []
            : [{ value: v, path: `${path}.${key}` }];
        for (const item of list) {
          if (slice) {
            const url = sliceUrls.get(idSoFar);
            if (url === undefined || (item.value as { url?: unknown } | null)?.url !== url) continue;
          }
          next.push(item);
        }
      }
    }
    current = next;
  }
  return current;
}

function codesOf(value: unknown): Code[] | undefined {
  if (typeof value === 'string') return [{ code: value }];
  if (!value || typeof value !== 'object') return undefined;
  const v = value as { coding?: unknown; system?: unknown; code?: unknown };
  if (Array.isArray(v.coding)) {
    return (v.coding as Array<{ system?: unknown; code?: unknown }>)
      .filter((c) => typeof c?.code === 'string')
      .map((c) => ({ system: typeof c.system === 'string' ? c.system : undefined, code: c.code as string }));
  }
  if (typeof v.code === 'string')
    return [{ system: typeof v.system === 'string' ? v.system : undefined, code: v.code }];
  return undefined;
}

export function checkProfileBindings(
  resource: object,
  profile: fhir4.StructureDefinition,
  terminology: Terminology,
): fhir4.OperationOutcomeIssue[] {
  const snapshot = profile.snapshot?.element ?? [];
  const bound = requiredBindingIds(profile);
  const sliceUrls = sliceUrlsOf(snapshot);

  const out: fhir4.OperationOutcomeIssue[] = [];
  for (const e of snapshot) {
    const id = e.id ?? e.path;
    const valueSet = e.binding?.valueSet;
    if (!bound.has(id) || !valueSet) continue;
    for (const { value, path } of valuesAt(resource as Record<string, unknown>, id, sliceUrls)) {
      const problem = bindingProblem(value, path, valueSet, profile, terminology);
      if (problem) out.push(problem);
    }
  }
  return out;
}

/** The elements the profile's own differential binds `required`. */
function requiredBindingIds(profile: fhir4.StructureDefinition): Set<string> {
  return new Set(
    (profile.differential?.element ?? []).filter((e) => e.binding?.strength === 'required').map((e) => e.id ?? e.path),
  );
}

/** Each extension slice's fixed url, by the slice's element id. */
function sliceUrlsOf(snapshot: fhir4.ElementDefinition[]): Map<string, string> {
  const sliceUrls = new Map<string, string>();
  for (const e of snapshot)
    if (e.id && e.fixedUri && e.id.endsWith('.url')) sliceUrls.set(e.id.slice(0, -'.url'.length), e.fixedUri);
  return sliceUrls;
}

/** An error when no code of the value is in the ValueSet (and none is undecidable offline). */
function bindingProblem(
  value: unknown,
  path: string,
  valueSet: string,
  profile: fhir4.StructureDefinition,
  terminology: Terminology,
): fhir4.OperationOutcomeIssue | undefined {
  const codes = codesOf(value);
  if (!codes) return undefined;
  const verdicts = codes.map((c) => terminology.contains(valueSet, c));
  if (verdicts.some((v) => v === true) || verdicts.some((v) => v === undefined)) return undefined;
  const shown = codes.map((c) => (c.system ? `${c.system}|${c.code}` : c.code)).join(', ') || '(no code)';
  return issue({
    code: 'code-invalid',
    diagnostics: `${shown} is not in ${valueSet}, which ${profile.url} requires here`,
    expression: path,
  });
}
