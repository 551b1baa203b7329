/**
 * Flags stay open until a clinician records what happened to the patient; decisions can be undone by their
 * author within the undo window; the worklist tells Emergency from Urgent, names the rule, and lists an
 * incomplete red-flag screen. One composed server (src/server.ts, the sandbox EHR over HTTP), four patients
 * interleaved, two clinicians, and a fixed clock the test moves (never the wall clock).
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import { expect } from '../support/expect.js';
import { poll } from '../support/poll.js';
import {
  CLINICIAN_ACT_SYSTEM,
  FLAG_OUTCOME_CODES,
  FLAG_OUTCOME_DISPLAY,
  FLAG_OUTCOME_SYSTEM,
  FLAG_OUTCOME_VALUESET,
} from '../../src/submission/resolve-proposal.js';
import { FLAG_PRIORITY_SYSTEM, FLAG_SYSTEM } from '../../src/submission/worklist-tags.js';
import { startAppHarness, type AppHarness } from './harness.js';
import { apiLaunch, appCall, exampleResponse } from './launch-support.js';

const REPO = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');
const T0 = Date.parse('2026-12-03T09:00:00Z');
let clockMs = T0;
const advanceMinutes = (m: number) => {
  clockMs += m * 60_000;
};

let h: AppHarness;
type Who = { session: string; csrf: string };
/** sandbox-patient-1: RF-01 (Emergency, MRI). 2: RF-02 (Urgent, MRI). 5: RF-00 (screen incomplete). 6: BMD-01. */
const P = {
  emergency: 'sandbox-patient-1',
  urgent: 'sandbox-patient-2',
  incomplete: 'sandbox-patient-5',
  bone: 'sandbox-patient-6',
} as const;
const sessions: Record<string, Who> = {};
let colleague: Who; // a second clinician, on the emergency patient

const call = <T = unknown>(who: Who, method: string, pathname: string, body?: unknown) =>
  appCall<T>(h, who, method, pathname, body);

interface Proposal {
  kind: string;
  target?: string;
  status?: string;
  decision?: { decision: string; provenance?: string; undoable?: boolean };
  outcomeNeeded?: boolean;
  outcome?: { code: string; display: string; who?: string; provenance?: string; undoable?: boolean };
}
interface Results {
  rules: { ruleId: string; tier: string; proposals: Proposal[] }[];
}
interface Row {
  flagId: string;
  tier: string;
  tierCode: string;
  tierWords: string;
  ruleId?: string;
  ruleTitle?: string;
  patient?: { id: string };
}

const results = async (patient: string) =>
  (await call<Results>(sessions[patient]!, 'GET', `/patients/${patient}/results`)).body;
const proposalsOf = async (patient: string, rule: string) =>
  (await results(patient)).rules.find((r) => r.ruleId === rule)!.proposals;
const mriOf = async (patient: string, rule: string) =>
  (await proposalsOf(patient, rule)).find((p) => p.kind === 'ServiceRequest')!;
const flagOf = async (patient: string, rule: string) =>
  (await proposalsOf(patient, rule)).find((p) => p.kind === 'Flag')!;
const worklist = async () =>
  (await call<{ total: number; rows: Row[] }>(sessions[P.urgent]!, 'GET', '/worklist?sort=tier&page=1')).body;
const rowsOf = async (patient: string) => (await worklist()).rows.filter((r) => r.patient?.id === patient);
const ehrRead = async <T>(ref: string) =>
  (await (
    await fetch(`${h.baseUrl}/ehr/fhir/${ref}`, {
      headers: { authorization: `Bearer ${await h.writePath.target.getToken!()}` },
    })
  ).json()) as T;

