/**
 * $validate for QuestionnaireResponse: strict R4 structure (src/validation) plus conformance to the
 * Questionnaire the response names. Never throws: whatever it is given, it returns an OperationOutcome whose
 * issues point at the offending element by FHIRPath (`QuestionnaireResponse.item[1].item[0].answer[0]`).
 * Defects of the Questionnaire itself are reported too, pointing into the Questionnaire (`Questionnaire.item[2]`).
 */
import { allOk, issue, operationOutcome } from '../outcomes/index.js';
import { validateResource } from '../validation/index.js';
import { Enablement, type EnabledState } from './enablement.js';
import {
  answerValueKeys,
  indexQuestionnaire,
  type IndexedItem,
  type QuestionnaireIndex,
} from './questionnaire-index.js';
import { buildResponseTree, type ResponseNode, type ResponseTree } from './response-tree.js';
import { applyCalculatedExpressions } from './calculate.js';
import {
  asArray,
  asString,
  EXT,
  expressionsOf,
  extensionsOf,
  isObject,
  jsonClone,
  own,
  valueOf,
  type Json,
} from './sdc.js';

export interface ValidateResponseOptions {
  /** Find the Questionnaire a response names (`url` or `url|version`); undefined when unknown. */
  resolveQuestionnaire: (canonical: string) => fhir4.Questionnaire | undefined;
  /**
   * The caller only asks "does it have errors?" (the write path): checks that can only ever warn are skipped.
   * Today that is the calculated-score check (OST, ORAI), which re-evaluates the Questionnaire's FHIRPath
   * variables and costs about half of the whole validation. Errors are exactly the same either way.
   */
  errorsOnly?: boolean;
}

/** Enough to explain what is wrong; more would only bury it. */
const MAX_ISSUES = 200;

export function validateQuestionnaireResponse(
  response: unknown,
  options: ValidateResponseOptions,
): fhir4.OperationOutcome {
  let issues: fhir4.OperationOutcomeIssue[];
  try {
    issues = validateUnsafe(response, options);
  } catch (err) {
    // A bug here must not become a 500 or a silent pass.
    issues = [
      issue({
        code: 'exception',
        diagnostics: `The response could not be fully checked: ${err instanceof Error ? err.message.slice(0, 300) : 'unexpected error'}`,
      }),
    ];
  }
  if (issues.length > MAX_ISSUES) {
    const total = issues.length;
    issues = [
      ...issues.slice(0, MAX_ISSUES),
      issue({
        severity: 'information',
        code: 'too-costly',
        diagnostics: `${total - MAX_ISSUES} more issues were found and left out.`,
      }),
    ];
  }
  if (issues.length === 0) return allOk('The QuestionnaireResponse is valid and conforms to its Questionnaire.');
  return operationOutcome(issues);
}

function validateUnsafe(response: unknown, options: ValidateResponseOptions): fhir4.OperationOutcomeIssue[] {
  const structural = validateResource(response);
  if (!isObject(response)) return structural;
  if (own(response, 'resourceType') !== 'QuestionnaireResponse') return [notAResponse(own(response, 'resourceType'))];
  // Runaway nesting: the structural scan already says where; do not walk it again. (Hostile keys such as
  // `__proto__` are safe below: every read goes through own() and every index is a Map.)
  if (structural.some((i) => i.code === 'too-costly')) return structural;

  const issues = [...structural];
  const found = questionnaireOf(response, options);
  if (!found.ok) {
    issues.push(found.problem);
    return issues;
  }
  const { canonical, questionnaire } = found;

  let copy: Json;
  let fhirPathCopy: Json;
  try {
    copy = jsonClone(response);
    fhirPathCopy = jsonClone(response);
  } catch {
    issues.push(
      issue({ code: 'structure', diagnostics: 'The response is not plain JSON', expression: 'QuestionnaireResponse' }),
    );
    return issues;
  }
  const index = indexQuestionnaire(questionnaire, `Questionnaire ${canonical.slice(0, 300)}`);
  issues.push(...index.problems);
  const tree = buildResponseTree(copy);
  if (tree.truncated)
    issues.push(
      issue({
        code: 'too-costly',
        diagnostics: 'The response has too many items or is nested too deeply to check completely',
        expression: 'QuestionnaireResponse.item',
      }),
    );
  const checker = new ConformanceChecker(
    index,
    tree,
    new Enablement(index, tree, fhirPathCopy),
    own(response, 'status') === 'completed' || own(response, 'status') === 'amended',
  );
  issues.push(...checker.run());
  if (!options.errorsOnly) issues.push(...checkCalculatedValues(questionnaire, copy, tree, index));
  return issues;
}

