/**
 * Server-side evaluation of SDC calculatedExpression (the same FHIRPath LHC-Forms runs in the browser), so that
 * a populated response already carries its scores and tests can check a score at its boundaries by evaluating
 * the Questionnaire's own expression rather than a copy of the formula.
 */
import { evaluateFhirPath } from '../fhirpath/index.js';
import { Enablement } from './enablement.js';
import { indexQuestionnaire, type IndexedItem } from './questionnaire-index.js';
import { buildResponseTree, locate } from './response-tree.js';
import { asArray, asString, EXT, expressionsOf, isFhirPath, isObject, jsonClone, own, type Json } from './sdc.js';

/**
 * A copy of `response` with every calculated item set from its calculatedExpression (items created where
 * missing; answers removed when the expression gives nothing). Only items reachable through non-repeating
 * groups are calculated. Expressions that fail leave the item unchanged.
 */
export function applyCalculatedExpressions(
  questionnaire: fhir4.Questionnaire,
  response: fhir4.QuestionnaireResponse,
): fhir4.QuestionnaireResponse {
  const out = jsonClone(response) as unknown as Json;
  const index = indexQuestionnaire(questionnaire);
  for (const qItem of index.byLinkId.values()) {
    const expression = expressionsOf(qItem.item, EXT.calculatedExpression).find(isFhirPath)?.expression;
    if (!expression || !reachable(qItem)) continue;
    const target = ensureItem(out, qItem);
    const tree = buildResponseTree(out);
    // Match the tree to the Questionnaire along the item's chain so variables find their scopes.
    for (const nodes of tree.byLinkId.values()) for (const n of nodes) n.qItem = index.byLinkId.get(n.linkId!);
    const node = tree.byLinkId.get(qItem.linkId)?.find((n) => n.raw === target);
    if (!node) continue;
    const fhirPathCopy = jsonClone(out);
    try {
      const env = new Enablement(index, tree, fhirPathCopy).variablesFor(qItem, node.parent ?? tree.root, node);
      const result = evaluateFhirPath(locate(fhirPathCopy, node.locator), expression, env);
      const answers = result.map((v) => toAnswer(qItem, v)).filter((a): a is Json => a !== undefined);
      if (answers.length > 0) target.answer = answers;
      else delete target.answer;
    } catch {
      // A failing expression leaves the item as it was (the form filler shows its own error).
    }
  }
  prune(out);
  return out as unknown as fhir4.QuestionnaireResponse;
}

function reachable(qItem: IndexedItem): boolean {
  for (let p = qItem.parent; p; p = p.parent) if (p.type !== 'group' || own(p.item, 'repeats') === true) return false;
  return true;
}

/** The response item for `qItem`, created (with its groups) in Questionnaire order when missing. */
function ensureItem(response: Json, qItem: IndexedItem): Json {
  const chain: IndexedItem[] = [];
  for (let q: IndexedItem | undefined = qItem; q; q = q.parent) chain.unshift(q);
  let container: Json = response;
  for (const q of chain) {
    const items = Array.isArray(container.item) ? (container.item as unknown[]) : (container.item = []);
    let found = items.find((i): i is Json => isObject(i) && own(i, 'linkId') === q.linkId);
    if (!found) {
      found = { linkId: q.linkId };
      const text = asString(own(q.item, 'text'));
      if (text) found.text = text;
      const siblings = q.parent ? q.parent.children : undefined;
      const order = (linkId: unknown) => (siblings ?? []).findIndex((s) => s.linkId === linkId);
      const position = siblings ? items.findIndex((i) => order(own(i, 'linkId')) > order(q.linkId)) : -1;
      if (position < 0) items.push(found);
      else items.splice(position, 0, found);
    }
    container = found;
  }
  return container;
}

const isFiniteNumber = (value: unknown): value is number => typeof value === 'number' && Number.isFinite(value);
const asStringAnswer = (value: unknown): Json | undefined =>
  typeof value === 'string' ? { valueString: value } : undefined;
const asCodingAnswer = (value: unknown): Json | undefined =>
  isObject(value) && typeof own(value, 'code') === 'string' ? { valueCoding: value } : undefined;

/** A calculated value as the answer of an item of each type; a value of the wrong kind gives no answer. */
const ANSWER_OF_TYPE = new Map<string, (value: unknown) => Json | undefined>([
  ['integer', (value) => (isFiniteNumber(value) ? { valueInteger: Math.trunc(value) } : undefined)],
  ['decimal', (value) => (isFiniteNumber(value) ? { valueDecimal: value } : undefined)],
  ['boolean', (value) => (typeof value === 'boolean' ? { valueBoolean: value } : undefined)],
  ['string', asStringAnswer],
  ['text', asStringAnswer],
  ['choice', asCodingAnswer],
  ['open-choice', asCodingAnswer],
]);

function toAnswer(qItem: IndexedItem, value: unknown): Json | undefined {
  const answerOf = qItem.type === undefined ? undefined : ANSWER_OF_TYPE.get(qItem.type);
  return answerOf?.(value);
}

/** Remove groups left without answers (an empty group is invalid R4). */
function prune(container: Json): void {
  if (!Array.isArray(container.item)) return;
  for (const child of container.item) if (isObject(child)) prune(child);
  container.item = (container.item as unknown[]).filter(
    (i) => !isObject(i) || asArray(own(i, 'answer')).length > 0 || asArray(own(i, 'item')).length > 0,
  );
  if ((container.item as unknown[]).length === 0) delete container.item;
}
