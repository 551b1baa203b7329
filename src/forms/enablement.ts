/**
 * Whether a Questionnaire item is enabled for a given response: `enableWhen` (with `enableBehavior`) and the
 * SDC `enableWhenExpression`, plus "a disabled parent disables its children" and "answers of a disabled
 * question count as absent" (R4 Questionnaire.item.enableWhen).
 *
 * The answer is three-valued: 'unknown' when it cannot be decided (an enableWhen loop in the Questionnaire,
 * an expression that fails or needs data only a form filler has). Callers neither demand nor reject answers
 * on 'unknown' items.
 */
import { evaluateFhirPath } from '../fhirpath/index.js';
import { asArray, asString, EXT, expressionsOf, isFhirPath, isObject, own, valueOf, type Json } from './sdc.js';
import type { IndexedItem, QuestionnaireIndex } from './questionnaire-index.js';
import { ancestry, locate, type ResponseNode, type ResponseTree } from './response-tree.js';

export type EnabledState = 'enabled' | 'disabled' | 'unknown';
type Tri = boolean | undefined;

export class Enablement {
  private readonly memo = new Map<ResponseNode, EnabledState>();
  private readonly visiting = new Set<ResponseNode>();
  /** Expression problems met while evaluating (reported once each as warnings). */
  readonly warnings = new Map<string, fhir4.OperationOutcomeIssue>();

  constructor(
    private readonly index: QuestionnaireIndex,
    private readonly tree: ResponseTree,
    /** A separate copy of the response for fhirpath.js, which mutates what it evaluates. */
    private readonly fhirPathCopy: Json,
  ) {}

  /** Enabled state of an item present in the response (node.qItem must be set). */
  stateOf(node: ResponseNode): EnabledState {
    const memo = this.memo.get(node);
    if (memo) return memo;
    if (this.visiting.has(node)) return 'unknown';
    this.visiting.add(node);
    let state: EnabledState;
    const parentState = node.parent && node.parent.qItem ? this.stateOf(node.parent) : 'enabled';
    if (parentState === 'disabled') state = 'disabled';
    else {
      const own = node.qItem ? this.ownConditions(node.qItem, node.parent ?? node, node) : 'enabled';
      state = parentState === 'unknown' && own !== 'disabled' ? 'unknown' : own;
    }
    this.visiting.delete(node);
    this.memo.set(node, state);
    return state;
  }

  /** Enabled state of an item that has no node in the response, were it placed under `container`. */
  stateOfMissing(qItem: IndexedItem, container: ResponseNode): EnabledState {
    const containerState = container.qItem ? this.stateOf(container) : 'enabled';
    if (containerState === 'disabled') return 'disabled';
    const own = this.ownConditions(qItem, container, undefined);
    return containerState === 'unknown' && own !== 'disabled' ? 'unknown' : own;
  }

  private ownConditions(qItem: IndexedItem, container: ResponseNode, self: ResponseNode | undefined): EnabledState {
    if (this.index.inLoop.has(qItem.linkId)) return 'unknown';
    const conditions = asArray(own(qItem.item, 'enableWhen'));
    const expressions = expressionsOf(qItem.item, EXT.enableWhenExpression).filter(isFhirPath);
    if (conditions.length === 0 && expressions.length === 0) return 'enabled';

    const results: Tri[] = [];
    if (conditions.length > 0) {
      const each = conditions.map((c) => this.condition(c, container));
      const behavior = own(qItem.item, 'enableBehavior') === 'any' ? 'any' : 'all';
      results.push(behavior === 'any' ? anyOf(each) : allOf(each));
    }
    for (const e of expressions) results.push(this.expression(qItem, e.expression, container, self));
    const combined = allOf(results);
    return combined === undefined ? 'unknown' : combined ? 'enabled' : 'disabled';
  }

  /** One enableWhen condition, seen from `container` (answers of the nearest question with that linkId). */
  private condition(condition: unknown, container: ResponseNode): Tri {
    const question = asString(own(condition, 'question'));
    const operator = asString(own(condition, 'operator'));
    if (question === undefined || operator === undefined) return undefined;
    const answers = this.answersOf(question, container);
    if (answers === undefined) return undefined;
    return answersMeet(answers, operator, answerValueOf(condition));
  }

