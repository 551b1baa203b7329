/**
 * The answers the rules may read, checked once against the Questionnaire before any rule runs.
 *
 * The rules test codes (`'rf-fever' in %yes`, `'both-legs' in %legSymptoms`) and numbers (`%duration < 6`).
 * An answer that is not a valid option of its item (a string "maybe", code `YES`, a wrong system, a
 * boolean, a coding without a system, an empty answer object), a number of the wrong type or outside the
 * item's minValue/maxValue, or several answers to a question that takes one, is matched by none of those
 * tests: left in place it would read as "not Yes", that is as "no", and a red flag could pass silently.
 * So such an answer is removed here and the item becomes UNKNOWN: RF-00 asks for it, RF-10 cannot fire,
 * and the result carries a warning naming the item and the value. Both FHIRPath evaluators see the same
 * checked response, so they cannot disagree about it.
 *
 * Several answers to a single-answer choice item keep the answers that are valid options (so a Yes among
 * them still raises the rules that need a Yes) and the item is still unknown (it is never a No).
 */

type Item = fhir4.QuestionnaireResponseItem;
type Answer = fhir4.QuestionnaireResponseItemAnswer;

const MIN_VALUE = 'http://hl7.org/fhir/StructureDefinition/minValue';
const MAX_VALUE = 'http://hl7.org/fhir/StructureDefinition/maxValue';
const UNIT = 'http://hl7.org/fhir/StructureDefinition/questionnaire-unit';

/** What the Questionnaire says an item accepts, and its own wording (for the basis shown to clinicians). */
export interface ItemDefinition {
  linkId: string;
  type: fhir4.QuestionnaireItem['type'];
  repeats: boolean;
  text: string | undefined;
  /** `system|code` -> the option's display (empty string when it has none). */
  options: Map<string, string> | undefined;
  min: number | undefined;
  max: number | undefined;
  unit: string | undefined;
}

/** The answer value[x] key each item type takes (choice items: valueCoding, checked against the options). */
const VALUE_KEY_OF_TYPE: Partial<Record<fhir4.QuestionnaireItem['type'], string>> = {
  boolean: 'valueBoolean',
  decimal: 'valueDecimal',
  integer: 'valueInteger',
  date: 'valueDate',
  dateTime: 'valueDateTime',
  time: 'valueTime',
  string: 'valueString',
  text: 'valueString',
  url: 'valueUri',
  choice: 'valueCoding',
  attachment: 'valueAttachment',
  reference: 'valueReference',
  quantity: 'valueQuantity',
};

const definitions = new WeakMap<fhir4.Questionnaire, Map<string, ItemDefinition>>();

function numberOf(ext: fhir4.Extension | undefined): number | undefined {
  const v = ext?.valueInteger ?? ext?.valueDecimal;
  return typeof v === 'number' ? v : undefined;
}

/** linkId -> definition, for one Questionnaire (content is immutable once loaded: indexed once). */
export function itemDefinitions(questionnaire: fhir4.Questionnaire | undefined): Map<string, ItemDefinition> {
  if (!questionnaire) return new Map();
  let index = definitions.get(questionnaire);
  if (index) return index;
  index = new Map();
  const walk = (items: fhir4.QuestionnaireItem[] | undefined) => {
    for (const item of items ?? []) {
      if (!index.has(item.linkId)) {
        const options = item.answerOption
          ? new Map(
              item.answerOption
                .filter((o) => o.valueCoding?.code !== undefined)
                .map((o) => [`${o.valueCoding!.system ?? ''}|${o.valueCoding!.code!}`, o.valueCoding!.display ?? '']),
            )
          : undefined;
        const unit = item.extension?.find((e) => e.url === UNIT)?.valueCoding;
        index.set(item.linkId, {
          linkId: item.linkId,
          type: item.type,
          repeats: item.repeats === true,
          text: item.text,
          options,
          min: numberOf(item.extension?.find((e) => e.url === MIN_VALUE)),
          max: numberOf(item.extension?.find((e) => e.url === MAX_VALUE)),
          unit: unit?.display ?? unit?.code,
        });
      }
      walk(item.item);
    }
  };
  walk(questionnaire.item);
  definitions.set(questionnaire, index);
  return index;
}

/** One answer the rules could not use. */
export interface AnswerProblem {
  linkId: string;
  /** The value as sent, e.g. `valueString "maybe"`. */
  value: string;
  /** Why it is unusable, in plain words. */
  reason: string;
}

export interface CheckedAnswers {
  /** The response with every unusable answer removed (undefined when there is no response). */
  response: fhir4.QuestionnaireResponse | undefined;
  problems: AnswerProblem[];
  /** Single-answer items with a problem: unknown to the rules even when a valid answer remains. */
  unusable: string[];
}

function valueKeys(answer: Answer): string[] {
  return Object.keys(answer).filter((k) => k.startsWith('value'));
}

/** `valueString "maybe"`, for warnings. */
export function describeValue(answer: Answer): string {
  const keys = valueKeys(answer);
  if (keys.length === 0) return 'an answer with no value';
  return keys
    .map((k) => `${k} ${JSON.stringify((answer as Record<string, unknown>)[k]) ?? 'undefined'}`.slice(0, 160))
    .join(', ');
}

function inRange(def: ItemDefinition, n: number): string | undefined {
  if (def.min !== undefined && n < def.min) return `is below the question's minimum of ${def.min}`;
  if (def.max !== undefined && n > def.max) return `is above the question's maximum of ${def.max}`;
  return undefined;
}

