/**
 * In-process PlanDefinition/$apply timing on the worked examples (no HTTP): median, p95 and p99 per example.
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
  ...readdirSync(join(root, 'plandefinitions')).filter((f) => f.endsWith('.json')).map((f) => join(root, 'plandefinitions', f)),
  join(root, 'profiles', 'CodeSystem-back-pain-rule.json'),
  join(root, 'profiles', 'CodeSystem-back-pain-flag.json'),
];
const knowledge = new KnowledgeBase(files.map((file) => ({ resource: read<CanonicalResource>(file), origin: file })));
const planDefinition = knowledge.resolve('https://periplan.app/fhir/PlanDefinition/back-pain-follow-up', 'PlanDefinition')!;

function measure(example: string): { example: string; median: number; p95: number; p99: number; rules: number } {
  const dir = join(root, 'examples', example);
  const patient = read<fhir4.Patient>(join(dir, 'patient.json'));
  const data: fhir4.FhirResource[] = [patient];
  if (existsSync(join(dir, 'response.json'))) data.push(read<fhir4.QuestionnaireResponse>(join(dir, 'response.json')));
  const options = { subject: `Patient/${patient.id}`, data, knowledge, now: new Date('2026-11-24T09:00:00Z') };
  for (let i = 0; i < 50; i++) applyPlanDefinition(planDefinition, options); // warm-up: compile and JIT
  const times: number[] = [];
  let rules = 0;
  for (let i = 0; i < iterations; i++) {
    const t0 = performance.now();
    const carePlan = applyPlanDefinition(planDefinition, options);
    times.push(performance.now() - t0);
    rules = JSON.stringify(carePlan).split('back-pain-rule"').length - 1;
  }
  times.sort((a, b) => a - b);
  const at = (q: number) => times[Math.min(times.length - 1, Math.floor(q * times.length))]!;
  return { example, median: Number(at(0.5).toFixed(3)), p95: Number(at(0.95).toFixed(3)), p99: Number(at(0.99).toFixed(3)), rules };
}

const results = ['RF-10', 'CS', 'RF-06-urgent', 'RF-01', 'no-response'].map(measure);
console.table(results);
console.log(JSON.stringify({ node: process.version, iterations, results }));
