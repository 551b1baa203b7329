/**
 * What the compiled evaluator's tests share: the rules' content, and `$apply` run under a chosen evaluator
 * (or the engine's default) with its CarePlan or its error, so that two runs compare as plain values.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { applyPlanDefinition, YES_NO_SYSTEM } from '../../src/rules/index.js';
import { FIXED_NOW, loadRulesKnowledge, ROOT, topPlanDefinition } from './support.js';

export const kb = loadRulesKnowledge();
export const pd = topPlanDefinition(kb);
export const intake = JSON.parse(
  readFileSync(join(ROOT, 'questionnaires', 'back-pain-intake.json'), 'utf8'),
) as fhir4.Questionnaire;

export type Outcome = { carePlan: fhir4.CarePlan } | { error: unknown };

export function apply(data: fhir4.FhirResource[], subject: string, evaluator?: 'compiled' | 'fhirpath.js'): Outcome {
  try {
    return {
      carePlan: applyPlanDefinition(pd, {
        subject,
        data,
        knowledge: kb,
        now: FIXED_NOW,
        ...(evaluator ? { evaluator } : {}),
      }),
    };
  } catch (error) {
    return { error: (error as { outcome?: unknown }).outcome ?? String(error) };
  }
}

/** Every Yes of the response made a No: complete "calm" responses reach RF-10 and the all-No logic. */
export function calm(response: fhir4.QuestionnaireResponse): fhir4.QuestionnaireResponse {
  const text = JSON.stringify(response).replaceAll(
    `{"system":"${YES_NO_SYSTEM}","code":"Y"`,
    `{"system":"${YES_NO_SYSTEM}","code":"N"`,
  );
  return JSON.parse(text) as fhir4.QuestionnaireResponse;
}