function notAResponse(resourceType: unknown): fhir4.OperationOutcomeIssue {
  return issue({
    code: 'structure',
    diagnostics: `Expected a QuestionnaireResponse, got ${typeof resourceType === 'string' ? resourceType.slice(0, 64) : 'no resourceType'}`,
    expression: 'QuestionnaireResponse.resourceType',
  });
}

type FoundQuestionnaire =
  | { ok: true; canonical: string; questionnaire: fhir4.Questionnaire }
  | { ok: false; problem: fhir4.OperationOutcomeIssue };

/** The Questionnaire the response names, or why it cannot be had (not named, lookup failed, unknown). */
function questionnaireOf(response: Json, options: ValidateResponseOptions): FoundQuestionnaire {
  const canonical = own(response, 'questionnaire');
  if (typeof canonical !== 'string' || canonical.trim() === '') {
    return {
      ok: false,
      problem: issue({
        code: 'required',
        diagnostics:
          'The response does not say which Questionnaire it answers (QuestionnaireResponse.questionnaire is missing)',
        expression: 'QuestionnaireResponse.questionnaire',
      }),
    };
  }
  let questionnaire: fhir4.Questionnaire | undefined;
  try {
    questionnaire = options.resolveQuestionnaire(canonical);
  } catch (err) {
    return {
      ok: false,
      problem: issue({
        code: 'exception',
        diagnostics: `The Questionnaire ${JSON.stringify(canonical.slice(0, 300))} could not be looked up: ${err instanceof Error ? err.message.slice(0, 200) : 'error'}`,
        expression: 'QuestionnaireResponse.questionnaire',
      }),
    };
  }
  if (!isObject(questionnaire)) {
    return {
      ok: false,
      problem: issue({
        code: 'not-found',
        diagnostics: `Unknown Questionnaire ${JSON.stringify(canonical.slice(0, 300))}: no Questionnaire with this canonical URL (and version) is known here`,
        expression: 'QuestionnaireResponse.questionnaire',
      }),
    };
  }
  return { ok: true, canonical, questionnaire };
}

/**
 * A read-only calculated answer (OST, ORAI) that differs from what the Questionnaire's own calculatedExpression
 * gives for these answers was not computed by the form, or was changed after. A warning, not an error: a
 * third-party form may calculate with data this server does not have.
 */
function checkCalculatedValues(
  questionnaire: fhir4.Questionnaire,
  response: Json,
  tree: ResponseTree,
  index: QuestionnaireIndex,
): fhir4.OperationOutcomeIssue[] {
  const calculated = [...index.byLinkId.values()].filter(
    (q) => expressionsOf(q.item, EXT.calculatedExpression).length > 0,
  );
  if (calculated.length === 0) return [];
  let expected: ResponseTree;
  try {
    expected = buildResponseTree(
      applyCalculatedExpressions(questionnaire, response as unknown as fhir4.QuestionnaireResponse) as unknown as Json,
    );
  } catch {
    return [];
  }
  const out: fhir4.OperationOutcomeIssue[] = [];
  for (const q of calculated) {
    const problem = calculationMismatch(q, tree.byLinkId.get(q.linkId), expected.byLinkId.get(q.linkId));
    if (problem) out.push(problem);
  }
  return out;
}

