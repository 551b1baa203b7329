/**
 * Facts about the sandbox patients read from the seed the sandbox EHR loads (src/ehr/store/seed/sandbox.json),
 * so that no test carries a weight or a birth date of its own that the seed could contradict.
 */
import fs from 'node:fs';
import path from 'node:path';

interface SeedPatient {
  id: string;
  given: string[];
  family: string;
  birthDate: string;
  /** [months ago, kg] */
  weightsKg: [number, number][];
}

const SEED = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../../src/ehr/store/seed/sandbox.json');

export function sandboxPatients(): SeedPatient[] {
  return (JSON.parse(fs.readFileSync(SEED, 'utf8')) as { patients: SeedPatient[] }).patients;
}

export function sandboxPatient(id: string): SeedPatient {
  const p = sandboxPatients().find((x) => x.id === id);
  if (!p) throw new Error(`No sandbox patient ${id} in ${SEED}`);
  return p;
}

/** The newest body weight the seed gives her (the reading with the fewest months ago): what $populate pre-fills. */
export function sandboxLatestWeightKg(id: string): number {
  const readings = [...sandboxPatient(id).weightsKg].sort((a, b) => a[0] - b[0]);
  if (readings.length === 0) throw new Error(`Sandbox patient ${id} has no weight in ${SEED}`);
  return readings[0]![1];
}