beforeAll(async () => {
  h = await startAppHarness({ now: () => new Date(clockMs), env: { UNDO_WINDOW_MINUTES: '10' } });
  h.ehr.store.update({
    resourceType: 'Practitioner',
    id: 'second-clinician',
    name: [{ prefix: ['Dr'], given: ['Maria'], family: 'Lopez' }],
  } as fhir4.Practitioner);
  for (const p of Object.values(P)) sessions[p] = await apiLaunch(h, p);
  colleague = await apiLaunch(h, P.emergency, 'second-clinician');
  // Interleaved: each patient's intake submitted in turn through the app.
  const intakes: [string, string][] = [
    [P.emergency, 'RF-01'],
    [P.bone, 'BMD-01'],
    [P.urgent, 'RF-02'],
    [P.incomplete, 'RF-00'],
  ];
  for (const [patient, example] of intakes) {
    const sent = await call<{ state: string }>(sessions[patient]!, 'POST', '/submit', {
      response: exampleResponse(example),
    });
    expect(sent.status, `${example} for ${patient}`).toBe(200);
    expect(sent.body.state).toBe('sent');
  }
}, 120_000);
afterAll(async () => {
  await h?.close();
});

describe('the flag-outcome CodeSystem', () => {
  it('defines the outcome codes the module records, and its ValueSet includes it', () => {
    const cs = JSON.parse(
      fs.readFileSync(path.join(REPO, 'profiles/CodeSystem-flag-outcome.json'), 'utf8'),
    ) as fhir4.CodeSystem;
    const vs = JSON.parse(
      fs.readFileSync(path.join(REPO, 'profiles/ValueSet-flag-outcome.json'), 'utf8'),
    ) as fhir4.ValueSet;
    expect(cs).toMatchObject({
      url: FLAG_OUTCOME_SYSTEM,
      version: '1.0.0',
      status: 'active',
      content: 'complete',
      valueSet: FLAG_OUTCOME_VALUESET,
      count: FLAG_OUTCOME_CODES.length,
    });
    expect(cs.url?.startsWith('https://periplan.app/fhir/')).toBe(true);
    expect(cs.concept?.map((c) => c.code)).toEqual([...FLAG_OUTCOME_CODES]);
    expect(Object.fromEntries(cs.concept!.map((c) => [c.code, c.display]))).toEqual(FLAG_OUTCOME_DISPLAY);
    expect(vs).toMatchObject({
      url: FLAG_OUTCOME_VALUESET,
      status: 'active',
      compose: { include: [{ system: FLAG_OUTCOME_SYSTEM, version: '1.0.0' }] },
    });
  });
});

describe('the worklist: most serious first, rule named, incomplete screens listed', () => {
  it('orders Emergency, Urgent, Soon, Routine with each row naming its rule, and lists RF-00 as its own row', async () => {
    const { rows } = await worklist();
    const rank = { stat: 0, asap: 1, urgent: 2, routine: 3 } as Record<string, number>;
    expect(rows.map((r) => rank[r.tierCode])).toEqual([...rows.map((r) => rank[r.tierCode])].sort());
    const seen = rows.map((r) => `${r.patient?.id} ${r.ruleId} ${r.tierCode} ${r.tierWords}`);
    expect(seen).toEqual([
      `${P.emergency} RF-01 stat Emergency`,
      `${P.urgent} RF-02 asap Urgent`,
      ...seen.filter((s) => / urgent Soon$/.test(s)),
      ...seen.filter((s) => / routine Routine$/.test(s)),
    ]);
    expect(seen).toContain(`${P.incomplete} RF-00 urgent Soon`);
    expect(seen).toContain(`${P.bone} RF-05 urgent Soon`);
    expect(seen).toContain(`${P.bone} BMD-01 routine Routine`);
    expect(rows.find((r) => r.ruleId === 'RF-01')!.ruleTitle).toBe('Suspected cauda equina syndrome');
    expect(rows.find((r) => r.ruleId === 'RF-00')!.ruleTitle).toBe('Red-flag screen incomplete');
  });

  it('the RF-00 flag has a code of its own, red-flag-screen-incomplete (never imaging-follow-up), with its own filter', async () => {
    const row = (await rowsOf(P.incomplete)).find((r) => r.ruleId === 'RF-00')!;
    const stored = await ehrRead<fhir4.Flag>(`Flag/${row.flagId}`);
    expect(stored.code.coding?.[0]).toEqual({
      system: FLAG_SYSTEM,
      code: 'red-flag-screen-incomplete',
      display: 'Red-flag screen incomplete',
    });
    expect(stored.meta?.tag?.filter((t) => t.system === FLAG_SYSTEM).map((t) => t.code)).toEqual([
      'red-flag-screen-incomplete',
    ]);
    expect(row).toMatchObject({ tierCode: 'urgent', tierWords: 'Soon' });
    const filtered = async (flag: string) =>
      (await call<{ rows: Row[] }>(sessions[P.urgent]!, 'GET', `/worklist?flag=${flag}&sort=tier&page=1`)).body.rows;
    expect(
      (await filtered('imaging-follow-up')).some((r) => r.patient?.id === P.incomplete && r.ruleId === 'RF-00'),
    ).toBe(false);
    expect((await filtered('red-flag-screen-incomplete')).map((r) => `${r.patient?.id} ${r.ruleId}`)).toEqual([
      `${P.incomplete} RF-00`,
    ]);
    // The CodeSystem defines it beside the three codes clinical-rules.md pins, which keep their meaning.
    const cs = JSON.parse(
      fs.readFileSync(path.join(REPO, 'profiles/CodeSystem-back-pain-flag.json'), 'utf8'),
    ) as fhir4.CodeSystem;
    expect(cs.concept?.map((c) => c.code)).toEqual([
      'emergency-assessment',
      'imaging-follow-up',
      'bone-density-scan',
      'red-flag-screen-incomplete',
    ]);
    expect(cs.count).toBe(4);
  });

  it('the RF-00 flag is shown on her results and closes like any other: by an outcome', async () => {
    const row = (await rowsOf(P.incomplete)).find((r) => r.ruleId === 'RF-00')!;
    const shown = await flagOf(P.incomplete, 'RF-00');
    expect(shown).toMatchObject({ target: `Flag/${row.flagId}`, status: 'active', outcomeNeeded: true });
    expect(
      (
        await call(sessions[P.incomplete]!, 'POST', '/flags/outcome', {
          target: `Flag/${row.flagId}`,
          outcome: 'assessed-same-day',
          note: 'Screen completed in clinic',
        })
      ).status,
    ).toBe(200);
    expect(await rowsOf(P.incomplete)).toEqual([]);
    expect((await flagOf(P.incomplete, 'RF-00')).outcome).toMatchObject({
      code: 'assessed-same-day',
      note: 'Screen completed in clinic',
    });
  });
});

