/**
 * Sandbox only: give three of the seeded sandbox patients an intake already submitted, built from the worked
 * examples in `examples/`, so that a newcomer's first look at the worklist and results shows real flags.
 *
 * They go through the real write path (validate -> $apply -> one transaction over HTTP -> outbox), so what
 * they create is exactly what a clinician's submission creates. Idempotent: each has a fixed identifier, and
 * the outbox keeps one entry per identifier, so restarts add nothing.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { WritePath } from '../submission/index.js';

/** seeded patient id -> worked example whose answers she gives (her own age replaces the example's). */
export const SANDBOX_INTAKES: ReadonlyArray<{ patientId: string; example: string }> = [
  { patientId: 'sandbox-patient-3', example: 'RF-08' },
  { patientId: 'sandbox-patient-4', example: 'BMD-02' },
  { patientId: 'sandbox-patient-6', example: 'RF-06-urgent' },
];

const SEED_IDENTIFIER_SYSTEM = 'https://periplan.app/fhir/sid/sandbox-seed-intake';

function ageOn(birthDate: string, at: Date): number {
  const [y, m, d] = birthDate.split('-').map(Number) as [number, number, number];
  let age = at.getUTCFullYear() - y;
  if (at.getUTCMonth() + 1 < m || (at.getUTCMonth() + 1 === m && at.getUTCDate() < d)) age--;
  return age;
}

function withAge(
  items: fhir4.QuestionnaireResponseItem[] | undefined,
  age: number,
): fhir4.QuestionnaireResponseItem[] | undefined {
  return items?.map((item) => ({
    ...item,
    ...(item.linkId === 'age' ? { answer: [{ valueInteger: age }] } : {}),
    ...(item.item ? { item: withAge(item.item, age) } : {}),
  }));
}

export async function seedSandboxIntakes(options: {
  writePath: WritePath;
  contentDir: string;
  readPatient: (id: string) => fhir4.Patient | undefined;
  now?: Date;
}): Promise<number> {
  const now = options.now ?? new Date();
  let submitted = 0;
  for (const { patientId, example } of SANDBOX_INTAKES) {
    const key = `${SEED_IDENTIFIER_SYSTEM}|${patientId}`;
    if (await options.writePath.outbox.get(key)) continue;
    const patient = options.readPatient(patientId);
    const file = path.join(options.contentDir, 'examples', example, 'response.json');
    if (!patient?.birthDate || !fs.existsSync(file)) continue;
    const template = JSON.parse(fs.readFileSync(file, 'utf8')) as fhir4.QuestionnaireResponse;
    const { id: _exampleId, ...rest } = template;
    const response: fhir4.QuestionnaireResponse = {
      ...rest,
      identifier: { system: SEED_IDENTIFIER_SYSTEM, value: patientId },
      subject: { reference: `Patient/${patientId}` },
      source: { reference: `Patient/${patientId}` },
      authored: now.toISOString(),
      item: withAge(template.item, ageOn(patient.birthDate, now)) ?? [],
    };
    await options.writePath.submit({ response, data: [patient] });
    submitted++;
  }
  return submitted;
}
