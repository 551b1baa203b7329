/**
 * The app factory: builds the Express app (no listen), so tests start it on port 0 and main.ts on PORT.
 * Everything a request passes through is here, in order: security headers, compression, the request log,
 * the FHIR JSON body reader (size, type, depth, hostile keys), the /fhir router, the error middleware.
 */
import compression from 'compression';
import express, { type Request, type RequestHandler } from 'express';
import helmet from 'helmet';
import type { SubjectDataSource } from './api/data-source.js';
import { fhirErrorHandler } from './platform/http/errors.js';
import { requestLogger } from './platform/http/request-log.js';
import { fhirJsonBody } from './platform/http/json-body.js';
import { createLogger, type Logger } from './platform/log.js';
import { createFhirRouter } from './api/router.js';
import type { SubmissionRoutesOptions } from './api/submit.js';
import type { Config } from './config/index.js';
import type { KnowledgeBase } from './knowledge/index.js';
import { notFound } from './outcomes/index.js';

export interface AppOptions {
  config: Config;
  knowledge: KnowledgeBase;
  /** Where $apply/$populate read the subject's data; omit for request data only. */
  dataSource?: SubjectDataSource;
  /** Per request instead (e.g. forwarding the caller's bearer token); wins over `dataSource`. */
  dataSourceFor?: (req: Request) => SubjectDataSource | undefined;
  /** The write path, where the server has one: /fhir then serves $submit, $submit-status and $outbox too. */
  submission?: SubmissionRoutesOptions;
  /** Other parts of the server (`/ehr`, `/app`), each with its own body handling and pages. */
  mounts?: ReadonlyArray<{ path: string; handler: RequestHandler }>;
  /** Where `GET /` sends a browser (default /fhir/metadata). */
  homePath?: string;
  logger?: Logger;
}

export function createApp(options: AppOptions): express.Express {
  const { config, knowledge } = options;
  const log = options.logger ?? createLogger(config.LOG_LEVEL);
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  // Behind a reverse proxy, req.ip is the client's only for the hops configured here (TRUST_PROXY).
  app.set('trust proxy', config.TRUST_PROXY);
  app.use(helmet());
  app.use(compression());
  app.use(requestLogger(log));

  const staticSource = options.dataSource;
  const dataSourceFor = options.dataSourceFor ?? (staticSource ? () => staticSource : undefined);
  app.use(
    '/fhir',
    fhirJsonBody({ limitBytes: config.BODY_LIMIT_BYTES, maxDepth: config.MAX_JSON_DEPTH }),
    createFhirRouter({
      knowledge,
      publicUrl: config.publicUrl,
      ...(dataSourceFor ? { dataSourceFor } : {}),
      ...(options.submission ? { submission: options.submission } : {}),
    }),
  );
  for (const mount of options.mounts ?? []) app.use(mount.path, mount.handler);

  const home = options.homePath ?? '/fhir/metadata';
  app.get('/', (_req, res) => {
    res.redirect(home);
  });
  app.use((req) => {
    throw notFound(`Nothing is served at ${req.path.slice(0, 200)}. The FHIR API is under /fhir (see /fhir/metadata).`);
  });
  app.use(fhirErrorHandler(log));
  return app;
}
