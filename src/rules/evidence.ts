/**
 * Why a rule fired: the answers behind each fired action (from the linkIds its `input` declares), in the
 * Questionnaire's own wording (never the question text or display a client sent: the rules read codes,
 * and what the clinician reads must be what the patient was asked), where each answer came from, and the
 * red-flag items still unknown that could change the result. Generic: no rule is named here; content
 * declares what each rule reads.
 */
import { itemDefinitions, type AnswerProblem, type ItemDefinition } from './answers.js';
import {
  DATA_ABSENT_SYSTEM,
  EXT_BASIS,
  EXT_CRITERION,
  EXT_INPUT_ITEM,
  EXT_PREFILLED_FROM,
  EXT_UNKNOWN_ITEM,
  QR_ITEM_AUTHOR,
  RESPONSE_COLLECTION_DEVICE,
  YES_NO_SYSTEM,
} from './vocabulary.js';
import { printable } from '../platform/text.js';

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

export function declaredInputs(action: fhir4.PlanDefinitionAction): string[] {
  const ids: string[] = [];
  for (const input of action.input ?? []) {
    for (const ext of input.extension ?? []) {
      if (ext.url === EXT_INPUT_ITEM && ext.valueString && !ids.includes(ext.valueString)) ids.push(ext.valueString);
    }
  }
  return ids;
}

/** A criterion of a rule as the content declares it (ext-criterion on the PlanDefinition action). */
export interface DeclaredCriterion {
  meaning: string;
  condition: string;
  /** linkIds it reads, fixed (`item`) or computed from the answers (`items`, FHIRPath). */
  items: string[];
  itemsExpression?: string;
  /** FHIRPath giving words for it when none of its items has an answer (an age from the date of birth). */
  detail?: string;
}

/** A criterion that was met when its rule fired: its items (computed) and detail (evaluated). */
export interface MetCriterion {
  meaning: string;
  linkIds: string[];
  detail?: string;
}

export function declaredCriteria(action: fhir4.PlanDefinitionAction): DeclaredCriterion[] {
  const out: DeclaredCriterion[] = [];
  for (const ext of action.extension ?? []) {
    if (ext.url !== EXT_CRITERION) continue;
    const part = (url: string) => (ext.extension ?? []).filter((e) => e.url === url);
    const meaning = part('meaning')[0]?.valueString;
    const condition = part('condition')[0]?.valueExpression?.expression;
    if (!meaning || !condition) continue;
    const itemsExpression = part('items')[0]?.valueExpression?.expression;
    const detail = part('detail')[0]?.valueExpression?.expression;
    out.push({
      meaning,
      condition,
      items: part('item')
        .map((e) => e.valueString)
        .filter((v): v is string => !!v),
      ...(itemsExpression ? { itemsExpression } : {}),
      ...(detail ? { detail } : {}),
    });
  }
  return out;
}

/**
 * The declared inputs in the order the basis lists them: the items of the criteria that were met first
 * (what made the rule fire), then the rule's other inputs.
 */
export function inputsInBasisOrder(declared: readonly string[], met: readonly MetCriterion[]): string[] {
  return [...new Set([...met.flatMap((c) => c.linkIds), ...declared])];
}

const VALUE_KEYS = [
  'valueBoolean',
  'valueDecimal',
  'valueInteger',
  'valueDate',
  'valueDateTime',
  'valueTime',
  'valueString',
  'valueUri',
  'valueAttachment',
  'valueCoding',
  'valueQuantity',
  'valueReference',
] as const;

function answerValue(answer: Answer): [string, unknown] | undefined {
  for (const key of VALUE_KEYS) {
    const v = answer[key];
    if (v !== undefined) return [key, v];
  }
  return undefined;
}

const DEFAULT_WORDS: Record<string, string> = {
  [`${YES_NO_SYSTEM}|Y`]: 'Yes',
  [`${YES_NO_SYSTEM}|N`]: 'No',
  [`${DATA_ABSENT_SYSTEM}|asked-unknown`]: 'Not sure',
};

