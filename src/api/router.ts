/**
 * The /fhir router. Registers exactly what routes.ts lists; every other path is a 404 and every other
 * method on a known path a 405 (both OperationOutcomes, via the error middleware).
 */
import express, { type Request } from 'express';
import { isKnowledgeType, type KnowledgeBase } from '../knowledge/index.js';
import { FhirError, methodNotAllowed, notFound } from '../outcomes/index.js';
import { buildCapabilityStatement } from './capability.js';
import type { SubjectDataSource } from './data-source.js';
import { fhirRoute } from '../platform/http/fhir-route.js';
import {
  applyOperation,
  extractOperation,
  populateOperation,
  validateOperation,
  type OperationContext,
} from './operations.js';
import {
  ARTIFACT_TYPES,
  OPERATION_ROUTES,
  WRITE_OPERATION_ROUTES,
  writeOperationPath,
  type OperationRoute,
} from './routes.js';
import { writeOperationHandlers, type SubmissionRoutesOptions } from './submit.js';
import { applySummary, parseSummary, searchArtifacts } from './search.js';
import { printable } from '../platform/text.js';

export interface FhirRouterOptions {
  knowledge: KnowledgeBase;
  publicUrl: string;
  /**
   * Where $apply/$populate read the subject's data for THIS request, or undefined when no server data
   * can be read for it (no FHIR server configured, or no credential to read it with).
   */
  dataSourceFor?: (req: Request) => SubjectDataSource | undefined;
  /** The write path, where the server has one: then $submit, $submit-status and $outbox are served too. */
  submission?: SubmissionRoutesOptions;
}

const FHIR_ID = /^[A-Za-z0-9\-.]{1,64}$/;
const JSON_FORMATS = new Set(['json', 'application/json', 'application/fhir+json']);

/** JSON is the only format; asking for another one explicitly (`_format=xml`) gets a clear 406. */
function rejectNonJsonFormat(req: Request, _res: express.Response, next: express.NextFunction): void {
  const format = req.query._format;
  if (
    format !== undefined &&
    !(typeof format === 'string' && JSON_FORMATS.has(format.split(';')[0]!.trim().toLowerCase().replace(/ /g, '+')))
  ) {
    throw new FhirError(406, {
      code: 'not-supported',
      diagnostics: `Only JSON is served (_format=json or application/fhir+json); got _format=${printable(format).slice(0, 60)}.`,
    });
  }
  next();
}

/** GET /fhir/{type}: search one artifact type. */
function searchHandler(knowledge: KnowledgeBase, fhirBase: string) {
  return (req: Request) => {
    const type = artifactType(req.params.type as string);
    const bundle = searchArtifacts(knowledge, type, req.query, {
      typeUrl: `${fhirBase}/${type}`,
      fhirBase,
      strict: /(^|[;,\s])handling\s*=\s*strict\b/i.test(req.get('prefer') ?? ''),
    });
    return { resource: bundle };
  };
}

/** GET /fhir/{type}/{id}: read one artifact (ids that cannot be FHIR ids are simply not found). */
function readHandler(knowledge: KnowledgeBase) {
  return (req: Request) => {
    const type = artifactType(req.params.type as string);
    const id = req.params.id as string;
    const resource = FHIR_ID.test(id) ? knowledge.read(type, id) : undefined;
    if (!resource) throw notFound(`There is no ${type} with id '${id.slice(0, 64)}'.`);
    return { resource: applySummary(resource, parseSummary(req.query as Record<string, unknown>)) };
  };
}

export function createFhirRouter(options: FhirRouterOptions): express.Router {
  const { knowledge, publicUrl } = options;
  const fhirBase = `${publicUrl}/fhir`;
  const contextFor = (req: Request): OperationContext => {
    const dataSource = options.dataSourceFor?.(req);
    return { knowledge, ...(dataSource ? { dataSource } : {}) };
  };
  const router = express.Router({ caseSensitive: true, strict: false });
  const writeOperations = options.submission ? WRITE_OPERATION_ROUTES : [];
  const capabilityStatement = buildCapabilityStatement(knowledge, publicUrl, new Date(), writeOperations);

  const only = (path: string, allow: string) =>
    router.all(path, () => {
      throw Object.assign(methodNotAllowed(`This endpoint accepts ${allow} only.`), { allow });
    });

  router.use(rejectNonJsonFormat);

  router.get(
    '/metadata',
    fhirRoute(() => ({ resource: capabilityStatement })),
  );
  only('/metadata', 'GET');

  for (const op of OPERATION_ROUTES) {
    if (op.typeLevel) {
      router.post(
        `/${op.resource}/$${op.name}`,
        fhirRoute((req) => runOperation(contextFor(req), op, req)),
      );
      only(`/${op.resource}/$${op.name}`, 'POST');
    }
    if (op.instanceLevel) {
      router.post(
        `/${op.resource}/:id/$${op.name}`,
        fhirRoute((req) => runOperation(contextFor(req), op, req)),
      );
      only(`/${op.resource}/:id/$${op.name}`, 'POST');
    }
  }

  if (options.submission) {
    const handlers = writeOperationHandlers(options.submission);
    for (const op of writeOperations) {
      const path = writeOperationPath(op);
      if (op.method === 'GET') router.get(path, fhirRoute(handlers[op.name]));
      else router.post(path, fhirRoute(handlers[op.name]));
    }
  }

  router.get('/:type', fhirRoute(searchHandler(knowledge, fhirBase)));
  router.all('/:type', (req) => {
    artifactType(req.params.type);
    throw Object.assign(methodNotAllowed(`${req.params.type} supports GET (search) only.`), { allow: 'GET' });
  });

  router.get('/:type/:id', fhirRoute(readHandler(knowledge)));
  router.all('/:type/:id', (req) => {
    artifactType(req.params.type);
    throw Object.assign(methodNotAllowed(`${req.params.type} resources are read-only here (GET).`), { allow: 'GET' });
  });

  router.all('/*splat', (req) => {
    throw notFound(
      `There is no FHIR endpoint ${req.method} /fhir${req.path.slice(0, 200)}. See /fhir/metadata for what this server supports.`,
    );
  });
  return router;
}

function artifactType(type: string): (typeof ARTIFACT_TYPES)[number] {
  if ((ARTIFACT_TYPES as readonly string[]).includes(type) && isKnowledgeType(type))
    return type as (typeof ARTIFACT_TYPES)[number];
  throw new FhirError(404, {
    code: 'not-supported',
    diagnostics: `This server does not serve the resource type '${type.slice(0, 64)}'. It serves ${ARTIFACT_TYPES.join(', ')}.`,
  });
}

async function runOperation(ctx: OperationContext, op: OperationRoute, req: Request) {
  const id = req.params.id as string | undefined;
  const body: unknown = req.body;
  switch (op.name) {
    case 'apply': {
      const url = typeof req.query.url === 'string' ? req.query.url : undefined;
      return {
        resource: await applyOperation(ctx, {
          body,
          ...(id !== undefined ? { id } : {}),
          ...(url !== undefined ? { queryUrl: url } : {}),
        }),
      };
    }
    case 'validate':
      return { resource: validateOperation(ctx, body) };
    case 'extract':
      return { resource: await extractOperation(ctx, body) };
    case 'populate':
      return { resource: await populateOperation(ctx, { body, ...(id !== undefined ? { id } : {}) }) };
  }
}
