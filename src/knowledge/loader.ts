/**
 * Loading the module's knowledge (questionnaires/, plandefinitions/, profiles/) and refusing content that
 * is not fit to serve. Everything is checked before anything is served, so a broken file stops the server
 * at start-up with a message naming file, resource and element, instead of failing a patient later.
 *
 * Per resource (`checkResource`): JSON parses; strict structural R4 (cardinality, types, invariants,
 * required bindings); a knowledge resource type with an id; FHIRPath expressions compile, call known
 * functions and (Questionnaires) use variables in scope; Questionnaire linkIds, enableWhen targets, answer
 * types and loops; module canonicals follow `https://periplan.app/fhir/{type}/{id}`.
 * Across resources (`checkKnowledge`): no duplicate type/id or url|version; decision content uses only
 * `%variables` the engine or some `variable` extension defines; every canonical and extension
 * url resolves in the knowledge base or is a known HL7/terminology canonical; codes from the module's
 * CodeSystems (and FHIR's own complete ones) exist; the pinned intake items, PlanDefinition and codes are
 * present (clinical-rules.md).
 */
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { KnowledgeBase, isKnowledgeType, type CanonicalResource } from './knowledge-base.js';
import { ContentError, type ContentProblem } from './content-error.js';
import { checkDecisionVariables, checkExpressions, variablesDefined } from './expression-checks.js';
import { checkQuestionnaireItems } from './questionnaire-checks.js';
import { checkIntake, checkPinnedArtifacts } from './pinned-checks.js';
import { CANONICAL_BASE } from './pinned-intake-items.js';
import { isR4ResourceType, jsonHazards, registerDefinitions, validateResource } from '../validation/index.js';
import {
  collectCanonicals,
  coreCodeSystemHasCode,
  coreDefinitionType,
  flattenConcepts,
  isKnownExternalCanonical,
} from '../validation/canonicals.js';

/** The content folders that hold knowledge; `examples/` is sample data, not knowledge. */
export const KNOWLEDGE_FOLDERS = ['questionnaires', 'plandefinitions', 'profiles'] as const;

export interface LoadedResource {
  resource: CanonicalResource;
  /** File it came from, relative to the content folder. */
  file: string;
  /** `Type/id` used in messages. */
  label: string;
  /** Whether strict structural validation passed (cross-resource checks only run on valid resources). */
  structurallyValid: boolean;
}

/** A parsed file: its resources (a Bundle of type collection contributes its entries). */
interface ParsedFile {
  file: string;
  resources: unknown[];
}

/** Load, check and index the knowledge under `contentDir`. Throws ContentError listing every problem. */
export async function loadKnowledge(contentDir: string): Promise<KnowledgeBase> {
  const problems: ContentProblem[] = [];
  const files = await readContentFiles(contentDir, KNOWLEDGE_FOLDERS, problems);
  const loaded: LoadedResource[] = [];
  for (const f of files) {
    for (const raw of f.resources) {
      const { problems: found, loaded: ok } = checkResource(raw, f.file, { knowledge: true });
      problems.push(...found);
      if (ok) loaded.push(ok);
    }
  }
  const { kb, problems: crossProblems } = checkKnowledge(loaded);
  problems.push(...crossProblems);
  if (problems.length > 0) throw new ContentError(contentDir, problems);
  registerDefinitions(kb.all());
  return kb;
}

/**
 * Load `examples/` (sample patients, responses, bundles): JSON parses and every resource is strict R4.
 * They are not knowledge and not indexed. Throws ContentError on any problem.
 */
export async function loadExamples(contentDir: string): Promise<Array<{ file: string; resource: fhir4.FhirResource }>> {
  const problems: ContentProblem[] = [];
  const files = await readContentFiles(contentDir, ['examples'], problems);
  const out: Array<{ file: string; resource: fhir4.FhirResource }> = [];
  for (const f of files) {
    for (const raw of f.resources) {
      const { problems: found } = checkResource(raw, f.file, { knowledge: false });
      problems.push(...found);
      if (found.length === 0) out.push({ file: f.file, resource: raw as fhir4.FhirResource });
    }
  }
  if (problems.length > 0) throw new ContentError(contentDir, problems);
  return out;
}