  /**
   * The answers a condition reads: none when the question is absent or disabled, undefined (unknown) when
   * whether it is enabled is itself unknown.
   */
  private answersOf(question: string, container: ResponseNode): Json[] | undefined {
    const source = this.nearest(question, container);
    if (!source) return [];
    const state = this.stateOf(source);
    if (state === 'unknown') return undefined;
    return state === 'enabled' ? source.answers : [];
  }

  /** The response node answering `linkId` closest to `from` in the tree (same repeating group first). */
  private nearest(linkId: string, from: ResponseNode): ResponseNode | undefined {
    const candidates = this.tree.byLinkId.get(linkId);
    if (!candidates || candidates.length === 0) return undefined;
    if (candidates.length === 1) return candidates[0];
    const mine = new Set(ancestry(from));
    let best: ResponseNode | undefined;
    let bestDepth = -1;
    for (const c of candidates) {
      let common = 0;
      for (const a of ancestry(c)) if (mine.has(a)) common = a.depth;
      if (common > bestDepth) {
        best = c;
        bestDepth = common;
      }
    }
    return best;
  }

  private expression(
    qItem: IndexedItem,
    expression: string,
    container: ResponseNode,
    self: ResponseNode | undefined,
  ): Tri {
    try {
      const env = this.variablesFor(qItem, container, self);
      const context = locate(this.fhirPathCopy, (self ?? container).locator) ?? this.fhirPathCopy;
      const out = evaluateFhirPath(context, expression, env);
      if (out.length === 1 && typeof out[0] === 'boolean') return out[0];
      if (out.length === 0) return undefined;
      this.warn(
        qItem,
        `enableWhenExpression of item "${qItem.linkId}" did not give a single true/false (${JSON.stringify(out).slice(0, 100)})`,
      );
      return undefined;
    } catch (err) {
      this.warn(
        qItem,
        `enableWhenExpression of item "${qItem.linkId}" could not be evaluated here, so whether it is shown was not checked: ${err instanceof Error ? err.message.slice(0, 200) : 'error'}`,
      );
      return undefined;
    }
  }

  /**
   * FHIRPath variables in scope for an item: Questionnaire-level ones, then each ancestor item's, then its own,
   * each evaluated with its own item's response node as context. x-fhir-query variables need a FHIR server
   * and are not available here.
   */
  variablesFor(qItem: IndexedItem, container: ResponseNode, self: ResponseNode | undefined): Record<string, unknown> {
    const env: Record<string, unknown> = { resource: this.fhirPathCopy, rootResource: this.fhirPathCopy };
    const chain: IndexedItem[] = [];
    for (let q: IndexedItem | undefined = qItem; q; q = q.parent) chain.unshift(q);
    const responsePath = self ? ancestry(self) : ancestry(container);
    const scopes: Array<{ element: Json; node: ResponseNode | undefined }> = [
      { element: this.index.questionnaire, node: this.tree.root },
    ];
    for (const q of chain)
      scopes.push({
        element: q.item,
        node: responsePath.find((n) => n.qItem === q) ?? (q === qItem ? self : undefined),
      });
    for (const { element, node } of scopes) {
      for (const v of expressionsOf(element, EXT.variable)) {
        if (!v.name || !isFhirPath(v)) continue;
        const context = node ? locate(this.fhirPathCopy, node.locator) : undefined;
        env[v.name] = context === undefined ? [] : evaluateFhirPath(context, v.expression, env);
      }
    }
    return env;
  }

  private warn(qItem: IndexedItem, diagnostics: string): void {
    if (!this.warnings.has(qItem.linkId)) {
      this.warnings.set(qItem.linkId, {
        severity: 'warning',
        code: 'informational',
        diagnostics,
        expression: [`${qItem.path}.extension`],
      });
    }
  }
}

function allOf(values: Tri[]): Tri {
  if (values.some((v) => v === false)) return false;
  if (values.some((v) => v === undefined)) return undefined;
  return true;
}

