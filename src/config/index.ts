/**
 * All configuration, read from the environment once at start and validated with zod.
 * Every key is documented in README.md ("Configuration"); add new keys here and there together.
 */
import path from 'node:path';
import { z } from 'zod';

const port = z.coerce.number().int().min(0).max(65535);

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
  BODY_LIMIT_BYTES: z.coerce.number().int().min(1024).max(50 * 1024 * 1024).default(1024 * 1024),
  /** Deepest JSON nesting accepted in a request body (400 above it). */
  MAX_JSON_DEPTH: z.coerce.number().int().min(8).max(1000).default(64),
  /** Folder with the content (questionnaires/, plandefinitions/, profiles/, examples/). Default: the project root. */
  CONTENT_DIR: z.string().min(1).default('.'),
  /** `info` logs one line per request; `warn` only problems; `silent` nothing (tests). */
  LOG_LEVEL: z.enum(['debug', 'info', 'warn', 'error', 'silent']).default('info'),
  /** Base URL of a FHIR R4 server that `$apply`/`$populate` read the subject's data from. Unset: no server data, only what the request carries. */
  FHIR_SERVER_URL: z.string().url().optional(),
  /** Bearer token sent to FHIR_SERVER_URL (optional; for servers that need one). */
  FHIR_SERVER_TOKEN: z.string().min(1).optional(),
  /** How long one read from FHIR_SERVER_URL may take before the request fails with 504, in milliseconds. */
  FHIR_SERVER_TIMEOUT_MS: z.coerce.number().int().min(100).max(120_000).default(10_000),
});

export type Config = z.infer<typeof configSchema> & { publicUrl: string; dataDir: string; contentDir: string };

export class ConfigError extends Error {}

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
    contentDir: path.resolve(c.CONTENT_DIR),
  };
}