/** A warning when the one answer to a calculated item is not what the calculation gives. */
function calculationMismatch(
  q: IndexedItem,
  actual: ResponseNode[] | undefined,
  wanted: ResponseNode[] | undefined,
): fhir4.OperationOutcomeIssue | undefined {
  // Only single occurrences compare unambiguously (calculations in repeating groups are left to the form).
  if (actual?.length !== 1 || (wanted?.length ?? 0) > 1) return undefined;
  const have = actual[0]!.answers.map((a) => valueOf(a)?.[1]);
  const want = (wanted?.[0]?.answers ?? []).map((a) => valueOf(a)?.[1]);
  if (have.length === 0 || want.length === 0) return undefined;
  if (sameValues(have, want)) return undefined;
  return issue({
    severity: 'warning',
    code: 'business-rule',
    diagnostics: `"${q.linkId}" is ${JSON.stringify(have).slice(0, 100)}, but the Questionnaire's calculation gives ${JSON.stringify(want).slice(0, 100)} for these answers`,
    expression: `${actual[0]!.path}.answer[0]`,
  });
}

/** Numbers equal to within rounding; anything else by its JSON. */
function sameValues(have: unknown[], want: unknown[]): boolean {
  return (
    have.length === want.length &&
    have.every((v, i) =>
      typeof v === 'number' && typeof want[i] === 'number'
        ? Math.abs(v - want[i]) < 1e-9
        : JSON.stringify(v) === JSON.stringify(want[i]),
    )
  );
}

/** An answer value as the issue shows it: a coding as system|code, anything else as JSON (both cut short). */
function shownAnswer(key: string, value: unknown): string {
  return (
    key === 'valueCoding'
      ? `${asString(own(value, 'system')) ?? '(no system)'}|${asString(own(value, 'code')) ?? '(no code)'}`
      : (JSON.stringify(value) ?? '')
  ).slice(0, 200);
}

class ConformanceChecker {
  private readonly issues: fhir4.OperationOutcomeIssue[] = [];
  /** Items whose answers could not be checked against their ValueSet (reported once each). */
  private readonly unchecked = new Set<string>();

  constructor(
    private readonly index: QuestionnaireIndex,
    private readonly tree: ResponseTree,
    private readonly enablement: Enablement,
    /** Required items are only demanded of finished responses. */
    private readonly finished: boolean,
  ) {}

  run(): fhir4.OperationOutcomeIssue[] {
    // Pass 1: match every node to its Questionnaire item, so enableWhen can look anywhere in pass 2.
    this.match(this.tree.root, this.index.items);
    // Pass 2: check each container's items against what the Questionnaire expects there.
    this.checkContainer(this.tree.root, this.index.items);
    this.issues.push(...this.enablement.warnings.values());
    return this.issues;
  }

  private error(
    code: fhir4.OperationOutcomeIssue['code'],
    diagnostics: string,
    expression: string,
    severity: 'error' | 'warning' = 'error',
  ): void {
    this.issues.push(issue({ severity, code, diagnostics, expression }));
  }

  private match(container: ResponseNode, expected: IndexedItem[]): void {
    for (const node of container.children) {
      if (node.linkId === undefined) continue;
      node.qItem = expected.find((q) => q.linkId === node.linkId);
      if (node.qItem) this.match(node, node.qItem.children);
    }
  }

