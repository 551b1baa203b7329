/**
 * The worklist pages and filters on the FHIR server: 47 tagged Flags over three tiers, read 20 at a time,
 * tier order across page boundaries, date order within a tier, flag filter, patient names via _include.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { FLAG_PRIORITY_SYSTEM, FLAG_SYSTEM } from '../../src/submission/worklist-tags.js';
import { PERSONALITIES } from '../support/fhir-personality.js';
import { startAppHarness, type AppHarness } from './harness.js';
import { apiLaunch } from './launch-support.js';

function flag(code: string, priority: 'PH' | 'PM' | 'PL', day: number, patient: string): fhir4.Flag {
  return {
    resourceType: 'Flag',
    status: 'active',
    meta: {
      tag: [
        { system: FLAG_SYSTEM, code },
        { system: FLAG_PRIORITY_SYSTEM, code: priority },
      ],
    },
    code: { coding: [{ system: FLAG_SYSTEM, code }], text: code },
    subject: { reference: `Patient/${patient}` },
    period: { start: new Date(Date.UTC(2026, 9, day)).toISOString() },
  };
}

// Through every FHIR server personality (test/support/fhir-personality.ts): `plain` is the sandbox as it is.
describe.each(PERSONALITIES)('worklist (the EHR as %s)', (personality) => {
  let h: AppHarness;
  let session: string;

  beforeAll(async () => {
    h = await startAppHarness({ personality });
    // Arrange: written straight into the sandbox store (the app reads them over HTTP like any EHR data).
    for (let i = 0; i < 25; i++)
      h.ehr.store.create(flag('imaging-follow-up', 'PH', 1 + i, `sandbox-patient-${1 + (i % 6)}`));
    for (let i = 0; i < 10; i++) h.ehr.store.create(flag('bone-density-scan', 'PM', 1 + i, 'sandbox-patient-5'));
    for (let i = 0; i < 12; i++) h.ehr.store.create(flag('bone-density-scan', 'PL', 1 + i, 'sandbox-patient-6'));
    h.ehr.store.create({ ...flag('bone-density-scan', 'PL', 20, 'sandbox-patient-6'), meta: {} }); // untagged: not on the worklist
    session = (await apiLaunch(h)).session;
  });
  afterAll(async () => {
    await h?.close();
  });

  interface Page {
    total: number;
    rows: { tier: string; since: string; flag: string; patient?: { name: string } }[];
  }
  const page = async (query: string): Promise<Page> =>
    (await (
      await fetch(`${h.baseUrl}/app/api/worklist?${query}`, { headers: { 'x-session': session } })
    ).json()) as Page;

  it('sorts by tier across pages, newest first within a tier, 20 a page', async () => {
    const [p1, p2, p3] = await Promise.all([
      page('sort=tier&page=1'),
      page('sort=tier&page=2'),
      page('sort=tier&page=3'),
    ]);
    expect(p1.total).toBe(47);
    expect(p1.rows).toHaveLength(20);
    expect(p1.rows.every((r) => r.tier === 'PH')).toBe(true);
    expect(p1.rows.map((r) => r.since)).toEqual([...p1.rows.map((r) => r.since)].sort().reverse());
    expect(p2.rows.map((r) => r.tier).join('')).toBe('PH'.repeat(5) + 'PM'.repeat(10) + 'PL'.repeat(5));
    expect(p3.rows.map((r) => r.tier)).toEqual(Array(7).fill('PL'));
    expect(p1.rows[0]!.patient?.name).toBeTruthy();
  });

  it('filters by flag and sorts by date', async () => {
    const p = await page('flag=bone-density-scan&sort=date&page=1');
    expect(p.total).toBe(22);
    expect(p.rows.every((r) => r.flag === 'bone-density-scan')).toBe(true);
    expect(p.rows.map((r) => r.since)).toEqual([...p.rows.map((r) => r.since)].sort().reverse());
    expect(p.rows[0]!.patient?.name).toContain('Eriksen');
  });

  it('ignores an unknown flag filter rather than searching for it', async () => {
    expect((await page('flag=%3Cscript%3E&sort=date')).total).toBe(47);
  });
});
