/**
 * The rules with the module's real knowledge loader: all content folders load (the intake Questionnaire,
 * the profiles, the rules), and $apply on it gives the same rules as the goldens.
 */
import { describe, it } from '@jest/globals';
import { expect } from '../support/expect.js';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { loadKnowledge } from '../../src/knowledge/index.js';
import { applyPlanDefinition } from '../../src/rules/index.js';
import { FIXED_NOW, firedRules, ROOT, TOP_URL } from './support.js';

describe('rules on the loaded knowledge base', () => {
  it('every example fires the same rules, at the same priorities, as its golden file', async () => {
    const kb = await loadKnowledge(ROOT);
    const pd = kb.resolve(TOP_URL, 'PlanDefinition');
    expect(pd).toBeDefined();
    // Only the rule examples (folders with a golden CarePlan); other example data may live beside them.
    const dirs = readdirSync(join(ROOT, 'examples'), { withFileTypes: true }).filter(
      (d) => d.isDirectory() && existsSync(join(ROOT, 'examples', d.name, 'expected-careplan.json')),
    );
    expect(dirs.length).toBeGreaterThanOrEqual(26);
    for (const dir of dirs) {
      const read = (f: string) =>
        JSON.parse(readFileSync(join(ROOT, 'examples', dir.name, f), 'utf8')) as fhir4.FhirResource;
      const patient = read('patient.json') as fhir4.Patient;
      const data = [
        patient,
        ...(existsSync(join(ROOT, 'examples', dir.name, 'response.json')) ? [read('response.json')] : []),
      ];
      const carePlan = applyPlanDefinition(pd!, {
        subject: `Patient/${patient.id}`,
        data,
        knowledge: kb,
        now: FIXED_NOW,
      });
      const golden = read('expected-careplan.json') as fhir4.CarePlan;
      const summary = (cp: fhir4.CarePlan) => firedRules(cp).map((r) => `${r.code}:${r.priority}`);
      expect(summary(carePlan), dir.name).toEqual(summary(golden));
    }
  });
});
