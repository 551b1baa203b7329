// Knowledge artifacts: read, search (url, version, status, name), _summary, paging; and /fhir/metadata.
import type { Express } from 'express';
import request from 'supertest';
import { beforeAll, describe, it } from '@jest/globals';
import { expect } from '../support/expect.js';
import { createFhirRouter } from '../../src/api/router.js';
import { ARTIFACT_TYPES, OPERATION_ROUTES } from '../../src/api/routes.js';
import { projectKnowledge, PUBLIC_URL, testApp } from './support/app.js';

let app: Express;
beforeAll(async () => {
  app = await testApp();
});

const INTAKE_URL = 'https://periplan.app/fhir/Questionnaire/back-pain-intake';

describe('read', () => {
  it('returns the intake Questionnaire by id', async () => {
    const res = await request(app).get('/fhir/Questionnaire/back-pain-intake');
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ resourceType: 'Questionnaire', id: 'back-pain-intake', url: INTAKE_URL });
  });

  it('returns the top-level PlanDefinition by id', async () => {
    const res = await request(app).get('/fhir/PlanDefinition/back-pain-follow-up');
    expect(res.status).toBe(200);
    expect(res.body.url).toBe('https://periplan.app/fhir/PlanDefinition/back-pain-follow-up');
  });

  it('answers an unknown id with 404 OperationOutcome', async () => {
    const res = await request(app).get('/fhir/Questionnaire/nope');
    expect(res.status).toBe(404);
    expect(res.body.issue[0]).toMatchObject({ severity: 'error', code: 'not-found' });
  });

  it('applies _summary=true on read and marks the copy SUBSETTED', async () => {
    const res = await request(app).get('/fhir/Questionnaire/back-pain-intake?_summary=true');
    expect(res.status).toBe(200);
    expect(res.body.item).toBeUndefined();
    expect(res.body.url).toBe(INTAKE_URL);
    expect(res.body.meta.tag).toContainEqual(expect.objectContaining({ code: 'SUBSETTED' }));
  });
});

