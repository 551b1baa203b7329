/**
 * A bounded, seeded fuzzer over the server's HTTP surfaces (/fhir, /app/api, /tablet/api, /ehr/fhir, the
 * launcher API): random and mutated bodies, headers and query strings, with and without a valid clinician
 * token. Fixed seed and count, so a failure replays exactly. Every answer must be a non-5xx; every JSON error
 * an OperationOutcome; HTML only where HTML is served; and the server still answers afterwards.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { APP_SCOPES } from '../../src/clinician-app/smart.js';
import { seededRandom } from '../api/support/random-intake.js';
import { submissionFor } from '../submission/support/fixtures.js';
import { launchToken, startAppHarness, type AppHarness } from './support.js';

const SEED = 20261203;
const REQUESTS = 2000;
const CONCURRENCY = 4;

let h: AppHarness;
let clinician: string;
beforeAll(async () => {
  h = await startAppHarness();
  clinician = (
    await launchToken(
      h,
      'sandbox-patient-1',
      APP_SCOPES.split(' ')
        .filter((s) => s.startsWith('user/'))
        .join(' '),
    )
  ).access_token;
}, 120_000);
afterAll(async () => h?.close());

type Rng = () => number;
const pick = <T>(rng: Rng, list: readonly T[]): T => list[Math.floor(rng() * list.length)]!;
const chance = (rng: Rng, p: number) => rng() < p;

const NASTY_STRINGS = [
  '',
  ' ',
  'null',
  '%ZZ',
  '%00',
  '../../etc/passwd',
  '<script>alert(1)</script>',
  "' OR 1=1 --",
  'Patient/../../x',
  'é漢字🙂',
  '\u0000',
  'a'.repeat(5000),
  '-1',
  '1e309',
  'NaN',
  '{}',
  '[]',
  'Patient?identifier=x',
  'urn:uuid:00000000-0000-0000-0000-000000000000',
  'W/"x"',
  '*',
  'sandbox-patient-2',
];

function randomScalar(rng: Rng): unknown {
  switch (Math.floor(rng() * 7)) {
    case 0:
      return pick(rng, NASTY_STRINGS);
    case 1:
      return Math.floor(rng() * 2 ** 31) * (chance(rng, 0.5) ? -1 : 1);
    case 2:
      return rng() * 1e300;
    case 3:
      return chance(rng, 0.5);
    case 4:
      return null;
    case 5:
      return pick(rng, [
        'Patient',
        'Observation',
        'QuestionnaireResponse',
        'Bundle',
        'Parameters',
        'Flag',
        'OperationOutcome',
      ]);
    default:
      return `s${Math.floor(rng() * 1000)}`;
  }
}

function randomJson(rng: Rng, depth = 0): unknown {
  if (depth > 4 || chance(rng, 0.35)) return randomScalar(rng);
  if (chance(rng, 0.3)) return Array.from({ length: Math.floor(rng() * 4) }, () => randomJson(rng, depth + 1));
  const keys = [
    'resourceType',
    'id',
    'subject',
    'reference',
    'item',
    'answer',
    'linkId',
    'entry',
    'request',
    'resource',
    'parameter',
    'name',
    'code',
    'valueString',
    'type',
    'status',
    'identifier',
    'meta',
    'url',
    'method',
  ];
  return Object.fromEntries(
    Array.from({ length: 1 + Math.floor(rng() * 5) }, () => [pick(rng, keys), randomJson(rng, depth + 1)]),
  );
}

/** A valid-looking value with one random element replaced, removed or retyped. */
function mutate(rng: Rng, value: unknown, depth = 0): unknown {
  if (value === null || typeof value !== 'object') return chance(rng, 0.5) ? randomScalar(rng) : value;
  const copy: Record<string, unknown> | unknown[] = Array.isArray(value)
    ? [...value]
    : { ...(value as Record<string, unknown>) };
  const keys = Object.keys(copy);
  if (keys.length === 0) return randomJson(rng);
  const key = pick(rng, keys);
  const roll = rng();
  if (roll < 0.2 && !Array.isArray(copy)) delete (copy as Record<string, unknown>)[key];
  else if (roll < 0.45 || depth > 6) (copy as Record<string, unknown>)[key] = randomJson(rng);
  else (copy as Record<string, unknown>)[key] = mutate(rng, (copy as Record<string, unknown>)[key], depth + 1);
  return copy;
}

const valid = () => submissionFor('RF-01', 'sandbox-patient-1', 0).response;
const validBodies: (() => unknown)[] = [
  valid,
  () => ({ resourceType: 'Parameters', parameter: [{ name: 'response', resource: valid() }] }),
  () => ({
    resourceType: 'Bundle',
    type: 'transaction',
    entry: [
      {
        fullUrl: 'urn:uuid:0b4c8f0e-7a39-4d7c-9a51-2b2f4a1d6c01',
        resource: {
          resourceType: 'Observation',
          status: 'final',
          code: { text: 'x' },
          subject: { reference: 'Patient/sandbox-patient-1' },
        },
        request: { method: 'POST', url: 'Observation', ifNoneExist: 'code=x' },
      },
    ],
  }),
  () => ({
    resourceType: 'Observation',
    status: 'final',
    code: { text: 'x' },
    subject: { reference: 'Patient/sandbox-patient-2' },
  }),
  () => ({ code: 'ABC123', device: 'tablet-1' }),
  () => ({ practitioner: 'sandbox-clinician', patient: 'sandbox-patient-1', app: 'periplan-app' }),
  () => ({ response: valid(), decisions: [{ id: 'x', decision: 'accept' }] }),
];

