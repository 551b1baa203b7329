// LHC-Forms helpers shared by the browser pages that render the intake: the clinician app's form view and the
// waiting-room tablet. Both routers serve this file at `<base>/assets/<version>/shared/lforms-helpers.js`.

/** Resolves with `window.LForms` once its scripts (loaded with `defer`) have defined `addFormToPage`. */
export async function lformsReady(tries = 400) {
  // A page may call this before LHC-Forms' deferred scripts have run (its own modules run first): the wait
  // below is for the library's start-up, not for its download and parse, however slow the machine.
  if (document.readyState !== 'complete')
    await new Promise((resolve) => window.addEventListener('load', resolve, { once: true }));
  for (let i = 0; i < tries; i++) {
    if (window.LForms?.Util?.addFormToPage) {
      // When the library became usable, for the launch benchmark and the browser's performance panel.
      if (!window.performance?.getEntriesByName?.('periplan-lforms-ready').length)
        window.performance?.mark?.('periplan-lforms-ready');
      return window.LForms;
    }
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error('The form library did not load.');
}

/** The answers rendered in `container` (an element id) as a FHIR R4 QuestionnaireResponse. */
export function currentResponse(container) {
  return window.LForms.Util.getFormFHIRData('QuestionnaireResponse', 'R4', container);
}

const PREFILLED_FROM = 'https://periplan.app/fhir/StructureDefinition/ext-prefilled-from';

/** An answer's value, comparable across LHC-Forms' rebuilding: a number alone (decimal, integer or quantity), else its JSON. */
function valueKey(answer) {
  if (!answer || typeof answer !== 'object') return undefined;
  const n = answer.valueDecimal ?? answer.valueInteger ?? answer.valueQuantity?.value;
  if (typeof n === 'number') return `n:${n}`;
  const key = Object.keys(answer).find((k) => k.startsWith('value'));
  return key ? `${key}:${JSON.stringify(answer[key])}` : undefined;
}

function eachAnswer(items, visit) {
  for (const item of items ?? []) {
    for (const answer of item.answer ?? []) {
      visit(item.linkId, answer);
      eachAnswer(answer.item, visit);
    }
    eachAnswer(item.item, visit);
  }
}

/**
 * LHC-Forms rebuilds every answer when it produces the response, so the `ext-prefilled-from` marker that
 * `$populate` put on an answer taken from the record is lost, and the value would read as the submitter's.
 * Give it back where the answer is still the pre-filled one (same linkId, same value); where the user changed
 * the value, no marker (the user is then its source). The server checks every marker against the record.
 */
export function keepRecordSources(produced, prefilled) {
  if (!produced) return produced;
  const sources = new Map();
  eachAnswer(prefilled?.item, (linkId, answer) => {
    const marker = (answer.extension ?? []).find((e) => e.url === PREFILLED_FROM);
    if (marker) sources.set(`${linkId}|${valueKey(answer)}`, marker);
  });
  eachAnswer(produced.item, (linkId, answer) => {
    const others = (answer.extension ?? []).filter((e) => e.url !== PREFILLED_FROM);
    const marker = sources.get(`${linkId}|${valueKey(answer)}`);
    if (marker) answer.extension = [...others, JSON.parse(JSON.stringify(marker))];
    else if (others.length) answer.extension = others;
    else delete answer.extension;
  });
  return produced;
}

/**
 * LHC-Forms 40.1.3 points each help button's aria-controls at a popover that only exists while it is open,
 * which screen readers (and axe, as a critical issue) treat as a broken reference. Drop references to
 * elements that do not exist; the button keeps its accessible name. The read-only unit box beside a number
 * is labelled by a table header that is not rendered: it is named `unitLabel` instead.
 */
export function repairAria(root, unitLabel = 'Unit') {
  for (const attr of ['aria-controls', 'aria-describedby', 'aria-labelledby']) {
    for (const el of root.querySelectorAll(`[${attr}]`)) {
      const ids = el
        .getAttribute(attr)
        .split(/\s+/)
        .filter((id) => id && document.getElementById(id));
      if (ids.length) el.setAttribute(attr, ids.join(' '));
      else el.removeAttribute(attr);
      if (attr === 'aria-labelledby' && !ids.length && el.id.startsWith('unit_'))
        el.setAttribute('aria-label', unitLabel);
    }
  }
}