describe('search', () => {
  it('finds by url, by url|version, and not by a wrong version', async () => {
    const byUrl = await request(app).get('/fhir/Questionnaire').query({ url: INTAKE_URL });
    expect(byUrl.body).toMatchObject({ resourceType: 'Bundle', type: 'searchset', total: 1 });
    expect(byUrl.body.entry[0].fullUrl).toBe(`${PUBLIC_URL}/fhir/Questionnaire/back-pain-intake`);
    const canonical = await request(app)
      .get('/fhir/Questionnaire')
      .query({ url: `${INTAKE_URL}|1.0.0` });
    expect(canonical.body.total).toBe(1);
    const wrong = await request(app)
      .get('/fhir/Questionnaire')
      .query({ url: `${INTAKE_URL}|9.9.9` });
    expect(wrong.body.total).toBe(0);
    const both = await request(app).get('/fhir/Questionnaire').query({ url: INTAKE_URL, version: '1.0.0' });
    expect(both.body.total).toBe(1);
  });

  it('matches name case-insensitively from the start; :exact and :contains', async () => {
    const starts = await request(app).get('/fhir/Questionnaire?name=backpain');
    expect(starts.body.total).toBe(1);
    const middle = await request(app).get('/fhir/Questionnaire?name=intake');
    expect(middle.body.total).toBe(0);
    const contains = await request(app).get('/fhir/Questionnaire?name:contains=INTAKE');
    expect(contains.body.total).toBe(1);
    const exact = await request(app).get('/fhir/Questionnaire?name:exact=backpainintake');
    expect(exact.body.total).toBe(0);
  });

  it('filters by status, with comma meaning OR', async () => {
    const all = await request(app).get('/fhir/PlanDefinition?_count=200');
    const active = await request(app).get('/fhir/PlanDefinition?status=active,draft&_count=200');
    expect(active.body.total).toBe(all.body.total);
    const retired = await request(app).get('/fhir/PlanDefinition?status=retired');
    expect(retired.body.total).toBe(0);
  });

  it('pages with _count and _offset, with self/first/next/previous/last links', async () => {
    const first = await request(app).get('/fhir/ActivityDefinition?_count=2');
    const total = first.body.total as number;
    expect(total).toBeGreaterThan(4);
    expect(first.body.entry).toHaveLength(2);
    const links = Object.fromEntries((first.body.link as fhir4.BundleLink[]).map((l) => [l.relation, l.url]));
    expect(Object.keys(links).sort()).toEqual(['first', 'last', 'next', 'self']);
    const next = await request(app).get(new URL(links.next!).pathname + new URL(links.next!).search);
    expect(next.body.entry).toHaveLength(2);
    expect(next.body.entry[0].fullUrl).not.toBe(first.body.entry[0].fullUrl);
    expect((next.body.link as fhir4.BundleLink[]).map((l) => l.relation)).toContain('previous');
    const last = await request(app).get(new URL(links.last!).pathname + new URL(links.last!).search);
    expect(last.body.entry.length).toBe(total % 2 === 0 ? 2 : 1);
    expect((last.body.link as fhir4.BundleLink[]).map((l) => l.relation)).not.toContain('next');
    // Walking all pages visits every resource once.
    const seen = new Set<string>();
    for (let offset = 0; offset < total; offset += 2) {
      const page = await request(app).get(`/fhir/ActivityDefinition?_count=2&_offset=${offset}`);
      for (const e of page.body.entry) seen.add(e.fullUrl);
    }
    expect(seen.size).toBe(total);
  });

  it('_summary=count gives only the total; text/data/false shape entries', async () => {
    const count = await request(app).get('/fhir/ValueSet?_summary=count');
    expect(count.body.total).toBeGreaterThan(0);
    expect(count.body.entry).toBeUndefined();
    const data = await request(app).get('/fhir/Questionnaire?_summary=data');
    expect(data.body.entry[0].resource.text).toBeUndefined();
    expect(data.body.entry[0].resource.item).toBeDefined();
    const text = await request(app).get('/fhir/Questionnaire?_summary=text');
    const r = text.body.entry[0].resource;
    expect(r.item).toBeUndefined();
    expect(r.status).toBe('active'); // mandatory elements stay
    const full = await request(app).get('/fhir/Questionnaire?_summary=false');
    expect(full.body.entry[0].resource.item).toBeDefined();
    const bad = await request(app).get('/fhir/Questionnaire?_summary=maybe');
    expect(bad.status).toBe(400);
  });

  it('rejects a bad _count with 400', async () => {
    const res = await request(app).get('/fhir/Questionnaire?_count=-1');
    expect(res.status).toBe(400);
    expect(res.body.issue[0].diagnostics).toMatch(/_count/);
  });

  it('ignores unknown parameters leniently, reporting them in an outcome entry', async () => {
    const res = await request(app).get('/fhir/Questionnaire?publisher=x&url=' + encodeURIComponent(INTAKE_URL));
    expect(res.status).toBe(200);
    expect(res.body.total).toBe(1);
    const outcome = (res.body.entry as fhir4.BundleEntry[]).find((e) => e.search?.mode === 'outcome');
    expect(outcome?.resource).toMatchObject({ resourceType: 'OperationOutcome', issue: [{ severity: 'warning' }] });
    expect(JSON.stringify(outcome)).toContain('publisher');
  });

  it('rejects unknown parameters with Prefer: handling=strict', async () => {
    const res = await request(app).get('/fhir/Questionnaire?publisher=x').set('Prefer', 'handling=strict');
    expect(res.status).toBe(400);
    expect(res.body.issue[0].diagnostics).toMatch(/publisher/);
  });

  it('rejects an unsupported modifier with 400', async () => {
    const res = await request(app).get('/fhir/Questionnaire?status:not=active');
    expect(res.status).toBe(400);
  });

  it('searches every artifact type', async () => {
    for (const type of ARTIFACT_TYPES) {
      const res = await request(app).get(`/fhir/${type}`);
      expect(res.status, type).toBe(200);
      expect(res.body.resourceType).toBe('Bundle');
    }
  });
});