/** Plain words for an answer, as the Questionnaire words it (the option's display; a number with its unit). */
export function answerText(answer: Answer, def?: ItemDefinition): string {
  const c = answer.valueCoding;
  if (c) return codingText(c, def);
  const q = answer.valueQuantity;
  if (q) return `${q.value ?? ''} ${q.unit ?? q.code ?? ''}`.trim();
  const entry = answerValue(answer);
  if (!entry) return '';
  const v = entry[1];
  const text = printable(v);
  return typeof v === 'number' && def?.unit ? `${text} ${def.unit}` : text;
}

/** The option's display, else the usual words for yes, no and not sure, else the code. */
function codingText(c: fhir4.Coding, def: ItemDefinition | undefined): string {
  const key = `${c.system ?? ''}|${c.code ?? ''}`;
  return def?.options?.get(key) || DEFAULT_WORDS[key] || (c.code ?? '');
}

/** "Question? Yes", "Question: 5 kg": no stray "?:" or "::" when the question ends in punctuation. */
export function questionAndAnswer(question: string, answer: string): string {
  return /[?:.!]$/.test(question.trim()) ? `${question.trim()} ${answer}` : `${question.trim()}: ${answer}`;
}

/** Where an answer came from, in words: the patient (on the tablet), the clinician, or the record. */
export type OriginOf = (item: Item, answer: Answer) => string | undefined;

