/**
 * The tablet's API over real HTTP: hand-off codes (single use, expiry, rate limit), the patient's scope,
 * submit through the write path (patient as author, staff as enterer, the device), exactly once, and the
 * emergency check with its live staff alert.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { poll } from '../support/poll.js';
import { startTabletHarness, STAFF, type TabletHarness } from './harness.js';
import {
  COLLECTION_DEVICE_EXT,
  TABLET_ALERT_SYSTEM,
  TABLET_RESPONSE_SYSTEM,
  type TabletAlert,
} from '../../src/tablet/index.js';

const REPO = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');
const example = JSON.parse(
  fs.readFileSync(path.join(REPO, 'examples/RF-01/response.json'), 'utf8'),
) as fhir4.QuestionnaireResponse;

let h: TabletHarness;
beforeAll(async () => {
  h = await startTabletHarness();
});
afterAll(async () => {
  await h?.close();
});

async function post(pathname: string, body: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(`${h.baseUrl}/tablet/api/${pathname}`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : undefined };
}

async function claimFor(patientId: string, device = 'bay-1'): Promise<string> {
  const { code } = await h.tablet.createHandoff({ patientId, patientName: 'Ana', staff: STAFF });
  const r = await post('claim', { code, device });
  expect(r.status).toBe(201);
  return r.body!.session as string;
}

function answers(
  overrides: Record<string, fhir4.QuestionnaireResponseItemAnswer[]> = {},
): fhir4.QuestionnaireResponseItem[] {
  return example.item!.map((g) => ({
    ...g,
    item: g.item?.map((i) => (overrides[i.linkId] ? { ...i, answer: overrides[i.linkId] } : i)),
  }));
}

describe('hand-off codes', () => {
  it('are short, from an unambiguous alphabet, and work once', async () => {
    const { code, expiresAt } = await h.tablet.createHandoff({ patientId: 'sandbox-patient-1', staff: STAFF });
    expect(code).toMatch(/^[A-HJKMNP-Z2-9]{8}$/);
    expect(Date.parse(expiresAt)).toBeGreaterThan(Date.now());
    const first = await post('claim', { code: code.toLowerCase() });
    expect(first.status).toBe(201);
    expect(first.body!.session).toEqual(expect.any(String));
    const again = await post('claim', { code });
    expect(again.status).toBe(404);
  });

  it('expire', async () => {
    const short = await startTabletHarness({ codeTtlMs: 1 });
    try {
      const { code } = await short.tablet.createHandoff({ patientId: 'sandbox-patient-1', staff: STAFF });
      await new Promise((r) => setTimeout(r, 20));
      const res = await fetch(`${short.baseUrl}/tablet/api/claim`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ code }),
      });
      expect(res.status).toBe(404);
    } finally {
      await short.close();
    }
  });

  it('need the staff member who starts the session', async () => {
    await expect(h.tablet.createHandoff({ patientId: 'sandbox-patient-1', staff: {} })).rejects.toThrow(/staff/);
  });

  it('refuse guessing after a few failures (429)', async () => {
    const own = await startTabletHarness({ maxFailedClaims: 4 });
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 5; i++) {
        const res = await fetch(`${own.baseUrl}/tablet/api/claim`, {
          method: 'POST',
          headers: { 'Content-Type': 'application/json' },
          body: JSON.stringify({ code: 'ZZZZZZ' }),
        });
        statuses.push(res.status);
      }
      expect(statuses).toEqual([404, 404, 404, 404, 429]);
    } finally {
      await own.close();
    }
  });
});

describe('a tablet session', () => {
  it('gives the Questionnaire only, with a valid handle, and nothing without one', async () => {
    const res = await fetch(`${h.baseUrl}/tablet/api/questionnaire`);
    expect(res.status).toBe(401);
    expect(res.headers.get('cache-control')).toBe('no-store');
  });

  it('submits through the write path once: patient as source and author, staff as enterer, the device', async () => {
    const session = await claimFor('sandbox-patient-2');
    const value = crypto.randomUUID();
    const response = {
      resourceType: 'QuestionnaireResponse',
      identifier: { system: TABLET_RESPONSE_SYSTEM, value },
      subject: { reference: 'Patient/sandbox-patient-1' },
      item: answers(),
    };
    const first = await post('submit', { response }, { 'X-Tablet-Session': session });
    expect(first.status).toBe(201);
    expect(first.body).toEqual({ state: 'sent', duplicate: false }); // never flags or results
    const retry = await post('submit', { response }, { 'X-Tablet-Session': session });
    expect(retry.body).toEqual({ state: 'sent', duplicate: true });
    const malformed = await post(
      'submit',
      { response: { resourceType: 'QuestionnaireResponse', item: [{ answer: 'x' }] } },
      { 'X-Tablet-Session': session },
    );
    expect(malformed.status).toBe(400);
    const other = await post(
      'submit',
      { response: { ...response, identifier: { system: TABLET_RESPONSE_SYSTEM, value: crypto.randomUUID() } } },
      { 'X-Tablet-Session': session },
    );
    expect(other.status).toBe(403);

    const list = (await (
      await fetch(`${h.baseUrl}/tablet/api/sessions`, { headers: { 'x-test-staff': 'yes' } })
    ).json()) as { sessions: { patient: fhir4.Reference; device: string; state: string }[] };
    expect(list.sessions.find((x) => x.patient.reference === 'Patient/sandbox-patient-2')).toMatchObject({
      device: 'bay-1',
      state: 'received',
    });
    expect((await fetch(`${h.baseUrl}/tablet/api/sessions`)).status).toBe(401);

    const { matches } = h.ehr.store.search('QuestionnaireResponse', [
      ['identifier', `${TABLET_RESPONSE_SYSTEM}|${value}`],
    ]);
    expect(matches).toHaveLength(1);
    const stored = matches[0] as fhir4.QuestionnaireResponse;
    // The session's patient, whatever the tablet claimed.
    expect(stored.subject?.reference).toBe('Patient/sandbox-patient-2');
    expect(stored.author?.reference).toBe('Patient/sandbox-patient-2');
    expect(stored.source?.reference).toBe('Patient/sandbox-patient-2');
    expect(stored.extension?.find((e) => e.url === COLLECTION_DEVICE_EXT)?.valueReference?.display).toBe(
      'waiting-room tablet bay-1',
    );
    const provenance = h.ehr.store.search('Provenance', [['target', `QuestionnaireResponse/${stored.id}`]])
      .matches[0] as fhir4.Provenance;
    const agent = (code: string) =>
      provenance.agent.find((a) => a.type?.coding?.some((c) => c.code === code))?.who.reference;
    expect(agent('author')).toBe('Patient/sandbox-patient-2');
    expect(agent('enterer')).toBe(STAFF.reference);
  });

  it('raises a live staff alert on an EMERGENCY answer; the patient only hears "tell the staff"', async () => {
    const session = await claimFor('sandbox-patient-3');
    const received: TabletAlert[] = [];
    const off = h.tablet.onAlert((a) => received.push(a));
    const sse = await fetch(`${h.baseUrl}/tablet/api/alerts`, { headers: { 'x-test-staff': 'yes' } });
    expect(sse.headers.get('content-type')).toContain('text/event-stream');
    const reader = sse.body!.getReader();
    try {
      const calm = await post(
        'check',
        {
          response: {
            resourceType: 'QuestionnaireResponse',
            item: [{ linkId: 'pain', item: [{ linkId: 'age', answer: [{ valueInteger: 50 }] }] }],
          },
        },
        { 'X-Tablet-Session': session },
      );
      expect(calm.body).toEqual({ tellStaff: false });
      const YES = { valueCoding: { system: 'http://terminology.hl7.org/CodeSystem/v2-0136', code: 'Y' } };
      const twoEmergencies = {
        response: {
          resourceType: 'QuestionnaireResponse',
          item: [
            {
              linkId: 'red-flags',
              item: [
                { linkId: 'rf-saddle-numbness', answer: [YES] },
                { linkId: 'rf-bladder-bowel', answer: [YES] },
              ],
            },
          ],
        },
      };
      const r = await post('check', twoEmergencies, { 'X-Tablet-Session': session });
      expect(r.body).toEqual({ tellStaff: true });
      expect(received).toHaveLength(1);
      // Raised once per session, however often the answers are checked again.
      await post('check', twoEmergencies, { 'X-Tablet-Session': session });
      expect(received).toHaveLength(1);
      expect(received[0]!.patient.reference).toBe('Patient/sandbox-patient-3');
      expect(received[0]!.rules).toContain('RF-01');
      // A later answer that fires ANOTHER emergency rule (major trauma) is raised to staff as well.
      const MAJOR = { valueCoding: { system: 'https://periplan.app/fhir/CodeSystem/back-pain-answer', code: 'major' } };
      const later = await post(
        'check',
        {
          response: {
            resourceType: 'QuestionnaireResponse',
            item: [
              {
                linkId: 'red-flags',
                item: [
                  { linkId: 'rf-saddle-numbness', answer: [YES] },
                  { linkId: 'rf-bladder-bowel', answer: [YES] },
                  { linkId: 'rf-trauma', answer: [MAJOR] },
                ],
              },
            ],
          },
        },
        { 'X-Tablet-Session': session },
      );
      expect(later.body).toEqual({ tellStaff: true });
      expect(received).toHaveLength(2);
      expect(received[1]!.rules).toContain('RF-07');
      let text = '';
      while (!text.includes('event: emergency')) text += new TextDecoder().decode((await reader.read()).value);
      expect(text).toContain('sandbox-patient-3');
      // The alert is a PH Flag on the worklist; when the full submission arrives (with its own emergency Flag
      // from the rules) the alert Flag is closed: one row on the worklist, not two.
      const flags = () =>
        h.ehr.store.search('Flag', [['subject', 'Patient/sandbox-patient-3']]).matches as fhir4.Flag[];
      await poll(
        () =>
          flags().filter((f) => f.identifier?.some((i) => i.system === TABLET_ALERT_SYSTEM) && f.status === 'active')
            .length,
      ).toBe(1);
      const sent = await post(
        'submit',
        {
          response: {
            resourceType: 'QuestionnaireResponse',
            identifier: { system: TABLET_RESPONSE_SYSTEM, value: crypto.randomUUID() },
            item: answers(),
          },
        },
        { 'X-Tablet-Session': session },
      );
      expect(sent.status).toBe(201);
      const active = flags().filter((f) => f.status === 'active' && f.meta?.tag?.some((t) => t.code === 'PH'));
      expect(active).toHaveLength(1);
      expect(active[0]!.identifier?.some((i) => i.system === TABLET_ALERT_SYSTEM)).toBe(false);
    } finally {
      off();
      await reader.cancel();
    }
    const refused = await fetch(`${h.baseUrl}/tablet/api/alerts`);
    expect(refused.status).toBeGreaterThanOrEqual(400);
  });
});

describe('a submission that arrives after its session ended (queued on a tablet that was offline)', () => {
  /** Claim on `harness`, then wait until the session has ended (staff see it as ended and not sent). */
  /** `outlive` ends the session (moves the harness's clock past its end; by default, waits for it). */
  async function claimAndOutlive(
    harness: TabletHarness,
    patientId: string,
    outlive: () => void = () => undefined,
  ): Promise<string> {
    const { code } = await harness.tablet.createHandoff({ patientId, staff: STAFF });
    const claimed = await fetch(`${harness.baseUrl}/tablet/api/claim`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ code }),
    });
    expect(claimed.status).toBe(201);
    const { session } = (await claimed.json()) as { session: string };
    const stateOf = async () =>
      (await harness.tablet.sessions()).find((s) => s.patient.reference === `Patient/${patientId}`)?.state;
    expect(await stateOf()).toBe('in-progress');
    outlive();
    await poll(stateOf, { timeout: 5_000 }).toBe('ended-unsent');
    return session;
  }
  const send = (harness: TabletHarness, pathname: string, session: string, body: unknown = {}) =>
    fetch(`${harness.baseUrl}/tablet/api/${pathname}`, {
      method: pathname === 'questionnaire' ? 'GET' : 'POST',
      headers: { 'Content-Type': 'application/json', 'X-Tablet-Session': session },
      ...(pathname === 'questionnaire' ? {} : { body: JSON.stringify(body) }),
    });
  const submission = (value: string) => ({
    response: {
      resourceType: 'QuestionnaireResponse',
      identifier: { system: TABLET_RESPONSE_SYSTEM, value },
      item: answers(),
    },
  });

  it('is accepted within the submit grace period, once; every other route treats the session as ended', async () => {
    const short = await startTabletHarness({ sessionTtlMs: 300 });
    try {
      const session = await claimAndOutlive(short, 'sandbox-patient-5');
      expect((await send(short, 'questionnaire', session)).status).toBe(401);
      expect((await send(short, 'check', session, submission(crypto.randomUUID()))).status).toBe(401);
      expect((await send(short, 'ping', session)).status).toBe(401);
      const value = crypto.randomUUID();
      const first = await send(short, 'submit', session, submission(value));
      expect(first.status).toBe(201);
      expect(await first.json()).toEqual({ state: 'sent', duplicate: false });
      // The acknowledgement was lost: the tablet sends the same submission again.
      const retry = await send(short, 'submit', session, submission(value));
      expect(await retry.json()).toEqual({ state: 'sent', duplicate: true });
      expect((await send(short, 'submit', session, submission(crypto.randomUUID()))).status).toBe(403);
      expect(
        short.ehr.store.search('QuestionnaireResponse', [['identifier', `${TABLET_RESPONSE_SYSTEM}|${value}`]]).matches,
      ).toHaveLength(1);
      expect(
        short.ehr.store.search('QuestionnaireResponse', [['subject', 'Patient/sandbox-patient-5']]).matches,
      ).toHaveLength(1);
      // Received: nothing is waiting on a tablet any more, so staff no longer see the session.
      expect(await short.tablet.sessions()).toEqual([]);
    } finally {
      await short.close();
    }
  });

  it('is refused (401) once the grace period is over too', async () => {
    // The tablet's clock is moved, not waited for: a busy machine cannot skip the "ended, not sent" state.
    let clock = Date.parse('2026-01-05T09:00:00Z');
    const short = await startTabletHarness({ sessionTtlMs: 50, submitGraceMs: 50, now: () => clock });
    try {
      const session = await claimAndOutlive(short, 'sandbox-patient-6', () => (clock += 60));
      // Past the session's end and its grace period (both 50 ms) by a wide margin.
      clock += 300;
      expect((await send(short, 'submit', session, submission(crypto.randomUUID()))).status).toBe(401);
      expect(
        short.ehr.store.search('QuestionnaireResponse', [['subject', 'Patient/sandbox-patient-6']]).matches,
      ).toHaveLength(0);
      expect(await short.tablet.sessions()).toEqual([]);
    } finally {
      await short.close();
    }
  });
});
