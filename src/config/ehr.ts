/**
 * Configuration of the sandbox EHR run on its own (`npm run ehr`, src/ehr/main.ts), read once at start and
 * validated with zod. Module replicas then use it as their FHIR server (FHIR_SERVER_URL = its `/ehr/fhir`).
 * Every key is documented in README.md ("Beyond one machine").
 */
import path from 'node:path';
import { z } from 'zod';

export const ehrConfigSchema = z.object({
  /** TCP port; 0 picks a free one. */
  PORT: z.coerce.number().int().min(0).max(65535).default(3100),
  /** Interface to bind (loopback unless asked). */
  HOST: z.string().min(1).default('127.0.0.1'),
  /** Where the EHR keeps its FHIR store, grants and keys (`DATA_DIR/ehr`). */
  DATA_DIR: z.string().min(1).default('./data-ehr'),
  /** The EHR's own base URL as browsers and the module see it (its FHIR base is PUBLIC_URL/ehr/fhir). */
  PUBLIC_URL: z.string().url().optional(),
  /**
   * The module's base URL as browsers see it (the load balancer's, with replicas): the launcher opens
   * APP_URL/app/launch and the app's redirect URI APP_URL/app/callback is the only one registered.
   */
  APP_URL: z.string().url(),
  /** Secret of the clinician app's client (confidential); the replicas' SMART_CLIENT_SECRET. Unset: a public client (PKCE only). */
  SMART_CLIENT_SECRET: z.string().min(16).optional(),
  /** Secret of the module's backend client (outbox retries); the replicas' MODULE_CLIENT_SECRET. Unset: generated once and kept in DATA_DIR. */
  MODULE_CLIENT_SECRET: z.string().min(16).optional(),
  LOG_LEVEL: z.enum(['debug', 'info', 'warn', 'error', 'silent']).default('info'),
  /** Longest graceful stop; past it the process exits 1. */
  SHUTDOWN_TIMEOUT_MS: z.coerce.number().int().min(100).max(600_000).default(20_000),
});

export type EhrConfig = z.infer<typeof ehrConfigSchema> & { publicUrl: string; appUrl: string; dataDir: string };

export class EhrConfigError extends Error {}

export function loadEhrConfig(env: Record<string, string | undefined> = process.env): EhrConfig {
  const parsed = ehrConfigSchema.safeParse(env);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`);
    throw new EhrConfigError(`Invalid configuration of the EHR:\n${lines.join('\n')}`);
  }
  const c = parsed.data;
  const shownHost = c.HOST === '0.0.0.0' || c.HOST === '::' ? '127.0.0.1' : c.HOST;
  return {
    ...c,
    publicUrl: (c.PUBLIC_URL ?? `http://${shownHost}:${c.PORT}`).replace(/\/+$/, ''),
    appUrl: c.APP_URL.replace(/\/+$/, ''),
    dataDir: path.resolve(c.DATA_DIR),
  };
}
