/**
 * Questionnaire checks that R4's invariants leave out but a form engine relies on: linkIds unique,
 * enableWhen pointing at an existing question with an answer of that question's type (and, for choice
 * questions with answerOptions, one of its codes), no enableWhen loops, and contained answerValueSets
 * present.
 */
import { printable } from '../platform/text.js';

export interface ItemProblem {
  expression: string;
  message: string;
}

interface Item {
  linkId?: unknown;
  type?: unknown;
  item?: unknown;
  enableWhen?: unknown;
  answerOption?: unknown;
  answerValueSet?: unknown;
}

interface Located {
  item: Item;
  path: string;
}

/** Which `answer[x]` an enableWhen may use for a question of each item type. */
const ANSWER_TYPES: Record<string, string[]> = {
  boolean: ['answerBoolean'],
  decimal: ['answerDecimal'],
  integer: ['answerInteger'],
  date: ['answerDate'],
  dateTime: ['answerDateTime'],
  time: ['answerTime'],
  string: ['answerString'],
  text: ['answerString'],
  url: ['answerString'],
  choice: ['answerCoding'],
  'open-choice': ['answerCoding', 'answerString'],
  quantity: ['answerQuantity'],
  reference: ['answerReference'],
};

/** choice answers may be any answerOption value type (valueCoding, valueString, valueInteger ...). */
function allowedAnswers(item: Item, type: string): string[] | undefined {
  const base = ANSWER_TYPES[type];
  if ((type !== 'choice' && type !== 'open-choice') || !Array.isArray(item.answerOption)) return base;
  const fromOptions = (item.answerOption as Array<Record<string, unknown> | null>).flatMap((o) =>
    Object.keys(o ?? {})
      .filter((k) => k.startsWith('value'))
      .map((k) => `answer${k.slice('value'.length)}`),
  );
  return [...new Set([...(base ?? []), ...fromOptions])];
}

function itemsWithPaths(q: { item?: unknown }): Located[] {
  const out: Located[] = [];
  const walk = (items: unknown, path: string): void => {
    if (!Array.isArray(items)) return;
    items.forEach((raw, i) => {
      if (!raw || typeof raw !== 'object') return;
      const item = raw as Item;
      const p = `${path}.item[${i}]`;
      out.push({ item, path: p });
      walk(item.item, p);
    });
  };
  walk(q.item, 'Questionnaire');
  return out;
}

export function checkQuestionnaireItems(q: { item?: unknown; contained?: unknown }): ItemProblem[] {
  const problems: ItemProblem[] = [];
  const all = itemsWithPaths(q);
  const byLinkId = firstByLinkId(all, problems);
  const containedIds = containedValueSetIds(q.contained);

  const dependsOn = new Map<string, string[]>();
  for (const { item, path } of all) {
    if (
      typeof item.answerValueSet === 'string' &&
      item.answerValueSet.startsWith('#') &&
      !containedIds.has(item.answerValueSet.slice(1))
    ) {
      problems.push({
        expression: `${path}.answerValueSet`,
        message: `answerValueSet ${item.answerValueSet} names no contained ValueSet`,
      });
    }
    if (!Array.isArray(item.enableWhen)) continue;
    const deps = enableWhenDependencies(item.enableWhen, path, byLinkId, problems);
    if (typeof item.linkId === 'string') dependsOn.set(item.linkId, deps);
  }

  for (const cycle of findCycles(dependsOn)) {
    const start = byLinkId.get(cycle[0]!);
    problems.push({
      expression: `${start?.path ?? 'Questionnaire'}.enableWhen`,
      message: `enableWhen loop: ${cycle.join(' → ')} → ${cycle[0]}; none of these items can ever be enabled reliably`,
    });
  }
  return problems;
}

/** Each linkId's first item; later ones are reported as duplicates. */
function firstByLinkId(all: Located[], problems: ItemProblem[]): Map<string, Located> {
  const byLinkId = new Map<string, Located>();
  for (const located of all) {
    const { linkId } = located.item;
    if (typeof linkId !== 'string') continue; // reported by structural validation
    const first = byLinkId.get(linkId);
    if (first)
      problems.push({
        expression: `${located.path}.linkId`,
        message: `Duplicate linkId ${JSON.stringify(linkId)} (first used at ${first.path})`,
      });
    else byLinkId.set(linkId, located);
  }
  return byLinkId;
}

