/**
 * The module's FHIR client against a real HTTP server that records what it was sent: token, Prefer and
 * conditional headers, a 429 waited out once (with an injected sleeper, never the wall clock), paging that
 * stays on the configured base, bounds that say they were reached, and the server's reason kept.
 */
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import express from 'express';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { FhirClient, httpStatusOf, serverReasonOf } from '../../src/platform/fhir-client/index.js';

interface Seen {
  method: string;
  url: string;
  headers: Record<string, string | string[] | undefined>;
}

let server: Server;
let base: string;
const seen: Seen[] = [];
let rateLimitOnce = false;
/** How many of the next requests to a `/reset` path have their connection closed under them, unanswered. */
let resetsLeft = 0;

beforeAll(async () => {
  const app = express();
  app.use(express.json({ type: ['application/json', 'application/fhir+json'] }));
  app.use((req, _res, next) => {
    seen.push({ method: req.method, url: req.originalUrl, headers: req.headers });
    next();
  });
  const fhir = (res: express.Response, status: number, body?: unknown) =>
    res
      .status(status)
      .type('application/fhir+json')
      .send(body === undefined ? '' : JSON.stringify(body));
  // Five Observations, two a page, next links naming another host (a cluster node) for page 2 onwards.
  app.get('/fhir/Observation', (req, res) => {
    const offset = Number(req.query._offset ?? 0);
    const all = [0, 1, 2, 3, 4].map((i) => ({
      resourceType: 'Observation',
      id: `o${i}`,
      status: 'final',
      code: { text: 'x' },
    }));
    const page = all.slice(offset, offset + 2);
    const link =
      offset + 2 < all.length
        ? [{ relation: 'next', url: `http://node-7.internal:8080/fhir/Observation?_offset=${offset + 2}` }]
        : [];
    fhir(res, 200, {
      resourceType: 'Bundle',
      type: 'searchset',
      link,
      entry: page.map((resource) => ({ resource, search: { mode: 'match' } })),
    });
  });
  app.post('/fhir/Flag', (req, res) => {
    if (rateLimitOnce) {
      rateLimitOnce = false;
      res.set('Retry-After', '2');
      return fhir(res, 429, {
        resourceType: 'OperationOutcome',
        issue: [{ severity: 'error', code: 'throttled', diagnostics: 'Too many requests' }],
      });
    }
    res.set('Location', `${base}/Flag/f1/_history/1`);
    return fhir(res, 201);
  });
  // A server closing a keep-alive connection as a request arrives on it: the client meets a closed socket.
  const resetOrAnswer = (req: express.Request, res: express.Response) => {
    if (resetsLeft > 0) {
      resetsLeft--;
      return req.socket.destroy();
    }
    return req.method === 'GET'
      ? fhir(res, 200, { resourceType: 'Patient', id: 'reset' })
      : fhir(res, 201, { ...flag, id: 'f2' });
  };
  app.get('/fhir/Patient/reset', resetOrAnswer);
  app.post('/fhir/Flag/reset', resetOrAnswer);
  app.put('/fhir/Flag/f1', (_req, res) =>
    fhir(res, 412, {
      resourceType: 'OperationOutcome',
      issue: [{ severity: 'error', code: 'conflict', details: { text: 'Version mismatch' } }],
    }),
  );
  server = await new Promise((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/fhir`;
});

afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

const flag: fhir4.Flag = {
  resourceType: 'Flag',
  status: 'active',
  code: { text: 'x' },
  subject: { reference: 'Patient/p1' },
};

describe('FhirClient', () => {
  it('sends the token, Prefer and If-None-Exist; reads the Location of a minimal answer', async () => {
    seen.length = 0;
    const created = await new FhirClient({ baseUrl: base, bearerToken: 'tok-1' }).create(flag, {
      ifNoneExist: 'identifier=a|b',
      prefer: 'minimal',
    });
    expect(FhirClient.locationOf(created)).toBe(`${base}/Flag/f1/_history/1`);
    expect(seen[0]!.headers.authorization).toBe('Bearer tok-1');
    expect(seen[0]!.headers['if-none-exist']).toBe('identifier=a|b');
    expect(seen[0]!.headers.prefer).toBe('return=minimal');
  });

  it('waits out a short Retry-After once when asked to (injected sleeper), and leaves a 429 to the caller otherwise', async () => {
    const waits: number[] = [];
    const sleep = async (ms: number) => {
      waits.push(ms);
    };
    rateLimitOnce = true;
    await new FhirClient({ baseUrl: base, waitOn429UpToMs: 5000, sleep }).create(flag);
    expect(waits).toEqual([2000]);
    rateLimitOnce = true;
    const err = await new FhirClient({ baseUrl: base, waitOn429UpToMs: 1000, sleep })
      .create(flag)
      .catch((e: unknown) => e);
    expect(httpStatusOf(err)).toBe(429); // longer than it may wait
    expect(waits).toEqual([2000]);
  });

  it("keeps the server's reason (details.text when there are no diagnostics)", async () => {
    const err = await new FhirClient({ baseUrl: base })
      .update({ ...flag, id: 'f1' }, { ifMatch: 'W/"1"' })
      .catch((e: unknown) => e);
    expect(httpStatusOf(err)).toBe(412);
    expect(serverReasonOf(err)).toBe('Version mismatch');
    expect(seen.at(-1)!.headers['if-match']).toBe('W/"1"');
  });

  it('reads every page, following next links from another host on the configured base only', async () => {
    seen.length = 0;
    const all = await new FhirClient({ baseUrl: base, bearerToken: 'tok-2' }).searchAll<fhir4.Observation>(
      'Observation?_count=2',
    );
    expect(all.resources.map((o) => o.id)).toEqual(['o0', 'o1', 'o2', 'o3', 'o4']);
    expect(all).toMatchObject({ pages: 3, complete: true });
    expect(seen.map((s) => s.url)).toEqual([
      '/fhir/Observation?_count=2',
      '/fhir/Observation?_offset=2',
      '/fhir/Observation?_offset=4',
    ]);
    expect(seen.every((s) => s.headers.authorization === 'Bearer tok-2')).toBe(true);
  });

  it('stops at its bounds and says the result is incomplete', async () => {
    const byPages = await new FhirClient({ baseUrl: base }).searchAll('Observation', { maxPages: 2 });
    expect(byPages).toMatchObject({ pages: 2, complete: false });
    expect(byPages.resources).toHaveLength(4);
    const byCount = await new FhirClient({ baseUrl: base }).searchAll('Observation', { maxResources: 3 });
    expect(byCount.resources).toHaveLength(3);
    expect(byCount.complete).toBe(false);
    const exact = await new FhirClient({ baseUrl: base }).searchAll('Observation', { maxResources: 5 });
    expect(exact).toMatchObject({ complete: true });
  });

  it('sends a read again once when its connection was reset before any answer, and never a write', async () => {
    seen.length = 0;
    resetsLeft = 1;
    const client = new FhirClient({ baseUrl: base });
    expect((await client.read('Patient', 'reset')).id).toBe('reset');
    expect(seen.map((s) => `${s.method} ${s.url}`)).toEqual(['GET /fhir/Patient/reset', 'GET /fhir/Patient/reset']);
    // Twice in a row: the read fails (one retry only), as a server that keeps failing must.
    resetsLeft = 2;
    await expect(client.get('Patient/reset')).rejects.toThrow(/fetch failed/);
    // A write is not sent again: the server may have done it before the connection went.
    seen.length = 0;
    resetsLeft = 1;
    await expect(client.request('Flag/reset', { method: 'POST', body: flag })).rejects.toThrow(/fetch failed/);
    expect(seen.map((s) => s.method)).toEqual(['POST']);
    resetsLeft = 0;
  });

  it('refuses to send a request for its base to another host', async () => {
    seen.length = 0;
    await expect(
      new FhirClient({ baseUrl: base, bearerToken: 'tok-3' }).get('http://evil.example/fhir/Patient/1'),
    ).rejects.toThrow(/another host/);
    expect(seen).toHaveLength(0);
  });
});
