/**
 * All configuration, read from the environment once at start and validated with zod.
 * Every key is documented in README.md ("Configuration"); add new keys here and there together.
 */
import { isIP } from 'node:net';
import path from 'node:path';
import { z } from 'zod';

const port = z.coerce.number().int().min(0).max(65535);

/**
 * Express `trust proxy`: which hops in front of this server may say who the client is (X-Forwarded-For), so
 * that `req.ip` (the tablet's wrong-code limit, the request log) is the client's, not the proxy's. `false`
 * (default): no proxy, X-Forwarded-For is ignored. A hop count (`1`: one reverse proxy), or a comma-separated
 * list of `loopback`, `linklocal`, `uniquelocal` and proxy addresses or CIDR ranges. `true` (trust every hop)
 * is refused: any client could then choose its own address.
 */
const PROXY_NAMES = new Set(['loopback', 'linklocal', 'uniquelocal']);
function isProxyAddress(part: string): boolean {
  if (PROXY_NAMES.has(part)) return true;
  const [address, prefix, ...rest] = part.split('/');
  const family = isIP(address ?? '');
  if (!family || rest.length) return false;
  return prefix === undefined || (/^\d{1,3}$/.test(prefix) && Number(prefix) <= (family === 4 ? 32 : 128));
}
export const trustProxy = z
  .string()
  .trim()
  .default('false')
  .transform((value, ctx): false | number | string => {
    if (value === 'false' || value === '0' || value === '') return false;
    if (/^\d{1,2}$/.test(value)) return Number(value);
    const parts = value.split(',').map((p) => p.trim());
    if (parts.every(isProxyAddress)) return parts.join(', ');
    ctx.addIssue({
      code: 'custom',
      message:
        value === 'true'
          ? '`true` would trust every hop, so any client could choose its address: give the number of proxies (e.g. 1) or their addresses'
          : 'expected false, a hop count (e.g. 1), or loopback / linklocal / uniquelocal / proxy addresses or CIDR ranges, comma-separated',
    });
    return z.NEVER;
  });