async function readContentFiles(
  contentDir: string,
  folders: readonly string[],
  problems: ContentProblem[],
): Promise<ParsedFile[]> {
  const out: ParsedFile[] = [];
  for (const folder of folders) {
    for (const abs of await listJsonFiles(path.join(contentDir, folder))) {
      const file = path.relative(contentDir, abs);
      const text = await readFile(abs, 'utf8');
      const parsed = parseJson(text);
      if ('error' in parsed) {
        problems.push({ file, message: parsed.error });
        continue;
      }
      out.push({ file, resources: unbundle(parsed.value) });
    }
  }
  return out;
}

async function listJsonFiles(dir: string): Promise<string[]> {
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch {
    return []; // an absent folder holds no content; missing pinned content is reported by name
  }
  const out: string[] = [];
  for (const e of entries.sort((a, b) => a.name.localeCompare(b.name))) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...(await listJsonFiles(p)));
    else if (e.isFile() && e.name.endsWith('.json')) out.push(p);
  }
  return out;
}

/** JSON.parse with the position turned into line:column. */
export function parseJson(text: string): { value: unknown } | { error: string } {
  try {
    return { value: JSON.parse(text) as unknown };
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    const pos = /position (\d+)/.exec(message);
    if (!pos) return { error: `not valid JSON: ${message}` };
    const offset = Number(pos[1]);
    const before = text.slice(0, offset).split('\n');
    const line = before.length;
    const column = (before[before.length - 1]?.length ?? 0) + 1;
    return {
      error: `not valid JSON at line ${line}, column ${column}: ${message.replace(/ in JSON at position \d+.*$/, '')}`,
    };
  }
}

/** A collection Bundle is a way to ship several resources in one file; anything else is one resource. */
function unbundle(value: unknown): unknown[] {
  const b = value as { resourceType?: unknown; type?: unknown; entry?: unknown };
  if (b && b.resourceType === 'Bundle' && b.type === 'collection' && Array.isArray(b.entry)) {
    return b.entry.map((e: unknown) => (e as { resource?: unknown } | null)?.resource);
  }
  return [value];
}

function labelOf(raw: unknown): string | undefined {
  const r = raw as { resourceType?: unknown; id?: unknown } | null;
  if (!r || typeof r !== 'object' || typeof r.resourceType !== 'string') return undefined;
  return `${r.resourceType.slice(0, 64)}/${typeof r.id === 'string' ? r.id.slice(0, 64) : '(no id)'}`;
}

/** A problem found in one resource, before the file and resource label are added. */
interface Finding {
  message: string;
  expression?: string;
}

/**
 * Checks that need only the resource itself. `knowledge: true` also demands a knowledge resource type with
 * an id and conventional canonical url. Never throws.
 */
export function checkResource(
  raw: unknown,
  file: string,
  options: { knowledge: boolean },
): { problems: ContentProblem[]; loaded?: LoadedResource } {
  const problems: ContentProblem[] = [];
  const label = labelOf(raw);
  const add = (message: string, expression?: string): void => {
    problems.push({ file, ...(label ? { resource: label } : {}), ...(expression ? { expression } : {}), message });
  };

  const issues = validateResource(raw);
  const errors = issues.filter((i) => i.severity === 'error' || i.severity === 'fatal');
  for (const i of errors) add(i.diagnostics ?? 'invalid', i.expression?.[0]);
  if (!label) return { problems };

  const r = raw as CanonicalResource & Record<string, unknown>;
  // Garbage that validation already reported is not walked by the checks below.
  if (!isR4ResourceType(r.resourceType) || jsonHazards(raw).length > 0) return { problems };

  if (options.knowledge) for (const p of knowledgeConventionProblems(r)) add(p.message, p.expression);
  for (const p of expressionAndItemProblems(r)) add(p.message, p.expression);
  const ok = !options.knowledge || isIdentifiedKnowledge(r);
  return { problems, loaded: ok ? { resource: r, file, label, structurallyValid: errors.length === 0 } : undefined };
}

