/**
 * Seed the sandbox EHR so that a newcomer sees something real: six women aged 38–70 across menopausal
 * stages, the sandbox clinician, and body-weight Observations (LOINC 29463-7, kg) over the past year.
 *
 * Idempotent: Patients and the Practitioner have fixed ids and are created only if that id was never used
 * (so a record someone edited or deleted in the sandbox is left alone); Observations are conditional creates
 * on their identifier. Observation dates are relative to the day of seeding, so the history looks recent.
 * Everything is written in one transaction.
 */
import { readFileSync } from 'node:fs';
import type { FhirStore } from './store.js';

interface SeedPatient {
  id: string;
  mrn: string;
  family: string;
  given: string[];
  birthDate: string;
  stage: string;
  phone: string;
  city: string;
  /** [months ago, kg] */
  weightsKg: [number, number][];
}

interface SeedFile {
  practitioner: fhir4.Practitioner & { id: string };
  patients: SeedPatient[];
}

export const SANDBOX_MRN_SYSTEM = 'https://periplan.app/fhir/sid/sandbox-mrn';
export const SANDBOX_OBSERVATION_SYSTEM = 'https://periplan.app/fhir/sid/sandbox-observation';

function seedFile(): SeedFile {
  return JSON.parse(readFileSync(new URL('./seed/sandbox.json', import.meta.url), 'utf8')) as SeedFile;
}

export const SANDBOX_PRACTITIONER_ID = 'sandbox-clinician';
export const SANDBOX_PATIENT_IDS = [1, 2, 3, 4, 5, 6].map((n) => `sandbox-patient-${n}`);

export interface SeedSummary {
  created: number;
  existing: number;
}

export function seedSandbox(store: FhirStore, now: Date = new Date()): SeedSummary {
  const seed = seedFile();
  const summary: SeedSummary = { created: 0, existing: 0 };
  const createWithId = (resource: fhir4.FhirResource & { id: string }) => {
    if (everExisted(store, resource.resourceType, resource.id)) {
      summary.existing++;
      return;
    }
    store.update(resource);
    summary.created++;
  };
  store.inTransaction(() => {
    createWithId(seed.practitioner);
    for (const p of seed.patients) {
      createWithId(patientResource(p, seed.practitioner.id));
      p.weightsKg.forEach(([monthsAgo, kg], i) => {
        const observation = weightObservation(p, i, monthsAgo, kg, now);
        const key = observation.identifier![0]!;
        const result = store.create(observation, { ifNoneExist: `identifier=${key.system}|${key.value}` });
        if (result.outcome === 'created') summary.created++;
        else summary.existing++;
      });
    }
  });
  return summary;
}

function everExisted(store: FhirStore, type: string, id: string): boolean {
  try {
    return store.history(type, id, { count: 1 }).total > 0;
  } catch {
    return false;
  }
}

function patientResource(p: SeedPatient, practitionerId: string): fhir4.Patient & { id: string } {
  const name = `${p.given.join(' ')} ${p.family}`;
  return {
    resourceType: 'Patient',
    id: p.id,
    text: {
      status: 'generated',
      div: `<div xmlns="http://www.w3.org/1999/xhtml">${name}, born ${p.birthDate}; ${p.stage}. Sandbox patient, not a real person.</div>`,
    },
    identifier: [{ use: 'usual', system: SANDBOX_MRN_SYSTEM, value: p.mrn }],
    active: true,
    name: [{ use: 'official', family: p.family, given: p.given }],
    telecom: [{ system: 'phone', value: p.phone, use: 'mobile' }],
    gender: 'female',
    birthDate: p.birthDate,
    address: [{ use: 'home', city: p.city, country: 'GB' }],
    generalPractitioner: [{ reference: `Practitioner/${practitionerId}` }],
  };
}

function weightObservation(p: SeedPatient, index: number, monthsAgo: number, kg: number, now: Date): fhir4.Observation {
  const when = new Date(now);
  when.setUTCMonth(when.getUTCMonth() - monthsAgo);
  when.setUTCHours(9 + index, 30, 0, 0);
  return {
    resourceType: 'Observation',
    identifier: [{ system: SANDBOX_OBSERVATION_SYSTEM, value: `${p.mrn}-weight-${index + 1}` }],
    status: 'final',
    category: [
      {
        coding: [
          {
            system: 'http://terminology.hl7.org/CodeSystem/observation-category',
            code: 'vital-signs',
            display: 'Vital Signs',
          },
        ],
      },
    ],
    code: { coding: [{ system: 'http://loinc.org', code: '29463-7', display: 'Body weight' }], text: 'Body weight' },
    subject: { reference: `Patient/${p.id}` },
    effectiveDateTime: when.toISOString(),
    performer: [{ reference: `Practitioner/${SANDBOX_PRACTITIONER_ID}` }],
    valueQuantity: { value: kg, unit: 'kg', system: 'http://unitsofmeasure.org', code: 'kg' },
  };
}
