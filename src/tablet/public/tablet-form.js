// The form on screen: the Questionnaire in her language, rendered by LHC-Forms, one topic per screen.
import { t, language } from './i18n.js';
import { readEncrypted, saveEncrypted } from './vault.js';
import { localizeLForms } from './lforms-es.js';
import { currentResponse as responseIn, lformsReady, repairAria } from './shared/lforms-helpers.js';
import { ApiError, api } from './tablet-api.js';
import { cacheStaticFiles } from './tablet-offline.js';
import { $, CONTAINER, RESPONSE_SYSTEM } from './tablet-page.js';
import { markProblems } from './tablet-problems.js';

export const currentResponse = () => responseIn(CONTAINER);

export function withIdentifier(state, response) {
  return { ...response, identifier: { system: RESPONSE_SYSTEM, value: state.responseId } };
}

/** LHC-Forms' model of the rendered form (its items, their values, enableWhen state and validation messages). */
export function formModel() {
  return window.LForms.Util._getFormObjectInScope($(CONTAINER));
}

export function applyLanguage(state) {
  document.documentElement.lang = language();
  for (const el of document.querySelectorAll('[data-t]')) el.textContent = t(el.dataset.t);
  for (const b of document.querySelectorAll('[data-lang]'))
    b.setAttribute('aria-pressed', String(b.dataset.lang === language()));
  if (state.session) $('who').textContent = state.session.patientName ? t('formFor', state.session.patientName) : '';
}

/**
 * One topic per screen: each top-level group of the Questionnaire is a step. LHC-Forms renders the whole form
 * (so calculated items and enableWhen keep working across groups); the other groups are hidden.
 */
function findGroupElements(state) {
  const root = $(CONTAINER);
  return state.questionnaire.item.map((g) => root.querySelector(`[id="item-${g.linkId}/1"]`));
}

export function showStep(state, n) {
  const { groups } = state;
  state.step = Math.max(0, Math.min(groups.length - 1, n));
  const step = state.step;
  groups.forEach((el, i) => el && el.classList.toggle('step-hidden', i !== step));
  $('back').hidden = step === 0;
  $('next').hidden = step === groups.length - 1;
  $('submit').hidden = step !== groups.length - 1;
  $('progress-text').textContent = t('progress', step + 1, groups.length);
  $('progress').setAttribute('aria-valuemax', String(groups.length));
  $('progress').setAttribute('aria-valuenow', String(step + 1));
  $('progress-fill').style.width = `${Math.round(((step + 1) / groups.length) * 100)}%`;
  $('form-errors').hidden = true;
  markProblems([]);
  window.scrollTo(0, 0);
  const heading = groups[step]?.querySelector('.lhc-de-label, label, legend');
  if (heading) heading.setAttribute('tabindex', '-1');
}

/** Which part (top-level group) each item is in, and which items the Questionnaire marks required. */
function indexQuestionnaire(state, q) {
  state.partOf = new Map();
  state.requiredIds = new Set();
  const walk = (items, part) => {
    for (const item of items ?? []) {
      state.partOf.set(item.linkId, part ?? item.linkId);
      if (item.required) state.requiredIds.add(item.linkId);
      walk(item.item, part ?? item.linkId);
    }
  };
  walk(q.item, null);
}

/** The Questionnaire in the current language; offline, the copy kept in the vault by an earlier rendering. */
async function loadQuestionnaire(state) {
  const name = `questionnaire-${language()}`;
  try {
    const q = await api(state, `questionnaire?lang=${language()}`);
    saveEncrypted(name, q).catch(() => undefined);
    return q;
  } catch (e) {
    if (e instanceof ApiError) throw e;
    const kept = await readEncrypted(name).catch(() => null);
    if (kept) return kept;
    throw e;
  }
}

export async function renderForm(state, previous) {
  const LForms = await lformsReady();
  localizeLForms(LForms, () => language() === 'es');
  state.questionnaire = await loadQuestionnaire(state);
  indexQuestionnaire(state, state.questionnaire);
  const container = $(CONTAINER);
  container.replaceChildren();
  // LHC-Forms' screen-reader log (outside the form) still holds what it announced for the last rendering.
  document.getElementById('reader_log')?.replaceChildren();
  const options = { fhirVersion: 'R4' };
  if (previous) options.questionnaireResponse = previous;
  await LForms.Util.addFormToPage(state.questionnaire, CONTAINER, options);
  repairAria(container, t('unit'));
  cacheStaticFiles();
  state.groups = findGroupElements(state);
  showStep(state, state.step);
}