  private checkContainer(container: ResponseNode, expected: IndexedItem[]): void {
    const seen = new Map<string, ResponseNode[]>();
    for (const node of container.children) {
      if (node.linkId === undefined) {
        this.error('required', 'An item has no linkId, so it cannot be matched to a question', node.path);
        continue;
      }
      if (!node.qItem) {
        this.unexpected(node, container);
        continue;
      }
      const list = seen.get(node.linkId) ?? [];
      list.push(node);
      seen.set(node.linkId, list);
      if (list.length === 2 && own(node.qItem.item, 'repeats') !== true) {
        this.error('structure', `Item "${node.linkId}" appears more than once here, but it does not repeat`, node.path);
      }
      this.checkNode(node);
    }
    this.checkOrder(container, expected);
    for (const q of expected) {
      if (!seen.has(q.linkId)) this.checkMissing(q, container);
    }
  }

  /** Items must follow the Questionnaire's order (R4 invariant on QuestionnaireResponse items). */
  private checkOrder(container: ResponseNode, expected: IndexedItem[]): void {
    let last = -1;
    for (const node of container.children) {
      if (!node.qItem) continue;
      const position = expected.indexOf(node.qItem);
      if (position < last) {
        this.error(
          'structure',
          `Item "${node.linkId}" is out of order: items must follow the order of the Questionnaire`,
          node.path,
          'warning',
        );
        return;
      }
      last = position;
    }
  }

  private unexpected(node: ResponseNode, container: ResponseNode): void {
    const linkId = node.linkId ?? '';
    const elsewhere = this.index.byLinkId.get(linkId);
    if (elsewhere) {
      const where = elsewhere.parent ? `inside "${elsewhere.parent.linkId}"` : 'at the top level';
      this.error(
        'structure',
        `Item "${node.linkId}" is in the wrong place: in the Questionnaire it sits ${where}, not ${container.linkId ? `inside "${container.linkId}"` : 'at the top level'}`,
        node.path,
      );
    } else {
      this.error('structure', `Item "${linkId.slice(0, 200)}" is not in the Questionnaire`, `${node.path}.linkId`);
    }
  }

  private checkNode(node: ResponseNode): void {
    const q = node.qItem!;
    const state = this.enablement.stateOf(node);
    if (state === 'disabled' && hasAnyAnswer(node)) {
      this.error(
        'business-rule',
        `Item "${q.linkId}" is answered, but it is not shown for these answers (its enableWhen conditions are not met)`,
        node.answers.length > 0 ? `${node.path}.answer[0]` : node.path,
      );
    }
    if (q.type === 'group' || q.type === 'display') this.checkGroupOrDisplay(node, q);
    else this.checkQuestion(node, q, state);
  }

  private checkGroupOrDisplay(node: ResponseNode, q: IndexedItem): void {
    if (node.answers.length > 0)
      this.error('structure', `Item "${q.linkId}" is a ${q.type} and cannot have answers`, `${node.path}.answer[0]`);
    if (q.type === 'display' && node.children.length > 0)
      this.error('structure', `Item "${q.linkId}" is a display item and cannot contain items`, `${node.path}.item[0]`);
    if (q.type === 'group') this.checkContainer(node, q.children);
  }

  private checkQuestion(node: ResponseNode, q: IndexedItem, state: EnabledState): void {
    // A question: its children belong under each answer, not under the item.
    if (asArray(own(node.raw, 'item')).length > 0) {
      this.error(
        'structure',
        `Item "${q.linkId}" is a question: items nested under it belong in answer.item, not item.item`,
        `${node.path}.item[0]`,
      );
    }
    if (node.answers.length > 1 && own(q.item, 'repeats') !== true) {
      this.error(
        'structure',
        `Question "${q.linkId}" allows one answer, but has ${node.answers.length}`,
        `${node.path}.answer[1]`,
      );
    }
    node.answers.forEach((answer, i) => this.checkAnswer(q, answer, `${node.path}.answer[${i}]`));
    if (this.finished && own(q.item, 'required') === true && state === 'enabled' && node.answers.length === 0) {
      this.error('required', `Required question "${q.linkId}" (${textOf(q)}) has no answer`, node.path);
    }
    this.checkItemsUnderAnswers(node, q);
  }

