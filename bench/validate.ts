/**
 * validateResource timing, compiled validator vs the Medplum reference path, in the same run (interleaved
 * rounds, so both see the same machine load): median and p99 wall time per case, and CPU time per case.
 *
 *   npx tsx bench/validate.ts [rounds=20] [example=RF-11]
 *
 * Cases: the intake Patient + QuestionnaireResponse (together), the golden CarePlan of the example
 * (`examples/<example>/expected-careplan.json`, ≈50 KB with contained RequestGroup, Flags and proposals),
 * and every resource of that example's submission transaction (what the embedded store validates).
 */
import { readFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { extractFromResponse } from '../src/forms/index.js';
import { loadKnowledge } from '../src/knowledge/index.js';
import { applyPlanDefinition } from '../src/rules/index.js';
import {
  buildSubmissionBundle,
  ensureResponseIdentifier,
  submissionId,
  submissionKey,
} from '../src/submission/build-bundle.js';
import { FOLLOW_UP_PLAN } from '../src/submission/service.js';
import { withMedplumReference } from '../src/validation/engine.js';
import { preloadDefinitions, validateResource } from '../src/validation/index.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const rounds = Number(process.argv[2] ?? 20);
const example = process.argv[3] ?? 'RF-11';
const read = <T>(file: string): T => JSON.parse(readFileSync(join(root, 'examples', example, file), 'utf8')) as T;

preloadDefinitions();
const patient = read<fhir4.Patient>('patient.json');
const response = read<fhir4.QuestionnaireResponse>('response.json');
const carePlan = read<fhir4.CarePlan>('expected-careplan.json');

const knowledge = await loadKnowledge(root);
const identified = ensureResponseIdentifier(response);
const withId = { ...identified, id: submissionId(submissionKey(identified)) };
const applied = applyPlanDefinition(knowledge.resolve(FOLLOW_UP_PLAN, 'PlanDefinition')!, {
  subject: identified.subject!.reference!,
  data: [patient, withId],
  knowledge,
});
const extracted = await extractFromResponse(withId, knowledge.resolve(identified.questionnaire!, 'Questionnaire')!);
const bundle = buildSubmissionBundle({
  response: withId,
  carePlan: applied,
  author: identified.subject!,
  now: new Date(),
  extracted,
});
const submission = (bundle.entry ?? []).map((e) => e.resource).filter((r): r is fhir4.FhirResource => r !== undefined);

const size = (rs: unknown[]) =>
  `${(rs.reduce((n: number, r) => n + JSON.stringify(r).length, 0) / 1024).toFixed(0)} KB`;
const cases: Array<{ name: string; resources: unknown[]; perRound: number }> = [
  { name: `intake Patient + response (${size([patient, response])})`, resources: [patient, response], perRound: 100 },
  { name: `golden CarePlan ${example} (${size([carePlan])})`, resources: [carePlan], perRound: 10 },
  { name: `submission: ${submission.length} resources (${size(submission)})`, resources: submission, perRound: 10 },
];

type Engine = 'medplum' | 'compiled';
const run: Record<Engine, (r: unknown) => fhir4.OperationOutcomeIssue[]> = {
  medplum: (r) => withMedplumReference(() => validateResource(r)),
  compiled: (r) => validateResource(r),
};

// Same answers first (the differential test checks this thoroughly; here it guards the figures).
for (const c of cases) {
  for (const r of c.resources) {
    if (JSON.stringify(run.medplum(r)) !== JSON.stringify(run.compiled(r)))
      throw new Error(`${c.name}: the two paths disagree`);
  }
}

const samples = new Map<string, { wall: number[]; cpu: number }>();
for (let round = 0; round < rounds + 2; round++) {
  for (const c of cases) {
    for (const engine of ['medplum', 'compiled'] as Engine[]) {
      const key = `${c.name}|${engine}`;
      const s = samples.get(key) ?? { wall: [], cpu: 0 };
      samples.set(key, s);
      const cpu0 = process.cpuUsage();
      for (let i = 0; i < c.perRound; i++) {
        const t0 = performance.now();
        for (const r of c.resources) run[engine](r);
        if (round >= 2) s.wall.push(performance.now() - t0); // two warm-up rounds
      }
      const cpu = process.cpuUsage(cpu0);
      if (round >= 2) s.cpu += (cpu.user + cpu.system) / 1000;
    }
  }
}

const pct = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
const rows = cases.flatMap((c) =>
  (['medplum', 'compiled'] as Engine[]).map((engine) => {
    const s = samples.get(`${c.name}|${engine}`)!;
    const wall = [...s.wall].sort((a, b) => a - b);
    return { c, engine, median: pct(wall, 50), p99: pct(wall, 99), cpu: s.cpu / wall.length };
  }),
);
console.log(`validateResource, ${rounds} rounds, interleaved; ms per case (all its resources)\n`);
console.log('| case | path | median | p99 | CPU | speed-up (CPU) |');
console.log('|---|---|---|---|---|---|');
for (const row of rows) {
  const reference = rows.find((r) => r.c === row.c && r.engine === 'medplum')!;
  const speedUp = row.engine === 'compiled' ? `${(reference.cpu / row.cpu).toFixed(1)}×` : '';
  console.log(
    `| ${row.c.name} | ${row.engine} | ${row.median.toFixed(3)} | ${row.p99.toFixed(3)} | ${row.cpu.toFixed(3)} | ${speedUp} |`,
  );
}
