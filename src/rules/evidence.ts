/**
 * Why a rule fired, in the patient's own words: the answers behind each fired action (from the linkIds
 * its `input` declares) and the red-flag items still unknown that could change the result. Generic: no
 * rule is named here; content declares what each rule reads.
 */
import { DATA_ABSENT_SYSTEM, EXT_BASIS, EXT_INPUT_ITEM, EXT_UNKNOWN_ITEM, YES_NO_SYSTEM } from './vocabulary.js';

type Item = fhir4.QuestionnaireResponseItem;
type Answer = fhir4.QuestionnaireResponseItemAnswer;

/** linkId -> item, for one response (first occurrence wins; the intake has no repeating groups). */
export function indexResponse(response: fhir4.QuestionnaireResponse | undefined): Map<string, Item> {
  const index = new Map<string, Item>();
  const walk = (items: Item[] | undefined) => {
    for (const item of items ?? []) {
      if (!index.has(item.linkId)) index.set(item.linkId, item);
      walk(item.item);
      for (const a of item.answer ?? []) walk(a.item);
    }
  };
  walk(response?.item);
  return index;
}

/** Per Questionnaire (content is immutable once loaded): indexed once, not on every $apply. */
const questionTexts = new WeakMap<fhir4.Questionnaire, Map<string, string>>();

/** linkId -> question text from the Questionnaire, for items the response leaves out. */
export function indexQuestionnaire(questionnaire: fhir4.Questionnaire | undefined): Map<string, string> {
  if (!questionnaire) return new Map();
  let index = questionTexts.get(questionnaire);
  if (!index) {
    index = indexQuestionTexts(questionnaire);
    questionTexts.set(questionnaire, index);
  }
  return index;
}

function indexQuestionTexts(questionnaire: fhir4.Questionnaire): Map<string, string> {
  const index = new Map<string, string>();
  const walk = (items: fhir4.QuestionnaireItem[] | undefined) => {
    for (const item of items ?? []) {
      if (item.text && !index.has(item.linkId)) index.set(item.linkId, item.text);
      walk(item.item);
    }
  };
  walk(questionnaire.item);
  return index;
}

export function declaredInputs(action: fhir4.PlanDefinitionAction): string[] {
  const ids: string[] = [];
  for (const input of action.input ?? []) {
    for (const ext of input.extension ?? []) {
      if (ext.url === EXT_INPUT_ITEM && ext.valueString && !ids.includes(ext.valueString)) ids.push(ext.valueString);
    }
  }
  return ids;
}

const VALUE_KEYS = ['valueBoolean', 'valueDecimal', 'valueInteger', 'valueDate', 'valueDateTime', 'valueTime', 'valueString', 'valueUri', 'valueAttachment', 'valueCoding', 'valueQuantity', 'valueReference'] as const;

function answerValue(answer: Answer): [string, unknown] | undefined {
  for (const key of VALUE_KEYS) {
    const v = answer[key];
    if (v !== undefined) return [key, v];
  }
  return undefined;
}

/** Plain words for an answer, as the patient saw it. */
export function answerText(answer: Answer): string {
  const c = answer.valueCoding;
  if (c) {
    if (c.display) return c.display;
    if (c.system === YES_NO_SYSTEM && c.code === 'Y') return 'Yes';
    if (c.system === YES_NO_SYSTEM && c.code === 'N') return 'No';
    if (c.system === DATA_ABSENT_SYSTEM && c.code === 'asked-unknown') return 'Not sure';
    return c.code ?? '';
  }
  const q = answer.valueQuantity;
  if (q) return `${q.value ?? ''} ${q.unit ?? q.code ?? ''}`.trim();
  const entry = answerValue(answer);
  if (!entry) return '';
  const v = entry[1];
  return typeof v === 'object' ? JSON.stringify(v) : String(v);
}

export interface EvidenceSource {
  response: fhir4.QuestionnaireResponse | undefined;
  items: Map<string, Item>;
  questionText: Map<string, string>;
}

function questionOf(source: EvidenceSource, linkId: string): string {
  return source.items.get(linkId)?.text ?? source.questionText.get(linkId) ?? linkId;
}

function responseReference(response: fhir4.QuestionnaireResponse | undefined): fhir4.Reference | undefined {
  return response?.id ? { reference: `QuestionnaireResponse/${response.id}` } : undefined;
}

/** One `ext-basis` extension per declared input the patient answered. */
export function basisExtensions(linkIds: readonly string[], source: EvidenceSource): fhir4.Extension[] {
  const out: fhir4.Extension[] = [];
  const ref = responseReference(source.response);
  for (const linkId of linkIds) {
    const item = source.items.get(linkId);
    const answers = (item?.answer ?? []).filter((a) => answerValue(a) !== undefined);
    if (answers.length === 0) continue;
    const question = questionOf(source, linkId);
    const parts: fhir4.Extension[] = [
      { url: 'linkId', valueString: linkId },
      { url: 'question', valueString: question },
    ];
    for (const a of answers) {
      const [key, value] = answerValue(a)!;
      parts.push({ url: 'answer', [key]: value } as fhir4.Extension);
    }
    parts.push({ url: 'text', valueString: `${question}: ${answers.map(answerText).join(', ')}` });
    if (source.response?.authored) parts.push({ url: 'authored', valueDateTime: source.response.authored });
    if (ref) parts.push({ url: 'response', valueReference: ref });
    out.push({ url: EXT_BASIS, extension: parts });
  }
  return out;
}

/** One `ext-unknown-item` extension per unknown linkId. */
export function unknownExtensions(linkIds: readonly string[], source: EvidenceSource): fhir4.Extension[] {
  return linkIds.map((linkId) => ({
    url: EXT_UNKNOWN_ITEM,
    extension: [
      { url: 'linkId', valueString: linkId },
      { url: 'question', valueString: questionOf(source, linkId) },
    ],
  }));
}
