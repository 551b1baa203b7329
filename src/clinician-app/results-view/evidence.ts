/**
 * What a fired rule read, from the extensions `$apply` puts on its action: the criteria that made it fire,
 * the answers behind it, the unknown answers that could change it, its citations and its PlanDefinition.
 */
import type { BasisView, CriterionView, RuleView } from './types.js';

export const EXT = 'https://periplan.app/fhir/StructureDefinition/';

function valueText(ext: fhir4.Extension): string {
  const e = ext as unknown as Record<string, unknown>;
  if (ext.valueCoding) return ext.valueCoding.display ?? ext.valueCoding.code ?? '';
  if (ext.valueQuantity) return `${ext.valueQuantity.value ?? ''} ${ext.valueQuantity.unit ?? ''}`.trim();
  for (const k of Object.keys(e)) if (k.startsWith('value')) return String(e[k]);
  return '';
}

function sub(ext: fhir4.Extension, url: string): fhir4.Extension[] {
  return (ext.extension ?? []).filter((x) => x.url === url);
}

const subString = (ext: fhir4.Extension, url: string) => sub(ext, url)[0]?.valueString;
const ofKind = (exts: fhir4.Extension[], name: string) => exts.filter((x) => x.url === `${EXT}${name}`);

export function criterionView(x: fhir4.Extension): CriterionView {
  const source = subString(x, 'source');
  const meaning = subString(x, 'meaning') ?? '';
  return {
    meaning,
    text: subString(x, 'text') ?? meaning,
    linkIds: sub(x, 'linkId').map((l) => l.valueString ?? ''),
    ...(source ? { source } : {}),
  };
}

/** The answer in the rules' words: the engine words it from the Questionnaire in `text`; the recorded value's display is the client's. */
export function answerWords(x: fhir4.Extension, question: string): string {
  const text = subString(x, 'text');
  return text !== undefined && text.startsWith(question)
    ? text.slice(question.length).replace(/^:?\s+/, '')
    : sub(x, 'answer').map(valueText).join(', ');
}

export function basisView(x: fhir4.Extension): BasisView {
  const question = (subString(x, 'question') ?? '').trim();
  const source = subString(x, 'source');
  const authored = sub(x, 'authored')[0]?.valueDateTime;
  return {
    linkId: subString(x, 'linkId') ?? '',
    question,
    separator: /[?:.!]$/.test(question) ? ' ' : ': ',
    answer: answerWords(x, question),
    ...(source ? { source } : {}),
    ...(authored ? { authored } : {}),
  };
}

export function unknownView(x: fhir4.Extension): RuleView['unknowns'][number] {
  const reason = subString(x, 'reason');
  return {
    linkId: subString(x, 'linkId') ?? '',
    question: subString(x, 'question') ?? '',
    ...(reason ? { reason } : {}),
  };
}

export function citationView(d: fhir4.RelatedArtifact): RuleView['citations'][number] {
  return {
    ...(d.label ? { label: d.label } : {}),
    ...(d.display ? { display: d.display } : {}),
    ...(d.citation ? { citation: d.citation } : {}),
    ...(d.url && /^https?:\/\//.test(d.url) ? { url: d.url } : {}),
  };
}

/** Everything the rule's action says about why it fired, in the order the page shows it. */
export function evidenceOf(
  action: fhir4.RequestGroupAction,
): Pick<RuleView, 'criteria' | 'basis' | 'unknowns' | 'citations' | 'sourcePlanDefinition'> {
  const exts = action.extension ?? [];
  const sourcePlanDefinition = ofKind(exts, 'ext-source-plan-definition')[0]?.valueCanonical;
  return {
    criteria: ofKind(exts, 'ext-criterion').map(criterionView),
    basis: ofKind(exts, 'ext-basis').map(basisView),
    unknowns: ofKind(exts, 'ext-unknown-item').map(unknownView),
    citations: (action.documentation ?? []).map(citationView),
    ...(sourcePlanDefinition ? { sourcePlanDefinition } : {}),
  };
}
