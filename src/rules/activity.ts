/**
 * ActivityDefinition $apply, for what the content uses: the produced resource starts from the AD's
 * template (a contained resource named by the `ext-template` extension; otherwise an empty resource of
 * `kind`), takes the AD's code, subject, priority and canonical, then `dynamicValue`s (AD first, then the
 * PlanDefinition action's), then `cqf-expression`s on any element of it or of the companion resources the
 * template references (e.g. the Flag a report-flag Task carries).
 *
 * Safety invariant, enforced here and not left to content: whatever the content says, requests come out as
 * proposals (`intent = proposal`, `status = draft`). Nothing is ordered.
 */
import type { FhirPathEnv } from '../fhirpath/index.js';
import { unprocessable } from '../outcomes/index.js';
import { evaluate, extendEnvironment } from './context.js';
import { EXT_CQF_EXPRESSION, EXT_TEMPLATE, type RequestPriority } from './vocabulary.js';

type Json = Record<string, unknown>;

export interface ActivityContext {
  /** Id for the produced resource; companions get `<id>-<their template id>`. */
  id: string;
  subjectReference: string;
  priority: RequestPriority | undefined;
  authoredOn: string;
  env: FhirPathEnv;
  /** The PlanDefinition action being applied (its dynamicValues run after the AD's). */
  action: fhir4.PlanDefinitionAction;
}

/** Request kinds that carry intent/status and take the proposal invariant. */
const REQUEST_KINDS = new Set([
  'ServiceRequest',
  'Task',
  'CommunicationRequest',
  'MedicationRequest',
  'DeviceRequest',
  'NutritionOrder',
  'SupplyRequest',
  'VisionPrescription',
  'CarePlan',
  'Appointment',
]);
const HAS_INTENT = new Set([
  'ServiceRequest',
  'Task',
  'MedicationRequest',
  'DeviceRequest',
  'NutritionOrder',
  'SupplyRequest',
  'VisionPrescription',
  'CarePlan',
]);
const HAS_INSTANTIATES_ARRAY = new Set(['ServiceRequest', 'MedicationRequest', 'NutritionOrder', 'CarePlan']);
const HAS_PRIORITY = new Set([
  'ServiceRequest',
  'Task',
  'CommunicationRequest',
  'MedicationRequest',
  'DeviceRequest',
  'SupplyRequest',
]);
const HAS_CODE = new Set(['ServiceRequest', 'Task', 'CarePlan']);
const HAS_AUTHORED_ON = new Set([
  'ServiceRequest',
  'Task',
  'CommunicationRequest',
  'MedicationRequest',
  'DeviceRequest',
]);

/**
 * Deep copy of JSON content (templates are applied per rule and must not be changed in the knowledge base).
 * `for…in` rather than Object.entries (≈3× faster, no pair arrays): parsed JSON has no inherited keys.
 */
function clone<T>(value: T): T {
  if (Array.isArray(value)) return value.map(clone) as T;
  if (value === null || typeof value !== 'object') return value;
  const copy: Json = {};
  for (const key in value) {
    const v = (value as Json)[key];
    if (v !== undefined) copy[key] = clone(v);
  }
  return copy as T;
}

function templateOf(ad: fhir4.ActivityDefinition): { template: Json | undefined; companions: Json[] } {
  const contained = (ad.contained ?? []) as unknown as Json[];
  const ref = ad.extension?.find((e) => e.url === EXT_TEMPLATE)?.valueReference?.reference;
  const templateId = ref?.startsWith('#') ? ref.slice(1) : undefined;
  const template = templateId ? contained.find((r) => r.id === templateId) : undefined;
  if (templateId && !template) {
    throw unprocessable({
      code: 'processing',
      diagnostics: `ActivityDefinition ${ad.url ?? ad.id} names template #${templateId}, which it does not contain.`,
    });
  }
  return {
    template: template ? clone(template) : undefined,
    companions: contained.filter((r) => r !== template).map(clone),
  };
}

