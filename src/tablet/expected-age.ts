/**
 * The ages a patient may type on the tablet without being asked to check them, derived from the record's
 * birth date (pure: no clock of its own, no I/O). The tablet gets this range, never the birth date: a typed
 * age more than a year away from the record's age at any moment the form can be filled is shown back to the
 * patient to confirm or correct (age drives RF-05, RF-06, RF-09 and every bone-density rule).
 */

/** Typed ages from `low` to `high` (inclusive) need no check. */
export interface ExpectedAge {
  low: number;
  high: number;
}

/** How far (in whole years) a typed age may be from the record's age before the patient is asked. */
export const AGE_TOLERANCE_YEARS = 1;

/** Whole years from a birth day (`[y, m, d]`) to the UTC calendar day of `at` (ms since the epoch). */
function yearsOn([y, m, d]: readonly [number, number, number], at: number): number {
  const day = new Date(at);
  const month = day.getUTCMonth() + 1;
  const before = month < m || (month === m && day.getUTCDate() < d);
  return day.getUTCFullYear() - y - (before ? 1 : 0);
}

/**
 * The earliest and latest birth day a FHIR `date` allows (`1987`, `1987-03` or `1987-03-14`), or undefined
 * when it is not a date at all.
 */
function birthBounds(
  birthDate: string,
): { earliest: [number, number, number]; latest: [number, number, number] } | undefined {
  const m = /^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?$/.exec(birthDate);
  if (!m) return undefined;
  const year = Number(m[1]);
  const month = m[2] ? Number(m[2]) : undefined;
  const day = m[3] ? Number(m[3]) : undefined;
  if ((month !== undefined && (month < 1 || month > 12)) || (day !== undefined && (day < 1 || day > 31)))
    return undefined;
  const lastDay = (mo: number) => new Date(Date.UTC(year, mo, 0)).getUTCDate();
  return {
    earliest: [year, month ?? 1, day ?? 1],
    latest: [year, month ?? 12, day ?? lastDay(month ?? 12)],
  };
}

/**
 * The range for a form filled at any moment from `from` to `until` (ms since the epoch, the tablet's own
 * clock): a birthday in between, or a birth date known only to the year or month, widens it; then one year of
 * tolerance on each side. Undefined without a usable birth date (no check: nothing to compare with).
 */
export function expectedAgeRange(birthDate: string | undefined, from: number, until: number): ExpectedAge | undefined {
  const bounds = birthDate ? birthBounds(birthDate) : undefined;
  if (!bounds) return undefined;
  const youngest = yearsOn(bounds.latest, from);
  const oldest = yearsOn(bounds.earliest, Math.max(from, until));
  if (oldest < 0) return undefined;
  return { low: Math.max(0, youngest - AGE_TOLERANCE_YEARS), high: oldest + AGE_TOLERANCE_YEARS };
}