describe('metadata', () => {
  it("serves the CapabilityStatement with this server's URL and a date", async () => {
    const res = await request(app).get('/fhir/metadata');
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      resourceType: 'CapabilityStatement',
      kind: 'instance',
      fhirVersion: '4.0.1',
      url: `${PUBLIC_URL}/fhir/metadata`,
      implementation: { url: `${PUBLIC_URL}/fhir` },
    });
    expect(Number.isNaN(Date.parse(res.body.date))).toBe(false);
  });

  it('describes exactly what the router serves', async () => {
    const cs = (await request(app).get('/fhir/metadata')).body as fhir4.CapabilityStatement;
    const resources = cs.rest![0]!.resource!;
    // Every declared interaction, search parameter and operation answers (not 404/405)...
    for (const r of resources) {
      const codes = (r.interaction ?? []).map((i) => i.code);
      if (codes.includes('search-type')) {
        for (const p of r.searchParam ?? []) {
          const res = await request(app)
            .get(`/fhir/${r.type}`)
            .query({ [p.name]: 'x' })
            .set('Prefer', 'handling=strict');
          expect(res.status, `${r.type}?${p.name}`).toBe(200);
        }
      }
      if (codes.includes('read')) {
        const res = await request(app).get(`/fhir/${r.type}/does-not-exist`);
        expect(res.body.issue[0].code, `${r.type} read`).toBe('not-found');
      }
      for (const op of r.operation ?? []) {
        const route = OPERATION_ROUTES.find((o) => o.resource === r.type && o.name === op.name);
        expect(route, `${r.type}/$${op.name}`).toBeDefined();
        const path = route!.typeLevel ? `/fhir/${r.type}/$${op.name}` : `/fhir/${r.type}/x/$${op.name}`;
        const res = await request(app).post(path).set('Content-Type', 'application/fhir+json').send('{}');
        expect([404, 405], `${path}`).not.toContain(res.status);
      }
    }
    // ...and everything the router serves is declared.
    for (const type of ARTIFACT_TYPES) {
      const r = resources.find((x) => x.type === type);
      expect(r?.interaction?.map((i) => i.code).sort(), type).toEqual(['read', 'search-type']);
    }
    for (const op of OPERATION_ROUTES) {
      expect(
        resources.find((x) => x.type === op.resource)?.operation?.map((o) => o.name),
        `${op.resource}/$${op.name}`,
      ).toContain(op.name);
    }
    // Types the router does not serve are not declared, and answer 404.
    const declared = new Set(resources.map((r) => r.type));
    expect(declared).toEqual(new Set<string>([...ARTIFACT_TYPES, ...OPERATION_ROUTES.map((o) => o.resource)]));
    const undeclared = await request(app).get('/fhir/Observation');
    expect(undeclared.status).toBe(404);
    // QuestionnaireResponse declares operations only: its read/search are not served.
    expect((await request(app).get('/fhir/QuestionnaireResponse/1')).status).toBe(404);
  });

  it('matches the live Express route stack, route by route', async () => {
    const router = createFhirRouter({ knowledge: await projectKnowledge(), publicUrl: PUBLIC_URL }) as unknown as {
      stack: Array<{ route?: { path: string; methods: Record<string, boolean> } }>;
    };
    const live = router.stack
      .flatMap((l) =>
        l.route
          ? Object.keys(l.route.methods)
              .filter((m) => m !== '_all')
              .map((m) => `${m.toUpperCase()} ${l.route!.path}`)
          : [],
      )
      .sort();
    const cs = (await request(app).get('/fhir/metadata')).body as fhir4.CapabilityStatement;
    const described = ['GET /metadata'];
    const resources = cs.rest![0]!.resource!;
    if (resources.some((r) => r.interaction?.some((i) => i.code === 'search-type'))) described.push('GET /:type');
    if (resources.some((r) => r.interaction?.some((i) => i.code === 'read'))) described.push('GET /:type/:id');
    for (const r of resources) {
      for (const op of r.operation ?? []) {
        const route = OPERATION_ROUTES.find((o) => o.resource === r.type && o.name === op.name)!;
        if (route.typeLevel) described.push(`POST /${r.type}/$${op.name}`);
        if (route.instanceLevel) described.push(`POST /${r.type}/:id/$${op.name}`);
      }
    }
    expect(live).toEqual(described.sort());
  });
});
