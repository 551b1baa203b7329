/**
 * In-process PlanDefinition/$apply timing on the worked examples (no HTTP): median, p95 and p99 per example,
 * with the default evaluator (compiled FHIRPath subset) and, interleaved call by call so that load swings
 * hit both alike, with every expression forced through fhirpath.js (`evaluator: 'fhirpath.js'`).
 * Run: npx tsx bench/apply-inprocess.ts [iterations]
 * Target (docs/rules.md): median <= 1 ms for a typical response. See the report there for measured numbers.
 * On a shared machine, run it several times and compare medians of medians taken in the same conditions.
 */
import { readFileSync, readdirSync, existsSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { KnowledgeBase, type CanonicalResource } from '../src/knowledge/knowledge-base.js';
import { applyPlanDefinition } from '../src/rules/index.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const iterations = Number(process.argv[2] ?? 1000);
const read = <T>(file: string): T => JSON.parse(readFileSync(file, 'utf8')) as T;

const files = [
  ...readdirSync(join(root, 'plandefinitions'))
    .filter((f) => f.endsWith('.json'))
    .map((f) => join(root, 'plandefinitions', f)),
  join(root, 'profiles', 'CodeSystem-back-pain-rule.json'),
  join(root, 'profiles', 'CodeSystem-back-pain-flag.json'),
  // The answers are checked against the intake Questionnaire before the rules run.
  join(root, 'questionnaires', 'back-pain-intake.json'),
];
const knowledge = new KnowledgeBase(files.map((file) => ({ resource: read<CanonicalResource>(file), origin: file })));
const planDefinition = knowledge.resolve(
  'https://periplan.app/fhir/PlanDefinition/back-pain-follow-up',
  'PlanDefinition',
)!;

type Evaluator = 'compiled' | 'fhirpath.js' | undefined;

function measure(example: string) {
  const dir = join(root, 'examples', example);
  const patient = read<fhir4.Patient>(join(dir, 'patient.json'));
  const data: fhir4.FhirResource[] = [patient];
  if (existsSync(join(dir, 'response.json'))) data.push(read<fhir4.QuestionnaireResponse>(join(dir, 'response.json')));
  const options = (evaluator: Evaluator) => ({
    subject: `Patient/${patient.id}`,
    data,
    knowledge,
    now: new Date('2026-11-24T09:00:00Z'),
    ...(evaluator ? { evaluator } : {}),
  });
  const variants: Array<{ name: string; evaluator: Evaluator; times: number[] }> = [
    { name: 'default', evaluator: undefined, times: [] },
    { name: 'fhirpath.js', evaluator: 'fhirpath.js', times: [] },
  ];
  for (let i = 0; i < 50; i++) for (const v of variants) applyPlanDefinition(planDefinition, options(v.evaluator)); // warm-up: compile and JIT
  let rules = 0;
  for (let i = 0; i < iterations; i++) {
    for (const v of variants) {
      const t0 = performance.now();
      const carePlan = applyPlanDefinition(planDefinition, options(v.evaluator));
      v.times.push(performance.now() - t0);
      rules = JSON.stringify(carePlan).split('back-pain-rule"').length - 1;
    }
  }
  const at = (times: number[], q: number) =>
    Number(times[Math.min(times.length - 1, Math.floor(q * times.length))]!.toFixed(3));
  const row: Record<string, string | number> = { example, rules };
  for (const v of variants) {
    v.times.sort((a, b) => a - b);
    row[`${v.name} median`] = at(v.times, 0.5);
    row[`${v.name} p99`] = at(v.times, 0.99);
  }
  return row;
}

const results = ['RF-10', 'CS', 'RF-06-urgent', 'RF-01', 'no-response'].map(measure);
console.table(results);
console.log(JSON.stringify({ node: process.version, iterations, results }));
