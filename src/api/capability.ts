/**
 * The CapabilityStatement served at /fhir/metadata.
 *
 * The descriptive header (name, title, publisher, description, ...) comes from the content
 * (`profiles/CapabilityStatement-periplan-module.json`) when present. The `rest` part is generated from
 * the route table (routes.ts), so it says exactly what the router does; documentation, profiles and
 * OperationDefinition canonicals written in the content are carried over where they describe a route
 * that exists. `url` and `implementation.url` are set to this server's public URL, `date` to start time.
 */
import type { KnowledgeBase } from '../knowledge/index.js';
import { ARTIFACT_TYPES, OPERATION_ROUTES, SEARCH_PARAMS, type WriteOperationRoute } from './routes.js';

type RestResource = fhir4.CapabilityStatementRestResource;
/** R4 types with their own url/version/status/name SearchParameters; the others share `conformance-*`. */
const OWN_SEARCH_PARAMETERS = new Set(['Questionnaire', 'PlanDefinition', 'ActivityDefinition', 'Library']);

/** The search parameters of an artifact type, with the content's definitions and documentation where written. */
function artifactSearchParams(
  type: string,
  w: RestResource | undefined,
): fhir4.CapabilityStatementRestResourceSearchParam[] {
  return SEARCH_PARAMS.map((p) => {
    const ws = w?.searchParam?.find((s) => s.name === p.name);
    return {
      name: p.name,
      definition:
        ws?.definition ??
        `http://hl7.org/fhir/SearchParameter/${OWN_SEARCH_PARAMETERS.has(type) ? type : 'conformance'}-${p.name}`,
      type: p.type,
      ...(ws?.documentation ? { documentation: ws.documentation } : {}),
    };
  });
}

/** The operations routed on a type (with the content's canonical and documentation where written), then the write path's. */
function resourceOperations(
  type: string,
  w: RestResource | undefined,
  extraOperations: readonly WriteOperationRoute[],
): fhir4.CapabilityStatementRestResourceOperation[] {
  const ops = OPERATION_ROUTES.filter((o) => o.resource === type);
  const extra = extraOperations.filter((o) => o.resource === type);
  return [
    ...ops.map((o) => {
      const wo = w?.operation?.find((x) => x.name === o.name);
      const levels = [
        o.typeLevel ? `POST /fhir/${type}/$${o.name}` : '',
        o.instanceLevel ? `POST /fhir/${type}/{id}/$${o.name}` : '',
      ]
        .filter(Boolean)
        .join(' and ');
      return {
        name: o.name,
        definition: wo?.definition ?? o.definition,
        documentation: wo?.documentation ?? levels,
      };
    }),
    ...extra.map((o) => ({ name: o.name, definition: o.definition, documentation: o.documentation })),
  ];
}

/** One type's entry in `rest.resource`: what the content wrote about it, then what the routes serve. */
function restResource(
  type: string,
  w: RestResource | undefined,
  extraOperations: readonly WriteOperationRoute[],
): RestResource {
  const out: RestResource = { type: type as RestResource['type'] };
  if (w?.profile) out.profile = w.profile;
  if (w?.supportedProfile) out.supportedProfile = w.supportedProfile;
  if (w?.documentation) out.documentation = w.documentation;
  if ((ARTIFACT_TYPES as readonly string[]).includes(type)) {
    out.interaction = [{ code: 'read' }, { code: 'search-type' }];
    out.versioning = 'no-version';
    out.readHistory = false;
    out.searchParam = artifactSearchParams(type, w);
  }
  const operations = resourceOperations(type, w, extraOperations);
  if (operations.length > 0) out.operation = operations;
  return out;
}

/** `writeOperations`: the write path's operations this server serves (none for the FHIR API alone). */
export function buildCapabilityStatement(
  knowledge: KnowledgeBase,
  publicUrl: string,
  date: Date,
  writeOperations: readonly WriteOperationRoute[] = [],
): fhir4.CapabilityStatement {
  const extraOperations = writeOperations.filter((o) => o.declared);
  const written = knowledge.ofType('CapabilityStatement')[0];
  const writtenRest = written?.rest?.find((r) => r.mode === 'server');
  const writtenResource = (type: string) => writtenRest?.resource?.find((r) => r.type === type);

  const types = [
    ...new Set<string>([
      ...ARTIFACT_TYPES,
      ...OPERATION_ROUTES.map((o) => o.resource),
      ...extraOperations.flatMap((o) => (o.resource ? [o.resource] : [])),
    ]),
  ];
  const resources = types.map((type) => restResource(type, writtenResource(type), extraOperations));

  const header: Partial<fhir4.CapabilityStatement> = written ? { ...written } : {};
  delete header.rest;
  const described = descriptionOrDefaults(written);
  return {
    ...header,
    resourceType: 'CapabilityStatement',
    id: described.id,
    url: `${publicUrl}/fhir/metadata`,
    name: described.name,
    title: described.title,
    status: described.status,
    date: date.toISOString(),
    kind: 'instance',
    software: described.software,
    implementation: { ...described.implementation, url: `${publicUrl}/fhir` },
    fhirVersion: '4.0.1',
    format: ['json'],
    rest: [serverRest(writtenRest, resources, extraOperations)],
  };
}

/** What the content's CapabilityStatement says about the module, with defaults for what it does not. */
function descriptionOrDefaults(written: fhir4.CapabilityStatement | undefined) {
  return {
    id: written?.id ?? 'periplan-module',
    name: written?.name ?? 'PeriPlanModule',
    title: written?.title ?? 'PeriPlan back-pain module FHIR API',
    status: written?.status ?? 'active',
    software: written?.software ?? { name: 'PeriPlan back-pain module' },
    implementation: written?.implementation ?? { description: 'PeriPlan back-pain module FHIR API (/fhir)' },
  };
}

/** The server's `rest` entry: the resources, and the write path's system-level operations. */
function serverRest(
  writtenRest: fhir4.CapabilityStatementRest | undefined,
  resources: RestResource[],
  extraOperations: readonly WriteOperationRoute[],
): fhir4.CapabilityStatementRest {
  return {
    mode: 'server',
    documentation:
      writtenRest?.documentation ??
      'Every 4xx and 5xx is an OperationOutcome with a plain-English diagnostics and, where an element is at fault, issue.expression (FHIRPath).',
    resource: resources,
    ...(extraOperations.some((o) => !o.resource)
      ? {
          operation: extraOperations
            .filter((o) => !o.resource)
            .map((o) => ({ name: o.name, definition: o.definition, documentation: o.documentation })),
        }
      : {}),
  };
}
