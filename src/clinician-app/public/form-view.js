// The intake form: LHC-Forms renders the Questionnaire (served by this app, sanitised), pre-filled by
// $populate on the server, or from a saved draft, or from a completed response being amended.
import { api, ApiError } from './api.js';
import { context } from './context.js';
import { announce, clearStatus, formatDate, h, render } from './dom.js';
import { currentResponse as responseIn, keepRecordSources, lformsReady, repairAria } from './shared/lforms-helpers.js';

const CONTAINER = 'lforms-form';
/** Answers are saved as a draft this long after the last change (the draft route: PUT /api/draft). */
const AUTOSAVE_MS = 1500;
let questionnaire = null;
/** The response the form was loaded with: which answers came from the record (`ext-prefilled-from`). */
let loadedResponse = null;
const currentResponse = () => keepRecordSources(responseIn(CONTAINER), loadedResponse);

// Answers typed since the last save (or since the form was loaded). Leaving the page or the form asks first.
const unsaved = { dirty: false, timer: 0, seq: 0, saving: Promise.resolve() };
function markSaved() {
  unsaved.dirty = false;
  window.clearTimeout(unsaved.timer);
  document.body.dataset.unsaved = '0';
}
window.addEventListener('beforeunload', (e) => {
  if (!unsaved.dirty || !document.getElementById(CONTAINER)) return;
  e.preventDefault();
  e.returnValue = ''; // older browsers show their own wording: custom text is ignored
});

/** Called before the app leaves the form for another view: true when it may (nothing unsaved, or confirmed). */
export function confirmLeavingForm() {
  if (!unsaved.dirty || !document.getElementById(CONTAINER)) return true;
  const leave = window.confirm('Some answers are not saved yet. Leave the intake form and lose them?');
  if (leave) markSaved();
  return leave;
}

function errorSummary(messages) {
  const box = document.getElementById('form-errors');
  box.replaceChildren();
  if (!messages.length) {
    box.hidden = true;
    return;
  }
  box.append(
    h(
      'h2',
      {},
      messages.length === 1
        ? 'There is 1 problem with the answers'
        : `There are ${messages.length} problems with the answers`,
    ),
    h(
      'ul',
      {},
      messages.map((m) => h('li', {}, m)),
    ),
  );
  box.hidden = false;
  box.focus();
}

export async function saveDraft(reason) {
  const response = currentResponse();
  const seq = unsaved.seq;
  const saving = api('PUT', '/draft', { response });
  unsaved.saving = saving.catch(() => undefined);
  const saved = await saving;
  if (unsaved.seq === seq) markSaved(); // answers changed meanwhile stay unsaved (the next autosave takes them)
  const note = document.getElementById('form-source');
  if (note) note.textContent = `Draft saved ${formatDate(saved.savedAt, true)}.`;
  if (reason !== 'silent') announce('Draft saved. You can close the app and resume later.', 'success');
  return saved;
}

export async function showForm(params) {
  clearStatus();
  const amend = params.get('amend');
  const fresh = params.get('fresh') === '1';
  const controls = formControls(amend);
  renderFormPage(amend, controls);
  // The library, the Questionnaire and the pre-filled response load in parallel.
  const [LForms, q, loaded] = await Promise.all([
    lformsReady(),
    questionnaire ?? api('GET', '/questionnaire'),
    api('GET', amend ? `/form?amend=${encodeURIComponent(amend)}` : fresh ? '/form?fresh=1' : '/form'),
  ]);
  questionnaire = q;
  loadedResponse = loaded.response;
  showFormSource(loaded);
  window.performance?.mark?.('periplan-form-render-start');
  await LForms.Util.addFormToPage(questionnaire, CONTAINER, {
    fhirVersion: 'R4',
    questionnaireResponse: loaded.response,
  });
  window.performance?.mark?.('periplan-form-rendered');
  const container = document.getElementById(CONTAINER);
  repairAria(container);
  container.setAttribute('aria-busy', 'false');
  markSaved();
  trackChanges(container, amend);
  document.body.dataset.formReady = '1';
  window.performance?.mark?.('periplan-form-interactive');

  controls.draftButton.addEventListener('click', async () => {
    try {
      await saveDraft();
    } catch (err) {
      announce(err.message, 'error');
    }
  });
  controls.freshButton.addEventListener('click', discardDraftAndStartAgain);
  controls.submitButton.addEventListener('click', () => submitForm(LForms, amend, loaded, controls));
}

/** Kept as elements, not looked up by id: the submission disables and re-enables them and reports progress. */
function formControls(amend) {
  return {
    progress: h('p', { id: 'submit-progress', class: 'progress', hidden: true }),
    submitButton: h(
      'button',
      { type: 'button', class: 'primary', id: 'submit' },
      amend ? 'Submit amendment' : 'Submit',
    ),
    draftButton: h('button', { type: 'button', id: 'save-draft' }, 'Save draft'),
    freshButton: h(
      'button',
      { type: 'button', id: 'start-fresh', class: 'link-button' },
      'Discard draft and start again from the record',
    ),
  };
}

