/**
 * The patient's copy of the intake Questionnaire, per language, and the canonical (English) form of what she
 * answered. Pure functions: FHIR in, FHIR out.
 *
 * Translations live in the Questionnaire itself (the FHIR `translation` extension on `_title`, `_text` and
 * `answerOption.valueCoding._display`). LHC-Forms 40 does not read them, so the server hands the tablet a copy
 * with the chosen language already applied. Whatever the language, linkIds and codes are the same; on submit
 * the item texts and answer displays are put back to the canonical English, so clinicians read English.
 */
export const TRANSLATION = 'http://hl7.org/fhir/StructureDefinition/translation';
export const LANGUAGES = ['en', 'es'] as const;
export type Language = (typeof LANGUAGES)[number];

interface WithExtensions {
  extension?: fhir4.Extension[];
}

/** The translation of a primitive (its `_element`) into `lang`, when the Questionnaire carries one. */
export function translationOf(element: WithExtensions | undefined, lang: string): string | undefined {
  for (const ext of element?.extension ?? []) {
    if (ext.url !== TRANSLATION) continue;
    const parts = ext.extension ?? [];
    const l = parts.find((p) => p.url === 'lang')?.valueCode;
    const content = parts.find((p) => p.url === 'content')?.valueString;
    if (l === lang && content) return content;
  }
  return undefined;
}

type Translatable = { _text?: WithExtensions; text?: string };

const UNIT = 'http://hl7.org/fhir/StructureDefinition/questionnaire-unit';
const ENTRY_FORMAT = 'http://hl7.org/fhir/StructureDefinition/entryFormat';
/** LHC-Forms' own placeholder for numbers is English; in another language the item gets an entryFormat hint. */
const NUMBER_HINT: Partial<Record<string, string>> = { es: 'Escriba un número' };

function translateCoding(coding: fhir4.Coding, lang: string): fhir4.Coding {
  const { _display, ...rest } = coding as fhir4.Coding & { _display?: WithExtensions };
  const display = translationOf(_display, lang) ?? coding.display;
  return { ...rest, ...(display !== undefined ? { display } : {}) };
}

function translateExtensions(item: fhir4.QuestionnaireItem, lang: string): fhir4.Extension[] | undefined {
  const out = item.extension?.map((e) =>
    e.url === UNIT && e.valueCoding ? { ...e, valueCoding: translateCoding(e.valueCoding, lang) } : e,
  );
  const hint = NUMBER_HINT[lang];
  if (hint && (item.type === 'integer' || item.type === 'decimal') && !out?.some((e) => e.url === ENTRY_FORMAT))
    return [...(out ?? []), { url: ENTRY_FORMAT, valueString: hint }];
  return out;
}

function translateItems(
  items: fhir4.QuestionnaireItem[] | undefined,
  lang: string,
): fhir4.QuestionnaireItem[] | undefined {
  return items?.map((item) => {
    const { _text, ...rest } = item as fhir4.QuestionnaireItem & Translatable;
    const text = translationOf(_text, lang) ?? item.text;
    const extension = translateExtensions(item, lang);
    return {
      ...rest,
      ...(text !== undefined ? { text } : {}),
      ...(extension ? { extension } : {}),
      ...(item.answerOption
        ? {
            answerOption: item.answerOption.map((o) =>
              o.valueCoding ? { ...o, valueCoding: translateCoding(o.valueCoding, lang) } : o,
            ),
          }
        : {}),
      ...(item.item ? { item: translateItems(item.item, lang) } : {}),
    };
  });
}

/** The Questionnaire with `lang` applied to titles, texts, help texts and answer displays (English: unchanged text). */
export function translateQuestionnaire(q: fhir4.Questionnaire, lang: Language): fhir4.Questionnaire {
  const { _title, ...rest } = q as fhir4.Questionnaire & { _title?: WithExtensions };
  const title = translationOf(_title, lang) ?? q.title;
  return {
    ...rest,
    ...(title ? { title } : {}),
    language: lang,
    ...(q.item ? { item: translateItems(q.item, lang) } : {}),
  };
}

/**
 * Item texts and answer displays of a response put back to the Questionnaire's own (English) wording, so the
 * stored response reads the same whatever language the patient used. Answers are matched by code.
 */
export function canonicalResponseText(
  response: fhir4.QuestionnaireResponse,
  q: fhir4.Questionnaire,
): fhir4.QuestionnaireResponse {
  const byLinkId = new Map<string, fhir4.QuestionnaireItem>();
  const index = (items: fhir4.QuestionnaireItem[] | undefined) =>
    items?.forEach((i) => (byLinkId.set(i.linkId, i), index(i.item)));
  index(q.item);
  const fix = (items: fhir4.QuestionnaireResponseItem[] | undefined): fhir4.QuestionnaireResponseItem[] | undefined =>
    items?.map((ri) => {
      const qi = byLinkId.get(ri.linkId);
      const { text: _ignored, ...rest } = ri;
      return {
        ...rest,
        ...(qi?.text ? { text: qi.text } : {}),
        ...(ri.answer
          ? {
              answer: ri.answer.map((a) => {
                const c = a.valueCoding;
                const option =
                  c &&
                  qi?.answerOption?.find((o) => o.valueCoding?.code === c.code && o.valueCoding?.system === c.system);
                const valueCoding =
                  c && option?.valueCoding
                    ? {
                        system: c.system,
                        code: c.code,
                        ...(option.valueCoding.display ? { display: option.valueCoding.display } : {}),
                      }
                    : c;
                return { ...a, ...(valueCoding ? { valueCoding } : {}), ...(a.item ? { item: fix(a.item) } : {}) };
              }),
            }
          : {}),
        ...(ri.item ? { item: fix(ri.item) } : {}),
      };
    });
  return { ...response, ...(response.item ? { item: fix(response.item) } : {}) };
}