/** Apply an ActivityDefinition: the produced resource first, then its companions. */
export function applyActivityDefinition(ad: fhir4.ActivityDefinition, ctx: ActivityContext): fhir4.FhirResource[] {
  const kind = kindOf(ad);
  const { template, companions } = templateOf(ad);
  const resource: Json = { ...(template ?? {}), resourceType: kind, id: ctx.id };
  const priority = ad.priority ?? ctx.priority;
  setDefinitionElements(resource, kind, ad);
  setRequestElements(resource, kind, ad, ctx, priority);

  const owner = `ActivityDefinition ${ad.url ?? ad.id}`;
  const env = extendEnvironment(ctx.env, { action: { ...ctx.action, priority } });
  applyDynamicValues(resource, ad.dynamicValue ?? [], env, owner);
  applyDynamicValues(
    resource,
    ctx.action.dynamicValue ?? [],
    env,
    `PlanDefinition action ${ctx.action.id ?? ctx.action.title ?? ''}`,
  );

  const renamed = renameCompanions(companions, ctx.id);
  const all = [resource, ...companions];
  for (const r of all) {
    rewriteLocalReferences(r, renamed);
    resolveCqfExpressions(r, env, owner);
    prune(r);
  }

  makeProposal(resource, kind);
  return all.map(headerFirst) as unknown as fhir4.FhirResource[];
}

function kindOf(ad: fhir4.ActivityDefinition): string {
  if (!ad.kind)
    throw unprocessable({ code: 'processing', diagnostics: `ActivityDefinition ${ad.url ?? ad.id} has no kind.` });
  return ad.kind;
}

/** `url|version` when the AD has a version, its url alone otherwise. */
function canonicalOf(ad: fhir4.ActivityDefinition): string | undefined {
  if (!ad.url) return undefined;
  return ad.version ? `${ad.url}|${ad.version}` : ad.url;
}

/** What the produced resource takes from the AD as a definition: profile, canonical and code. */
function setDefinitionElements(resource: Json, kind: string, ad: fhir4.ActivityDefinition): void {
  const canonical = canonicalOf(ad);
  if (ad.profile) resource.meta = { ...(resource.meta ?? {}), profile: [ad.profile] };
  if (canonical && HAS_INSTANTIATES_ARRAY.has(kind)) resource.instantiatesCanonical = [canonical];
  if (canonical && kind === 'Task') resource.instantiatesCanonical = canonical;
  if (ad.code && HAS_CODE.has(kind)) resource.code = clone(ad.code);
}

/** Who the request is for, how urgent, when it was authored and whether it is a do-not-perform. */
function setRequestElements(
  resource: Json,
  kind: string,
  ad: fhir4.ActivityDefinition,
  ctx: ActivityContext,
  priority: RequestPriority | undefined,
): void {
  if (kind === 'Task') resource.for = { reference: ctx.subjectReference };
  else if (kind !== 'Appointment') resource.subject = { reference: ctx.subjectReference };
  if (priority && HAS_PRIORITY.has(kind)) resource.priority = priority;
  if (HAS_AUTHORED_ON.has(kind)) resource.authoredOn = ctx.authoredOn;
  if (ad.doNotPerform) resource.doNotPerform = true;
}

/** Companions get ids derived from the produced one; the returned map renames local references to them. */
function renameCompanions(companions: Json[], id: string): Map<string, string> {
  const renamed = new Map<string, string>();
  for (const c of companions) {
    const newId = `${id}-${String(c.id)}`;
    renamed.set(`#${String(c.id)}`, `#${newId}`);
    c.id = newId;
  }
  return renamed;
}

/** The safety invariant: whatever the content says, a request comes out as a draft proposal. */
function makeProposal(resource: Json, kind: string): void {
  if (!REQUEST_KINDS.has(kind)) return;
  resource.status = 'draft';
  if (HAS_INTENT.has(kind)) resource.intent = 'proposal';
}

/** resourceType, id and meta first, as people expect to read them. */
function headerFirst(resource: Json): Json {
  const { resourceType, id, meta, ...rest } = resource;
  return { resourceType, id, ...(meta === undefined ? {} : { meta }), ...rest };
}

