/** Small pieces of the clinician app's server: the error page, the EHR's style values, the dismiss reasons. */
import type { KnowledgeBase } from '../knowledge/index.js';

const DECISION_REASON_URL_PART = 'proposal-decision-reason';

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

export function errorPage(message: string, basePath: string, version: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>PeriPlan — cannot continue</title><link rel="stylesheet" href="${basePath}/assets/${version}/app.css"></head>
<body><main id="main" class="page"><h1>PeriPlan cannot continue</h1><div class="alert alert-error" role="alert"><p>${escapeHtml(message)}</p></div>
<p>Open the app again from the patient's record in the EHR.</p></main></body></html>`;
}

/** The smart_style_url JSON, reduced to a few values the app can use safely (colours, font family). */
export async function loadStyle(url: string): Promise<Record<string, string> | undefined> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(3000) });
    if (!res.ok) return undefined;
    const json = (await res.json()) as Record<string, unknown>;
    const out: Record<string, string> = {};
    for (const k of [
      'color_background',
      'color_error',
      'color_highlight',
      'color_modal_backdrop',
      'color_success',
      'color_text',
      'font_family_body',
      'font_family_heading',
    ]) {
      const v = json[k];
      if (typeof v === 'string' && /^(#[0-9a-fA-F]{3,8}|rgba?\([\d\s.,%]+\)|[A-Za-z][A-Za-z0-9 ,'"-]{0,80})$/.test(v))
        out[k] = v;
    }
    return out;
  } catch {
    return undefined;
  }
}

/** Dismiss reasons from the knowledge base's CodeSystem (…/proposal-decision-reason). */
export function decisionReasons(knowledge: KnowledgeBase): fhir4.Coding[] {
  const cs = (knowledge.ofType('CodeSystem') as fhir4.CodeSystem[]).find((c) =>
    c.url?.includes(DECISION_REASON_URL_PART),
  );
  if (cs?.concept?.length)
    return cs.concept.map((c) => ({ system: cs.url!, code: c.code, ...(c.display ? { display: c.display } : {}) }));
  // Until the CodeSystem is in the content: the same idea, clearly local.
  const system = 'https://periplan.app/fhir/CodeSystem/proposal-decision-reason';
  return [
    { system, code: 'not-clinically-indicated', display: 'Not clinically indicated after review' },
    { system, code: 'already-done', display: 'Already done or arranged elsewhere' },
    { system, code: 'patient-declined', display: 'Patient declined' },
    { system, code: 'other', display: 'Other (see note)' },
  ];
}
