/**
 * What it costs to keep shared knowledge artifacts unchangeable, on the two operations that take them per
 * request: `$apply` (applyPlanDefinition) and `$populate` (populateQuestionnaire, FHIR reads answered in
 * memory). Each call resolves its artifact from the knowledge base first, as the routes do per request.
 *
 * Two ways are measured, call by call interleaved so that load swings hit both alike:
 *  - `shared`: the knowledge base's own objects (deep-frozen at load since the fix; before it, plain objects
 *    that sdc-populate rewrote in place);
 *  - `copy per use`: a knowledge base that hands out a fresh `structuredClone` on every read/resolve.
 * Run it on the code before the fix (`git stash` the src changes) for the "before" figures.
 * Also printed: the one-time cost of deep-freezing every artifact, and one `structuredClone` of the intake
 * Questionnaire (what the freeze option adds to each `$populate`: sdc-populate gets its own copy).
 *
 * Run: npx tsx bench/immutability.ts [iterations]   (default 2000 per operation and variant)
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { KnowledgeBase, loadKnowledge, type CanonicalResource } from '../src/knowledge/index.js';
import { populateQuestionnaire } from '../src/forms/index.js';
import { applyPlanDefinition } from '../src/rules/index.js';
import { patientFor, randomResponse, seededRandom } from '../test/api/support/random-intake.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const N = Number(process.argv[2] ?? 2000);
const PLAN = 'https://periplan.app/fhir/PlanDefinition/back-pain-follow-up';
const INTAKE = 'https://periplan.app/fhir/Questionnaire/back-pain-intake';
const now = new Date('2026-11-24T09:00:00Z');

/** A knowledge base that never hands out its own objects: every read is a fresh deep copy. */
class CopyingKnowledgeBase extends KnowledgeBase {
  override all(): CanonicalResource[] {
    return super.all().map((r) => structuredClone(r));
  }
  override read(type: string, id: string): CanonicalResource | undefined {
    const r = super.read(type, id);
    return r && structuredClone(r);
  }
  override resolve<T extends CanonicalResource['resourceType']>(
    canonical: string,
    type?: T,
  ): Extract<CanonicalResource, { resourceType: T }> | undefined {
    const r = super.resolve(canonical, type);
    return r && structuredClone(r);
  }
}

const loaded = await loadKnowledge(ROOT);
const plainCopies = loaded.all().map((r) => structuredClone(r));
const variants = [
  { name: 'shared', kb: loaded as KnowledgeBase },
  {
    name: 'copy per use',
    kb: new CopyingKnowledgeBase(plainCopies.map((resource) => ({ resource, origin: 'bench' }))) as KnowledgeBase,
  },
];

const intake = loaded.resolve(INTAKE, 'Questionnaire') as fhir4.Questionnaire;
const rng = seededRandom(7);
const applyInputs = Array.from({ length: 500 }, (_, i) => {
  const qr = randomResponse(rng, intake, { subject: `Patient/b${i}`, answerRate: 0.3 + 0.7 * rng() });
  return { subject: `Patient/b${i}`, data: [patientFor(`b${i}`, qr), qr] as fhir4.FhirResource[] };
});
const weightObservation = (i: number): fhir4.Observation => ({
  resourceType: 'Observation',
  id: `w${i}`,
  status: 'final',
  subject: { reference: `Patient/p${i}` },
  effectiveDateTime: '2026-10-01',
  code: { coding: [{ system: 'http://loinc.org', code: '29463-7' }] },
  valueQuantity: { value: 50 + i, unit: 'kg', system: 'http://unitsofmeasure.org', code: 'kg' },
});
const populateInputs = Array.from({ length: 50 }, (_, i): { patient: fhir4.Patient; weight: fhir4.Bundle } => ({
  patient: {
    resourceType: 'Patient',
    id: `p${i}`,
    birthDate: `19${50 + (i % 40)}-0${1 + (i % 9)}-15`,
    gender: 'female',
  },
  weight: {
    resourceType: 'Bundle',
    type: 'searchset',
    entry: [{ resource: weightObservation(i) }],
  },
}));

function apply(kb: KnowledgeBase, i: number): void {
  const pd = kb.resolve(PLAN, 'PlanDefinition') as fhir4.PlanDefinition;
  applyPlanDefinition(pd, { ...applyInputs[i % applyInputs.length]!, knowledge: kb, now });
}

async function populate(kb: KnowledgeBase, i: number): Promise<void> {
  const input = populateInputs[i % populateInputs.length]!;
  const q = kb.resolve(INTAKE, 'Questionnaire') as fhir4.Questionnaire;
  await populateQuestionnaire(q, {
    subject: input.patient,
    fetchResources: async () => input.weight,
    authored: '2026-11-24T09:00:00Z',
  });
}

const quantile = (sorted: number[], q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
const rows: Array<Record<string, string | number>> = [];
for (const [op, run] of [
  ['$apply', async (kb: KnowledgeBase, i: number) => apply(kb, i)],
  ['$populate', populate],
] as const) {
  for (let i = 0; i < 200; i++) for (const v of variants) await run(v.kb, i); // warm-up: JIT and compile caches
  const times = variants.map(() => [] as number[]);
  for (let i = 0; i < N; i++) {
    for (const [k, v] of variants.entries()) {
      const t0 = performance.now();
      await run(v.kb, i);
      times[k]!.push(performance.now() - t0);
    }
  }
  for (const [k, v] of variants.entries()) {
    const sorted = times[k]!.sort((a, b) => a - b);
    rows.push({
      operation: op,
      variant: v.name,
      'median ms': Number(quantile(sorted, 0.5).toFixed(3)),
      'p99 ms': Number(quantile(sorted, 0.99).toFixed(3)),
    });
  }
}

// One-time cost of the freeze option at load, and its per-$populate copy for sdc-populate.
const freezeTimes: number[] = [];
const { deepFreeze } = await import('../src/platform/deep-freeze.js').catch(() => ({ deepFreeze: undefined }));
if (deepFreeze) {
  for (let i = 0; i < 50; i++) {
    const fresh = loaded.all().map((r) => structuredClone(r));
    const t0 = performance.now();
    for (const r of fresh) deepFreeze(r);
    freezeTimes.push(performance.now() - t0);
  }
}
const cloneTimes: number[] = [];
for (let i = 0; i < 2000; i++) {
  const t0 = performance.now();
  structuredClone(intake);
  cloneTimes.push(performance.now() - t0);
}
console.table(rows);
const median = (xs: number[]) =>
  xs.length
    ? Number(
        quantile(
          [...xs].sort((a, b) => a - b),
          0.5,
        ).toFixed(3),
      )
    : 'n/a';
console.log(`deep-freeze of all ${loaded.all().length} artifacts (once, at load): median ${median(freezeTimes)} ms`);
console.log(
  `structuredClone of the intake Questionnaire (${JSON.stringify(intake).length} bytes of JSON): median ${median(cloneTimes)} ms`,
);
console.log(
  JSON.stringify({
    node: process.version,
    iterations: N,
    loadavg: (await import('node:os')).loadavg().map((x) => x.toFixed(1)),
    rows,
  }),
);
