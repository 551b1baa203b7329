/**
 * Golden files: examples/<name>/{patient,response,expected-careplan}.json, one folder per rule.
 * `UPDATE_GOLDEN=1 npm run jest -- test/rules/golden.test.ts` rewrites inputs (from scenarios.ts) and goldens.
 */
import { describe, it, expect } from '@jest/globals';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { applyPlanDefinition } from '../../src/rules/index.js';
import {
  buildPatient,
  buildResponse,
  FIXED_NOW,
  firedRules,
  loadRulesKnowledge,
  ROOT,
  topPlanDefinition,
} from './support.js';
import { SCENARIOS, birthDateFor } from './scenarios.js';

const UPDATE = process.env.UPDATE_GOLDEN === '1';
const kb = loadRulesKnowledge();
const pd = topPlanDefinition(kb);

const readJson = <T>(file: string): T => JSON.parse(readFileSync(file, 'utf8')) as T;
const writeJson = (file: string, value: unknown) => writeFileSync(file, JSON.stringify(value, null, 2) + '\n');

describe('golden examples (examples/<rule>/)', () => {
  for (const scenario of SCENARIOS) {
    it(`${scenario.name}: ${scenario.summary}`, () => {
      const dir = join(ROOT, 'examples', scenario.name);
      const patientId = `example-${scenario.name.toLowerCase()}`;
      if (UPDATE) {
        mkdirSync(dir, { recursive: true });
        writeJson(join(dir, 'patient.json'), buildPatient(patientId, birthDateFor(scenario.answers)));
        if (scenario.answers) writeJson(join(dir, 'response.json'), buildResponse(scenario.answers, { patientId }));
        else rmSync(join(dir, 'response.json'), { force: true });
      }
      const data: fhir4.FhirResource[] = [readJson<fhir4.Patient>(join(dir, 'patient.json'))];
      if (existsSync(join(dir, 'response.json')))
        data.push(readJson<fhir4.QuestionnaireResponse>(join(dir, 'response.json')));

      const carePlan = applyPlanDefinition(pd, {
        subject: `Patient/${patientId}`,
        data,
        knowledge: kb,
        now: FIXED_NOW,
      });

      const fired = firedRules(carePlan).map((r) => [r.code, r.priority]);
      for (const want of scenario.fires) expect(fired).toContainEqual(want);
      for (const code of scenario.absent ?? []) expect(fired.map(([c]) => c)).not.toContain(code);

      const goldenFile = join(dir, 'expected-careplan.json');
      if (UPDATE) writeJson(goldenFile, carePlan);
      expect(JSON.parse(JSON.stringify(carePlan))).toEqual(readJson(goldenFile));
    });
  }
});
