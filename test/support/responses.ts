/** Reading answers out of QuestionnaireResponses in tests, wherever the groups put the item. */

/** The first item with `linkId` anywhere in a response (nested groups and answer items included). */
export function itemIn(
  r: fhir4.QuestionnaireResponse | undefined,
  linkId: string,
): fhir4.QuestionnaireResponseItem | undefined {
  const find = (items: fhir4.QuestionnaireResponseItem[] | undefined): fhir4.QuestionnaireResponseItem | undefined => {
    for (const i of items ?? []) {
      if (i.linkId === linkId) return i;
      const inner = find(i.item) ?? find(i.answer?.flatMap((a) => a.item ?? []));
      if (inner) return inner;
    }
    return undefined;
  };
  return find(r?.item);
}

/** The answers to `linkId`. */
export const answersTo = (
  r: fhir4.QuestionnaireResponse | undefined,
  linkId: string,
): fhir4.QuestionnaireResponseItemAnswer[] | undefined => itemIn(r, linkId)?.answer;

/** Answers without their extensions (e.g. `ext-prefilled-from`), to compare values alone. */
export const valuesOnly = (
  answers: fhir4.QuestionnaireResponseItemAnswer[] | undefined,
): fhir4.QuestionnaireResponseItemAnswer[] | undefined => answers?.map(({ extension: _extension, ...value }) => value);
