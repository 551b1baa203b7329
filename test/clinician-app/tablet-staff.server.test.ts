/**
 * The staff side of the waiting-room tablet in the clinician app, over real HTTP on the composed server:
 * starting a hand-off (who may, for whom, the QR code), the staff view of tablet sessions and the outbox, and
 * the live alert stream.
 */
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { jsQR } from './qr-support.js';
import QRCode from 'qrcode';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { poll } from '../support/poll.js';
import { CODE_ALPHABET, TABLET_RESPONSE_SYSTEM } from '../../src/tablet/index.js';
import { sha256 } from '../../src/tablet/store.js';
import { startAppHarness, type AppHarness } from './harness.js';
import { apiLaunch } from './launch-support.js';

const REPO = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');
const example = JSON.parse(
  fs.readFileSync(path.join(REPO, 'examples/RF-01/response.json'), 'utf8'),
) as fhir4.QuestionnaireResponse;
const YES = { valueCoding: { system: 'http://terminology.hl7.org/CodeSystem/v2-0136', code: 'Y' } };

let h: AppHarness;
let clinician: { session: string; csrf: string };

beforeAll(async () => {
  h = await startAppHarness();
  clinician = await apiLaunch(h, 'sandbox-patient-2');
}, 60_000);

afterAll(async () => {
  await h?.close();
});

