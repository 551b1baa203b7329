/**
 * The access-control matrix, as data: every kind of caller against every operation that touches another
 * patient's data (patient 2, while the patient-scoped token is for patient 1) or spans patients, on one server
 * composed as `npm start` composes it. Each cell is the status the caller must get; cells marked `noneOf`
 * must also leave patient 2's data out of the answer.
 */
import fs from 'node:fs';
import path from 'node:path';
import * as oidc from 'openid-client';
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import { expect } from '../support/expect.js';
import { APP_SCOPES } from '../../src/clinician-app/smart.js';
import { AuthDatabase } from '../../src/ehr/auth/auth-database.js';
import { Browser, formAction } from '../ehr/auth/harness.js';
import { submissionFor } from '../submission/support/fixtures.js';
import { launchToken, moduleToken, startAppHarness, type AppHarness } from './support.js';

const P1 = 'sandbox-patient-1';
const P2 = 'sandbox-patient-2';
const KINDS = ['none', 'expired', 'patient1', 'clinician', 'tablet', 'module'] as const;
type Kind = (typeof KINDS)[number];

let h: AppHarness;
const tokens: Partial<Record<Kind, string>> = {};
let p2Key: string;
let p2Observation: fhir4.Observation;

/** A standalone sign-in as the tablet's public client, asking for everything. */
async function tabletToken(): Promise<string> {
  const config = await oidc.discovery(new URL(`${h.baseUrl}/ehr/auth`), 'periplan-tablet', undefined, oidc.None(), {
    execute: [oidc.allowInsecureRequests],
  });
  const redirect = `${h.baseUrl}/tablet/callback`;
  const verifier = oidc.randomPKCECodeVerifier();
  const url = oidc.buildAuthorizationUrl(config, {
    redirect_uri: redirect,
    scope: 'openid fhirUser launch/patient user/*.cruds patient/*.cruds',
    aud: `${h.baseUrl}/ehr/fhir`,
    state: 'm',
    code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
  });
  const browser = new Browser();
  const { res, url: pageUrl } = await browser.follow(url.href, redirect);
  const { url: back } = await browser.follow(formAction(await res.text(), pageUrl), redirect, {
    form: { practitioner: 'sandbox-clinician', patient: P1 },
  });
  return (await oidc.authorizationCodeGrant(config, new URL(back), { pkceCodeVerifier: verifier, expectedState: 'm' }))
    .access_token;
}

/**
 * An access token that exists in the authorization server's store but expired an hour ago: a copy of a live
 * token's record under a new id, with its expiry in the past (the server's own clock decides, as for any token).
 */
async function expiredToken(live: string): Promise<string> {
  const file = path.join(h.dataDir, 'ehr', 'ehr-auth', 'auth.sqlite');
  expect(fs.existsSync(file)).toBe(true);
  const db = new AuthDatabase(file);
  try {
    const adapter = db.adapterFor('AccessToken');
    const payload = (await adapter.find(live))!;
    expect(payload).toBeDefined();
    const id = `expired-${'x'.repeat(40)}`;
    const now = Math.floor(Date.now() / 1000);
    await adapter.upsert(id, { ...payload, jti: id, iat: now - 7200, exp: now - 3600 }, -3600);
    return id;
  } finally {
    db.close();
  }
}

interface Cell {
  status: number;
  /** The answer must not contain this (patient 2's data). */
  noneOf?: () => string;
}
type Row = {
  operation: string;
  request: (token: string | undefined, kind: Kind) => Promise<Response>;
  expect: Record<Kind, Cell>;
};

const auth = (token: string | undefined): Record<string, string> => (token ? { authorization: `Bearer ${token}` } : {});
const fhirJson = { 'content-type': 'application/fhir+json' };
const ehr = (p: string) => `${h.baseUrl}/ehr/fhir/${p}`;
const observationFor = (patient: string, code: string): fhir4.Observation => ({
  resourceType: 'Observation',
  status: 'final',
  code: { coding: [{ system: 'urn:matrix', code }] },
  subject: { reference: `Patient/${patient}` },
  valueString: 'matrix',
});
const all = (status: number, overrides: Partial<Record<Kind, Cell>> = {}): Record<Kind, Cell> =>
  Object.fromEntries(KINDS.map((k) => [k, overrides[k] ?? { status }])) as Record<Kind, Cell>;
const unauthenticated = { none: { status: 401 }, expired: { status: 401 } };