function isIdentifiedKnowledge(r: CanonicalResource): boolean {
  return isKnowledgeType(r.resourceType) && typeof r.id === 'string' && r.id !== '';
}

/** A knowledge resource: of a knowledge type, with an id, and a canonical url of the form base/type/id. */
function knowledgeConventionProblems(r: CanonicalResource): Finding[] {
  const out: Finding[] = [];
  if (!isKnowledgeType(r.resourceType))
    out.push({
      message: `${(r as { resourceType: string }).resourceType} is not a knowledge resource (Questionnaire, PlanDefinition, ActivityDefinition, Library, CodeSystem, ValueSet, StructureDefinition, ...); examples belong in examples/`,
      expression: 'resourceType',
    });
  if (typeof r.id !== 'string' || r.id === '')
    out.push({ message: 'a knowledge resource needs an id', expression: `${r.resourceType}.id` });
  if (typeof r.url === 'string' && r.url.startsWith(`${CANONICAL_BASE}/`) && typeof r.id === 'string') {
    const expected = `${CANONICAL_BASE}/${r.resourceType}/${r.id}`;
    if (r.url !== expected)
      out.push({
        message: `canonical url must be ${expected} (the module's convention: base/type/id)`,
        expression: `${r.resourceType}.url`,
      });
  }
  return out;
}

/** FHIRPath expressions anywhere in the resource; a Questionnaire's items as well. */
function expressionAndItemProblems(r: CanonicalResource & Record<string, unknown>): Finding[] {
  const out: Finding[] = [];
  try {
    out.push(...checkExpressions(r));
    if (r.resourceType === 'Questionnaire') out.push(...checkQuestionnaireItems(r));
  } catch (err) {
    out.push({ message: `could not check this resource: ${err instanceof Error ? err.message : String(err)}` });
  }
  return out;
}

/** Checks across the loaded resources; builds the KnowledgeBase when ids are unique. */
export function checkKnowledge(loaded: LoadedResource[]): { kb: KnowledgeBase; problems: ContentProblem[] } {
  const problems: ContentProblem[] = [];
  const unique = withoutDuplicates(loaded, problems);
  const kb = new KnowledgeBase(unique.map((l) => ({ resource: l.resource, origin: l.file })));
  problems.push(...decisionVariableProblems(unique));
  for (const l of unique) {
    if (!l.structurallyValid) continue; // its structural errors are already reported; references may be garbage
    for (const p of referenceProblems(l.resource, kb))
      problems.push({
        file: l.file,
        resource: l.label,
        ...(p.expression ? { expression: p.expression } : {}),
        message: p.message,
      });
  }
  problems.push(...intakeProblems(kb), ...pinnedArtifactProblems(kb));
  return { kb, problems };
}

/** The resources whose type/id and canonical url|version are the first of their kind; the rest are reported. */
function withoutDuplicates(loaded: LoadedResource[], problems: ContentProblem[]): LoadedResource[] {
  const byKey = new Map<string, LoadedResource>();
  const byCanonical = new Map<string, LoadedResource>();
  const unique: LoadedResource[] = [];
  for (const l of loaded) {
    const key = `${l.resource.resourceType}/${l.resource.id}`;
    const first = byKey.get(key);
    if (first) {
      problems.push({
        file: l.file,
        resource: l.label,
        expression: `${l.resource.resourceType}.id`,
        message: `duplicate ${key}: ${first.file} already defines it`,
      });
      continue;
    }
    byKey.set(key, l);
    const clash = canonicalClash(l, byCanonical);
    if (clash) {
      problems.push(clash);
      continue;
    }
    unique.push(l);
  }
  return unique;
}

/** A problem when another resource already has this one's canonical url|version; otherwise it is recorded. */
function canonicalClash(l: LoadedResource, byCanonical: Map<string, LoadedResource>): ContentProblem | undefined {
  if (!l.resource.url) return undefined;
  const canonical = `${l.resource.url}|${l.resource.version ?? ''}`;
  const other = byCanonical.get(canonical);
  if (!other) {
    byCanonical.set(canonical, l);
    return undefined;
  }
  return {
    file: l.file,
    resource: l.label,
    expression: `${l.resource.resourceType}.url`,
    message: `duplicate canonical ${l.resource.url}${l.resource.version ? `|${l.resource.version}` : ''}: ${other.file} (${other.label}) already has it`,
  };
}

