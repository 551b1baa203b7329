/**
 * TRUST_PROXY: validated once at start like every key, and what src/app.ts gives Express as `trust proxy`, so
 * that `req.ip` (the tablet's wrong-code limit, the request log) is the client's behind a reverse proxy and
 * X-Forwarded-For is ignored without one.
 */
import type { Request, Response } from 'express';
import request from 'supertest';
import { describe, it } from '@jest/globals';
import { expect } from '../support/expect.js';
import { createApp } from '../../src/app.js';
import { ConfigError, loadConfig } from '../../src/config/index.js';
import { projectKnowledge } from '../api/support/app.js';

describe('TRUST_PROXY', () => {
  it('defaults to false and accepts a hop count or proxy addresses; refuses `true` and nonsense, naming the key', () => {
    expect(loadConfig({}).TRUST_PROXY).toBe(false);
    expect(loadConfig({ TRUST_PROXY: 'false' }).TRUST_PROXY).toBe(false);
    expect(loadConfig({ TRUST_PROXY: '1' }).TRUST_PROXY).toBe(1);
    expect(loadConfig({ TRUST_PROXY: 'loopback' }).TRUST_PROXY).toBe('loopback');
    expect(loadConfig({ TRUST_PROXY: 'loopback, 10.0.0.0/8,fd00::1' }).TRUST_PROXY).toBe(
      'loopback, 10.0.0.0/8, fd00::1',
    );
    for (const bad of ['true', 'yes', '10.0.0.0/33', '300.1.1.1', 'loopback,,']) {
      expect(() => loadConfig({ TRUST_PROXY: bad }), bad).toThrow(ConfigError);
      expect(() => loadConfig({ TRUST_PROXY: bad }), bad).toThrow(/TRUST_PROXY/);
    }
  });

  async function clientAddressSeen(env: Record<string, string>, forwardedFor: string) {
    const app = createApp({
      config: loadConfig({ LOG_LEVEL: 'silent', ...env }),
      knowledge: await projectKnowledge(),
      mounts: [{ path: '/whoami', handler: (req: Request, res: Response) => void res.json({ ip: req.ip }) }],
    });
    const res = await request(app).get('/whoami').set('X-Forwarded-For', forwardedFor);
    return (res.body as { ip: string }).ip;
  }

  it('with it, req.ip is the client named by the trusted proxy; without it, X-Forwarded-For is ignored', async () => {
    expect(await clientAddressSeen({ TRUST_PROXY: '1' }, '203.0.113.9')).toBe('203.0.113.9');
    expect(await clientAddressSeen({ TRUST_PROXY: 'loopback' }, '203.0.113.9')).toBe('203.0.113.9');
    // A client-supplied hop in front of the one trusted proxy is not believed: the proxy's own entry counts.
    expect(await clientAddressSeen({ TRUST_PROXY: '1' }, '198.51.100.1, 203.0.113.9')).toBe('203.0.113.9');
    expect(await clientAddressSeen({}, '203.0.113.9')).toMatch(/127\.0\.0\.1|::1/);
  });
});