/** The page around the form, shown at once (the form itself is busy until LHC-Forms has rendered it). */
function renderFormPage(amend, { progress, submitButton, draftButton, freshButton }) {
  render(
    h('h1', {}, amend ? 'Amend the back pain intake' : 'Back pain intake'),
    h('p', { id: 'form-source', class: 'hint' }, 'Loading the form…'),
    h('div', { id: 'form-errors', class: 'alert alert-error', role: 'alert', tabindex: '-1', hidden: true }),
    h('div', { id: CONTAINER, class: 'lforms-container', 'aria-busy': 'true' }),
    h('div', { class: 'actions no-print' }, submitButton, draftButton, amend ? null : freshButton),
    progress,
  );
}

/** Where the answers on the form came from, so that the clinician knows what to check with the patient. */
function showFormSource(loaded) {
  const sourceText = {
    draft: `Resumed your draft saved ${formatDate(loaded.savedAt, true)}.`,
    populate: 'Age and weight are pre-filled from the record; check them with the patient.',
    amend: `Amending the response of ${formatDate(loaded.response.authored, true)}. Submitting records it as a new version (amended) and re-evaluates the flags.`,
  }[loaded.source];
  document.getElementById('form-source').textContent =
    sourceText + (loaded.warnings?.length ? ` (${loaded.warnings.join(' ')})` : '');
}

/**
 * Every change marks the answers unsaved; a new intake (not an amendment: that is not a draft) saves itself
 * as a draft shortly after the clinician stops typing.
 */
function trackChanges(container, amend) {
  const changed = () => {
    unsaved.seq += 1;
    unsaved.dirty = true;
    document.body.dataset.unsaved = '1';
    if (amend) return;
    window.clearTimeout(unsaved.timer);
    unsaved.timer = window.setTimeout(() => {
      saveDraft('silent').catch(() =>
        announce('The draft could not be saved automatically. Use Save draft, or keep this page open.', 'warning'),
      );
    }, AUTOSAVE_MS);
  };
  container.addEventListener('input', changed);
  container.addEventListener('change', changed);
  container.addEventListener('click', (e) => {
    if (
      e.target.closest(
        'input[type=radio], input[type=checkbox], .ant-radio-wrapper, .ant-checkbox-wrapper, .ant-select-item',
      )
    )
      changed();
  });
}

async function discardDraftAndStartAgain() {
  if (!window.confirm('Discard the saved draft and every answer on this form, and start again from the record?'))
    return;
  markSaved();
  await api('DELETE', '/draft');
  if (location.hash.includes('fresh=1')) await showForm(new window.URLSearchParams('fresh=1'));
  else location.hash = '#/form?fresh=1';
}

async function submitForm(LForms, amend, loaded, { progress, submitButton, draftButton }) {
  const problems = LForms.Util.checkValidity(CONTAINER);
  if (problems && problems.length) {
    errorSummary(problems);
    announce('Some answers need attention before the form can be submitted.', 'error');
    return;
  }
  errorSummary([]);
  // No autosave may land after the submission (the server deletes the draft when it takes the answers).
  window.clearTimeout(unsaved.timer);
  await unsaved.saving;
  submitButton.disabled = true;
  draftButton.disabled = true;
  progress.hidden = false;
  progress.textContent = 'Sending the answers to the record…';
  announce('Sending the answers to the record…');
  try {
    // An amendment names the version that was loaded: if someone changed it since, the server says so (412).
    const result = await api('POST', '/submit', {
      response: currentResponse(),
      ...(amend ? { amendOf: amend, amendVersion: loaded.response.meta?.versionId } : {}),
    });
    await showSubmitted(result, progress);
  } catch (err) {
    progress.hidden = true;
    submitButton.disabled = false;
    draftButton.disabled = false;
    await showSubmitFailure(err);
  }
}

/** Sent: on to the results. Kept for sending later (or failed): the results computed here, marked as such. */
async function showSubmitted(result, progress) {
  progress.textContent = result.message;
  markSaved(); // the answers are in the write path now (sent, or kept and sending)
  if (result.state === 'sent') {
    announce(result.message, 'success');
    const pid = context().patient.id;
    location.hash = `#/results/${encodeURIComponent(pid)}?key=${encodeURIComponent(result.key)}&submitted=1`;
  } else {
    announce(result.message, result.state === 'failed' ? 'error' : 'warning');
    if (result.results) {
      const { renderResults } = await import('./results-view.js');
      renderResults(result.results, { pending: true, heading: 'Results (not yet in the record)' });
    }
  }
}

async function showSubmitFailure(err) {
  if (err instanceof ApiError && err.status === 401) {
    // The EHR sign-in has ended: keep the answers before anything is lost, and say so.
    try {
      await saveDraft('silent');
      announce(
        'Your sign-in to the EHR has ended. Your answers are saved as a draft on this server. Open the app from the EHR again to continue.',
        'error',
      );
    } catch {
      announce(`${err.message} The answers could not be saved as a draft; do not close this page.`, 'error');
    }
    return;
  }
  if (err instanceof ApiError && err.status === 422) {
    errorSummary(err.issues.map((i) => i.diagnostics));
    announce('The server found problems with the answers.', 'error');
    return;
  }
  announce(err.message, 'error');
}