const DECISION_TYPES = new Set(['PlanDefinition', 'ActivityDefinition', 'Library']);

/** Every `%name` in decision content is provided by the engine or defined by a variable somewhere in it. */
function decisionVariableProblems(unique: LoadedResource[]): ContentProblem[] {
  const decision = unique.filter((l) => DECISION_TYPES.has(l.resource.resourceType));
  const decisionVariables = new Set(decision.flatMap((l) => variablesDefined(l.resource)));
  return decision.flatMap((l) =>
    checkDecisionVariables(l.resource, decisionVariables).map((p) => ({
      file: l.file,
      resource: l.label,
      expression: p.expression,
      message: p.message,
    })),
  );
}

/** Canonicals, extension urls, codes and included code systems that the knowledge base does not resolve. */
function referenceProblems(resource: CanonicalResource, kb: KnowledgeBase): Finding[] {
  const out: Finding[] = [];
  const add = (problem: string | undefined, expression: string): void => {
    if (problem) out.push({ message: problem, expression });
  };
  for (const c of collectCanonicals(resource)) add(canonicalProblem(c.value, resource, kb), c.expression);
  for (const e of extensionUrls(resource)) add(extensionProblem(e.value, kb), e.expression);
  for (const c of codings(resource)) add(codeProblem(c.system, c.code, kb), c.expression);
  for (const s of includedSystems(resource)) {
    if (s.value.startsWith(`${CANONICAL_BASE}/`) && !kb.resolve(s.value, 'CodeSystem'))
      add(`code system ${s.value} has no CodeSystem in the knowledge base`, s.expression);
  }
  return out;
}

/** The pinned intake Questionnaire's checks, reported against its file. */
function intakeProblems(kb: KnowledgeBase): ContentProblem[] {
  const intake = kb.read('Questionnaire', 'back-pain-intake');
  const intakeOrigin = intake ? kb.originOf(intake) : undefined;
  return checkIntake(kb).map((p) => ({
    file: intakeOrigin ?? 'questionnaires/',
    ...(intake ? { resource: 'Questionnaire/back-pain-intake' } : {}),
    ...p,
  }));
}

/** The pinned artifacts' checks, reported against the target's file (else the folder it belongs in). */
function pinnedArtifactProblems(kb: KnowledgeBase): ContentProblem[] {
  return checkPinnedArtifacts(kb).map((p) => {
    const target = p.target ? kb.read(p.target.split('/')[0]!, p.target.split('/')[1]!) : undefined;
    return {
      file:
        (target && kb.originOf(target)) ?? (p.message.includes('PlanDefinition') ? 'plandefinitions/' : 'profiles/'),
      ...(p.target ? { resource: p.target } : {}),
      ...(p.expression ? { expression: p.expression } : {}),
      message: p.message,
    };
  });
}

function canonicalProblem(canonical: string, resource: CanonicalResource, kb: KnowledgeBase): string | undefined {
  if (canonical.startsWith('#')) {
    const contained = (resource as { contained?: Array<{ id?: string }> }).contained ?? [];
    return contained.some((c) => c.id === canonical.slice(1)) ? undefined : `${canonical} names no contained resource`;
  }
  if (kb.resolve(canonical)) return undefined;
  const url = canonical.split('|')[0]!;
  if (url.startsWith(`${CANONICAL_BASE}/`)) {
    const other = kb.resolve(url);
    return other
      ? `canonical ${canonical} does not resolve: the knowledge base has ${url} only at version ${other.version ?? '(none)'}`
      : `canonical ${canonical} does not resolve: no resource in questionnaires/, plandefinitions/ or profiles/ has this url`;
  }
  if (isKnownExternalCanonical(canonical)) return undefined;
  if (url.startsWith('http://hl7.org/fhir/')) return `canonical ${canonical} is not defined by FHIR R4 (typo?)`;
  return `canonical ${canonical} does not resolve in the knowledge base and is not a known HL7 or terminology canonical`;
}