describe('flags stay open until a clinician records what happened', () => {
  it('accepting the MRI of an emergency keeps the EMERGENCY flag active and on the worklist', async () => {
    const mri = await mriOf(P.emergency, 'RF-01');
    expect(
      (await call(sessions[P.emergency]!, 'POST', '/decisions', { target: mri.target, decision: 'accept' })).status,
    ).toBe(200);
    expect((await mriOf(P.emergency, 'RF-01')).decision?.decision).toBe('accepted');
    const flag = await flagOf(P.emergency, 'RF-01');
    expect(flag.status).toBe('active');
    expect(flag.outcomeNeeded).toBe(true);
    const rows = await rowsOf(P.emergency);
    expect(rows.map((r) => r.ruleId)).toEqual(['RF-01']);
    expect(rows[0]).toMatchObject({ tierCode: 'stat', tierWords: 'Emergency' });
  });

  it('dismissing the urgent MRI keeps the URGENT flag active too', async () => {
    const mri = await mriOf(P.urgent, 'RF-02');
    const dismissed = await call(sessions[P.urgent]!, 'POST', '/decisions', {
      target: mri.target,
      decision: 'dismiss',
      reason: 'done-elsewhere',
      note: 'MRI done last week',
    });
    expect(dismissed.status).toBe(200);
    expect((await flagOf(P.urgent, 'RF-02')).status).toBe('active');
    expect((await rowsOf(P.urgent)).map((r) => r.tierCode)).toEqual(['asap']);
  });

  it('a Flag cannot be closed by accepting or dismissing it (400 with the element at fault)', async () => {
    const flag = await flagOf(P.emergency, 'RF-01');
    const res = await call<fhir4.OperationOutcome>(sessions[P.emergency]!, 'POST', '/decisions', {
      target: flag.target,
      decision: 'dismiss',
      reason: 'not-clinically-indicated',
    });
    expect(res.status).toBe(400);
    expect(res.body.issue[0]!.expression).toEqual(['target']);
    expect((await flagOf(P.emergency, 'RF-01')).status).toBe('active');
  });

  it('an outcome must be a code of the CodeSystem, and "not needed" needs a note (400); nothing changes', async () => {
    const flag = await flagOf(P.urgent, 'RF-02');
    const unknown = await call<fhir4.OperationOutcome>(sessions[P.urgent]!, 'POST', '/flags/outcome', {
      target: flag.target,
      outcome: 'seen',
    });
    expect(unknown.status).toBe(400);
    expect(unknown.body.issue[0]!.expression).toEqual(['outcome']);
    const noNote = await call<fhir4.OperationOutcome>(sessions[P.urgent]!, 'POST', '/flags/outcome', {
      target: flag.target,
      outcome: 'not-needed',
    });
    expect(noNote.status).toBe(400);
    expect(noNote.body.issue[0]!.expression).toEqual(['note']);
    expect((await flagOf(P.urgent, 'RF-02')).status).toBe('active');
  });

  it('recording "sent to the emergency department" closes the flag with who, when and the code in a Provenance', async () => {
    const flag = await flagOf(P.emergency, 'RF-01');
    const res = await call<{ provenance: string }>(sessions[P.emergency]!, 'POST', '/flags/outcome', {
      target: flag.target,
      outcome: 'sent-to-emergency-department',
      note: 'Ambulance called',
    });
    expect(res.status).toBe(200);
    const stored = await ehrRead<fhir4.Flag>(flag.target!);
    expect(stored.status).toBe('inactive');
    expect(stored.period?.end).toBe(new Date(clockMs).toISOString());
    expect(
      (stored.meta?.tag ?? []).filter((t) => t.system === FLAG_SYSTEM || t.system === FLAG_PRIORITY_SYSTEM),
    ).toEqual([]);
    const prov = await ehrRead<fhir4.Provenance>(`Provenance/${res.body.provenance}`);
    expect(prov.meta?.tag).toContainEqual({ system: CLINICIAN_ACT_SYSTEM, code: 'flag-outcome' });
    expect(prov.activity?.coding).toEqual([
      {
        system: FLAG_OUTCOME_SYSTEM,
        code: 'sent-to-emergency-department',
        display: 'Sent to the emergency department',
      },
    ]);
    expect(prov.reason?.[0]?.text).toBe('Ambulance called');
    expect(prov.recorded).toBe(new Date(clockMs).toISOString());
    expect(prov.agent[0]!.who).toEqual({ reference: 'Practitioner/sandbox-clinician' });
    expect(prov.target.map((t) => t.reference)).toEqual([flag.target]);
    // The results show it; the worklist no longer lists her; the other patients are untouched.
    const shown = await flagOf(P.emergency, 'RF-01');
    expect(shown.outcome).toMatchObject({
      code: 'sent-to-emergency-department',
      display: 'Sent to the emergency department',
      undoable: true,
    });
    expect(shown.outcome?.who).toMatch(/Okafor/);
    expect(await rowsOf(P.emergency)).toEqual([]);
    expect((await rowsOf(P.urgent)).map((r) => r.ruleId)).toEqual(['RF-02']);
    // Recording twice is refused.
    expect(
      (
        await call(sessions[P.emergency]!, 'POST', '/flags/outcome', {
          target: flag.target,
          outcome: 'assessed-same-day',
        })
      ).status,
    ).toBe(409);
  });
});

