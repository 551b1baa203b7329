/**
 * Reading FHIR `Parameters` bodies of operations, with zod, so every complaint names the element at fault
 * (e.g. `Parameters.parameter[1].resource`).
 */
import { z } from 'zod';
import { badRequest } from '../outcomes/index.js';

const parameterSchema = z
  .object({
    name: z.string().min(1),
    valueString: z.string().optional(),
    valueBoolean: z.boolean().optional(),
    valueUri: z.string().optional(),
    valueCanonical: z.string().optional(),
    valueUrl: z.string().optional(),
    valueReference: z.object({ reference: z.string().optional() }).loose().optional(),
    resource: z
      .object({ resourceType: z.string().min(1) })
      .loose()
      .optional(),
    part: z.array(z.unknown()).optional(),
  })
  .loose();
export type Parameter = z.infer<typeof parameterSchema>;

const parametersSchema = z
  .object({ resourceType: z.literal('Parameters'), parameter: z.array(z.unknown()).optional() })
  .loose();

export interface ParameterAt {
  parameter: Parameter;
  /** FHIRPath of this parameter, e.g. `Parameters.parameter[2]`. */
  path: string;
}

/** A body that must be a Parameters resource -> its parameters, each with its path. */
export function readParameters(body: unknown, operation: string): ParameterAt[] {
  if (body === undefined) throw badRequest(`${operation} needs a Parameters resource as the request body.`);
  const root = describeRoot(body);
  if (root !== 'Parameters')
    throw badRequest(
      `${operation} expects a Parameters resource; got ${root}.`,
      root === 'a JSON value without resourceType' ? undefined : root,
    );
  const parsed = parametersSchema.safeParse(body);
  if (!parsed.success) throw badRequest(`Parameters.parameter must be an array.`, 'Parameters.parameter');
  return readParameterList(parsed.data.parameter ?? [], 'Parameters.parameter');
}

/** Also used for `part` lists nested in a parameter. */
export function readParameterList(list: unknown[], basePath: string): ParameterAt[] {
  return list.map((raw, i) => {
    const path = `${basePath}[${i}]`;
    const parsed = parameterSchema.safeParse(raw);
    if (!parsed.success) {
      const first = parsed.error.issues[0]!;
      const where = first.path.length > 0 ? `${path}.${first.path.join('.')}` : path;
      throw badRequest(`${where}: ${first.message}.`, where);
    }
    return { parameter: parsed.data, path };
  });
}

/** The resourceType of a JSON body, or a phrase describing what it is instead. */
export function describeRoot(body: unknown): string {
  const type = (body as { resourceType?: unknown } | null)?.resourceType;
  if (
    typeof body === 'object' &&
    body !== null &&
    !Array.isArray(body) &&
    typeof type === 'string' &&
    /^[A-Za-z]{1,64}$/.test(type)
  )
    return type;
  return 'a JSON value without resourceType';
}

/** Check that only known parameter names appear, and each at most `max` times. */
export function checkNames(
  params: ParameterAt[],
  allowed: Record<string, { max?: number }>,
  ignored: readonly string[] = [],
): void {
  const seen = new Map<string, number>();
  for (const { parameter, path } of params) {
    if (ignored.includes(parameter.name)) continue;
    const rule = allowed[parameter.name];
    if (!rule || !Object.prototype.hasOwnProperty.call(allowed, parameter.name)) {
      throw badRequest(
        `Unknown parameter '${parameter.name.slice(0, 60)}'. Expected: ${Object.keys(allowed).join(', ')}.`,
        `${path}.name`,
      );
    }
    const n = (seen.get(parameter.name) ?? 0) + 1;
    seen.set(parameter.name, n);
    if (n > (rule.max ?? 1))
      throw badRequest(`The parameter '${parameter.name}' may appear at most ${rule.max ?? 1} time(s).`, path);
  }
}

export function find(params: ParameterAt[], name: string): ParameterAt | undefined {
  return params.find((p) => p.parameter.name === name);
}

/** The single value[x] of a parameter, which must be of one of the given kinds. */
export function valueOf(
  p: ParameterAt,
  kinds: ReadonlyArray<'valueString' | 'valueBoolean' | 'valueUri' | 'valueCanonical' | 'valueUrl' | 'valueReference'>,
): { kind: string; value: unknown } {
  const present = Object.keys(p.parameter).filter((k) => k.startsWith('value') || k === 'resource');
  const hit = present.find((k) => (kinds as readonly string[]).includes(k));
  if (!hit || present.length !== 1) {
    const got = present.length === 0 ? 'no value' : present.join(', ');
    throw badRequest(
      `The parameter '${p.parameter.name}' needs ${kinds.join(' or ')}; got ${got}.`,
      present.length === 1 ? `${p.path}.${present[0]}` : p.path,
    );
  }
  return { kind: hit, value: (p.parameter as Record<string, unknown>)[hit] };
}

/** The resource of a parameter, which must be of the given type. */
export function resourceOf<T extends fhir4.FhirResource>(p: ParameterAt, type: T['resourceType']): T {
  const r = p.parameter.resource;
  if (!r) throw badRequest(`The parameter '${p.parameter.name}' needs a ${type} in 'resource'.`, `${p.path}.resource`);
  if (r.resourceType !== type)
    throw badRequest(
      `The parameter '${p.parameter.name}' must hold a ${type}; got ${String(r.resourceType).slice(0, 64)}.`,
      `${p.path}.resource`,
    );
  return r as unknown as T;
}