export const configSchema = z.object({
  /** TCP port to listen on; 0 picks a free port (tests). */
  PORT: port.default(3000),
  /** Interface to bind. Default loopback: nothing is exposed to the network unless asked. */
  HOST: z.string().min(1).default('127.0.0.1'),
  /** Folder for durable data (embedded FHIR store, outbox). Created if missing. */
  DATA_DIR: z.string().min(1).default('./data'),
  /** Public base URL of this server as browsers and API clients see it (no trailing slash). Default http://HOST:PORT. */
  PUBLIC_URL: z.string().url().optional(),
  /** Largest request body accepted, in bytes (413 above it). */
  BODY_LIMIT_BYTES: z.coerce
    .number()
    .int()
    .min(1024)
    .max(50 * 1024 * 1024)
    .default(1024 * 1024),
  /** Deepest JSON nesting accepted in a request body (400 above it). */
  MAX_JSON_DEPTH: z.coerce.number().int().min(8).max(1000).default(64),
  /** Folder with the content (questionnaires/, plandefinitions/, profiles/, examples/). Default: the project root. */
  CONTENT_DIR: z.string().min(1).default('.'),
  /** `info` logs one line per request; `warn` only problems; `silent` nothing (tests). */
  LOG_LEVEL: z.enum(['debug', 'info', 'warn', 'error', 'silent']).default('info'),
  /**
   * The EHR's FHIR R4 base URL (the clinic's server). Unset: the embedded sandbox EHR is started at /ehr and
   * used instead (its FHIR base is PUBLIC_URL/ehr/fhir). Submissions are written there, `$apply`/`$populate`
   * read the subject's data from it (with the caller's bearer token), and the app accepts launches from it.
   */
  FHIR_SERVER_URL: z.string().url().optional(),
  /**
   * A bearer token for reads from FHIR_SERVER_URL when the caller sends none (optional; avoid in production:
   * it lets any API caller read through the module). Without it, server data is read only with the caller's token.
   */
  FHIR_SERVER_TOKEN: z.string().min(1).optional(),
  /** How long one read from FHIR_SERVER_URL may take before the request fails with 504, in milliseconds. */
  FHIR_SERVER_TIMEOUT_MS: z.coerce.number().int().min(100).max(120_000).default(10_000),
  /** The clinician app's SMART client id, as registered with the EHR. */
  SMART_CLIENT_ID: z.string().min(1).default('periplan-app'),
  /** Its client secret (confidential client). Unset with the embedded EHR: a random one per start. */
  SMART_CLIENT_SECRET: z.string().min(16).optional(),
  /** FHIR base URLs (`iss`) the app accepts launches from, comma-separated. Default: the EHR's FHIR base. */
  SMART_ALLOWED_ISSUERS: z.string().min(1).optional(),
  /**
   * The module's own SMART Backend Services client at the EHR (client credentials), used to retry queued
   * submissions after the user's token is gone. With the embedded EHR it is registered automatically.
   */
  MODULE_CLIENT_ID: z.string().min(1).optional(),
  MODULE_CLIENT_SECRET: z.string().min(16).optional(),
  /** Scopes the module asks for (space-separated). */
  MODULE_CLIENT_SCOPES: z
    .string()
    .min(1)
    .default(
      'system/QuestionnaireResponse.crus system/Flag.crus system/ServiceRequest.crus system/CarePlan.crs system/Provenance.crs system/Observation.crs',
    ),
  /** Minutes during which a clinician may undo their own accept, dismiss or flag outcome (a new recorded act). */
  UNDO_WINDOW_MINUTES: z.coerce
    .number()
    .min(0)
    .max(24 * 60)
    .default(10),
  /** Reverse proxies in front of this server whose X-Forwarded-For is believed (Express `trust proxy`); see `trustProxy`. */
  TRUST_PROXY: trustProxy,
  /**
   * How long a stop (SIGTERM/SIGINT) may take: in-flight requests finish and the stores close within it; past
   * it the process exits 1 regardless. Keep it below the supervisor's kill timeout (systemd: TimeoutStopSec).
   */
  SHUTDOWN_TIMEOUT_MS: z.coerce.number().int().min(100).max(600_000).default(20_000),
  /**
   * PostgreSQL for the module's own state (outbox, sessions and drafts, tablet codes and sessions, live alerts),
   * shared by replicas: `postgres://user:password@host:5432/database`. Unset: SQLite under DATA_DIR.
   */
  DATABASE_URL: z
    .string()
    .trim()
    .url()
    .refine(
      (u) => /^postgres(ql)?:\/\//i.test(u),
      'expected postgres://user:password@host:port/database (or postgresql://)',
    )
    .optional(),
  /** Connections in this process's PostgreSQL pool (with DATABASE_URL). */
  DATABASE_POOL_SIZE: z.coerce.number().int().min(2).max(200).default(10),
  /** Longest a PostgreSQL statement may run before the server cancels it, in milliseconds (with DATABASE_URL). */
  DATABASE_STATEMENT_TIMEOUT_MS: z.coerce.number().int().min(100).max(600_000).default(5000),
  /**
   * How long one send attempt owns an outbox entry before another sender (of this or another replica) may take
   * it, in milliseconds. Default: 4 × the write timeout + 5 s (65 s). A replica killed mid-send gives its
   * entries up when the lease ends; keep it well above the longest attempt (a token, a search, a transaction).
   */
  OUTBOX_LEASE_MS: z.coerce.number().int().min(1000).max(3_600_000).optional(),
  /** Bearer token that staff tools present to read the outbox (`GET /fhir/$outbox`). Unset with an external EHR: the view is off. */
  OUTBOX_STAFF_TOKEN: z.string().min(24).optional(),
});

export type Config = z.infer<typeof configSchema> & { publicUrl: string; dataDir: string; contentDir: string };

export class ConfigError extends Error {}

/** The content folder (CONTENT_DIR, the working directory by default), as an absolute path. */
export function contentDirOf(env: { CONTENT_DIR?: string | undefined }): string {
  return path.resolve(env.CONTENT_DIR || '.');
}

/** Parse configuration from an environment-like object. Throws ConfigError naming each bad key. */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const parsed = configSchema.safeParse(env);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`);
    throw new ConfigError(`Invalid configuration:\n${lines.join('\n')}`);
  }
  const c = parsed.data;
  const shownHost = c.HOST === '0.0.0.0' || c.HOST === '::' ? '127.0.0.1' : c.HOST;
  return {
    ...c,
    publicUrl: (c.PUBLIC_URL ?? `http://${shownHost}:${c.PORT}`).replace(/\/+$/, ''),
    dataDir: path.resolve(c.DATA_DIR),
    contentDir: contentDirOf(c),
  };
}
