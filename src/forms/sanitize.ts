/**
 * Questionnaires can carry HTML (`rendering-xhtml` on `_text`/`_prefix`, narrative `text.div`), which
 * LHC-Forms would insert into the page. The app renders plain text only: it drops every XHTML rendering
 * extension and the narrative (the plain `text` of each item stays). Allow-listing nothing is the simplest
 * sanitiser that cannot be bypassed; styling hints (`rendering-style`) go too, since CSS can exfiltrate.
 */
const DROP = new Set([
  'http://hl7.org/fhir/StructureDefinition/rendering-xhtml',
  'http://hl7.org/fhir/StructureDefinition/rendering-style',
]);

function clean(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(clean);
  if (value === null || typeof value !== 'object') return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    if (k === 'extension' && Array.isArray(v)) {
      const kept = v.filter((e: { url?: string }) => !DROP.has(e?.url ?? '')).map(clean);
      if (kept.length) out[k] = kept;
      continue;
    }
    if (k === 'text' && v && typeof v === 'object' && 'div' in v) continue; // narrative XHTML
    out[k] = clean(v);
  }
  return out;
}

export function sanitizeQuestionnaire<T extends fhir4.Questionnaire>(q: T): T {
  return clean(q) as T;
}

/**
 * The browser's copy of the Questionnaire: pre-filling is done on the server by $populate (with the user's
 * token, which the browser does not have), so LHC-Forms is not given the launch context and source queries
 * it could not evaluate anyway. Calculated expressions (OST, ORAI) stay: the form computes them live.
 */
export function withoutPrefillExpressions(q: fhir4.Questionnaire): fhir4.Questionnaire {
  const drop = new Set([
    'http://hl7.org/fhir/uv/sdc/StructureDefinition/sdc-questionnaire-launchContext',
    'http://hl7.org/fhir/uv/sdc/StructureDefinition/sdc-questionnaire-sourceQueries',
    'http://hl7.org/fhir/uv/sdc/StructureDefinition/sdc-questionnaire-initialExpression',
  ]);
  const strip = (items: fhir4.QuestionnaireItem[] | undefined): fhir4.QuestionnaireItem[] | undefined =>
    items?.map((i) => ({
      ...i,
      ...(i.extension ? { extension: i.extension.filter((e) => !drop.has(e.url)) } : {}),
      ...(i.item ? { item: strip(i.item) } : {}),
    }));
  return {
    ...q,
    ...(q.extension ? { extension: q.extension.filter((e) => !drop.has(e.url)) } : {}),
    contained: q.contained?.filter((c) => c.id !== 'PrePopQuery'),
    ...(q.item ? { item: strip(q.item) } : {}),
  };
}