/** Why the answer is not usable for this item, or undefined when it is. */
function problemOf(def: ItemDefinition, answer: Answer): string | undefined {
  if (answer === null || typeof answer !== 'object') return 'is not an answer object';
  const keys = valueKeys(answer);
  if (keys.length === 0) return 'has no value';
  if (keys.length > 1) return 'has more than one value';
  const key = keys[0]!;
  const value = (answer as Record<string, unknown>)[key];
  if (def.type === 'choice' || def.type === 'open-choice') return choiceProblem(def, key, value);
  return typedValueProblem(def, key, value);
}

/** A choice item takes a coding among its options (an open-choice item a string as well). */
function choiceProblem(def: ItemDefinition, key: string, value: unknown): string | undefined {
  if (key === 'valueString' && def.type === 'open-choice' && typeof value === 'string') return undefined;
  if (key !== 'valueCoding') return `is a ${key.slice(5)}, not one of the question's options`;
  return codingProblem(def, value as fhir4.Coding | null);
}

function codingProblem(def: ItemDefinition, coding: fhir4.Coding | null): string | undefined {
  if (!coding || typeof coding !== 'object' || typeof coding.code !== 'string') return 'is a coding without a code';
  if (typeof coding.system !== 'string' || coding.system === '')
    return "is a coding without a system, so not one of the question's options";
  if (def.options && !def.options.has(`${coding.system}|${coding.code}`)) return "is not one of the question's options";
  return undefined;
}

/** Any other item takes the value of its type; numbers within the question's bounds. */
function typedValueProblem(def: ItemDefinition, key: string, value: unknown): string | undefined {
  const expected = VALUE_KEY_OF_TYPE[def.type];
  if (expected === undefined) return undefined; // group, display, question: the rules read no answer of these
  if (key !== expected) return `is a ${key.slice(5)}; the question takes a ${expected.slice(5)}`;
  if (def.type === 'integer') {
    if (typeof value !== 'number' || !Number.isInteger(value)) return 'is not a whole number';
    return inRange(def, value);
  }
  if (def.type === 'decimal') {
    if (typeof value !== 'number' || !Number.isFinite(value)) return 'is not a number';
    return inRange(def, value);
  }
  return undefined;
}

/** The item with its checked children and the answers kept (none: no `answer` element). */
function withCheckedContent(item: Item, children: Item[] | undefined, kept: Answer[]): Item {
  const out: Item = { ...item };
  if (children !== undefined) out.item = children;
  if (kept.length) out.answer = kept;
  else delete out.answer;
  return out;
}

/**
 * Check every answer of the response against its item in the Questionnaire. Items the Questionnaire does
 * not define are left as they are (no rule reads them).
 */
export function checkAnswers(
  questionnaire: fhir4.Questionnaire,
  response: fhir4.QuestionnaireResponse | undefined,
): CheckedAnswers {
  if (!response) return { response, problems: [], unusable: [] };
  const defs = itemDefinitions(questionnaire);
  const problems: AnswerProblem[] = [];
  const unusable: string[] = [];

  const checkItems = (items: Item[] | undefined): Item[] | undefined => {
    if (!Array.isArray(items)) return items;
    return items.map((item) => checkItem(item));
  };
  const checkItem = (item: Item): Item => {
    if (item === null || typeof item !== 'object') return item;
    const def = typeof item.linkId === 'string' ? defs.get(item.linkId) : undefined;
    const children = checkItems(item.item);
    const answers = Array.isArray(item.answer) ? item.answer : undefined;
    if (!def || !answers) return children === item.item ? item : { ...item, item: children };
    return withCheckedContent(item, children, keepUsableAnswers(def, answers));
  };
  /** The answers the rules may read; every problem found is recorded on the way. */
  const keepUsableAnswers = (def: ItemDefinition, answers: Answer[]): Answer[] => {
    let kept: Answer[] = [];
    let itemHasProblem = false;
    for (const answer of answers) {
      const reason = problemOf(def, answer);
      if (reason) {
        itemHasProblem = true;
        problems.push({ linkId: def.linkId, value: describeValue(answer), reason });
      } else {
        kept.push(answer.item ? { ...answer, item: checkItems(answer.item) } : answer);
      }
    }
    if (!def.repeats && answers.length > 1) {
      itemHasProblem = true;
      problems.push({
        linkId: def.linkId,
        value: answers.map(describeValue).join('; '),
        reason: `has ${answers.length} answers; the question takes one`,
      });
      // Codes can still raise the rules that need them; a number cannot be chosen among several.
      if (def.type !== 'choice' && def.type !== 'open-choice') kept = [];
    }
    if (itemHasProblem && !def.repeats && !unusable.includes(def.linkId)) unusable.push(def.linkId);
    return kept;
  };

  const checked: fhir4.QuestionnaireResponse = { ...response };
  const items = checkItems(response.item);
  if (items !== undefined) checked.item = items;
  return { response: checked, problems, unusable };
}

/** The warning shown for one unusable answer: names the item and the value. */
export function problemText(p: AnswerProblem, question: string | undefined): string {
  const label = question ? `${p.linkId} ("${question}")` : p.linkId;
  return `Answer not usable, counted as unknown: ${label}: ${p.value} ${p.reason}.`;
}