interface Target {
  method: string;
  path: string;
  /** Served as HTML on error too (pages), not an API. */
  html?: boolean;
}
const TARGETS: Target[] = [
  { method: 'GET', path: '/fhir/metadata' },
  { method: 'GET', path: '/fhir/Questionnaire/back-pain-intake' },
  { method: 'GET', path: '/fhir/Questionnaire' },
  { method: 'GET', path: '/fhir/PlanDefinition' },
  { method: 'GET', path: '/fhir/ValueSet/$expand' },
  { method: 'POST', path: '/fhir/QuestionnaireResponse/$validate' },
  { method: 'POST', path: '/fhir/QuestionnaireResponse/$extract' },
  { method: 'POST', path: '/fhir/Questionnaire/back-pain-intake/$populate' },
  { method: 'POST', path: '/fhir/PlanDefinition/back-pain-follow-up/$apply' },
  { method: 'POST', path: '/fhir/QuestionnaireResponse/$submit' },
  { method: 'GET', path: '/fhir/QuestionnaireResponse/$submit-status' },
  { method: 'GET', path: '/fhir/$outbox' },
  { method: 'DELETE', path: '/fhir/Questionnaire/back-pain-intake' },
  { method: 'GET', path: '/fhir/NoSuchType/1' },
  { method: 'GET', path: '/app/api/context' },
  { method: 'GET', path: '/app/api/patients/sandbox-patient-2' },
  { method: 'GET', path: '/app/api/patients/sandbox-patient-2/results' },
  { method: 'GET', path: '/app/api/patients/sandbox-patient-2/history' },
  { method: 'GET', path: '/app/api/form' },
  { method: 'PUT', path: '/app/api/draft' },
  { method: 'POST', path: '/app/api/submit' },
  { method: 'POST', path: '/app/api/decisions' },
  { method: 'POST', path: '/app/api/handoff' },
  { method: 'GET', path: '/app/api/worklist' },
  { method: 'POST', path: '/app/api/logout' },
  { method: 'POST', path: '/tablet/api/claim' },
  { method: 'GET', path: '/tablet/api/questionnaire' },
  { method: 'POST', path: '/tablet/api/check' },
  { method: 'POST', path: '/tablet/api/submit' },
  { method: 'POST', path: '/tablet/api/ping' },
  { method: 'POST', path: '/tablet/api/end' },
  { method: 'GET', path: '/tablet/api/sessions' },
  { method: 'GET', path: '/ehr/fhir/Patient' },
  { method: 'GET', path: '/ehr/fhir/Patient/sandbox-patient-2' },
  { method: 'GET', path: '/ehr/fhir/Observation' },
  { method: 'POST', path: '/ehr/fhir/Observation' },
  { method: 'PUT', path: '/ehr/fhir/Observation/fuzz-1' },
  { method: 'POST', path: '/ehr/fhir/Patient/_search' },
  { method: 'GET', path: '/ehr/fhir/Patient/sandbox-patient-1/_history' },
  { method: 'POST', path: '/ehr/fhir' },
  { method: 'POST', path: '/ehr/launches' },
  { method: 'POST', path: '/ehr/launch', html: true },
  { method: 'GET', path: '/ehr', html: true },
];

interface FuzzRequest {
  target: Target;
  url: string;
  init: RequestInit;
}

function randomQuery(rng: Rng): string {
  if (chance(rng, 0.4)) return '';
  const keys = [
    '_count',
    '_offset',
    '_include',
    '_sort',
    'subject',
    'patient',
    'identifier',
    'key',
    'status',
    'code',
    '_id',
    '_summary',
    '_elements',
    'name',
    'url',
    'system',
    '_lastUpdated',
    'unknown-param',
    '__proto__',
    'constructor',
  ];
  const pairs = Array.from({ length: 1 + Math.floor(rng() * 4) }, () => {
    const value = String(randomScalar(rng)).slice(0, 300);
    return `${pick(rng, keys)}=${chance(rng, 0.2) ? value : encodeURIComponent(value)}`;
  });
  return `?${pairs.join('&')}`;
}

/** What a client can put in a header: visible ASCII, no leading or trailing blank. */
const headerValue = (value: unknown) =>
  String(value)
    .replace(/[^\x21-\x7e ]/g, '?')
    .trim()
    .slice(0, 200) || '-';

