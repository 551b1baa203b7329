/**
 * Human-readable narrative for the $apply CarePlan, so that an EHR that only shows `CarePlan.text` still
 * shows what fired, why, what is unknown and the intended use. Built from the structured output only.
 */
import { EXT_BASIS, EXT_CRITERION, EXT_UNKNOWN_ITEM } from './vocabulary.js';

const XML_SPECIAL = /[&<>"]/g;
const XML_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' };

function escapeXml(s: string): string {
  return /[&<>"]/.test(s) ? s.replace(XML_SPECIAL, (c) => XML_ESCAPES[c]!) : s;
}

function part(ext: fhir4.Extension, url: string): string | undefined {
  return ext.extension?.find((e) => e.url === url)?.valueString;
}

/** What the narrative says of a fired rule, each as plain text. */
interface RuleFacts {
  code: string;
  fired: string[];
  basis: string[];
  unknown: string[];
  citations: string[];
}

function ruleItem(action: fhir4.RequestGroupAction): string {
  const { code, fired, basis, unknown, citations } = ruleFacts(action);
  let html = `<li><b>${escapeXml(action.prefix ?? '')}</b> ${escapeXml(code)} ${escapeXml(action.title ?? '')}`;
  if (action.description) html += `<br/>${escapeXml(action.description)}`;
  if (fired.length) html += `<br/>Fired because: ${fired.map(escapeXml).join('; ')}`;
  if (basis.length) html += `<br/>${fired.length ? 'Also read' : 'Based on'}: ${basis.map(escapeXml).join('; ')}`;
  if (unknown.length) html += `<br/>Still unknown: ${unknown.map(escapeXml).join('; ')}`;
  if (citations.length) html += `<br/>Sources: ${citations.map(escapeXml).join('; ')}`;
  return `${html}</li>`;
}

function ruleFacts(action: fhir4.RequestGroupAction): RuleFacts {
  const code = action.code?.[0]?.coding?.[0]?.code ?? '';
  const criteria = (action.extension ?? []).filter((e) => e.url === EXT_CRITERION);
  const named = new Set(
    criteria.flatMap((e) => (e.extension ?? []).filter((x) => x.url === 'linkId').map((x) => x.valueString)),
  );
  const fired = criteria.map((e) => part(e, 'text')).filter((t): t is string => !!t);
  // The answers behind the criteria are in "Fired because"; the rest of what the rule read follows.
  const basis = (action.extension ?? [])
    .filter((e) => e.url === EXT_BASIS && !named.has(part(e, 'linkId')))
    .map((e) => part(e, 'text'))
    .filter((t): t is string => !!t);
  const unknown = (action.extension ?? [])
    .filter((e) => e.url === EXT_UNKNOWN_ITEM)
    .map((e) => part(e, 'question'))
    .filter((t): t is string => !!t);
  const citations = (action.documentation ?? []).map((d) => d.label ?? d.display).filter((t): t is string => !!t);
  return { code, fired, basis, unknown, citations };
}

export function carePlanNarrative(
  title: string | undefined,
  intendedUse: string | undefined,
  responseDate: string | undefined,
  rules: fhir4.RequestGroupAction[],
  warnings: readonly string[] = [],
): fhir4.Narrative {
  const parts = ['<div xmlns="http://www.w3.org/1999/xhtml">'];
  if (title) parts.push(`<p><b>${escapeXml(title)}</b></p>`);
  if (intendedUse) parts.push(`<p>${escapeXml(intendedUse)}</p>`);
  parts.push(
    responseDate
      ? `<p>Answers from the intake of ${escapeXml(responseDate)}.</p>`
      : '<p>No intake response: every answer is unknown.</p>',
  );
  if (warnings.length) parts.push(`<ul>${warnings.map((w) => `<li>${escapeXml(w)}</li>`).join('')}</ul>`);
  parts.push(rules.length ? `<ul>${rules.map(ruleItem).join('')}</ul>` : '<p>No rule fired.</p>');
  parts.push('</div>');
  return { status: 'generated', div: parts.join('') };
}