/** dynamicValue: a simple dotted path (JSON names, optional `[n]`) set from the expression's result. */
function applyDynamicValues(
  resource: Json,
  dynamicValues: Array<{ path?: string; expression?: fhir4.Expression }>,
  env: FhirPathEnv,
  owner: string,
): void {
  for (const dv of dynamicValues) {
    if (!dv.path || !dv.expression?.expression) continue;
    const result = evaluate(
      dv.expression.expression,
      extendEnvironment(env, { resource }),
      `dynamicValue ${dv.path} of ${owner}`,
    );
    setPath(resource, dv.path, result.length === 0 ? undefined : result.length === 1 ? result[0] : result);
  }
}

function setPath(target: Json, path: string, value: unknown): void {
  const segments = path.split('.').map((s) => {
    const m = /^([A-Za-z_][A-Za-z0-9_]*)(?:\[(\d+)\])?$/.exec(s);
    if (!m)
      throw unprocessable({
        code: 'processing',
        diagnostics: `dynamicValue path ${JSON.stringify(path)} is not a simple path.`,
      });
    return { name: m[1]!, index: m[2] === undefined ? undefined : Number(m[2]) };
  });
  let node: Json = target;
  segments.forEach((seg, i) => {
    const last = i === segments.length - 1;
    if (seg.index !== undefined) {
      const arr = (Array.isArray(node[seg.name]) ? node[seg.name] : (node[seg.name] = [])) as unknown[];
      if (last) {
        if (value === undefined) arr.splice(seg.index, 1);
        else arr[seg.index] = value;
        return;
      }
      node = (arr[seg.index] ??= {}) as Json;
      return;
    }
    if (last) {
      if (value === undefined) delete node[seg.name];
      else node[seg.name] = value;
      return;
    }
    node = (node[seg.name] ??= {}) as Json;
  });
}

function rewriteLocalReferences(node: unknown, renamed: Map<string, string>): void {
  if (renamed.size === 0 || node === null || typeof node !== 'object') return;
  if (Array.isArray(node)) {
    node.forEach((n) => rewriteLocalReferences(n, renamed));
    return;
  }
  const obj = node as Json;
  for (const key in obj) {
    const value = obj[key];
    if (key === 'reference' && typeof value === 'string' && renamed.has(value)) obj[key] = renamed.get(value);
    else rewriteLocalReferences(value, renamed);
  }
}

/**
 * An element `x` whose primitive extension (`_x`) carries a cqf-expression gets the expression's value;
 * the cqf-expression itself is dropped from the output (other extensions on `_x` stay).
 */
function resolveCqfExpressions(node: unknown, env: FhirPathEnv, owner: string): void {
  if (node === null || typeof node !== 'object') return;
  if (Array.isArray(node)) {
    node.forEach((n) => resolveCqfExpressions(n, env, owner));
    return;
  }
  const obj = node as Json;
  for (const key of Object.keys(obj)) {
    const value = obj[key];
    if (key.startsWith('_') && value && typeof value === 'object' && !Array.isArray(value)) {
      const ext = (value as { extension?: fhir4.Extension[] }).extension ?? [];
      const cqf = ext.find((e) => e.url === EXT_CQF_EXPRESSION)?.valueExpression?.expression;
      if (cqf !== undefined) {
        const result = evaluate(cqf, env, `cqf-expression on ${key.slice(1)} in ${owner}`);
        const name = key.slice(1);
        if (result.length > 0) obj[name] = result[0];
        else delete obj[name];
        const rest = ext.filter((e) => e.url !== EXT_CQF_EXPRESSION);
        if (rest.length > 0) (value as { extension?: fhir4.Extension[] }).extension = rest;
        else delete obj[key];
        continue;
      }
    }
    resolveCqfExpressions(value, env, owner);
  }
}

/** Drop what evaluation left empty: empty objects/arrays, extensions without a value or sub-extensions. */
function prune(node: unknown): boolean {
  if (node === null || node === undefined) return true;
  if (Array.isArray(node)) {
    for (let i = node.length - 1; i >= 0; i--) if (prune(node[i])) node.splice(i, 1);
    return node.length === 0;
  }
  if (typeof node !== 'object') return false;
  const obj = node as Json;
  for (const key of Object.keys(obj)) if (prune(obj[key])) delete obj[key];
  const keys = Object.keys(obj);
  if (keys.length === 0) return true;
  // An extension reduced to its url has lost its value.
  return keys.length === 1 && keys[0] === 'url' && typeof obj.url === 'string' && obj.url.startsWith('http');
}