  /** Items nested under answers (questions with child items), checked per answer. */
  private checkItemsUnderAnswers(node: ResponseNode, q: IndexedItem): void {
    const nested = node.children.filter((c) => c.path.startsWith(`${node.path}.answer[`));
    if (nested.length === 0) return;
    const byAnswer = new Map<string, ResponseNode[]>();
    for (const c of nested) {
      const key = c.path.slice(0, c.path.lastIndexOf('.item['));
      byAnswer.set(key, [...(byAnswer.get(key) ?? []), c]);
    }
    for (const children of byAnswer.values()) {
      const pseudo: ResponseNode = { ...node, children };
      this.checkContainer(pseudo, q.children);
    }
  }

  private checkMissing(q: IndexedItem, container: ResponseNode): void {
    if (!this.finished) return;
    const state = this.enablement.stateOfMissing(q, container);
    if (state !== 'enabled') return;
    if (own(q.item, 'required') === true) {
      this.error(
        'required',
        `Required ${q.type === 'group' ? 'group' : 'question'} "${q.linkId}" (${textOf(q)}) is missing`,
        container.path,
      );
      return;
    }
    // A group that is absent leaves its required questions unanswered too.
    if (q.type === 'group') {
      for (const child of q.children) this.checkMissing(child, container);
    }
  }

  private checkAnswer(q: IndexedItem, answer: Json, path: string): void {
    const value = valueOf(answer);
    if (!value) {
      if (asArray(own(answer, 'item')).length === 0)
        this.error('required', `An answer to "${q.linkId}" has no value`, path);
      return;
    }
    const [key, v] = value;
    const allowed = answerValueKeys(q);
    if (allowed && !allowed.includes(key)) {
      this.error(
        'value',
        `Question "${q.linkId}" is of type ${q.type}: its answers must be ${allowed.join(' or ')}, not ${key}`,
        `${path}.${key}`,
      );
      return;
    }
    this.checkOptions(q, key, v, `${path}.${key}`);
    this.checkLimits(q, key, v, `${path}.${key}`);
  }

  private checkOptions(q: IndexedItem, key: string, value: unknown, path: string): void {
    const allowedCodes = this.allowedAnswers(q, path);
    if (!allowedCodes) return;
    if (allowedCodes.some((o) => optionMatches(o, [key, value]))) return;
    const openChoice = q.type === 'open-choice';
    if (openChoice && key === 'valueString') return;
    this.error(
      'code-invalid',
      `${shownAnswer(key, value)} is not one of the answer options of "${q.linkId}"`,
      path,
      openChoice ? 'warning' : 'error',
    );
  }

  /**
   * The answers an item allows: its answerOptions, else the codes of its contained answerValueSet. Undefined
   * when there is nothing to check against here (an external ValueSet is reported once, as information).
   */
  private allowedAnswers(q: IndexedItem, path: string): Array<[string, unknown]> | undefined {
    const options = asArray(own(q.item, 'answerOption'))
      .map(valueOf)
      .filter((o): o is [string, unknown] => o !== undefined);
    if (options.length > 0) return options;
    const vs = asString(own(q.item, 'answerValueSet'));
    const contained = vs?.startsWith('#') ? containedValueSetCodes(this.index.questionnaire, vs.slice(1)) : undefined;
    if (vs && !contained && !this.unchecked.has(q.linkId)) {
      this.unchecked.add(q.linkId);
      this.issues.push(
        issue({
          severity: 'information',
          code: 'informational',
          diagnostics: `Answers to "${q.linkId}" were not checked against ValueSet ${vs.slice(0, 200)} (it needs a terminology server)`,
          expression: path,
        }),
      );
    }
    return contained;
  }

