// The per-request log line: written at level info, and at warn neither written nor prepared.
import request from 'supertest';
import { describe, expect, it } from '@jest/globals';
import type { Logger, LogLevel } from '../../src/platform/log.js';
import { createLogger } from '../../src/platform/log.js';
import { createApp } from '../../src/app.js';
import { loadConfig } from '../../src/config/index.js';
import { projectKnowledge, PUBLIC_URL } from './support/app.js';

/** The project's logger at `level`, with what it writes collected instead of printed. */
function capturingLogger(level: LogLevel): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  const real = createLogger(level);
  const logger: Logger = {
    enabled: (l) => real.enabled!(l),
    debug: (m) => real.enabled!('debug') && lines.push(m),
    info: (m) => real.enabled!('info') && lines.push(m),
    warn: (m) => real.enabled!('warn') && lines.push(m),
    error: (m) => real.enabled!('error') && lines.push(m),
  };
  return { logger, lines };
}

async function appLogging(level: LogLevel) {
  const { logger, lines } = capturingLogger(level);
  const config = loadConfig({ LOG_LEVEL: level, PUBLIC_URL });
  return { app: createApp({ config, knowledge: await projectKnowledge(), logger }), lines };
}

describe('request log', () => {
  it('at info: one line per request with method, path, status and duration', async () => {
    const { app, lines } = await appLogging('info');
    await request(app).get('/fhir/metadata').expect(200);
    await request(app).get('/fhir/no/such/thing').expect(404);
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/^GET \/fhir\/metadata 200 \d+\.\dms$/);
    expect(lines[1]).toMatch(/^GET \/fhir\/no\/such\/thing 404 /);
  });

  it('at warn: no per-request line', async () => {
    const { app, lines } = await appLogging('warn');
    await request(app).get('/fhir/metadata').expect(200);
    expect(lines).toEqual([]);
  });

  it('a logger without enabled() still gets every request line (it decides itself)', async () => {
    const lines: string[] = [];
    const logger: Logger = { debug: () => {}, info: (m) => lines.push(m), warn: () => {}, error: () => {} };
    const config = loadConfig({ LOG_LEVEL: 'warn', PUBLIC_URL });
    const app = createApp({ config, knowledge: await projectKnowledge(), logger });
    await request(app).get('/fhir/metadata').expect(200);
    expect(lines).toHaveLength(1);
  });
});
