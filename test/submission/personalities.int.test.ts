/**
 * The FHIR server personalities (test/support/fhir-personality.ts) do what they claim against the real
 * embedded EHR, and the write path meets each of them the way the module promises (docs/write-path.md,
 * "Real FHIR servers"). The full suites (write-path, amend, resolve-proposal) also run through every
 * personality; these are the checks particular to one behaviour.
 */
import { Client } from 'fhir-kit-client';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { nextPageUrl, parseRetryAfter } from '../../src/submission/fhir-writer.js';
import { FhirClient } from '../../src/platform/fhir-client/index.js';
import { classifyWriteError } from '../../src/submission/sender.js';
import {
  FOREIGN_BASE,
  startPersonalityProxy,
  type Personality,
  type PersonalityProxy,
} from '../support/fhir-personality.js';
import { getKnowledge, seededSubmission, testWritePath, untilSent } from './support/fixtures.js';
import { startEmbeddedEhr, type TestFhirServer } from './support/servers.js';

let ehr: Awaited<ReturnType<typeof startEmbeddedEhr>>;
let token: string;
const proxies: PersonalityProxy[] = [];

beforeAll(async () => {
  ehr = await startEmbeddedEhr();
  const { clientCredentialsTokenSource } = await import('../../src/submission/module-token.js');
  token = (await clientCredentialsTokenSource({ fhirBaseUrl: ehr.fhirBaseUrl, ...ehr.moduleCredentials! }).getToken())!;
});
afterAll(async () => {
  for (const p of proxies) await p.close();
  await ehr?.close();
});

async function as(personality: Personality): Promise<PersonalityProxy> {
  const proxy = await startPersonalityProxy(ehr.fhirBaseUrl, personality);
  proxies.push(proxy);
  return proxy;
}

/** The embedded EHR reached through a personality, for a write path (checks and set-up go to it directly). */
const through = (proxy: PersonalityProxy): TestFhirServer => ({ ...ehr, fhirBaseUrl: proxy.fhirBaseUrl });

const get = (url: string) =>
  fetch(url, { headers: { authorization: `Bearer ${token}`, accept: 'application/fhir+json' } });

/** A transaction of `n` Observations (conditional creates: harmless to repeat). */
function observations(n: number, tag: string): fhir4.Bundle {
  return {
    resourceType: 'Bundle',
    type: 'transaction',
    entry: Array.from({ length: n }, (_, i) => ({
      fullUrl: `urn:uuid:00000000-0000-4000-8000-${String(i).padStart(12, '0')}`,
      resource: {
        resourceType: 'Observation',
        status: 'final',
        code: { text: tag },
        identifier: [{ system: 'urn:test:personality', value: `${tag}-${i}` }],
      } as fhir4.Observation,
      request: { method: 'POST', url: 'Observation', ifNoneExist: `identifier=urn:test:personality|${tag}-${i}` },
    })),
  };
}

describe('the personalities themselves', () => {
  it('max-8-entries refuses a 9-entry transaction as a whole (400) and writes none of it', async () => {
    const proxy = await as('max-8-entries');
    const client = new Client({ baseUrl: proxy.fhirBaseUrl, bearerToken: token });
    const err = await client.transaction({ body: observations(9, 'max8') as never }).catch((e: unknown) => e);
    expect((err as { response?: { status?: number } }).response?.status).toBe(400);
    expect(await ehr.search('Observation', 'identifier=urn:test:personality|max8-0')).toEqual([]);
    expect(
      ((await client.transaction({ body: observations(8, 'max8') as never })) as unknown as fhir4.Bundle).entry,
    ).toHaveLength(8);
  });

  it('uuid-ids-only refuses a client-chosen id (400 Invalid id)', async () => {
    const proxy = await as('uuid-ids-only');
    const res = await fetch(`${proxy.fhirBaseUrl}/Patient/example-rf-01`, {
      method: 'PUT',
      headers: { 'content-type': 'application/fhir+json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ resourceType: 'Patient', id: 'example-rf-01' }),
    });
    expect(res.status).toBe(400);
    expect(JSON.stringify(await res.json())).toContain('Invalid id');
  });

  it('gone-410 answers 410 for a resource it does not have; strict-search-params 400 for an unknown parameter', async () => {
    expect((await get(`${(await as('gone-410')).fhirBaseUrl}/Flag/00000000-0000-4000-8000-000000000000`)).status).toBe(
      410,
    );
    const strict = await as('strict-search-params');
    expect((await get(`${strict.fhirBaseUrl}/Flag?code=x`)).status).toBe(400);
    expect((await get(`${strict.fhirBaseUrl}/Flag?subject=Patient/x&_tag=a|b`)).status).toBe(200);
  });

  it('minimal-empty-body answers a return=minimal transaction with 200 and no body', async () => {
    const proxy = await as('minimal-empty-body');
    const res = await fetch(proxy.fhirBaseUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/fhir+json', authorization: `Bearer ${token}`, prefer: 'return=minimal' },
      body: JSON.stringify(observations(2, 'minimal')),
    });
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('');
    expect(await ehr.search('Observation', 'identifier=urn:test:personality|minimal-1')).toHaveLength(1); // it was written
  });

  it('paging-quirks pages one result at a time with next links on another host; the module maps them onto its base', async () => {
    const proxy = await as('paging-quirks');
    const client = new Client({ baseUrl: proxy.fhirBaseUrl, bearerToken: token });
    await client.transaction({ body: observations(3, 'paging') as never });
    const query =
      'Observation?identifier=urn:test:personality|paging-0,urn:test:personality|paging-1,urn:test:personality|paging-2';
    const first = (await (await get(`${proxy.fhirBaseUrl}/${query}`)).json()) as fhir4.Bundle;
    expect(first.entry).toHaveLength(1);
    expect(first.link?.[0]?.url.startsWith(FOREIGN_BASE)).toBe(true);
    expect(nextPageUrl(first, proxy.fhirBaseUrl)?.startsWith(`${proxy.fhirBaseUrl}/Observation?`)).toBe(true);
    const all = await new FhirClient({ baseUrl: proxy.fhirBaseUrl, bearerToken: token }).searchAll(query);
    expect(all.resources).toHaveLength(3);
    expect(all.complete).toBe(true);
  });
});

