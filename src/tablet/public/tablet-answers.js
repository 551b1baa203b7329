// After each answer: save, and the emergency check; moving between parts.
//
// LHC-Forms 40 draws its radio buttons and checkboxes with ng-zorro, which stops the click on an answer and
// prevents its default: a tapped (or clicked) answer raises no `change`, and no `click` reaches the container,
// and LHC-Forms itself emits no change event. So every interaction inside the form, seen in the capture phase
// (before anything can stop it), schedules a look at the answers; when they differ from the last ones saved or
// checked, they are saved and checked. However an answer was given (tap, click, keyboard, typing), this runs.
import { api } from './tablet-api.js';
import { currentResponse, showStep, withIdentifier } from './tablet-form.js';
import { $ } from './tablet-page.js';
import { partIsReady, problemsIn } from './tablet-parts.js';
import { markProblems, showProblems } from './tablet-problems.js';
import { saveProgress } from './tablet-progress.js';

const CHECK_DELAY_MS = 600;

export function scheduleCheck(state) {
  clearTimeout(state.timers.check);
  state.timers.check = setTimeout(() => afterAnswers(state), CHECK_DELAY_MS);
}

/** The list of problems on screen follows her answers (it shrinks as she fixes them); focus stays where she is. */
function refreshProblems(state) {
  if ($('form-errors').hidden) return;
  const problems = problemsIn(state, state.step);
  if (problems.length) showProblems(problems, { focus: false });
  else {
    $('form-errors').hidden = true;
    markProblems([]);
  }
}

function afterAnswers(state) {
  if (!state.session || !state.questionnaire || state.sending) return;
  let response;
  try {
    response = currentResponse();
  } catch {
    return; // the form is being rendered again (language switch); its renderer saves it
  }
  if (!response) return; // no form on the page (rendering, or already wiped)
  const answers = JSON.stringify(response.item ?? []);
  if (answers !== state.savedAnswers) {
    state.savedAnswers = answers;
    saveProgress(state);
  }
  if (answers !== state.checkedAnswers) checkEmergency(state, response, answers);
  refreshProblems(state);
}

async function checkEmergency(state, response, answers) {
  // Checks go on after the patient has been told once: a later answer can trigger another EMERGENCY rule, and
  // the server alerts staff for each new rule (she is not shown the message again).
  if (!state.session || state.sending) return;
  try {
    const result = await api(state, 'check', { method: 'POST', body: { response: withIdentifier(state, response) } });
    state.checkedAnswers = answers;
    if (result?.tellStaff && !state.alertShown) {
      state.alertShown = true;
      saveProgress(state);
      $('tell-staff').hidden = false;
      $('tell-staff-ok').focus();
    }
  } catch {
    /* offline: checked again after the next interaction; the full rules run when the answers are sent */
  }
}

export function moveTo(state, n) {
  showStep(state, n);
  saveProgress(state);
  scheduleCheck(state);
  state.groups[state.step]?.querySelector('input, button')?.focus?.({ preventScroll: true });
}

export async function goNext(state) {
  if (state.advancing) return;
  state.advancing = true;
  try {
    if (await partIsReady(state, state.step)) moveTo(state, state.step + 1);
  } finally {
    state.advancing = false;
  }
}
