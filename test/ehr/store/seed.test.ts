import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import { expect } from '../../support/expect.js';
import {
  SANDBOX_PATIENT_IDS,
  SANDBOX_PRACTITIONER_ID,
  openFhirStore,
  seedSandbox,
} from '../../../src/ehr/store/index.js';
import type { FhirStore } from '../../../src/ehr/store/index.js';

const now = new Date('2026-11-24T08:00:00Z');
let dataDir: string;
let store: FhirStore;

beforeAll(() => {
  dataDir = mkdtempSync(path.join(os.tmpdir(), 'fhir-store-seed-'));
  store = openFhirStore({ dataDir });
});
afterAll(() => {
  store.close();
  rmSync(dataDir, { recursive: true, force: true });
});

const ageOn = (birthDate: string, day: Date) => {
  const b = new Date(`${birthDate}T00:00:00Z`);
  let age = day.getUTCFullYear() - b.getUTCFullYear();
  if (
    day.getUTCMonth() < b.getUTCMonth() ||
    (day.getUTCMonth() === b.getUTCMonth() && day.getUTCDate() < b.getUTCDate())
  )
    age--;
  return age;
};

describe('sandbox seed', () => {
  it('creates women aged 38–70 across menopausal stages, a clinician, and a year of weights', () => {
    const first = seedSandbox(store, now);
    expect(first.existing).toBe(0);
    const patients = SANDBOX_PATIENT_IDS.map((id) => store.read('Patient', id) as fhir4.Patient);
    expect(patients.length).toBeGreaterThanOrEqual(5);
    const ages = patients.map((p) => ageOn(p.birthDate!, now));
    expect(Math.min(...ages)).toBeGreaterThanOrEqual(38);
    expect(Math.max(...ages)).toBeLessThanOrEqual(70);
    expect(patients.every((p) => p.gender === 'female' && p.name?.[0]?.family)).toBe(true);
    const stages = patients.map((p) => p.text!.div);
    for (const stage of ['premenopausal', 'perimenopausal', 'postmenopausal'])
      expect(
        stages.some((d) => d.includes(stage)),
        stage,
      ).toBe(true);
    expect((store.read('Practitioner', SANDBOX_PRACTITIONER_ID) as fhir4.Practitioner).name?.[0]?.family).toBeTruthy();

    for (const p of patients) {
      const weights = store.search('Observation', [
        ['patient', p.id!],
        ['code', 'http://loinc.org|29463-7'],
        ['_sort', 'date'],
      ]);
      expect(weights.total).toBeGreaterThanOrEqual(3);
      for (const r of weights.matches as fhir4.Observation[]) {
        expect(r.valueQuantity).toMatchObject({ unit: 'kg', system: 'http://unitsofmeasure.org', code: 'kg' });
        const when = Date.parse(r.effectiveDateTime!);
        expect(when).toBeLessThan(now.getTime());
        expect(when).toBeGreaterThan(now.getTime() - 366 * 24 * 3600 * 1000);
      }
    }
  });

  it('is idempotent, and leaves alone what someone changed or deleted in the sandbox', () => {
    const edited = store.read('Patient', SANDBOX_PATIENT_IDS[0]!) as fhir4.Patient;
    store.update({ ...edited, telecom: [] });
    store.delete('Patient', SANDBOX_PATIENT_IDS[1]!);
    const again = seedSandbox(store, new Date(now.getTime() + 30 * 24 * 3600 * 1000));
    expect(again.created).toBe(0);
    expect(store.read('Patient', SANDBOX_PATIENT_IDS[0]!).meta?.versionId).toBe('2');
    expect(store.find('Patient', SANDBOX_PATIENT_IDS[1]!)).toBeUndefined();
  });
});
