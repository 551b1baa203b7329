/**
 * A defensive index of a Questionnaire's items: by linkId, with their FHIRPath location and tree position.
 * Building it never throws. What makes the Questionnaire unusable as a validation target (items without a
 * linkId, duplicate linkIds, enableWhen pointing nowhere or in a loop, expressions that do not compile) is
 * collected in `problems`, each pointing at the Questionnaire element by FHIRPath.
 */
import { compileFhirPath } from '../fhirpath/index.js';
import { issue } from '../outcomes/index.js';
import { asArray, asString, EXT, expressionsOf, isFhirPath, isObject, own, valueOf, type Json } from './sdc.js';

/** Deeper than any real form; stops hostile or runaway nesting. */
export const MAX_ITEM_DEPTH = 32;
/** More items than any real form; stops runaway input. */
export const MAX_ITEMS = 5000;

export const ITEM_TYPES = new Set([
  'group',
  'display',
  'boolean',
  'decimal',
  'integer',
  'date',
  'dateTime',
  'time',
  'string',
  'text',
  'url',
  'choice',
  'open-choice',
  'attachment',
  'reference',
  'quantity',
  'question',
]);

export interface IndexedItem {
  linkId: string;
  /** The raw item (untrusted JSON). */
  item: Json;
  type: string | undefined;
  /** FHIRPath to the item, e.g. `Questionnaire.item[3].item[0]`. */
  path: string;
  parent: IndexedItem | undefined;
  children: IndexedItem[];
}

export interface QuestionnaireIndex {
  questionnaire: Json;
  /** Top-level items. */
  items: IndexedItem[];
  byLinkId: Map<string, IndexedItem>;
  /** Items in an enableWhen loop: their enabled state cannot be decided. */
  inLoop: Set<string>;
  /** Defects of the Questionnaire itself (severity error or warning). */
  problems: fhir4.OperationOutcomeIssue[];
}

export function indexQuestionnaire(questionnaire: unknown, label = 'The Questionnaire'): QuestionnaireIndex {
  const q: Json = isObject(questionnaire) ? questionnaire : {};
  const index: QuestionnaireIndex = {
    questionnaire: q,
    items: [],
    byLinkId: new Map(),
    inLoop: new Set(),
    problems: [],
  };
  const problem = (diagnostics: string, expression: string, severity: 'error' | 'warning' = 'error') =>
    index.problems.push(
      issue({ severity, code: 'invalid', diagnostics: `${label} is broken: ${diagnostics}`, expression }),
    );

  if (!isObject(questionnaire) || own(questionnaire, 'resourceType') !== 'Questionnaire') {
    problem('it is not a Questionnaire resource', 'Questionnaire');
    return index;
  }
  checkExpressions(q, 'Questionnaire', problem);

  let count = 0;
  const walk = (items: unknown, parentPath: string, parent: IndexedItem | undefined, depth: number): IndexedItem[] => {
    const out: IndexedItem[] = [];
    if (items !== undefined && !Array.isArray(items)) problem('"item" is not a list', `${parentPath}.item`);
    asArray(items).forEach((raw, i) => {
      const path = `${parentPath}.item[${i}]`;
      if (++count > MAX_ITEMS) {
        if (count === MAX_ITEMS + 1) problem(`it has more than ${MAX_ITEMS} items`, path);
        return;
      }
      if (!isObject(raw)) return problem('an item is not an object', path);
      const linkId = asString(own(raw, 'linkId'));
      if (linkId === undefined || linkId.trim() === '')
        return problem('an item has no linkId, so answers cannot be matched to it', path);
      const type = asString(own(raw, 'type'));
      if (type === undefined || !ITEM_TYPES.has(type))
        problem(`item "${linkId}" has an unknown type ${JSON.stringify(own(raw, 'type'))}`, `${path}.type`);
      const node: IndexedItem = { linkId, item: raw, type, path, parent, children: [] };
      if (index.byLinkId.has(linkId))
        problem(`linkId "${linkId}" is used twice (also at ${index.byLinkId.get(linkId)!.path})`, `${path}.linkId`);
      else index.byLinkId.set(linkId, node);
      checkExpressions(raw, path, problem);
      if (depth >= MAX_ITEM_DEPTH) {
        if (own(raw, 'item') !== undefined)
          problem(`items are nested more than ${MAX_ITEM_DEPTH} levels deep`, `${path}.item`);
      } else {
        node.children = walk(own(raw, 'item'), path, node, depth + 1);
      }
      out.push(node);
    });
    return out;
  };
  index.items = walk(own(q, 'item'), 'Questionnaire', undefined, 0);
  checkEnableWhen(index, problem);
  return index;
}