function whoIs(ref: fhir4.Reference | undefined): string | undefined {
  const r = ref?.reference ?? '';
  if (/(^|\/)Patient\//.test(r)) return 'the patient';
  if (/(^|\/)(Practitioner|PractitionerRole)\//.test(r)) return 'the clinician';
  if (/(^|\/)RelatedPerson\//.test(r)) return 'a relative or carer';
  return undefined;
}

/** "pre-filled from the record (Observation/x, recorded 2024-05-01)", leaving out what the extension lacks. */
function prefilledText(prefilled: fhir4.Extension): string {
  const date = prefilled.extension?.find((e) => e.url === 'date')?.valueDateTime;
  const obs = prefilled.extension?.find((e) => e.url === 'observation')?.valueReference?.reference;
  return `pre-filled from the record${obs ? ` (${obs}` : ' ('}${date ? `${obs ? ', ' : ''}recorded ${date.slice(0, 10)}` : ''})`.replace(
    ' ()',
    '',
  );
}

/**
 * The origin of each answer: an answer pre-filled from the record carries `ext-prefilled-from` (the
 * Observation and its date); otherwise the item's author (core `questionnaireresponse-author`) or the
 * response's author, and the collection device when the tablet recorded it.
 */
export function answerOrigin(response: fhir4.QuestionnaireResponse | undefined): OriginOf {
  const onTablet = (response?.extension ?? []).some((e) => e.url === RESPONSE_COLLECTION_DEVICE);
  const responseAuthor = whoIs(response?.author);
  return (item, answer) => {
    const prefilled = (answer.extension ?? []).find((e) => e.url === EXT_PREFILLED_FROM);
    if (prefilled) return prefilledText(prefilled);
    const itemAuthor = whoIs((item.extension ?? []).find((e) => e.url === QR_ITEM_AUTHOR)?.valueReference);
    const who = itemAuthor ?? responseAuthor;
    if (!who) return undefined;
    return who === 'the patient' && onTablet && !itemAuthor ? 'the patient, on the waiting-room tablet' : who;
  };
}

export interface EvidenceSource {
  /** The checked response (unusable answers removed). */
  response: fhir4.QuestionnaireResponse | undefined;
  items: Map<string, Item>;
  questionnaire: fhir4.Questionnaire;
  problems: AnswerProblem[];
  origin: OriginOf;
}

/** The Questionnaire's own question text for a linkId (whatever text the response carries). */
export function questionOf(source: EvidenceSource, linkId: string): string {
  return itemDefinitions(source.questionnaire).get(linkId)?.text ?? linkId;
}

function responseReference(response: fhir4.QuestionnaireResponse | undefined): fhir4.Reference | undefined {
  return response?.id ? { reference: `QuestionnaireResponse/${response.id}` } : undefined;
}

/**
 * One `ext-basis` extension per declared input the patient answered: the question and answer in the
 * Questionnaire's words, both in one line ("Question? Yes"), and where the answer came from.
 */
export function basisExtensions(linkIds: readonly string[], source: EvidenceSource): fhir4.Extension[] {
  const out: fhir4.Extension[] = [];
  const ref = responseReference(source.response);
  const defs = itemDefinitions(source.questionnaire);
  for (const linkId of linkIds) {
    const item = source.items.get(linkId);
    const answers = (item?.answer ?? []).filter((a) => answerValue(a) !== undefined);
    if (!item || answers.length === 0) continue;
    const def = defs.get(linkId);
    const question = questionOf(source, linkId);
    const parts: fhir4.Extension[] = [
      { url: 'linkId', valueString: linkId },
      { url: 'question', valueString: question },
    ];
    for (const a of answers) {
      const [key, value] = answerValue(a)!;
      parts.push({ url: 'answer', [key]: value });
    }
    const criterion = questionAndAnswer(question, answers.map((a) => answerText(a, def)).join(', '));
    parts.push({ url: 'text', valueString: criterion });
    if (source.response?.authored) parts.push({ url: 'authored', valueDateTime: source.response.authored });
    if (ref) parts.push({ url: 'response', valueReference: ref });
    const origins = [...new Set(answers.map((a) => source.origin(item, a)).filter((o): o is string => !!o))];
    if (origins.length) parts.push({ url: 'source', valueString: origins.join('; ') });
    out.push({ url: EXT_BASIS, extension: parts });
  }
  return out;
}

/**
 * One `ext-criterion` extension per criterion that was met: its meaning, the items it read, and one line
 * in the Questionnaire's words — "Numbness around the genitals? Yes → suspected cauda equina" — with where
 * those answers came from. An item without a usable answer is said to be "not answered" (or "answer not
 * usable") unless the criterion has its own words for that case (`detail`, e.g. an age from the date of
 * birth), which are then used when none of its items has an answer.
 */
export function criterionExtensions(met: readonly MetCriterion[], source: EvidenceSource): fhir4.Extension[] {
  const defs = itemDefinitions(source.questionnaire);
  return met.map((c) => {
    const shown: string[] = [];
    const origins = new Set<string>();
    let answeredAny = false;
    for (const linkId of c.linkIds) {
      const item = source.items.get(linkId);
      const answers = (item?.answer ?? []).filter((a) => answerValue(a) !== undefined);
      const question = questionOf(source, linkId);
      if (item && answers.length) {
        answeredAny = true;
        shown.push(questionAndAnswer(question, answers.map((a) => answerText(a, defs.get(linkId))).join(', ')));
        for (const a of answers) {
          const origin = source.origin(item, a);
          if (origin) origins.add(origin);
        }
      } else if (!c.detail) {
        shown.push(
          `${question.trim().replace(/[?:.!]$/, '')}: ${source.problems.some((p) => p.linkId === linkId) ? 'answer not usable' : 'not answered'}`,
        );
      }
    }
    const words = answeredAny || !c.detail ? shown.join('; ') : c.detail;
    return {
      url: EXT_CRITERION,
      extension: [
        { url: 'meaning', valueString: c.meaning },
        ...c.linkIds.map((linkId) => ({ url: 'linkId', valueString: linkId })),
        { url: 'text', valueString: words ? `${words} → ${c.meaning}` : c.meaning },
        ...(origins.size ? [{ url: 'source', valueString: [...origins].join('; ') }] : []),
      ],
    };
  });
}

/** One `ext-unknown-item` extension per unknown linkId; `reason` says why when an answer was sent but not usable. */
export function unknownExtensions(linkIds: readonly string[], source: EvidenceSource): fhir4.Extension[] {
  return linkIds.map((linkId) => {
    const problems = source.problems.filter((p) => p.linkId === linkId);
    return {
      url: EXT_UNKNOWN_ITEM,
      extension: [
        { url: 'linkId', valueString: linkId },
        { url: 'question', valueString: questionOf(source, linkId) },
        ...(problems.length
          ? [
              {
                url: 'reason',
                valueString: `the answer sent (${problems.map((p) => `${p.value} ${p.reason}`).join('; ')}) is not usable`,
              },
            ]
          : []),
      ],
    };
  });
}