describe('undo, by the same clinician within the window, as a new recorded act', () => {
  it('another clinician cannot undo it (403); its author can, and the flag is back on the worklist', async () => {
    const flag = await flagOf(P.emergency, 'RF-01');
    const provenance = flag.outcome!.provenance!;
    const byColleague = await call<fhir4.OperationOutcome>(colleague, 'POST', '/undo', { provenance });
    expect(byColleague.status).toBe(403);
    expect(byColleague.body.issue[0]!.diagnostics).toMatch(/Only the clinician who recorded this/);
    expect((await ehrRead<fhir4.Flag>(flag.target!)).status).toBe('inactive');

    advanceMinutes(9);
    const before = await ehrRead<fhir4.Flag>(flag.target!);
    const undone = await call<{ undone: string; provenance: string }>(sessions[P.emergency]!, 'POST', '/undo', {
      provenance,
    });
    expect(undone.status).toBe(200);
    expect(undone.body.undone).toBe('flag-outcome');
    const after = await ehrRead<fhir4.Flag>(flag.target!);
    expect(after.status).toBe('active');
    expect(after.period?.end).toBeUndefined();
    expect(Number(after.meta?.versionId)).toBe(Number(before.meta?.versionId) + 1); // a new version: nothing erased
    const history = (await ehrRead<fhir4.Bundle>(`${flag.target}/_history`)).entry!.map(
      (e) => (e.resource as fhir4.Flag).status,
    );
    expect(history).toEqual(['active', 'inactive', 'active']);
    const undoProv = await ehrRead<fhir4.Provenance>(`Provenance/${undone.body.provenance}`);
    expect(undoProv.meta?.tag).toContainEqual({ system: CLINICIAN_ACT_SYSTEM, code: 'undo' });
    expect(undoProv.entity).toContainEqual({ role: 'source', what: { reference: `Provenance/${provenance}` } });
    expect(undoProv.recorded).toBe(new Date(clockMs).toISOString());
    expect((await rowsOf(P.emergency)).map((r) => r.tierCode)).toEqual(['stat']);
    expect((await flagOf(P.emergency, 'RF-01')).outcomeNeeded).toBe(true);
    // The same act cannot be undone twice.
    expect((await call(sessions[P.emergency]!, 'POST', '/undo', { provenance })).status).toBe(409);
  });

  it('after the window the author is refused too (409), and nothing changes', async () => {
    const flag = await flagOf(P.emergency, 'RF-01');
    const recorded = await call<{ provenance: string }>(sessions[P.emergency]!, 'POST', '/flags/outcome', {
      target: flag.target,
      outcome: 'assessed-same-day',
    });
    expect(recorded.status).toBe(200);
    advanceMinutes(10);
    advanceMinutes(0.5);
    expect((await flagOf(P.emergency, 'RF-01')).outcome?.undoable).toBe(false);
    const late = await call<fhir4.OperationOutcome>(sessions[P.emergency]!, 'POST', '/undo', {
      provenance: recorded.body.provenance,
    });
    expect(late.status).toBe(409);
    expect(late.body.issue[0]!.diagnostics).toMatch(/too late to undo/);
    expect((await ehrRead<fhir4.Flag>(flag.target!)).status).toBe('inactive');
  });

  it('undoing an accept puts the proposal back to draft and revokes the order it made', async () => {
    const mri = await mriOf(P.bone, 'RF-05');
    const accepted = await call<{ provenance: string }>(sessions[P.bone]!, 'POST', '/decisions', {
      target: mri.target,
      decision: 'accept',
    });
    expect(accepted.status).toBe(200);
    const shown = await mriOf(P.bone, 'RF-05');
    expect(shown.decision).toMatchObject({
      decision: 'accepted',
      provenance: accepted.body.provenance,
      undoable: true,
    });
    advanceMinutes(2);
    expect((await call(sessions[P.bone]!, 'POST', '/undo', { provenance: accepted.body.provenance })).status).toBe(200);
    expect((await ehrRead<fhir4.ServiceRequest>(mri.target!)).status).toBe('draft');
    const orders = (await ehrRead<fhir4.Bundle>(`ServiceRequest?subject=Patient/${P.bone}&_count=50`))
      .entry!.map((e) => e.resource as fhir4.ServiceRequest)
      .filter((s) => s.intent === 'order');
    expect(orders.map((o) => o.status)).toEqual(['revoked']);
    const again = await mriOf(P.bone, 'RF-05');
    expect(again.decision).toBeUndefined();
    // Undoing the accept never touched the Flag (still open: nobody recorded an outcome).
    expect((await flagOf(P.bone, 'RF-05')).status).toBe('active');
  });

  it('undoing a dismiss removes the reason and reopens the proposal; the colleague is refused first', async () => {
    // RF-02's dismissal (at the start) is past the window by now: shown, but no longer undoable.
    expect((await mriOf(P.urgent, 'RF-02')).decision).toMatchObject({ decision: 'dismissed', undoable: false });
    const dxa = await mriOf(P.bone, 'BMD-01');
    const dismissed = await call<{ provenance: string }>(sessions[P.bone]!, 'POST', '/decisions', {
      target: dxa.target,
      decision: 'dismiss',
      reason: 'patient-declined',
    });
    expect(dismissed.status).toBe(200);
    expect((await mriOf(P.bone, 'BMD-01')).decision).toMatchObject({ decision: 'dismissed', undoable: true });
    const byColleague = await call(colleague, 'POST', '/undo', { provenance: dismissed.body.provenance });
    expect(byColleague.status).toBe(403);
    advanceMinutes(1);
    expect((await call(sessions[P.bone]!, 'POST', '/undo', { provenance: dismissed.body.provenance })).status).toBe(
      200,
    );
    const stored = await ehrRead<fhir4.ServiceRequest>(dxa.target!);
    expect(stored.status).toBe('draft');
    expect(
      stored.extension?.some((e) => e.url === 'http://hl7.org/fhir/StructureDefinition/request-statusReason') ?? false,
    ).toBe(false);
    expect((await mriOf(P.bone, 'BMD-01')).decision).toBeUndefined();
  });
});

