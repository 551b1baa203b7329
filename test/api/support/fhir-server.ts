/**
 * A tiny real FHIR R4 server for tests (read + naive search over an in-memory list), started on port 0.
 * Enough to exercise FhirServerDataSource over real HTTP: Patient read, QuestionnaireResponse and
 * Observation search by subject/patient and code, paged when `_count` asks for fewer than there are. It
 * records each request so tests can see what was asked.
 */
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import express from 'express';

export interface FixtureServer {
  baseUrl: string;
  requests: string[];
  authorizations: Array<string | undefined>;
  close(): Promise<void>;
}

export async function startFhirServer(resources: fhir4.FhirResource[]): Promise<FixtureServer> {
  const app = express();
  let port = 0;
  const requests: string[] = [];
  const authorizations: Array<string | undefined> = [];
  app.use((req, _res, next) => {
    requests.push(req.originalUrl);
    authorizations.push(req.headers.authorization);
    next();
  });
  const send = (res: express.Response, status: number, body: unknown) =>
    res.status(status).type('application/fhir+json').send(JSON.stringify(body));
  app.get('/:type/:id', (req, res) => {
    const found = resources.find((r) => r.resourceType === req.params.type && r.id === req.params.id);
    if (found) send(res, 200, found);
    else send(res, 404, { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'not-found' }] });
  });
  app.get('/:type', (req, res) => {
    const q = req.query as Record<string, string>;
    const subject = q.subject ?? (q.patient ? `Patient/${q.patient.replace(/^Patient\//, '')}` : undefined);
    const code = q.code?.split('|').pop();
    const matches = resources.filter((r) => {
      if (r.resourceType !== req.params.type) return false;
      const s = (r as { subject?: fhir4.Reference }).subject?.reference;
      if (subject && s !== subject) return false;
      if (code && !((r as { code?: fhir4.CodeableConcept }).code?.coding ?? []).some((c) => c.code === code))
        return false;
      if (
        q.questionnaire &&
        !String((r as fhir4.QuestionnaireResponse).questionnaire ?? '').startsWith(q.questionnaire)
      )
        return false;
      return true;
    });
    // Pages like a real server when asked for fewer than there are (`_count`, then `_offset` in its next link).
    const count = q._count !== undefined ? Math.max(0, Number(q._count)) : matches.length;
    const offset = q._offset !== undefined ? Math.max(0, Number(q._offset)) : 0;
    const page = matches.slice(offset, offset + count);
    const more = offset + count < matches.length;
    const next = new URLSearchParams(req.query as Record<string, string>);
    next.set('_offset', String(offset + count));
    send(res, 200, {
      resourceType: 'Bundle',
      type: 'searchset',
      total: matches.length,
      ...(more ? { link: [{ relation: 'next', url: `http://127.0.0.1:${port}${req.path}?${next.toString()}` }] } : {}),
      entry: page.map((resource) => ({ resource, search: { mode: 'match' } })),
    });
  });
  const server: Server = await new Promise((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  port = (server.address() as AddressInfo).port;
  return {
    baseUrl: `http://127.0.0.1:${port}`,
    requests,
    authorizations,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
