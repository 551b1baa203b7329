/**
 * The names clinical-rules.md pins are a public interface: the intake Questionnaire's linkIds, types and
 * answer codes, its group layout (as specified), the top-level PlanDefinition and the flag and rule codes.
 * These checks hold the content to that table (`pinned-intake-items.ts`).
 */
import type { ContentProblem } from './content-error.js';
import type { KnowledgeBase } from './knowledge-base.js';
import { flattenConcepts } from '../validation/canonicals.js';
import {
  FOLLOW_UP_PLAN_DEFINITION_URL,
  INTAKE_GROUPS,
  INTAKE_QUESTIONNAIRE_ID,
  INTAKE_QUESTIONNAIRE_URL,
  PINNED_CODE_SYSTEM_CODES,
  PINNED_INTAKE_ITEMS,
  type PinnedCode,
  type PinnedItem,
} from './pinned-intake-items.js';

const CALCULATED_EXPRESSION = 'http://hl7.org/fhir/uv/sdc/StructureDefinition/sdc-questionnaire-calculatedExpression';

type Problem = Omit<ContentProblem, 'file'>;

interface Located {
  item: fhir4.QuestionnaireItem;
  path: string;
  parent?: fhir4.QuestionnaireItem;
}

function locateItems(q: fhir4.Questionnaire): Map<string, Located> {
  const out = new Map<string, Located>();
  const walk = (items: fhir4.QuestionnaireItem[] | undefined, path: string, parent?: fhir4.QuestionnaireItem): void => {
    (items ?? []).forEach((item, i) => {
      const p = `${path}.item[${i}]`;
      if (typeof item?.linkId === 'string' && !out.has(item.linkId)) out.set(item.linkId, { item, path: p, parent });
      walk(item?.item, p, item);
    });
  };
  walk(q.item, 'Questionnaire');
  return out;
}

const key = (c: { system?: string; code?: string }): string => `${c.system ?? ''}|${c.code ?? ''}`;

/** The answer codes an item offers: its answerOptions, or a contained / knowledge-base ValueSet. */
function offeredCodes(
  item: fhir4.QuestionnaireItem,
  q: fhir4.Questionnaire,
  kb: KnowledgeBase,
): PinnedCode[] | undefined {
  if (item.answerOption) {
    return item.answerOption.flatMap((o) =>
      o.valueCoding ? [{ system: o.valueCoding.system ?? '', code: o.valueCoding.code ?? '' }] : [],
    );
  }
  if (!item.answerValueSet) return undefined;
  const vs = item.answerValueSet.startsWith('#')
    ? (q.contained ?? []).find(
        (r): r is fhir4.ValueSet => r.resourceType === 'ValueSet' && r.id === item.answerValueSet!.slice(1),
      )
    : kb.resolve(item.answerValueSet, 'ValueSet');
  if (!vs) return undefined;
  if (vs.expansion?.contains) return vs.expansion.contains.map((c) => ({ system: c.system ?? '', code: c.code ?? '' }));
  const codes: PinnedCode[] = [];
  for (const inc of vs.compose?.include ?? []) {
    const system = inc.system ?? '';
    if (inc.concept) codes.push(...inc.concept.map((c) => ({ system, code: c.code })));
    else {
      const cs = kb.resolve(system, 'CodeSystem');
      if (cs) codes.push(...flattenConcepts(cs.concept).map((code) => ({ system, code })));
    }
  }
  return codes;
}

export function checkIntake(kb: KnowledgeBase): Problem[] {
  const q = kb.read('Questionnaire', INTAKE_QUESTIONNAIRE_ID) as fhir4.Questionnaire | undefined;
  if (!q) {
    return [
      {
        message: `The intake Questionnaire is missing: expected Questionnaire/${INTAKE_QUESTIONNAIRE_ID} (${INTAKE_QUESTIONNAIRE_URL}) in questionnaires/`,
      },
    ];
  }
  const problems: Problem[] = [];
  if (q.url !== INTAKE_QUESTIONNAIRE_URL)
    problems.push({
      expression: 'Questionnaire.url',
      message: `must be ${INTAKE_QUESTIONNAIRE_URL} (pinned), is ${JSON.stringify(q.url)}`,
    });
  problems.push(...groupLayoutProblems(q));

  const items = locateItems(q);
  for (const pinned of PINNED_INTAKE_ITEMS) {
    const found = items.get(pinned.linkId);
    if (!found) {
      problems.push({
        expression: 'Questionnaire.item',
        message: `pinned item ${JSON.stringify(pinned.linkId)} (${pinned.type}, in group ${pinned.group}) is missing`,
      });
      continue;
    }
    problems.push(...pinnedItemProblems(pinned, found, q, kb));
  }
  return problems;
}