describe('every Flag the module writes names its rule', () => {
  const RULE_SYSTEM = 'https://periplan.app/fhir/CodeSystem/back-pain-rule';
  const YES = { valueCoding: { system: 'http://terminology.hl7.org/CodeSystem/v2-0136', code: 'Y' } };
  const MAJOR = { valueCoding: { system: 'https://periplan.app/fhir/CodeSystem/back-pain-answer', code: 'major' } };

  it("a tablet's early emergency alert is on the worklist with its rules' ids and titles, never as an unknown rule", async () => {
    const patient = 'sandbox-patient-3';
    sessions[patient] = await apiLaunch(h, patient);
    const { code } = await h.tablet.createHandoff({
      patientId: patient,
      staff: { reference: 'Practitioner/sandbox-clinician' },
    });
    const claimed = (await (
      await fetch(`${h.baseUrl}/tablet/api/claim`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ code, device: 'bay-2' }),
      })
    ).json()) as { session: string };
    const check = await fetch(`${h.baseUrl}/tablet/api/check`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-tablet-session': claimed.session },
      body: JSON.stringify({
        response: {
          resourceType: 'QuestionnaireResponse',
          item: [
            {
              linkId: 'red-flags',
              item: [
                { linkId: 'rf-saddle-numbness', answer: [YES] },
                { linkId: 'rf-trauma', answer: [MAJOR] },
              ],
            },
          ],
        },
      }),
    });
    expect(await check.json()).toEqual({ tellStaff: true });
    // The alert Flag is written in the background: wait for its row.
    await poll(async () => (await rowsOf(patient)).length, { timeout: 15_000 }).toBe(1);
    const [row] = await rowsOf(patient);
    expect(row).toMatchObject({ tierCode: 'stat', tierWords: 'Emergency', ruleId: 'RF-01, RF-07' });
    expect(row!.ruleTitle).toMatch(/^Suspected cauda equina syndrome; \S/);
    const flag = await ehrRead<fhir4.Flag>(`Flag/${row!.flagId}`);
    expect(flag.code.coding?.filter((c) => c.system === RULE_SYSTEM).map((c) => c.code)).toEqual(['RF-01', 'RF-07']);
    // The flag code stays first: it is what the Flag is (and what its profile binds).
    expect(flag.code.coding?.[0]).toMatchObject({ system: FLAG_SYSTEM, code: 'emergency-assessment' });
  });

  it('so does every Flag the write path wrote, for every patient (the rule the worklist row names)', async () => {
    const all = (await ehrRead<fhir4.Bundle>('Flag?_count=200')).entry!.map((e) => e.resource as fhir4.Flag);
    expect(all.length).toBeGreaterThanOrEqual(6);
    for (const flag of all) {
      const rules = flag.code.coding?.filter((c) => c.system === RULE_SYSTEM).map((c) => c.code) ?? [];
      expect(rules.length, `Flag/${flag.id} (${flag.code.text})`).toBeGreaterThan(0);
      const fromIdentifier = flag.identifier
        ?.find((i) => i.system === 'https://periplan.app/fhir/sid/submission-rule')
        ?.value?.split('#')[1];
      if (fromIdentifier) expect(rules).toEqual([fromIdentifier]);
    }
  });
});
