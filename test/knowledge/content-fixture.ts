/**
 * A minimal, valid content folder built from the pinned tables, so each negative test can break exactly one
 * thing and assert the loader names it. Written to a fresh temp folder per test.
 */
import { mkdtemp, mkdir, writeFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  ANSWER_CODE_SYSTEM,
  FLAG_CODE_SYSTEM,
  INTAKE_GROUPS,
  INTAKE_QUESTIONNAIRE_URL,
  PINNED_CODE_SYSTEM_CODES,
  PINNED_INTAKE_ITEMS,
  RULE_CODE_SYSTEM,
} from '../../src/knowledge/index.js';

const CALCULATED = 'http://hl7.org/fhir/uv/sdc/StructureDefinition/sdc-questionnaire-calculatedExpression';

export function intakeQuestionnaire(): fhir4.Questionnaire {
  const groups: fhir4.QuestionnaireItem[] = INTAKE_GROUPS.map((g) => ({ linkId: g, type: 'group', text: g, item: [] }));
  for (const p of PINNED_INTAKE_ITEMS) {
    const item: fhir4.QuestionnaireItem = { linkId: p.linkId, type: p.type, text: p.linkId };
    if (p.answers) item.answerOption = p.answers.map((c) => ({ valueCoding: { system: c.system, code: c.code } }));
    if (p.repeats) item.repeats = true;
    if (p.required) item.required = true;
    if (p.code) item.code = [{ system: p.code.system, code: p.code.code }];
    if (p.calculated) {
      item.readOnly = true;
      item.extension = [
        {
          url: CALCULATED,
          valueExpression: {
            language: 'text/fhirpath',
            expression: "%resource.repeat(item).where(linkId='age').answer.value.first()",
          },
        },
      ];
    }
    groups.find((g) => g.linkId === p.group)!.item!.push(item);
  }
  return {
    resourceType: 'Questionnaire',
    id: 'back-pain-intake',
    url: INTAKE_QUESTIONNAIRE_URL,
    version: '1.0.0',
    name: 'BackPainIntake',
    status: 'active',
    item: groups,
  };
}

function codeSystem(url: string, codes: readonly string[]): fhir4.CodeSystem {
  const id = url.split('/').pop()!;
  return {
    resourceType: 'CodeSystem',
    id,
    url,
    version: '1.0.0',
    name: id.replace(/-/g, ''),
    status: 'active',
    content: 'complete',
    concept: codes.map((code) => ({ code, display: code })),
  };
}

export function answerCodes(): string[] {
  return [
    ...new Set(
      PINNED_INTAKE_ITEMS.flatMap((p) =>
        (p.answers ?? []).filter((c) => c.system === ANSWER_CODE_SYSTEM).map((c) => c.code),
      ),
    ),
  ];
}

/** file (relative to the content folder) -> resource or raw text */
export type ContentFiles = Record<string, unknown>;

export function validContent(): ContentFiles {
  const pinnedCodes = (url: string): readonly string[] => PINNED_CODE_SYSTEM_CODES.find((c) => c.url === url)!.codes;
  return {
    'questionnaires/back-pain-intake.json': intakeQuestionnaire(),
    'plandefinitions/PlanDefinition-back-pain-follow-up.json': {
      resourceType: 'PlanDefinition',
      id: 'back-pain-follow-up',
      url: 'https://periplan.app/fhir/PlanDefinition/back-pain-follow-up',
      version: '1.0.0',
      name: 'BackPainFollowUp',
      status: 'active',
      action: [
        {
          title: 'RF-01',
          code: [{ coding: [{ system: RULE_CODE_SYSTEM, code: 'RF-01' }] }],
          condition: [
            {
              kind: 'applicability',
              expression: {
                language: 'text/fhirpath',
                expression: "%resource.repeat(item).where(linkId='rf-saddle-numbness').answer.value.code contains 'Y'",
              },
            },
          ],
        },
      ],
    },
    'profiles/CodeSystem-back-pain-flag.json': codeSystem(FLAG_CODE_SYSTEM, pinnedCodes(FLAG_CODE_SYSTEM)),
    'profiles/CodeSystem-back-pain-rule.json': codeSystem(RULE_CODE_SYSTEM, pinnedCodes(RULE_CODE_SYSTEM)),
    'profiles/CodeSystem-back-pain-answer.json': codeSystem(ANSWER_CODE_SYSTEM, answerCodes()),
  };
}

export async function writeContent(files: ContentFiles): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(path.join(tmpdir(), 'periplan-content-'));
  for (const [file, content] of Object.entries(files)) {
    const abs = path.join(dir, file);
    await mkdir(path.dirname(abs), { recursive: true });
    await writeFile(abs, typeof content === 'string' ? content : JSON.stringify(content, null, 2));
  }
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}