type Problem = (diagnostics: string, expression: string, severity?: 'error' | 'warning') => void;

/** FHIRPath in enableWhenExpression, calculatedExpression, initialExpression and variables must compile. */
function checkExpressions(element: Json, path: string, problem: Problem): void {
  const urls = [EXT.enableWhenExpression, EXT.calculatedExpression, EXT.initialExpression, EXT.variable];
  for (const url of urls) {
    for (const e of expressionsOf(element, url)) {
      if (!isFhirPath(e)) continue;
      try {
        compileFhirPath(e.expression);
      } catch (err) {
        problem(
          `FHIRPath ${JSON.stringify(e.expression.slice(0, 200))} does not compile (${err instanceof Error ? err.message.slice(0, 200) : 'error'})`,
          `${path}.extension`,
          'warning',
        );
      }
    }
  }
}

/** enableWhen must point at an existing item, and the dependency graph must have no loop. */
function checkEnableWhen(index: QuestionnaireIndex, problem: Problem): void {
  const graph = new Map<string, string[]>();
  for (const node of index.byLinkId.values()) {
    const targets: string[] = [];
    asArray(own(node.item, 'enableWhen')).forEach((ew, i) => {
      const question = asString(own(ew, 'question'));
      const where = `${node.path}.enableWhen[${i}]`;
      if (question === undefined) return problem(`item "${node.linkId}" has an enableWhen without a question`, where);
      if (!index.byLinkId.has(question))
        return problem(
          `item "${node.linkId}" is enabled by "${question}", which is not in the Questionnaire`,
          `${where}.question`,
        );
      if (typeof own(ew, 'operator') !== 'string')
        problem(`item "${node.linkId}" has an enableWhen without an operator`, `${where}.operator`);
      targets.push(question);
    });
    graph.set(node.linkId, targets);
  }
  // Iterative depth-first search with colours; every node on a cycle is marked.
  const colour = new Map<string, 'grey' | 'black'>();
  for (const start of graph.keys()) {
    if (colour.has(start)) continue;
    const stack: Array<{ id: string; next: number }> = [{ id: start, next: 0 }];
    colour.set(start, 'grey');
    while (stack.length > 0) {
      const top = stack[stack.length - 1]!;
      const targets = graph.get(top.id) ?? [];
      if (top.next >= targets.length) {
        colour.set(top.id, 'black');
        stack.pop();
        continue;
      }
      const target = targets[top.next++]!;
      const c = colour.get(target);
      if (c === 'grey') {
        const from = stack.findIndex((s) => s.id === target);
        const cycle = stack.slice(from).map((s) => s.id);
        if (!cycle.some((id) => index.inLoop.has(id))) {
          const node = index.byLinkId.get(target)!;
          problem(
            `enableWhen conditions form a loop (${[...cycle, target].join(' -> ')}), so whether these items are shown cannot be decided`,
            `${node.path}.enableWhen`,
          );
        }
        cycle.forEach((id) => index.inLoop.add(id));
      } else if (c === undefined) {
        colour.set(target, 'grey');
        stack.push({ id: target, next: 0 });
      }
    }
  }
}

/** The canonical `url|version` a response should name for this Questionnaire (or just the url). */
export function canonicalOf(questionnaire: unknown): string | undefined {
  const url = asString(own(questionnaire, 'url'));
  const version = asString(own(questionnaire, 'version'));
  if (!url) return undefined;
  return version ? `${url}|${version}` : url;
}

const VALUE_KEYS: Record<string, string[]> = {
  boolean: ['valueBoolean'],
  decimal: ['valueDecimal'],
  integer: ['valueInteger'],
  date: ['valueDate'],
  dateTime: ['valueDateTime'],
  time: ['valueTime'],
  string: ['valueString'],
  text: ['valueString'],
  url: ['valueUri'],
  attachment: ['valueAttachment'],
  reference: ['valueReference'],
  quantity: ['valueQuantity'],
};

/** The answer value[x] keys an item accepts; undefined when the type is unknown (already reported). */
export function answerValueKeys(q: IndexedItem): string[] | undefined {
  if (q.type === 'choice' || q.type === 'open-choice') {
    const optionKeys = [
      ...new Set(
        asArray(own(q.item, 'answerOption'))
          .map((o) => valueOf(o)?.[0])
          .filter((k): k is string => k !== undefined),
      ),
    ];
    const keys = optionKeys.length > 0 ? optionKeys : ['valueCoding'];
    return q.type === 'open-choice' ? [...new Set([...keys, 'valueString'])] : keys;
  }
  return q.type ? VALUE_KEYS[q.type] : undefined;
}