function app(method: string, pathname: string, who: { session: string; csrf?: string } | undefined, body?: unknown) {
  return fetch(`${h.baseUrl}/app/api${pathname}`, {
    method,
    headers: {
      ...(who ? { 'x-session': who.session } : {}),
      ...(who?.csrf ? { 'x-csrf-token': who.csrf } : {}),
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
    },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
}

/** The RF-01 example as a tablet sends it: a new identifier each time, so that each is a new submission. */
function exampleSubmission() {
  return {
    response: {
      resourceType: 'QuestionnaireResponse',
      identifier: { system: TABLET_RESPONSE_SYSTEM, value: crypto.randomUUID() },
      item: example.item,
    },
  };
}

async function tabletPost(pathname: string, body: unknown, session?: string) {
  return fetch(`${h.baseUrl}/tablet/api/${pathname}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(session ? { 'x-tablet-session': session } : {}) },
    body: JSON.stringify(body),
  });
}

interface Handoff {
  code: string;
  expiresAt: string;
  url: string;
  qrSvg: string;
  patient: { id: string; name: string };
}
interface StaffRow {
  patient: { id?: string; name: string };
  device?: string;
  startedBy: string;
  since?: string;
  state: string;
  stateWords: string;
  lastSeenAt?: string;
  offline: boolean;
  emergency: boolean;
}

const issue = async (res: Response) => ((await res.json()) as fhir4.OperationOutcome).issue[0];

/** Draw the served SVG's dark modules (qrcode's path: `M x y.5` starts a row, `m dx 0` skips, `hN` paints) as RGBA pixels. */
function rasterize(svg: string, scale = 4): { width: number; data: Uint8ClampedArray; modules: boolean[][] } {
  const size = Number(/viewBox="0 0 (\d+) \1"/.exec(svg)![1]);
  const d = /<path[^>]*stroke="#000000"[^>]*d="([^"]+)"/.exec(svg)![1]!;
  const modules = Array.from({ length: size }, () => Array<boolean>(size).fill(false));
  let x = 0;
  let y = 0;
  for (const [, cmd, a, b] of d.matchAll(/([Mmh])(-?[\d.]+)(?: (-?[\d.]+))?/g)) {
    if (cmd === 'M') [x, y] = [Number(a), Math.floor(Number(b))];
    else if (cmd === 'm') x += Number(a);
    else for (let i = 0; i < Number(a); i++) modules[y]![x++] = true;
  }
  const width = size * scale;
  const data = new Uint8ClampedArray(width * width * 4).fill(255);
  for (let py = 0; py < width; py++)
    for (let px = 0; px < width; px++)
      if (modules[Math.floor(py / scale)]![Math.floor(px / scale)])
        data.fill(0, (py * width + px) * 4, (py * width + px) * 4 + 3);
  return { width, data, modules };
}

describe('POST /app/api/tablet-handoff', () => {
  it('gives a clinician a one-time code for the open patient, a tablet URL and a QR code of both', async () => {
    const res = await app('POST', '/tablet-handoff', clinician, {});
    expect(res.status).toBe(201);
    const body = (await res.json()) as Handoff;
    expect(body.code).toHaveLength(8);
    expect([...body.code].every((c) => CODE_ALPHABET.includes(c))).toBe(true);
    expect(body.url).toBe(`${h.baseUrl}/tablet/`);
    expect(body.patient.id).toBe('sandbox-patient-2');
    expect(Date.parse(body.expiresAt)).toBeGreaterThan(Date.now());

    // The QR code decodes back to the tablet URL with the code in the fragment (never sent to a server).
    const { width, data, modules } = rasterize(body.qrSvg);
    expect(jsQR(data, width, width)?.data).toBe(`${body.url}#code=${body.code}`);
    const expected = QRCode.create(`${body.url}#code=${body.code}`, { errorCorrectionLevel: 'M' }).modules;
    expect(
      modules.slice(2, -2).map((row) =>
        row
          .slice(2, -2)
          .map((m) => (m ? 1 : 0))
          .join(''),
      ),
    ).toEqual(
      Array.from({ length: expected.size }, (_, r) =>
        Array.from({ length: expected.size }, (_, c) => (expected.get(r, c) ? 1 : 0)).join(''),
      ),
    );

    // The code is a working tablet code for that patient, and works once.
    const claim = await tabletPost('claim', { code: body.code, device: 'bay-9' });
    expect(claim.status).toBe(201);
    expect(((await claim.json()) as { patientName?: string }).patientName).toBe(body.patient.name.split(' ')[0]);
    expect((await tabletPost('claim', { code: body.code })).status).toBe(404);
  });

  it('names another patient by id, and a cancelled code no longer works', async () => {
    const res = await app('POST', '/tablet-handoff', clinician, { patientId: 'sandbox-patient-3' });
    expect(res.status).toBe(201);
    const body = (await res.json()) as Handoff;
    expect(body.patient.id).toBe('sandbox-patient-3');
    const cancelled = await app('POST', '/tablet-handoff/cancel', clinician, { code: body.code });
    expect(await cancelled.json()).toEqual({ cancelled: true });
    expect((await tabletPost('claim', { code: body.code })).status).toBe(404);
  });

  it('is refused without a session, without the CSRF token, with a malformed body, and for a patient the EHR does not give this user', async () => {
    const before = (await h.tablet.sessions()).length;
    expect((await app('POST', '/tablet-handoff', undefined, {})).status).toBe(401);
    const noCsrf = await app('POST', '/tablet-handoff', { session: clinician.session }, {});
    expect(noCsrf.status).toBe(403);
    expect((await issue(noCsrf))?.diagnostics).toMatch(/CSRF/);
    const malformed = await app('POST', '/tablet-handoff', clinician, { patientId: '../Practitioner/x' });
    expect(malformed.status).toBe(400);
    expect((await issue(malformed))?.expression).toEqual(['patientId']);
    const unknown = await app('POST', '/tablet-handoff', clinician, { patientId: 'not-in-this-ehr' });
    expect(unknown.status).toBe(404);
    expect(await h.tablet.sessions()).toHaveLength(before);
  });

  it('is refused to a session whose sign-in with the EHR has ended (the patient is read with its own token first)', async () => {
    const launched = await apiLaunch(h, 'sandbox-patient-2');
    const stored = (await h.app.store.getSession(launched.session, Date.now()))!;
    await h.app.store.updateTokens(launched.session, {
      access_token: 'revoked-access',
      refresh_token: 'revoked-refresh',
      expiresAt: Date.now() - 1000,
    });
    expect(stored.fhirUser).toMatch(/^Practitioner\//);
    const before = (await h.tablet.sessions()).length;
    const res = await app('POST', '/tablet-handoff', launched, {});
    expect(res.status).toBe(401);
    expect(await h.tablet.sessions()).toHaveLength(before);
  });

  it('is refused, with the staff view and the alert stream, to a sign-in that is not a practitioner', async () => {
    const launched = await apiLaunch(h, 'sandbox-patient-2');
    const stored = (await h.app.store.getSession(launched.session, Date.now()))!;
    // The same EHR sign-in, but as the patient herself (a patient-facing launch).
    await h.app.store.putSession(launched.session, { ...stored, fhirUser: 'Patient/sandbox-patient-2' });
    for (const res of [
      await app('POST', '/tablet-handoff', launched, {}),
      await app('GET', '/tablet-sessions', launched),
      await app('GET', '/alerts', launched),
    ]) {
      expect(res.status).toBe(403);
      expect((await issue(res))?.diagnostics).toMatch(/practitioner/);
    }
    const context = (await (await app('GET', '/context', launched)).json()) as { tablet: boolean };
    expect(context.tablet).toBe(false);
    expect(((await (await app('GET', '/context', clinician)).json()) as { tablet: boolean }).tablet).toBe(true);
  });
});

describe('GET /app/api/tablet-sessions', () => {
  it('shows a code waiting, then the tablet in progress, offline when it went quiet, and received', async () => {
    const view = async () => {
      const res = await app('GET', '/tablet-sessions', clinician);
      expect(res.status).toBe(200);
      return (await res.json()) as { sessions: StaffRow[]; outbox: unknown[] };
    };
    const rowFor = async (patient: string) => (await view()).sessions.filter((s) => s.patient.id === patient);
    const { code, handoffId } = (await (
      await app('POST', '/tablet-handoff', clinician, { patientId: 'sandbox-patient-5' })
    ).json()) as Handoff & { handoffId: string };
    const [waiting] = await rowFor('sandbox-patient-5');
    // The row names its hand-off (an opaque id, never the code) so the page that showed the code can follow it.
    expect(handoffId).toMatch(/^[A-Za-z0-9_-]{16}$/);
    expect(waiting).toMatchObject({ handoff: handoffId });
    expect(JSON.stringify(await view())).not.toContain(code);
    expect(waiting).toMatchObject({
      state: 'waiting-for-code',
      stateWords: 'waiting for the code',
      startedBy: expect.stringMatching(/\S/),
      emergency: false,
      offline: false,
    });
    expect(waiting!.patient.name).not.toBe('Unknown patient');
    expect(waiting!.device).toBeUndefined();

    const claim = await tabletPost('claim', { code, device: 'bay-5' });
    const claimed = (await claim.json()) as {
      session: string;
      expectedAge?: { linkId: string; low: number; high: number };
    };
    const { session } = claimed;
    // The hand-off carried her birth date from the record: the tablet gets the ages she may type unasked, not the date.
    const birthDate = (h.ehr.store.read('Patient', 'sandbox-patient-5') as fhir4.Patient).birthDate!;
    const today = new Date().toISOString().slice(0, 10);
    const age =
      Number(today.slice(0, 4)) - Number(birthDate.slice(0, 4)) - (today.slice(5) < birthDate.slice(5) ? 1 : 0);
    expect(claimed.expectedAge).toMatchObject({ linkId: 'age' });
    expect(claimed.expectedAge!.low).toBeLessThanOrEqual(age - 1);
    expect(claimed.expectedAge!.high).toBeGreaterThanOrEqual(age + 1);
    expect(claimed.expectedAge!.high - claimed.expectedAge!.low).toBeLessThanOrEqual(3);
    expect(JSON.stringify(claimed)).not.toContain(birthDate.slice(0, 4));
    const [inProgress] = await rowFor('sandbox-patient-5');
    expect(inProgress).toMatchObject({
      device: 'bay-5',
      state: 'in-progress',
      stateWords: 'in progress',
      offline: false,
      handoff: handoffId,
    });
    expect(Date.parse(inProgress!.lastSeenAt!)).toBeGreaterThan(Date.now() - 60_000);

    // The tablet last called two minutes ago (set in its store, as if the network had gone).
    const db = new Database(path.join(h.dataDir, 'tablet', 'tablet.sqlite'));
    db.prepare("UPDATE session SET body = json_set(body, '$.lastSeenAt', ?) WHERE handle_hash = ?").run(
      Date.now() - 120_000,
      sha256(session),
    );
    db.close();
    const [quiet] = await rowFor('sandbox-patient-5');
    expect(quiet).toMatchObject({
      state: 'in-progress',
      offline: true,
      stateWords: 'tablet offline — answers kept on the tablet',
    });

    // A call from the tablet makes it seen again.
    expect((await tabletPost('ping', {}, session)).status).toBe(204);
    expect((await rowFor('sandbox-patient-5'))[0]).toMatchObject({ offline: false });

    const sent = await tabletPost('submit', exampleSubmission(), session);
    expect(sent.status).toBe(201);
    expect((await rowFor('sandbox-patient-5'))[0]).toMatchObject({
      state: 'received',
      stateWords: 'received',
      emergency: false,
    });
  });

  it('lists tablet submissions still waiting to reach the EHR', async () => {
    const { code } = (await (
      await app('POST', '/tablet-handoff', clinician, { patientId: 'sandbox-patient-6' })
    ).json()) as Handoff;
    const { session } = (await (await tabletPost('claim', { code, device: 'bay-6' })).json()) as { session: string };
    h.setFhirOutage(true);
    try {
      const sent = await tabletPost('submit', exampleSubmission(), session);
      expect(sent.status).toBe(201);
      expect(((await sent.json()) as { state: string }).state).toBe('queued');
      const { outbox } = (await (await app('GET', '/tablet-sessions', clinician)).json()) as {
        outbox: { patient: { id?: string; name: string }; status: string; attempts: number }[];
      };
      expect(outbox).toEqual([
        expect.objectContaining({ patient: expect.objectContaining({ id: 'sandbox-patient-6' }), status: 'pending' }),
      ]);
    } finally {
      h.setFhirOutage(false);
    }
    await poll(
      async () => ((await (await app('GET', '/tablet-sessions', clinician)).json()) as { outbox: unknown[] }).outbox,
      { timeout: 20_000 },
    ).toEqual([]);
  });
});

describe('GET /app/api/alerts', () => {
  it('streams an emergency answer on a tablet to the signed-in clinician, with the patient named from the EHR', async () => {
    expect((await app('GET', '/alerts', undefined)).status).toBe(401);
    const res = await app('GET', '/alerts', clinician);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/event-stream');
    const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
    try {
      let text = '';
      while (!text.includes(': connected')) text += (await reader.read()).value ?? '';
      const { code } = (await (
        await app('POST', '/tablet-handoff', clinician, { patientId: 'sandbox-patient-4' })
      ).json()) as Handoff;
      const { session } = (await (await tabletPost('claim', { code, device: 'bay-4' })).json()) as { session: string };
      const check = await tabletPost(
        'check',
        {
          response: {
            resourceType: 'QuestionnaireResponse',
            item: [{ linkId: 'red-flags', item: [{ linkId: 'rf-saddle-numbness', answer: [YES] }] }],
          },
        },
        session,
      );
      expect(await check.json()).toEqual({ tellStaff: true });
      while (!/event: emergency\n(?:.*\n)*?data: .*\n\n/.test(text)) text += (await reader.read()).value ?? '';
      const data = JSON.parse(/data: (.*)\n/.exec(text.slice(text.indexOf('event: emergency')))![1]!) as {
        patient: { id: string; name: string };
        device: string;
        rules: string[];
        at: string;
      };
      const patient = h.ehr.store.read('Patient', 'sandbox-patient-4') as fhir4.Patient;
      expect(data).toMatchObject({
        patient: {
          id: 'sandbox-patient-4',
          name: patient.name![0]!.text ?? [...(patient.name![0]!.given ?? []), patient.name![0]!.family].join(' '),
        },
        device: 'bay-4',
      });
      expect(data.rules).toContain('RF-01');
    } finally {
      await reader.cancel();
    }
  });
});
