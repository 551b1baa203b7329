// Generated input (seeded, reproducible): thousands of random and broken bodies against $apply and
// $validate. Whatever is sent, the answer is never a 5xx, always an OperationOutcome on 4xx, and the
// server keeps answering.
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { projectKnowledge, testApp } from './support/app.js';
import { applyParameters, patientFor, randomResponse, seededRandom } from './support/random-intake.js';

let server: Server;
let base: string;
let intake: fhir4.Questionnaire;

beforeAll(async () => {
  const app = await testApp();
  intake = (await projectKnowledge()).read('Questionnaire', 'back-pain-intake') as fhir4.Questionnaire;
  server = await new Promise((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/fhir`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

type Rng = () => number;

/** Arbitrary JSON, shallow enough to pass the depth limit most of the time, deep sometimes. */
function junkValue(rng: Rng, depth = 0): unknown {
  const r = rng();
  if (depth > 6 || r < 0.3)
    return [null, true, false, 0, -1, 1.5, '', 'Patient/1', 'x'.repeat(Math.floor(rng() * 50)), '\u0000', '💥'][
      Math.floor(rng() * 11)
    ];
  if (r < 0.6) return Array.from({ length: Math.floor(rng() * 4) }, () => junkValue(rng, depth + 1));
  const keys = [
    'resourceType',
    'parameter',
    'name',
    'valueString',
    'valueBoolean',
    'resource',
    'entry',
    'type',
    'item',
    'linkId',
    'answer',
    'questionnaire',
    'subject',
    'reference',
    'part',
    'status',
  ];
  const out: Record<string, unknown> = {};
  for (let i = Math.floor(rng() * 5); i > 0; i--)
    out[keys[Math.floor(rng() * keys.length)]!] = junkValue(rng, depth + 1);
  if (rng() < 0.5)
    out.resourceType = ['Parameters', 'QuestionnaireResponse', 'Bundle', 'Patient', 'Nope', 7][Math.floor(rng() * 6)];
  return out;
}

function junkText(rng: Rng): string {
  const choices = [
    () => JSON.stringify(junkValue(rng)),
    () => JSON.stringify(junkValue(rng)).slice(0, Math.floor(rng() * 40)), // truncated
    () => '['.repeat(100 + Math.floor(rng() * 1000)),
    () => '{"a":'.repeat(80) + '1' + '}'.repeat(80),
    () => String.fromCharCode(...Array.from({ length: 30 }, () => Math.floor(rng() * 256))),
    () => '{"resourceType":"Parameters","parameter":[{"name":"subject","__proto__":{"x":1}}]}',
  ];
  return choices[Math.floor(rng() * choices.length)]!();
}

function applyBody(rng: Rng, i: number): string {
  const subject = `Patient/gen-${i}`;
  const r = rng();
  if (r < 0.45) {
    const qr = randomResponse(rng, intake, { subject, answerRate: rng(), corruptRate: 0 });
    return JSON.stringify(applyParameters(subject, [patientFor(`gen-${i}`, qr), qr]));
  }
  if (r < 0.75) {
    const qr = randomResponse(rng, intake, { subject, answerRate: rng(), corruptRate: 0.3 });
    const resources: unknown[] = rng() < 0.5 ? [patientFor(`gen-${i}`, qr), qr] : [qr];
    const params = applyParameters(rng() < 0.9 ? subject : 'Patient/other', resources) as unknown as {
      parameter: unknown[];
    };
    if (rng() < 0.2) params.parameter.splice(Math.floor(rng() * 2), 1);
    if (rng() < 0.2)
      params.parameter.push({ name: 'useServerData', [rng() < 0.5 ? 'valueBoolean' : 'valueString']: rng() < 0.5 });
    return JSON.stringify(params);
  }
  return junkText(rng);
}

function validateBody(rng: Rng, i: number): string {
  const r = rng();
  if (r < 0.6)
    return JSON.stringify(
      randomResponse(rng, intake, {
        subject: `Patient/gen-${i}`,
        answerRate: rng(),
        corruptRate: rng() < 0.5 ? 0 : 0.3,
      }),
    );
  if (r < 0.7)
    return JSON.stringify({
      resourceType: 'Parameters',
      parameter: [
        { name: 'resource', resource: randomResponse(rng, intake, { subject: 'Patient/x', corruptRate: 0.2 }) },
      ],
    });
  return junkText(rng);
}

async function send(path: string, body: string): Promise<{ status: number; json: unknown }> {
  const res = await fetch(`${base}${path}`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/fhir+json' },
    body,
  });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : undefined };
}

describe('generated input', () => {
  it('never answers $apply or $validate with a 5xx, and keeps answering (3,000 bodies, seed 20261124)', async () => {
    const rng = seededRandom(20261124);
    const statuses = new Map<number, number>();
    const failures: string[] = [];
    const jobs: Array<[string, string]> = [];
    for (let i = 0; i < 2000; i++) jobs.push(['/PlanDefinition/back-pain-follow-up/$apply', applyBody(rng, i)]);
    for (let i = 0; i < 1000; i++) jobs.push(['/QuestionnaireResponse/$validate', validateBody(rng, i)]);
    // A few in flight at once, like real clients.
    for (let start = 0; start < jobs.length; start += 8) {
      await Promise.all(
        jobs.slice(start, start + 8).map(async ([path, body]) => {
          const { status, json } = await send(path, body);
          statuses.set(status, (statuses.get(status) ?? 0) + 1);
          const type = (json as { resourceType?: string } | undefined)?.resourceType;
          if (status >= 500 || (status >= 400 && type !== 'OperationOutcome'))
            failures.push(`${status} ${path} ${body.slice(0, 300)} -> ${JSON.stringify(json).slice(0, 300)}`);
        }),
      );
    }
    expect(failures.slice(0, 5)).toEqual([]);
    // The mix exercised both success and refusal.
    expect(statuses.get(200) ?? 0).toBeGreaterThan(500);
    expect(statuses.get(400) ?? 0).toBeGreaterThan(100);
    const after = await fetch(`${base}/metadata`);
    expect(after.status).toBe(200);
  }, 180_000);
});