function containedValueSetIds(contained: unknown): Set<string> {
  return new Set(
    (Array.isArray(contained) ? (contained as Array<{ id?: unknown; resourceType?: unknown }>) : [])
      .filter((r) => r?.resourceType === 'ValueSet' && typeof r.id === 'string')
      .map((r) => r.id as string),
  );
}

/** The linkIds an item's enableWhen conditions read; each condition's problems are reported on the way. */
function enableWhenDependencies(
  enableWhen: unknown[],
  path: string,
  byLinkId: Map<string, Located>,
  problems: ItemProblem[],
): string[] {
  const deps: string[] = [];
  enableWhen.forEach((raw: unknown, j: number) => {
    const ew = (raw ?? {}) as Record<string, unknown>;
    const ewPath = `${path}.enableWhen[${j}]`;
    if (typeof ew.question !== 'string') return;
    const target = byLinkId.get(ew.question);
    if (!target) {
      problems.push({
        expression: `${ewPath}.question`,
        message: `enableWhen refers to linkId ${JSON.stringify(ew.question)}, which no item has`,
      });
      return;
    }
    deps.push(ew.question);
    const problem = enableWhenAnswerProblem(ew, ew.question, ewPath, target.item);
    if (problem) problems.push(problem);
  });
  return deps;
}

/** The condition's answer[x] is of the question's type and, against answerOptions, one of their codes. */
function enableWhenAnswerProblem(
  ew: Record<string, unknown>,
  question: string,
  ewPath: string,
  target: Item,
): ItemProblem | undefined {
  const answerKey = Object.keys(ew).find((k) => k.startsWith('answer'));
  if (!answerKey) return undefined; // structural validation reports the missing answer[x]
  const targetType = typeof target.type === 'string' ? target.type : '';
  const allowed = ew.operator === 'exists' ? ['answerBoolean'] : allowedAnswers(target, targetType);
  if (allowed && !allowed.includes(answerKey)) {
    return {
      expression: `${ewPath}.${answerKey}`,
      message: `enableWhen uses ${answerKey} but ${JSON.stringify(question)} is a ${targetType} question (expected ${allowed.join(' or ')})`,
    };
  }
  if (answerKey === 'answerCoding' && Array.isArray(target.answerOption) && ew.operator !== 'exists')
    return answerOptionProblem(ew, question, ewPath, target.answerOption);
  return undefined;
}

function answerOptionProblem(
  ew: Record<string, unknown>,
  question: string,
  ewPath: string,
  answerOption: unknown[],
): ItemProblem | undefined {
  const coding = ew.answerCoding as { system?: unknown; code?: unknown } | undefined;
  const options = (answerOption as Array<{ valueCoding?: { system?: unknown; code?: unknown } }>)
    .map((o) => o?.valueCoding)
    .filter(Boolean);
  const matches = options.some(
    (o) => o!.code === coding?.code && (coding?.system === undefined || o!.system === coding.system),
  );
  if (options.length === 0 || matches) return undefined;
  return {
    expression: `${ewPath}.answerCoding`,
    message: `enableWhen answer ${printable(coding?.system)}|${printable(coding?.code)} is not an answerOption of ${JSON.stringify(question)}`,
  };
}

/** Each elementary cycle reported once (by its smallest rotation), found by depth-first search. */
function findCycles(graph: Map<string, string[]>): string[][] {
  const seen = new Set<string>();
  const cycles: string[][] = [];
  const state = new Map<string, 'active' | 'done'>();
  const stack: string[] = [];
  const dfs = (node: string): void => {
    state.set(node, 'active');
    stack.push(node);
    for (const next of graph.get(node) ?? []) {
      const s = state.get(next);
      if (s === 'active') {
        const cycle = stack.slice(stack.indexOf(next));
        const key = [...cycle].sort().join('|');
        if (!seen.has(key)) {
          seen.add(key);
          cycles.push(cycle);
        }
      } else if (s === undefined) dfs(next);
    }
    stack.pop();
    state.set(node, 'done');
  };
  for (const node of graph.keys()) if (!state.has(node)) dfs(node);
  return cycles;
}