describe('the write path meets them', () => {
  it("max-8-entries: a submission refused as a whole is written one by one; the refusal is reported in the server's words", async () => {
    const proxy = await as('max-8-entries');
    const writePath = testWritePath(through(proxy), await getKnowledge());
    await writePath.start();
    try {
      const { patient, response, subject } = await seededSubmission(ehr, 'BMD-01', 'pers-max8');
      const result = await writePath.submit({ response, data: [patient] });
      expect(result.entry.bundle.entry!.length).toBeGreaterThan(8);
      expect(result).toMatchObject({ state: 'sent', message: 'Saved to the record.' });
      expect(proxy.hits).toBeGreaterThan(0);
      const [qr] = await ehr.search<fhir4.QuestionnaireResponse>('QuestionnaireResponse', `subject=${subject}`);
      expect(await ehr.search('Provenance', `target=QuestionnaireResponse/${qr!.id}`)).toHaveLength(1);
      // What staff see when such a refusal is final: the server's reason (Medplum puts it in details.text).
      const client = new Client({ baseUrl: proxy.fhirBaseUrl, bearerToken: token });
      const err = await client.transaction({ body: observations(9, 'reason') as never }).catch((e: unknown) => e);
      expect(classifyWriteError(err).message).toContain(
        'Transaction requires strict isolation but has too many entries',
      );
    } finally {
      await writePath.stop();
    }
  });

  it('minimal-empty-body: an empty 200 is verified at once (the Provenance is there): "saved", not "sending"', async () => {
    const proxy = await as('minimal-empty-body');
    const writePath = testWritePath(through(proxy), await getKnowledge());
    await writePath.start();
    try {
      const { patient, response } = await seededSubmission(ehr, 'RF-01', 'pers-minimal');
      expect(await writePath.submit({ response, data: [patient] })).toMatchObject({
        state: 'sent',
        message: 'Saved to the record.',
      });
      expect(proxy.hits).toBeGreaterThan(0);
    } finally {
      await writePath.stop();
    }
  });

  it("rate-limit-429: the next attempt waits at least the server's Retry-After (1 s), then the submission is sent", async () => {
    const proxy = await as('rate-limit-429');
    const writePath = testWritePath(through(proxy), await getKnowledge()); // backoff 25 ms: only Retry-After can make it 1 s
    await writePath.start();
    try {
      const { patient, response } = await seededSubmission(ehr, 'RF-01', 'pers-429');
      const before = Date.now();
      const result = await writePath.submit({ response, data: [patient] });
      expect(result.state).toBe('queued');
      expect(result.entry.lastError).toContain('429');
      expect(Date.parse(result.entry.nextAttemptAt) - before).toBeGreaterThanOrEqual(1000);
      await untilSent(writePath, result.key);
    } finally {
      await writePath.stop();
    }
  });
});

describe('reading what servers say', () => {
  it('Retry-After: seconds or an HTTP date (from the same clock), capped at an hour; anything else is no advice', () => {
    const now = Date.parse('2026-11-24T10:00:00Z');
    expect(parseRetryAfter('1', now)).toBe(1000);
    expect(parseRetryAfter('Tue, 24 Nov 2026 10:00:30 GMT', now)).toBe(30_000);
    expect(parseRetryAfter('Tue, 24 Nov 2026 09:00:00 GMT', now)).toBe(0);
    expect(parseRetryAfter('999999', now)).toBe(3_600_000);
    expect(parseRetryAfter('soon', now)).toBeUndefined();
    expect(parseRetryAfter(undefined, now)).toBeUndefined();
  });

  it('next links: followed on the configured origin, mapped onto the configured base from another host, absent when none', () => {
    const base = 'https://ehr.example.org/fhir/R4';
    const page = (url: string): fhir4.Bundle => ({
      resourceType: 'Bundle',
      type: 'searchset',
      link: [{ relation: 'next', url }],
    });
    expect(nextPageUrl(page('https://ehr.example.org/fhir/R4/Flag?_tag=a&_page=2'), base)).toBe(
      'https://ehr.example.org/fhir/R4/Flag?_tag=a&_page=2',
    );
    expect(nextPageUrl(page('http://node-7.internal:8080/fhir/Flag?_tag=a&_page=2'), base)).toBe(
      'https://ehr.example.org/fhir/R4/Flag?_tag=a&_page=2',
    );
    expect(nextPageUrl(page('http://node-7.internal:8080/fhir?_getpages=abc&_getpagesoffset=20'), base)).toBe(
      'https://ehr.example.org/fhir/R4?_getpages=abc&_getpagesoffset=20',
    );
    expect(nextPageUrl({ resourceType: 'Bundle', type: 'searchset' }, base)).toBeUndefined();
  });
});