/** The top-level groups, all present, in the pinned order, and each a group. */
function groupLayoutProblems(q: fhir4.Questionnaire): Problem[] {
  const problems: Problem[] = [];
  const groups = (q.item ?? []).map((i) => i.linkId);
  const expectedOrder = INTAKE_GROUPS.join(', ');
  const present = INTAKE_GROUPS.filter((g) => groups.includes(g));
  const inOrder = groups.filter((g) => (INTAKE_GROUPS as readonly string[]).includes(g));
  if (present.length !== INTAKE_GROUPS.length || inOrder.join() !== present.join()) {
    problems.push({
      expression: 'Questionnaire.item',
      message: `top-level groups must be ${expectedOrder}, in that order (found ${groups.join(', ') || 'none'})`,
    });
  }
  (q.item ?? []).forEach((g, i) => {
    if ((INTAKE_GROUPS as readonly string[]).includes(g.linkId) && g.type !== 'group') {
      problems.push({
        expression: `Questionnaire.item[${i}].type`,
        message: `top-level item ${JSON.stringify(g.linkId)} must be a group, is ${g.type}`,
      });
    }
  });
  return problems;
}

/** One pinned item as the table has it: its group, type, required/repeats, code, calculation and answers. */
function pinnedItemProblems(
  pinned: PinnedItem,
  { item, path, parent }: Located,
  q: fhir4.Questionnaire,
  kb: KnowledgeBase,
): Problem[] {
  const problems: Problem[] = [];
  const label = `item ${JSON.stringify(pinned.linkId)}`;
  if (parent?.linkId !== pinned.group) {
    problems.push({
      expression: path,
      message: `${label} must sit directly in group ${JSON.stringify(pinned.group)}, is in ${parent ? JSON.stringify(parent.linkId) : 'the top level'}`,
    });
  }
  if (item.type !== pinned.type)
    problems.push({
      expression: `${path}.type`,
      message: `${label} must be of type ${pinned.type}, is ${item.type}`,
    });
  if (pinned.required && item.required !== true)
    problems.push({
      expression: `${path}.required`,
      message: `${label} is a red-flag question and must be required (required: true)`,
    });
  if (pinned.repeats && item.repeats !== true)
    problems.push({ expression: `${path}.repeats`, message: `${label} must allow several answers (repeats: true)` });
  if (pinned.code && !(item.code ?? []).some((c) => c.system === pinned.code!.system && c.code === pinned.code!.code)) {
    problems.push({ expression: `${path}.code`, message: `${label} must carry code ${key(pinned.code)}` });
  }
  if (pinned.calculated) problems.push(...calculationProblems(item, path, label));
  if (pinned.answers) problems.push(...answerCodeProblems(pinned.answers, item, path, label, q, kb));
  return problems;
}

/** A computed item is readOnly and carries a calculatedExpression. */
function calculationProblems(item: fhir4.QuestionnaireItem, path: string, label: string): Problem[] {
  const problems: Problem[] = [];
  if (item.readOnly !== true)
    problems.push({ expression: `${path}.readOnly`, message: `${label} is computed and must be readOnly` });
  if (!(item.extension ?? []).some((e) => e.url === CALCULATED_EXPRESSION)) {
    problems.push({
      expression: `${path}.extension`,
      message: `${label} must be computed by an sdc-questionnaire-calculatedExpression extension`,
    });
  }
  return problems;
}

/** The item offers exactly the pinned answer codes. */
function answerCodeProblems(
  answers: readonly PinnedCode[],
  item: fhir4.QuestionnaireItem,
  path: string,
  label: string,
  q: fhir4.Questionnaire,
  kb: KnowledgeBase,
): Problem[] {
  const offered = offeredCodes(item, q, kb);
  if (!offered) {
    return [
      {
        expression: path,
        message: `${label} must offer the answers ${answers.map((c) => c.code).join(', ')} (it has no answerOption or resolvable answerValueSet)`,
      },
    ];
  }
  const want = new Set(answers.map(key));
  const have = new Set(offered.map(key));
  const missing = [...want].filter((k) => !have.has(k));
  const extra = [...have].filter((k) => !want.has(k));
  if (!missing.length && !extra.length) return [];
  const parts = [
    missing.length ? `missing ${missing.join(', ')}` : '',
    extra.length ? `unexpected ${extra.join(', ')}` : '',
  ].filter(Boolean);
  return [
    {
      expression: item.answerOption ? `${path}.answerOption` : `${path}.answerValueSet`,
      message: `${label} answer codes differ from the pinned ones: ${parts.join('; ')}`,
    },
  ];
}

/** The pinned PlanDefinition and the pinned flag and rule codes exist. */
export function checkPinnedArtifacts(kb: KnowledgeBase): Array<Problem & { target?: string }> {
  const problems: Array<Problem & { target?: string }> = [];
  if (!kb.resolve(FOLLOW_UP_PLAN_DEFINITION_URL, 'PlanDefinition')) {
    problems.push({
      message: `The top-level PlanDefinition ${FOLLOW_UP_PLAN_DEFINITION_URL} (id back-pain-follow-up) is missing from plandefinitions/`,
    });
  }
  for (const { url, codes } of PINNED_CODE_SYSTEM_CODES) {
    const cs = kb.resolve(url, 'CodeSystem');
    if (!cs) {
      problems.push({ message: `The pinned CodeSystem ${url} is missing` });
      continue;
    }
    const have = new Set(flattenConcepts(cs.concept));
    const missing = codes.filter((c) => !have.has(c));
    if (missing.length)
      problems.push({
        target: `CodeSystem/${cs.id}`,
        expression: 'CodeSystem.concept',
        message: `pinned code${missing.length > 1 ? 's' : ''} ${missing.join(', ')} missing`,
      });
  }
  return problems;
}
