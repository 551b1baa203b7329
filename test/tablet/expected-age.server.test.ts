/**
 * The age range the tablet accepts without asking the patient to check her age: derived from the record's
 * birth date at the moments the form can be filled (a fixed clock here), one year of tolerance either side.
 * And over HTTP: the claim answer carries that range, never the birth date.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { expectedAgeRange } from '../../src/tablet/expected-age.js';
import { startTabletHarness, STAFF, type TabletHarness } from './harness.js';

const at = (iso: string) => Date.parse(iso);

describe('expectedAgeRange', () => {
  it('is the age on the day, plus or minus one year', () => {
    // 39 on 3 December 2026 (born 14 March 1987).
    expect(expectedAgeRange('1987-03-14', at('2026-12-03T10:00:00Z'), at('2026-12-03T11:10:00Z'))).toEqual({
      low: 38,
      high: 40,
    });
  });

  it('widens when a birthday falls while the form can be filled', () => {
    // 53 until the 30th of November 2026, 54 from then on.
    expect(expectedAgeRange('1972-11-30', at('2026-11-29T23:30:00Z'), at('2026-11-30T00:40:00Z'))).toEqual({
      low: 52,
      high: 55,
    });
    expect(expectedAgeRange('1972-11-30', at('2026-11-29T10:00:00Z'), at('2026-11-29T11:10:00Z'))).toEqual({
      low: 52,
      high: 54,
    });
  });

  it('takes a birth date known to the year or month only as every day it may be', () => {
    expect(expectedAgeRange('1987', at('2026-06-15T10:00:00Z'), at('2026-06-15T11:00:00Z'))).toEqual({
      low: 37,
      high: 40,
    });
    expect(expectedAgeRange('1987-03', at('2026-03-15T10:00:00Z'), at('2026-03-15T11:00:00Z'))).toEqual({
      low: 37,
      high: 40,
    });
    expect(expectedAgeRange('1987-03', at('2026-04-01T10:00:00Z'), at('2026-04-01T11:00:00Z'))).toEqual({
      low: 38,
      high: 40,
    });
  });

  it('gives nothing to check against without a usable birth date', () => {
    expect(expectedAgeRange(undefined, at('2026-12-03T10:00:00Z'), at('2026-12-03T11:00:00Z'))).toBeUndefined();
    expect(expectedAgeRange('14/03/1987', at('2026-12-03T10:00:00Z'), at('2026-12-03T11:00:00Z'))).toBeUndefined();
    expect(expectedAgeRange('1987-13-01', at('2026-12-03T10:00:00Z'), at('2026-12-03T11:00:00Z'))).toBeUndefined();
  });
});

describe('the claim answer', () => {
  let h: TabletHarness;
  const now = at('2026-12-03T10:00:00Z');
  beforeAll(async () => {
    h = await startTabletHarness({ now: () => now });
  }, 60_000);
  afterAll(async () => {
    await h?.close();
  });

  const claim = async (code: string) =>
    await (
      await fetch(`${h.baseUrl}/tablet/api/claim`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ code }),
      })
    ).text();

  it('carries the expected age range for the age item, never the birth date; several patients in one server each get their own', async () => {
    const claire = await h.tablet.createHandoff({
      patientId: 'sandbox-patient-1',
      patientName: 'Claire',
      staff: STAFF,
      birthDate: '1987-03-14',
    });
    const ingrid = await h.tablet.createHandoff({
      patientId: 'sandbox-patient-6',
      patientName: 'Ingrid',
      staff: STAFF,
      birthDate: '1957-01-17',
    });
    const unknown = await h.tablet.createHandoff({
      patientId: 'sandbox-patient-2',
      patientName: 'Agnieszka',
      staff: STAFF,
    });
    const [i, c, u] = [await claim(ingrid.code), await claim(claire.code), await claim(unknown.code)];
    expect(JSON.parse(c).expectedAge).toEqual({ linkId: 'age', low: 38, high: 40 });
    expect(JSON.parse(i).expectedAge).toEqual({ linkId: 'age', low: 68, high: 70 });
    expect(JSON.parse(u)).not.toHaveProperty('expectedAge');
    for (const text of [c, i]) expect(text).not.toMatch(/1987|1957|birth/i);
    // Nor is it in the tablet's database (only the range is kept).
    expect(JSON.stringify(await h.tablet.sessions())).not.toMatch(/1987|1957|birth/i);
  });
});