  private checkLimits(q: IndexedItem, key: string, value: unknown, path: string): void {
    for (const [url, sign, word] of [
      [EXT.minValue, -1, 'less than the minimum'],
      [EXT.maxValue, 1, 'more than the maximum'],
    ] as const) {
      for (const ext of extensionsOf(q.item, url)) {
        const limit = valueOf(ext)?.[1];
        const c = compareLimit(value, limit);
        if (c !== undefined && Math.sign(c) === sign) {
          this.error(
            'value',
            `${JSON.stringify(value).slice(0, 100)} is ${word} allowed for "${q.linkId}" (${JSON.stringify(limit)})`,
            path,
          );
        }
      }
    }
    if (typeof value === 'string') {
      const maxLength = own(q.item, 'maxLength');
      if (typeof maxLength === 'number' && value.length > maxLength)
        this.error('value', `The answer to "${q.linkId}" is longer than ${maxLength} characters`, path);
      for (const ext of extensionsOf(q.item, EXT.minLength)) {
        const min = own(ext, 'valueInteger');
        if (typeof min === 'number' && value.length < min)
          this.error('value', `The answer to "${q.linkId}" is shorter than ${min} characters`, path);
      }
    }
    if (key === 'valueInteger' && typeof value === 'number' && !Number.isInteger(value)) {
      this.error('value', `The answer to "${q.linkId}" must be a whole number`, path);
    }
  }
}

function hasAnyAnswer(node: ResponseNode): boolean {
  if (node.answers.some((a) => valueOf(a) !== undefined)) return true;
  return node.children.some(hasAnyAnswer);
}

function textOf(q: IndexedItem): string {
  const text = asString(own(q.item, 'text'));
  return text ? JSON.stringify(text.length > 80 ? `${text.slice(0, 77)}...` : text) : 'no text';
}

function optionMatches([optionKey, option]: [string, unknown], [key, value]: [string, unknown]): boolean {
  if (optionKey !== key) return false;
  if (key === 'valueCoding') {
    const system = asString(own(option, 'system'));
    return own(option, 'code') === own(value, 'code') && (system === undefined || system === own(value, 'system'));
  }
  if (key === 'valueReference') return own(option, 'reference') === own(value, 'reference');
  return option === value;
}

/** Codes of a contained ValueSet listed by enumeration or expansion; undefined when it cannot be enumerated. */
function containedValueSetCodes(questionnaire: Json, id: string): Array<[string, unknown]> | undefined {
  const vs = asArray(own(questionnaire, 'contained')).find(
    (r) => own(r, 'resourceType') === 'ValueSet' && own(r, 'id') === id,
  );
  if (!vs) return undefined;
  const out: Array<[string, unknown]> = [];
  const contains = asArray(own(own(vs, 'expansion'), 'contains'));
  if (contains.length > 0) {
    const walk = (list: unknown[], depth: number) => {
      for (const c of list) {
        if (asString(own(c, 'code'))) out.push(['valueCoding', { system: own(c, 'system'), code: own(c, 'code') }]);
        if (depth < 8) walk(asArray(own(c, 'contains')), depth + 1);
      }
    };
    walk(contains, 0);
    return out;
  }
  for (const include of asArray(own(own(vs, 'compose'), 'include'))) {
    const concepts = asArray(own(include, 'concept'));
    if (own(include, 'filter') !== undefined || own(include, 'valueSet') !== undefined || concepts.length === 0)
      return undefined;
    for (const c of concepts) out.push(['valueCoding', { system: own(include, 'system'), code: own(c, 'code') }]);
  }
  return out.length > 0 ? out : undefined;
}

function compareLimit(value: unknown, limit: unknown): number | undefined {
  if (typeof value === 'number' && typeof limit === 'number') return value - limit;
  if (isObject(value) && typeof own(value, 'value') === 'number' && typeof limit === 'number')
    return (own(value, 'value') as number) - limit;
  if (typeof value === 'string' && typeof limit === 'string' && value.length === limit.length)
    return value < limit ? -1 : value > limit ? 1 : 0;
  return undefined;
}
