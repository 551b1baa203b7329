/**
 * Child process for the durability and multi-process tests: opens the store in DATA_DIR (argv[2]) and writes
 * until killed (or argv[3] writes), printing one line per acknowledged write:
 *   ack <Type>/<id> <versionId> <marker>
 * A write is acknowledged when the store call has returned, i.e. the SQLite commit is done.
 */
import { openFhirStore } from '../../../src/ehr/store/index.js';

const dataDir = process.argv[2];
const limit = Number(process.argv[3] ?? Infinity);
if (!dataDir) throw new Error('usage: writer-child <dataDir> [count]');
const store = openFhirStore({ dataDir });
const tag = process.pid;

const patient = store.create<fhir4.Patient>({
  resourceType: 'Patient',
  name: [{ family: `Durable-${tag}` }],
  gender: 'female',
}).resource;
process.stdout.write(`ack Patient/${patient.id} ${patient.meta?.versionId} start\n`);

let n = 0;
let current: fhir4.Patient = patient as fhir4.Patient;
function step(): void {
  if (n >= limit) {
    store.close();
    process.stdout.write('done\n');
    return;
  }
  n++;
  const marker = `${tag}-${n}`;
  if (n % 2 === 0) {
    current = store.update({ ...current, name: [{ family: `Durable-${tag}`, given: [marker] }] }).resource;
    process.stdout.write(`ack Patient/${current.id} ${current.meta?.versionId} ${marker}\n`);
  } else {
    const obs = store.create<fhir4.Observation>({
      resourceType: 'Observation',
      status: 'final',
      code: { coding: [{ system: 'http://loinc.org', code: '29463-7' }] },
      subject: { reference: `Patient/${patient.id}` },
      identifier: [{ system: 'urn:test:durable', value: marker }],
      valueQuantity: { value: n, unit: 'kg', system: 'http://unitsofmeasure.org', code: 'kg' },
    }).resource;
    process.stdout.write(`ack Observation/${obs.id} ${obs.meta?.versionId} ${marker}\n`);
  }
  setImmediate(step);
}
step();