const ROWS: Row[] = [
  {
    operation: 'read Patient/<patient 2> (/ehr/fhir)',
    request: (t) => fetch(ehr(`Patient/${P2}`), { headers: auth(t) }),
    expect: all(403, { ...unauthenticated, clinician: { status: 200 } }),
  },
  {
    operation: "search patient 2's Observations (/ehr/fhir)",
    request: (t) => fetch(ehr(`Observation?subject=Patient/${P2}`), { headers: auth(t) }),
    expect: all(403, {
      ...unauthenticated,
      patient1: { status: 200, noneOf: () => p2Observation.id! },
      clinician: { status: 200 },
      module: { status: 200 },
    }),
  },
  {
    operation: 'create an Observation for patient 2 (/ehr/fhir)',
    request: (t, k) =>
      fetch(ehr('Observation'), {
        method: 'POST',
        headers: { ...fhirJson, ...auth(t) },
        body: JSON.stringify(observationFor(P2, `create-${k}`)),
      }),
    expect: all(403, { ...unauthenticated, clinician: { status: 201 }, module: { status: 201 } }),
  },
  {
    operation: "conditional create matching patient 2's Observation (/ehr/fhir, If-None-Exist)",
    request: (t) =>
      fetch(ehr('Observation'), {
        method: 'POST',
        headers: { ...fhirJson, ...auth(t), 'if-none-exist': `_id=${p2Observation.id}` },
        body: JSON.stringify(observationFor(P2, 'seeded')),
      }),
    expect: all(403, {
      ...unauthenticated,
      patient1: { status: 403, noneOf: () => p2Observation.id! },
      clinician: { status: 200 },
      module: { status: 200 },
    }),
  },
  {
    operation: 'transaction with a conditional create over patient 2 (/ehr/fhir)',
    request: (t) =>
      fetch(ehr(''), {
        method: 'POST',
        headers: { ...fhirJson, ...auth(t) },
        body: JSON.stringify({
          resourceType: 'Bundle',
          type: 'transaction',
          entry: [
            {
              resource: observationFor(P2, 'seeded'),
              request: {
                method: 'POST',
                url: 'Observation',
                ifNoneExist: `subject=Patient/${P2}&code=urn:matrix|seeded`,
              },
            },
          ],
        }),
      }),
    expect: all(403, {
      ...unauthenticated,
      patient1: { status: 403, noneOf: () => p2Observation.id! },
      clinician: { status: 200 },
      module: { status: 200 },
    }),
  },
  {
    operation: '$submit for patient 2 (/fhir)',
    request: (t, k) =>
      fetch(`${h.baseUrl}/fhir/QuestionnaireResponse/$submit`, {
        method: 'POST',
        headers: { ...fhirJson, ...auth(t) },
        body: JSON.stringify(submissionFor('RF-01', P2, KINDS.indexOf(k) + 10).response),
      }),
    expect: all(403, { ...unauthenticated, clinician: { status: 201 }, module: { status: 201 } }),
  },
  {
    operation: "$submit-status of patient 2's submission (/fhir)",
    request: (t) =>
      fetch(`${h.baseUrl}/fhir/QuestionnaireResponse/$submit-status?key=${encodeURIComponent(p2Key)}`, {
        headers: auth(t),
      }),
    expect: all(404, { ...unauthenticated, clinician: { status: 200 }, module: { status: 200 } }),
  },
  {
    operation: '$outbox, the staff view across patients (/fhir)',
    request: (t) => fetch(`${h.baseUrl}/fhir/$outbox`, { headers: auth(t) }),
    expect: all(403, { ...unauthenticated, clinician: { status: 200 } }),
  },
  {
    operation: "/app/api: patient 2's results with a bearer token (the app takes only its own session)",
    request: (t) => fetch(`${h.baseUrl}/app/api/patients/${P2}/results`, { headers: auth(t) }),
    expect: all(401),
  },
  {
    operation: '/app/api: submit with a bearer token',
    request: (t) =>
      fetch(`${h.baseUrl}/app/api/submit`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...auth(t) },
        body: JSON.stringify({ response: submissionFor('RF-01', P2, 99).response }),
      }),
    expect: all(401),
  },
  {
    operation: '/tablet/api/sessions, the staff list of tablets',
    request: (t) => fetch(`${h.baseUrl}/tablet/api/sessions`, { headers: auth(t) }),
    expect: all(403, { ...unauthenticated, clinician: { status: 200 } }),
  },
];

beforeAll(async () => {
  h = await startAppHarness();
  const clinicianScopes = APP_SCOPES.split(' ')
    .filter((s) => s.startsWith('user/'))
    .join(' ');
  tokens.clinician = (await launchToken(h, P1, clinicianScopes)).access_token;
  tokens.patient1 = (await launchToken(h, P1, clinicianScopes.replaceAll('user/', 'patient/'))).access_token;
  tokens.tablet = await tabletToken();
  tokens.module = await moduleToken(h);
  tokens.expired = await expiredToken(tokens.clinician);
  const seeded = await fetch(ehr('Observation'), {
    method: 'POST',
    headers: { ...fhirJson, ...auth(tokens.module) },
    body: JSON.stringify(observationFor(P2, 'seeded')),
  });
  expect(seeded.status).toBe(201);
  p2Observation = (await seeded.json()) as fhir4.Observation;
  const submitted = await fetch(`${h.baseUrl}/fhir/QuestionnaireResponse/$submit`, {
    method: 'POST',
    headers: { ...fhirJson, ...auth(tokens.clinician) },
    body: JSON.stringify(submissionFor('RF-01', P2, 1).response),
  });
  expect(submitted.status).toBe(201);
  p2Key = ((await submitted.json()) as fhir4.Parameters).parameter!.find((p) => p.name === 'key')!.valueString!;
}, 120_000);
afterAll(async () => h?.close());

describe(`access matrix: ${ROWS.length} operations × ${KINDS.length} kinds of caller = ${ROWS.length * KINDS.length} cells`, () => {
  for (const row of ROWS) {
    it.each(KINDS.map((k) => [k]))(`${row.operation} — %s`, async (kind) => {
      const cell = row.expect[kind];
      const res = await row.request(tokens[kind], kind);
      const text = await res.text();
      expect(res.status, `${kind}: ${text.slice(0, 300)}`).toBe(cell.status);
      if (res.status >= 400 && !row.operation.startsWith('/app/api') && !row.operation.startsWith('/tablet')) {
        expect((JSON.parse(text) as { resourceType?: string }).resourceType).toBe('OperationOutcome');
      }
      if (cell.noneOf) expect(text).not.toContain(cell.noneOf());
    });
  }
});
