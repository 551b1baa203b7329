// Each part is checked before Next: required answers, LHC-Forms' own checks, the age against the record.
import { t } from './i18n.js';
import { formModel, showStep } from './tablet-form.js';
import { $, CONTAINER } from './tablet-page.js';
import { firstControl, showProblems } from './tablet-problems.js';
import { saveProgress } from './tablet-progress.js';

/** What is wrong with one item of part `part` (its messages), or nothing when it is fine or not shown. */
function itemProblem(state, item, part) {
  if (item.linkId === part || state.partOf.get(item.linkId) !== part || item._skipLogicStatus === 'target-disabled')
    return null;
  let messages = item._validationErrors ?? [];
  if (
    !messages.length &&
    state.requiredIds.has(item.linkId) &&
    item.dataType !== 'SECTION' &&
    window.LForms.Util.isItemValueEmpty(item.value)
  )
    messages = [t('required')];
  return messages.length ? { elementId: item._elementId, text: `${item.question} ${messages.join(' ')}` } : null;
}

/**
 * The problems of part `index`, in the order shown: every item of that part that enableWhen shows and that
 * LHC-Forms finds invalid (its messages, in the current language), or that the Questionnaire marks required
 * and has no answer.
 */
export function problemsIn(state, index) {
  const part = state.questionnaire?.item?.[index]?.linkId;
  const model = formModel();
  if (!part || !model) return [];
  window.LForms.Util.checkValidity($(CONTAINER)); // runs every item's validations
  return model.itemList.map((item) => itemProblem(state, item, part)).filter(Boolean);
}

const isBlank = (value) => value === undefined || value === null || value === '';

/** The typed age, when it is outside the range the record gives and she has not confirmed that very number. */
function ageToCheck(state, index) {
  const expected = state.session?.expectedAge;
  if (!expected || state.partOf.get(expected.linkId) !== state.questionnaire?.item?.[index]?.linkId) return null;
  const item = formModel()?.itemList.find((i) => i.linkId === expected.linkId);
  if (!item || item._skipLogicStatus === 'target-disabled' || isBlank(item.value)) return null;
  const value = Number(item.value);
  if (!Number.isInteger(value) || (value >= expected.low && value <= expected.high) || value === state.ageConfirmed)
    return null;
  return { value, elementId: item._elementId };
}

/** Ask her to check the age (a dialog in her language): resolves true when she confirms it, false to change it. */
function askAboutAge(value) {
  return new Promise((resolve) => {
    const dialog = $('age-check');
    $('age-check-text').textContent = t('ageCheckText', value);
    $('age-check-yes').textContent = t('ageCheckYes', value);
    $('age-check-change').textContent = t('ageCheckChange');
    const done = (answer) => {
      dialog.hidden = true;
      $('age-check-yes').onclick = null;
      $('age-check-change').onclick = null;
      resolve(answer);
    };
    $('age-check-yes').onclick = () => done(true);
    $('age-check-change').onclick = () => done(false);
    dialog.hidden = false;
    $('age-check-title').focus();
  });
}

/** Part `index` may be left: no problems, and an age far from the record's confirmed. Shows what is wrong otherwise. */
export async function partIsReady(state, index) {
  const problems = problemsIn(state, index);
  if (problems.length) {
    if (index !== state.step) showStep(state, index);
    showProblems(problems);
    return false;
  }
  const age = ageToCheck(state, index);
  if (!age) return true;
  if (index !== state.step) showStep(state, index);
  if (await askAboutAge(age.value)) {
    state.ageConfirmed = age.value;
    saveProgress(state);
    return true;
  }
  const input = firstControl(age.elementId);
  input?.focus();
  input?.select?.();
  return false;
}