function extensionProblem(url: string, kb: KnowledgeBase): string | undefined {
  if (url.startsWith(`${CANONICAL_BASE}/`)) {
    const sd = kb.resolve(url, 'StructureDefinition');
    if (!sd) return `extension ${url} has no StructureDefinition in profiles/`;
    return sd.type === 'Extension'
      ? undefined
      : `extension ${url} resolves to a StructureDefinition of type ${sd.type}, not Extension`;
  }
  if (url.startsWith('http://hl7.org/fhir/StructureDefinition/')) {
    return coreDefinitionType(url) === 'StructureDefinition'
      ? undefined
      : `extension ${url} is not defined by FHIR R4 (typo?)`;
  }
  if (isKnownExternalCanonical(url)) return undefined;
  return `extension ${url} is neither defined in profiles/ nor a known HL7 extension`;
}

interface Found {
  expression: string;
  value: string;
}

/** Absolute extension urls (nested extension urls such as `name` are relative, and skipped). */
function extensionUrls(resource: CanonicalResource): Found[] {
  const out: Found[] = [];
  walk(resource, resource.resourceType, (node, p, key) => {
    if (
      (key === 'extension' || key === 'modifierExtension') &&
      typeof node.url === 'string' &&
      /^[a-z]+:/.test(node.url)
    )
      out.push({ expression: `${p}.url`, value: node.url });
  });
  return out;
}

function codings(resource: CanonicalResource): Array<{ system: string; code: string; expression: string }> {
  const out: Array<{ system: string; code: string; expression: string }> = [];
  walk(resource, resource.resourceType, (node, p, key) => {
    if (typeof node.system === 'string' && typeof node.code === 'string' && key !== 'include' && key !== 'exclude')
      out.push({ system: node.system, code: node.code, expression: `${p}.code` });
    if ((key === 'include' || key === 'exclude') && typeof node.system === 'string' && Array.isArray(node.concept)) {
      (node.concept as Array<{ code?: unknown }>).forEach((c, i) => {
        if (typeof c?.code === 'string')
          out.push({ system: node.system as string, code: c.code, expression: `${p}.concept[${i}].code` });
      });
    }
  });
  return out;
}

/** ValueSet.compose.include/exclude.system (a uri, so not among the canonicals). */
function includedSystems(resource: CanonicalResource): Found[] {
  const out: Found[] = [];
  walk(resource, resource.resourceType, (node, p, key) => {
    if ((key === 'include' || key === 'exclude') && typeof node.system === 'string')
      out.push({ expression: `${p}.system`, value: node.system });
  });
  return out;
}

function codeProblem(system: string, code: string, kb: KnowledgeBase): string | undefined {
  if (system.startsWith(`${CANONICAL_BASE}/`)) {
    const cs = kb.resolve(system, 'CodeSystem');
    if (!cs) return `code system ${system} has no CodeSystem in the knowledge base`;
    if (cs.content === 'complete' && !flattenConcepts(cs.concept).includes(code))
      return `code ${JSON.stringify(code)} is not defined in CodeSystem ${system}`;
    return undefined;
  }
  return coreCodeSystemHasCode(system, code) === false
    ? `code ${JSON.stringify(code)} is not defined in ${system}`
    : undefined;
}

/** Visit every object (with its FHIRPath and the property it sits under), skipping snapshots and CodeSystem concepts. */
function walk(
  root: object,
  rootPath: string,
  visit: (node: Record<string, unknown>, p: string, key: string) => void,
): void {
  const go = (node: unknown, p: string, key: string): void => {
    if (Array.isArray(node)) {
      node.forEach((v, i) => go(v, `${p}[${i}]`, key));
      return;
    }
    if (node === null || typeof node !== 'object') return;
    const obj = node as Record<string, unknown>;
    visit(obj, p, key);
    for (const [k, v] of Object.entries(obj)) {
      if (k === 'snapshot') continue; // inherited from base definitions, not authored here
      go(v, `${p}.${k}`, k);
    }
  };
  go(root, rootPath, '');
}