function randomRequest(rng: Rng, n: number): FuzzRequest {
  const target = pick(rng, TARGETS);
  const headers: Record<string, string> = {};
  const auth = rng();
  if (auth < 0.35) headers.authorization = `Bearer ${clinician}`;
  else if (auth < 0.6)
    headers.authorization = pick(rng, [
      'Bearer',
      'Bearer x',
      `Bearer ${clinician}x`,
      'Basic Zm9vOmJhcg==',
      'bearer  a b',
      `Bearer ${'A'.repeat(4000)}`,
      'Negotiate x',
    ]);
  if (chance(rng, 0.15)) headers['if-none-exist'] = headerValue(randomScalar(rng));
  if (chance(rng, 0.1)) headers['if-match'] = headerValue(randomScalar(rng));
  if (chance(rng, 0.1))
    headers.prefer = pick(rng, [
      'return=minimal',
      'return=OperationOutcome',
      'handling=lenient',
      'return=junk',
      ';;==',
    ]);
  if (chance(rng, 0.15)) headers['x-session'] = pick(rng, ['', 'x', 'a'.repeat(500), '../../']);
  if (chance(rng, 0.1)) headers['x-csrf-token'] = 'x';
  if (chance(rng, 0.1))
    headers.accept = pick(rng, ['text/html', 'application/xml', '*/*', 'application/fhir+json;q=0']);
  if (chance(rng, 0.05)) headers.origin = pick(rng, ['https://evil.example', 'null', h.baseUrl]);
  let body: string | undefined;
  if (target.method !== 'GET' && target.method !== 'DELETE') {
    const kind = rng();
    const value = kind < 0.45 ? mutate(rng, pick(rng, validBodies)()) : kind < 0.8 ? randomJson(rng) : undefined;
    body =
      value !== undefined
        ? JSON.stringify(value)
        : pick(rng, [
            '',
            '{',
            '{"resourceType":',
            'not json',
            '[1,2',
            '\u0000\u0001',
            `{"a":${'['.repeat(200)}`,
            'null',
            '"string"',
            '123',
          ]);
    headers['content-type'] = chance(rng, 0.8)
      ? target.path.startsWith('/app/') || target.path.startsWith('/tablet/') || target.path === '/ehr/launches'
        ? 'application/json'
        : 'application/fhir+json'
      : pick(rng, [
          'text/plain',
          'application/x-www-form-urlencoded',
          'application/json; charset=latin1',
          'multipart/form-data; boundary=x',
          'application/xml',
        ]);
  }
  const path = chance(rng, 0.05)
    ? `${target.path}/${encodeURIComponent(String(randomScalar(rng)).slice(0, 100))}`
    : target.path;
  return {
    target,
    url: `${h.baseUrl}${path}${randomQuery(rng)}`,
    init: {
      method: target.method,
      headers: { ...headers, 'x-fuzz': String(n) },
      ...(body !== undefined ? { body } : {}),
      redirect: 'manual',
    },
  };
}

describe(`seeded fuzzing (seed ${SEED}, ${REQUESTS} requests)`, () => {
  it('no 5xx, every JSON error an OperationOutcome, HTML only from pages, and the server still answers', async () => {
    const rng = seededRandom(SEED);
    const requests = Array.from({ length: REQUESTS }, (_, n) => randomRequest(rng, n));
    const problems: string[] = [];
    const statuses = new Map<number, number>();
    let next = 0;
    const worker = async () => {
      while (next < requests.length) {
        const n = next++;
        const { target, url, init } = requests[n]!;
        const res = await fetch(url, { ...init, signal: AbortSignal.timeout(30_000) });
        const text = await res.text();
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
        const where = `#${n} ${init.method} ${url.slice(h.baseUrl.length, h.baseUrl.length + 160)} → ${res.status}`;
        if (res.status >= 500) problems.push(`${where}: ${text.slice(0, 300)}`);
        if (res.status >= 400) {
          const type = res.headers.get('content-type') ?? '';
          if (/json/.test(type)) {
            let parsed: { resourceType?: string } | undefined;
            try {
              parsed = JSON.parse(text) as { resourceType?: string };
            } catch {
              parsed = undefined;
            }
            if (parsed?.resourceType !== 'OperationOutcome')
              problems.push(`${where}: JSON error that is not an OperationOutcome: ${text.slice(0, 200)}`);
          } else if (/html/.test(type)) {
            if (!target.html) problems.push(`${where}: HTML error from an API route`);
          } else {
            problems.push(`${where}: error with content-type '${type}': ${text.slice(0, 200)}`);
          }
        }
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    console.log(
      `fuzz: ${REQUESTS} requests, statuses ${JSON.stringify(Object.fromEntries([...statuses].sort((a, b) => a[0] - b[0])))}`,
    );
    expect(problems).toEqual([]);
    expect([...statuses.values()].reduce((a, b) => a + b, 0)).toBe(REQUESTS);
    // Still answering, and still serving real work.
    expect((await fetch(`${h.baseUrl}/fhir/metadata`)).status).toBe(200);
    const read = await fetch(`${h.baseUrl}/ehr/fhir/Patient/sandbox-patient-1`, {
      headers: { authorization: `Bearer ${clinician}` },
    });
    expect(read.status).toBe(200);
  }, 600_000);
});