function anyOf(values: Tri[]): Tri {
  if (values.some((v) => v === true)) return true;
  if (values.some((v) => v === undefined)) return undefined;
  return false;
}

/** `answer[x]` of an enableWhen, as [type suffix, value] (e.g. ['Coding', {...}]). */
type AnswerValue = [string, unknown];

/** Whether the answers meet `operator` against the condition's answer[x]; undefined for what it cannot say. */
function answersMeet(answers: Json[], operator: string, expected: AnswerValue | undefined): Tri {
  if (operator === 'exists') return existsMeets(answers, expected);
  if (!expected) return undefined;
  const values = answers.map(valueOf).filter((v): v is AnswerValue => v !== undefined);
  return VALUE_OPERATORS.get(operator)?.(values, expected);
}

/** `exists` with answerBoolean true or false; any other answer[x] says nothing. */
function existsMeets(answers: Json[], expected: AnswerValue | undefined): Tri {
  if (expected?.[1] === true) return answers.length > 0;
  if (expected?.[1] === false) return answers.length === 0;
  return undefined;
}

/** Some answer compares with the expected value as `test` wants (incomparable answers do not). */
function ordered(test: (c: number) => boolean): (values: AnswerValue[], expected: AnswerValue) => boolean {
  return (values, expected) =>
    values.some((v) => {
      const c = compare(v, expected);
      if (c === undefined) return false;
      return test(c);
    });
}

const VALUE_OPERATORS = new Map<string, (values: AnswerValue[], expected: AnswerValue) => boolean>([
  ['=', (values, expected) => values.some((v) => sameValue(v, expected))],
  ['!=', (values, expected) => !values.some((v) => sameValue(v, expected))],
  ['>', ordered((c) => c > 0)],
  ['<', ordered((c) => c < 0)],
  ['>=', ordered((c) => c >= 0)],
  ['<=', ordered((c) => c <= 0)],
]);

function answerValueOf(condition: unknown): [string, unknown] | undefined {
  if (!isObject(condition)) return undefined;
  for (const key of Object.keys(condition)) {
    if (key.length > 6 && key.startsWith('answer') && key[6]! >= 'A' && key[6]! <= 'Z')
      return [key.slice(6), condition[key]];
  }
  return undefined;
}

/** An answer's [valueX, v] against an enableWhen's [X, v]. */
function sameValue([key, value]: [string, unknown], [type, expected]: [string, unknown]): boolean {
  const actualType = key.slice(5);
  if (type === 'Coding' && actualType === 'Coding') {
    const system = asString(own(expected, 'system'));
    return own(value, 'code') === own(expected, 'code') && (system === undefined || own(value, 'system') === system);
  }
  if (type === 'Quantity' && actualType === 'Quantity') return compare([key, value], [type, expected]) === 0;
  if (type === 'Reference' && actualType === 'Reference') return own(value, 'reference') === own(expected, 'reference');
  if ((type === 'Decimal' || type === 'Integer') && (actualType === 'Decimal' || actualType === 'Integer'))
    return value === expected;
  return actualType === type && value === expected;
}

function compare([key, value]: [string, unknown], [type, expected]: [string, unknown]): number | undefined {
  const actualType = key.slice(5);
  if (typeof value === 'number' && typeof expected === 'number') return value - expected;
  if (type === 'Quantity' && actualType === 'Quantity') return compareQuantities(value, expected);
  // date, dateTime, time: ISO strings of the same precision compare as text.
  if (
    typeof value === 'string' &&
    typeof expected === 'string' &&
    actualType === type &&
    value.length === expected.length
  ) {
    return value < expected ? -1 : value > expected ? 1 : 0;
  }
  return undefined;
}

/** Quantities compare by value when both have one and the same code (or unit). */
function compareQuantities(value: unknown, expected: unknown): number | undefined {
  const a = own(value, 'value');
  const b = own(expected, 'value');
  if (typeof a !== 'number' || typeof b !== 'number') return undefined;
  if ((own(value, 'code') ?? own(value, 'unit')) !== (own(expected, 'code') ?? own(expected, 'unit'))) return undefined;
  return a - b;
}
