// The waiting-room tablet. Holds one patient's answers at a time: in memory, and an encrypted copy in IndexedDB
// (vault.js) so that a reload (accidental, or the kiosk browser restarting) loses neither the answers so far
// nor a submission waiting for the network. After submit or an idle timeout it wipes everything and returns
// to the code screen. The patient never sees flags, rules or clinical results.
import { t, setLanguage, language } from './i18n.js';
import { clearStore, readEncrypted, readPlain, saveEncrypted, savePlain } from './vault.js';
import { localizeLForms } from './lforms-es.js';
import { currentResponse as responseIn, lformsReady, repairAria } from './shared/lforms-helpers.js';

const BASE = document.body.dataset.base;
const IDLE_MS = Number(document.body.dataset.idle) || 180000;
const WARN_MS = Math.min(30000, Math.floor(IDLE_MS / 2));
const RETRY_MS = 5000;
const PING_MS = 20000;
/** The service worker's cache (sw.js): the page shell and static files only, never answers; kept by the wipe. */
const SHELL_CACHE = 'periplan-tablet-shell';
const CONTAINER = 'lforms-form';
const RESPONSE_SYSTEM = 'https://periplan.app/fhir/sid/tablet-response';
const device = (new URL(location.href).searchParams.get('device') || 'tablet').replace(/[^A-Za-z0-9 _-]/g, '').slice(0, 40) || 'tablet';

const $ = (id) => document.getElementById(id);
const currentResponse = () => responseIn(CONTAINER);

// QR hand-off: the clinician app shows a QR code of `/tablet/#code=ABC234`. The fragment never reaches a
// server; it is taken out of the address bar and the history at once, before anything else runs.
const handoffCode = (() => {
  if (!location.hash) return null;
  const code = new window.URLSearchParams(location.hash.slice(1)).get('code');
  window.history.replaceState(null, '', `${location.pathname}${location.search}`);
  return code ? code.slice(0, 32) : null;
})();

let session = null; // { handle, patientName, expectedAge: { linkId, low, high } | undefined }
let questionnaire = null;
/** linkId → the linkId of the part (top-level group) it is in, and the linkIds the Questionnaire marks required. */
let partOf = new Map();
let requiredIds = new Set();
/** The age she confirmed when asked to check it (she is not asked again for the same number). */
let ageConfirmed = null;
let responseId = null;
let step = 0;
let groups = [];
let idleTimer = null;
let countdownTimer = null;
let retryTimer = null;
let pingTimer = null;
let alertShown = false;
let sending = false;
let lastActivityWrite = 0;

class ApiError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

async function api(path, { method = 'GET', body } = {}) {
  const headers = { Accept: 'application/json' };
  if (session) headers['X-Tablet-Session'] = session.handle;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const res = await fetch(`${BASE}/api/${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), cache: 'no-store' });
  if (res.status === 204) return null;
  const data = await res.json().catch(() => null);
  if (!res.ok) throw new ApiError(res.status, data?.issue?.[0]?.diagnostics || `HTTP ${res.status}`);
  return data;
}

function show(screen) {
  for (const id of ['code-screen', 'form-screen', 'thanks-screen', 'lost-screen']) $(id).hidden = id !== screen;
}

// ---- language -----------------------------------------------------------------------------------
function applyLanguage() {
  document.documentElement.lang = language();
  for (const el of document.querySelectorAll('[data-t]')) el.textContent = t(el.dataset.t);
  for (const b of document.querySelectorAll('[data-lang]')) b.setAttribute('aria-pressed', String(b.dataset.lang === language()));
  if (session) $('who').textContent = session.patientName ? t('formFor', session.patientName) : '';
}

async function switchLanguage(lang) {
  if (lang === language()) return;
  const answers = questionnaire ? currentResponse() : null;
  setLanguage(lang);
  applyLanguage();
  if (session && !sending) {
    await renderForm(answers);
    saveProgress();
  }
}

// ---- the form -----------------------------------------------------------------------------------
/**
 * One topic per screen: each top-level group of the Questionnaire is a step. LHC-Forms renders the whole form
 * (so calculated items and enableWhen keep working across groups); the other groups are hidden.
 */
function findGroupElements() {
  const root = $(CONTAINER);
  return questionnaire.item.map((g) => root.querySelector(`[id="item-${g.linkId}/1"]`));
}

function showStep(n) {
  step = Math.max(0, Math.min(groups.length - 1, n));
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

async function renderForm(previous) {
  const LForms = await lformsReady();
  localizeLForms(LForms, () => language() === 'es');
  questionnaire = await loadQuestionnaire();
  indexQuestionnaire(questionnaire);
  const container = $(CONTAINER);
  container.replaceChildren();
  // LHC-Forms' screen-reader log (outside the form) still holds what it announced for the last rendering.
  document.getElementById('reader_log')?.replaceChildren();
  const options = { fhirVersion: 'R4' };
  if (previous) options.questionnaireResponse = previous;
  await LForms.Util.addFormToPage(questionnaire, CONTAINER, options);
  repairAria(container, t('unit'));
  cacheStaticFiles();
  groups = findGroupElements();
  showStep(step);
}

/** The Questionnaire in the current language; offline, the copy kept in the vault by an earlier rendering. */
async function loadQuestionnaire() {
  const name = `questionnaire-${language()}`;
  try {
    const q = await api(`questionnaire?lang=${language()}`);
    saveEncrypted(name, q).catch(() => undefined);
    return q;
  } catch (e) {
    if (e instanceof ApiError) throw e;
    const kept = await readEncrypted(name).catch(() => null);
    if (kept) return kept;
    throw e;
  }
}

function withIdentifier(response) {
  return { ...response, identifier: { system: RESPONSE_SYSTEM, value: responseId } };
}

// ---- what survives a reload ------------------------------------------------------------------------
// `draft`: the session, the answers so far, the step and language; `pending`: a submission not yet
// acknowledged, with its identifier (a resend is the same submission); `activity`: the time of the last touch.
async function saveProgress() {
  if (!session || !questionnaire || sending) return;
  try {
    await saveEncrypted('draft', { session, responseId, response: currentResponse(), step, lang: language(), alertShown, ageConfirmed });
  } catch { /* storage unavailable: the answers stay in memory */ }
}

function noteActivity() {
  const now = Date.now();
  if (!session || sending || now - lastActivityWrite < 1000) return;
  lastActivityWrite = now;
  savePlain('activity', now).catch(() => undefined);
}

// ---- after each answer: save, and the emergency check ----------------------------------------------------
// LHC-Forms 40 draws its radio buttons and checkboxes with ng-zorro, which stops the click on an answer and
// prevents its default: a tapped (or clicked) answer raises no `change`, and no `click` reaches the container,
// and LHC-Forms itself emits no change event. So every interaction inside the form, seen in the capture phase
// (before anything can stop it), schedules a look at the answers; when they differ from the last ones saved or
// checked, they are saved and checked. However an answer was given (tap, click, keyboard, typing), this runs.
const CHECK_DELAY_MS = 600;
let checkTimer = null;
let savedAnswers = null; // the answers (JSON of `item`) last written to the vault
let checkedAnswers = null; // the answers last checked by the server
function scheduleCheck() {
  clearTimeout(checkTimer);
  checkTimer = setTimeout(afterAnswers, CHECK_DELAY_MS);
}

function afterAnswers() {
  if (!session || !questionnaire || sending) return;
  let response;
  try {
    response = currentResponse();
  } catch {
    return; // the form is being rendered again (language switch); its renderer saves it
  }
  if (!response) return; // no form on the page (rendering, or already wiped)
  const answers = JSON.stringify(response.item ?? []);
  if (answers !== savedAnswers) {
    savedAnswers = answers;
    saveProgress();
  }
  if (answers !== checkedAnswers) checkEmergency(response, answers);
  // The list of problems on screen follows her answers (it shrinks as she fixes them); focus stays where she is.
  if (!$('form-errors').hidden) {
    const problems = problemsIn(step);
    if (problems.length) showProblems(problems, { focus: false });
    else {
      $('form-errors').hidden = true;
      markProblems([]);
    }
  }
}

async function checkEmergency(response, answers) {
  // Checks go on after the patient has been told once: a later answer can trigger another EMERGENCY rule, and
  // the server alerts staff for each new rule (she is not shown the message again).
  if (!session || sending) return;
  try {
    const result = await api('check', { method: 'POST', body: { response: withIdentifier(response) } });
    checkedAnswers = answers;
    if (result?.tellStaff && !alertShown) {
      alertShown = true;
      saveProgress();
      $('tell-staff').hidden = false;
      $('tell-staff-ok').focus();
    }
  } catch { /* offline: checked again after the next interaction; the full rules run when the answers are sent */ }
}

function moveTo(n) {
  showStep(n);
  saveProgress();
  scheduleCheck();
  groups[step]?.querySelector('input, button')?.focus?.({ preventScroll: true });
}

// ---- each part is checked before Next: required answers, LHC-Forms' own checks, the age against the record ----
/** Which part (top-level group) each item is in, and which items the Questionnaire marks required. */
function indexQuestionnaire(q) {
  partOf = new Map();
  requiredIds = new Set();
  const walk = (items, part) => {
    for (const item of items ?? []) {
      partOf.set(item.linkId, part ?? item.linkId);
      if (item.required) requiredIds.add(item.linkId);
      walk(item.item, part ?? item.linkId);
    }
  };
  walk(q.item, null);
}

/** LHC-Forms' model of the rendered form (its items, their values, enableWhen state and validation messages). */
function formModel() {
  return window.LForms.Util._getFormObjectInScope($(CONTAINER));
}

/**
 * The problems of part `index`, in the order shown: every item of that part that enableWhen shows and that
 * LHC-Forms finds invalid (its messages, in the current language), or that the Questionnaire marks required
 * and has no answer.
 */
function problemsIn(index) {
  const part = questionnaire?.item?.[index]?.linkId;
  const model = formModel();
  if (!part || !model) return [];
  window.LForms.Util.checkValidity($(CONTAINER)); // runs every item's validations
  const problems = [];
  for (const item of model.itemList) {
    if (item.linkId === part || partOf.get(item.linkId) !== part || item._skipLogicStatus === 'target-disabled') continue;
    let messages = item._validationErrors ?? [];
    if (!messages.length && requiredIds.has(item.linkId) && item.dataType !== 'SECTION' && window.LForms.Util.isItemValueEmpty(item.value)) messages = [t('required')];
    if (messages.length) problems.push({ elementId: item._elementId, text: `${item.question} ${messages.join(' ')}` });
  }
  return problems;
}

const itemElement = (elementId) => document.getElementById(`item-${elementId}`);
/** The answer control to focus (its first input; not the help button LHC-Forms puts before it). */
const firstControl = (elementId) => itemElement(elementId)?.querySelector('input:not([type="hidden"]), textarea, select') ?? itemElement(elementId)?.querySelector('button');

/** `aria-invalid` on the answers of the items at fault (cleared everywhere else). */
function markProblems(problems) {
  const ids = new Set(problems.map((p) => p.elementId));
  for (const el of document.querySelectorAll('#lforms-form .tablet-problem')) el.classList.remove('tablet-problem');
  for (const el of document.querySelectorAll('#lforms-form [aria-invalid="true"]')) el.removeAttribute('aria-invalid');
  for (const id of ids) {
    itemElement(id)?.classList.add('tablet-problem');
    for (const control of itemElement(id)?.querySelectorAll('input, textarea, select') ?? []) control.setAttribute('aria-invalid', 'true');
  }
}

/** The list above the buttons (announced: role=alert), each problem a button to its question; focus to the first. */
function showProblems(problems, { focus = true } = {}) {
  const box = $('form-errors');
  box.replaceChildren();
  const h = document.createElement('h2');
  h.textContent = t('problems');
  const ul = document.createElement('ul');
  for (const p of problems) {
    const li = document.createElement('li');
    if (p.elementId) {
      const b = document.createElement('button');
      b.type = 'button';
      b.className = 'problem';
      b.textContent = p.text;
      b.addEventListener('click', () => firstControl(p.elementId)?.focus());
      li.append(b);
    } else li.textContent = p.text;
    ul.append(li);
  }
  box.append(h, ul);
  box.hidden = false;
  markProblems(problems);
  if (!focus) return;
  const first = problems.find((p) => p.elementId && firstControl(p.elementId));
  if (first) {
    firstControl(first.elementId).focus({ preventScroll: true });
    itemElement(first.elementId).scrollIntoView({ block: 'center' });
  } else box.focus();
}

function showErrors(messages) {
  showProblems(messages.map((text) => ({ text })));
}

/** The typed age, when it is outside the range the record gives and she has not confirmed that very number. */
function ageToCheck(index) {
  const expected = session?.expectedAge;
  if (!expected || partOf.get(expected.linkId) !== questionnaire?.item?.[index]?.linkId) return null;
  const item = formModel()?.itemList.find((i) => i.linkId === expected.linkId);
  if (!item || item._skipLogicStatus === 'target-disabled' || item.value === undefined || item.value === null || item.value === '') return null;
  const value = Number(item.value);
  if (!Number.isInteger(value) || (value >= expected.low && value <= expected.high) || value === ageConfirmed) return null;
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
async function partIsReady(index) {
  const problems = problemsIn(index);
  if (problems.length) {
    if (index !== step) showStep(index);
    showProblems(problems);
    return false;
  }
  const age = ageToCheck(index);
  if (!age) return true;
  if (index !== step) showStep(index);
  if (await askAboutAge(age.value)) {
    ageConfirmed = age.value;
    saveProgress();
    return true;
  }
  const input = firstControl(age.elementId);
  input?.focus();
  input?.select?.();
  return false;
}

let advancing = false;
async function goNext() {
  if (advancing) return;
  advancing = true;
  try {
    if (await partIsReady(step)) moveTo(step + 1);
  } finally {
    advancing = false;
  }
}

// ---- submit and the offline queue ---------------------------------------------------------------------
async function submit() {
  if (sending || advancing) return;
  // Every part again (an earlier answer may have been changed with Back): the first part with a problem is shown.
  advancing = true;
  try {
    for (let i = 0; i < groups.length; i++) if (!(await partIsReady(i))) return;
  } finally {
    advancing = false;
  }
  sending = true;
  stopIdle();
  $('submit').disabled = true;
  const body = { response: withIdentifier({ ...currentResponse(), status: 'completed' }) };
  // Queued before the first attempt: if the page goes away during it, the next page load sends it.
  await saveEncrypted('pending', { session, body, lang: language(), step }).catch(() => undefined);
  await saveEncrypted('draft', null).catch(() => undefined);
  const result = await sendPending(body);
  if (result.state === 'invalid') {
    sending = false;
    $('submit').disabled = false;
    await saveEncrypted('pending', null).catch(() => undefined);
    await saveProgress();
    resetIdle();
    showErrors([result.message]);
    return;
  }
  if (result.state === 'lost') {
    await showLost(result);
    return;
  }
  showThanks(result.state === 'queued');
  if (result.state === 'sent') setTimeout(wipe, 4000);
  else waitForNetwork(body, (later) => (later.state === 'lost' ? showLost(later) : wipe()));
}

function showThanks(queued) {
  show('thanks-screen');
  $('queued-note').hidden = !queued;
  applyLanguage();
  document.querySelector('#thanks-screen h1').focus();
}

/**
 * One attempt. `sent`: the server has it (the store is cleared); `invalid`: an answer must be fixed first;
 * `lost`: refused for good (401/403/404: the session is gone, even past the server's submit grace period),
 * staff must be told; `queued`: no answer from the server (or one worth retrying), try again later with the
 * same identifier (exactly once).
 */
async function sendPending(body) {
  try {
    await api('submit', { method: 'POST', body });
    await clearStore();
    return { state: 'sent' };
  } catch (e) {
    if (e instanceof ApiError && (e.status === 422 || e.status === 400)) return { state: 'invalid', message: e.message };
    if (e instanceof ApiError && [401, 403, 404].includes(e.status)) return { state: 'lost', status: e.status, message: e.message };
    return { state: 'queued' };
  }
}

/**
 * The server refused the submission for good: never thank her as if it were sent. Log it, wipe the tablet
 * (the answers cannot go anywhere), and leave the staff-facing message on screen until staff tap OK (then the
 * page reloads to the code screen).
 */
async function showLost(result) {
  console.error(`tablet: the answers could not be sent (HTTP ${result.status}: ${result.message}); they were deleted from this tablet and must be entered again`);
  await wipe({ reload: false, lost: true });
}

/** Retry every few seconds and when the browser says it is online; `onDone(result)` once it is not queued. Returns the retry. */
function waitForNetwork(body, onDone) {
  $('waiting').hidden = false;
  $('waiting').textContent = t('waiting');
  let busy = false;
  const retry = async () => {
    if (busy) return;
    busy = true;
    try {
      const result = await sendPending(body);
      if (result.state === 'queued') return;
      window.removeEventListener('online', retry);
      clearInterval(retryTimer);
      retryTimer = null;
      await onDone(result);
    } finally {
      busy = false;
    }
  };
  retryTimer = setInterval(retry, RETRY_MS);
  window.addEventListener('online', retry);
  return retry;
}

// Staff's Tablets view shows a tablet as offline when it has not been heard from for a while: a patient who
// reads slowly (no other request) still says "here" every 20 s.
function startPing() {
  clearInterval(pingTimer);
  pingTimer = setInterval(() => {
    if (session && questionnaire && !sending) api('ping', { method: 'POST' }).catch(() => undefined);
  }, PING_MS);
}

// ---- idle timeout -------------------------------------------------------------------------------
function stopIdle() {
  clearTimeout(idleTimer);
  clearInterval(countdownTimer);
  $('idle').hidden = true;
}

function resetIdle() {
  if (!session || sending) return;
  noteActivity();
  armIdle(0);
}

/** The countdown starts WARN_MS before the timeout, counted from the last activity (`elapsed` ms ago). */
function armIdle(elapsed) {
  stopIdle();
  idleTimer = setTimeout(() => startCountdown(Math.min(WARN_MS, IDLE_MS - elapsed)), Math.max(0, IDLE_MS - WARN_MS - elapsed));
}

function startCountdown(ms) {
  let left = Math.max(1, Math.ceil(ms / 1000));
  $('idle-seconds').textContent = String(left);
  $('idle').hidden = false;
  $('idle-continue').focus();
  countdownTimer = setInterval(() => {
    left -= 1;
    $('idle-seconds').textContent = String(Math.max(0, left));
    if (left <= 0 && !sending) wipe();
  }, 1000);
}

// ---- wipe ---------------------------------------------------------------------------------------
/**
 * End the session and remove everything the tablet holds: IndexedDB (answers, queue, key), Web Storage,
 * Cache Storage, the form. Then reload, which drops everything held in memory (LHC-Forms' own state too);
 * `reload: false` only where no form was rendered in this page (start-up), so memory holds nothing.
 * `lost`: instead, the "could not be sent" screen stays until staff tap OK, which reloads.
 */
async function wipe({ reload = true, lost = false } = {}) {
  stopIdle();
  clearInterval(retryTimer);
  clearInterval(pingTimer);
  const handle = session?.handle;
  session = null;
  questionnaire = null;
  ageConfirmed = null;
  $('age-check').hidden = true;
  sending = false;
  $(CONTAINER).replaceChildren();
  if (handle) await fetch(`${BASE}/api/end`, { method: 'POST', headers: { 'X-Tablet-Session': handle } }).catch(() => undefined);
  await clearStore().catch(() => undefined);
  try { sessionStorage.clear(); localStorage.clear(); } catch { /* ignore */ }
  try { const c = window.caches; for (const k of await c.keys()) if (k !== SHELL_CACHE) await c.delete(k); } catch { /* no Cache Storage */ }
  if (lost) {
    show('lost-screen');
    applyLanguage();
    $('lost-title').focus();
    return;
  }
  if (reload) {
    location.replace(`${location.pathname}${location.search}`);
    return;
  }
  setLanguage('en');
  applyLanguage();
  $('waiting').hidden = true;
  show('code-screen');
}

// ---- offline page load ------------------------------------------------------------------------------
function registerServiceWorker() {
  const sw = navigator.serviceWorker;
  if (!sw) return;
  sw.register(`${BASE}/sw.js`, { scope: `${BASE}/`, updateViaCache: 'none' }).then(cacheStaticFiles, () => undefined);
}

/** Ask the service worker to cache the static files this page loaded (modules and LHC-Forms included). */
function cacheStaticFiles() {
  const urls = window.performance.getEntriesByType('resource').map((e) => e.name);
  navigator.serviceWorker?.ready.then((reg) => reg.active?.postMessage({ cache: urls })).catch(() => undefined);
}

// ---- start --------------------------------------------------------------------------------------
async function claimCode(code) {
  $('code-error').textContent = '';
  try {
    const r = await api('claim', { method: 'POST', body: { code, device } });
    session = { handle: r.session, patientName: r.patientName, ...(r.expectedAge ? { expectedAge: r.expectedAge } : {}) };
    responseId = crypto.randomUUID();
    ageConfirmed = null;
    step = 0;
    alertShown = false;
    savedAnswers = null;
    checkedAnswers = null;
    $('code').value = '';
    show('form-screen');
    applyLanguage();
    await renderForm(null);
    startPing();
    lastActivityWrite = 0;
    resetIdle();
    await saveProgress();
    $('main').focus({ preventScroll: true });
  } catch (e) {
    $('code-error').textContent = e instanceof ApiError && e.status === 429 ? t('tooMany') : e instanceof ApiError && e.status === 404 ? t('badCode') : t('noNetwork');
  }
}

function claimTyped(event) {
  event.preventDefault();
  const code = $('code').value.trim();
  if (!code) {
    $('code-error').textContent = t('noCode');
    return;
  }
  claimCode(code);
}

/** Continue an unfinished form after a reload; its last activity was `idleFor` ms ago (within the timeout). */
async function resumeDraft(draft, idleFor) {
  session = draft.session;
  responseId = draft.responseId;
  step = draft.step ?? 0;
  alertShown = Boolean(draft.alertShown);
  ageConfirmed = draft.ageConfirmed ?? null;
  savedAnswers = null;
  checkedAnswers = null;
  setLanguage(draft.lang);
  show('form-screen');
  applyLanguage();
  armIdle(idleFor);
  startPing();
  for (;;) {
    try {
      await renderForm(draft.response);
      $('status').textContent = '';
      return;
    } catch (e) {
      if (e instanceof ApiError && e.status >= 400 && e.status < 500) {
        // The session ended on the server (e.g. its 60 minutes are over): nothing to continue.
        await wipe({ reload: false });
        return;
      }
      $('status').textContent = t('noNetwork');
      await new Promise((r) => setTimeout(r, RETRY_MS));
      if (!session) return; // wiped meanwhile (idle)
    }
  }
}

/** A submission queued by an earlier page: send it first (when online); only then is the tablet wiped. */
function resumeQueued(pending) {
  session = pending.session;
  responseId = pending.body.response.identifier?.value ?? null;
  sending = true;
  setLanguage(pending.lang);
  showThanks(true);
  const retry = waitForNetwork(pending.body, async (result) => {
    if (result.state === 'lost') {
      await showLost(result);
      return;
    }
    if (result.state === 'invalid') {
      // Refused as it stands: back to the form to fix it (never silently dropped).
      sending = false;
      await resumeDraft({ session, responseId, response: pending.body.response, step: pending.step, lang: pending.lang }, 0);
      await saveProgress();
      await saveEncrypted('pending', null).catch(() => undefined);
      showErrors([result.message]);
      return;
    }
    await wipe({ reload: false });
    if (handoffCode) await claimCode(handoffCode);
    else $('code').focus();
  });
  retry();
}

/** What an earlier page left: a queued submission, an unfinished form (resumed if recent), or nothing. */
async function restore() {
  let pending;
  let draft;
  let activity;
  try {
    pending = await readEncrypted('pending');
    draft = pending ? null : await readEncrypted('draft');
    activity = await readPlain('activity');
  } catch {
    // Written under a key that is gone or damaged: nothing in it can be read.
    await clearStore().catch(() => undefined);
    return false;
  }
  if (pending) {
    resumeQueued(pending);
    return true;
  }
  if (!draft) {
    await clearStore().catch(() => undefined);
    return false;
  }
  const idleFor = Date.now() - (Number(activity) || 0);
  if (handoffCode || idleFor >= IDLE_MS) {
    // Too old to show again (or staff handed the tablet to someone else): end it like an idle timeout.
    session = draft.session;
    await wipe({ reload: false });
    return false;
  }
  await resumeDraft(draft, idleFor);
  return true;
}

async function boot() {
  for (const b of document.querySelectorAll('[data-lang]')) b.addEventListener('click', () => switchLanguage(b.dataset.lang));
  $('code-form').addEventListener('submit', claimTyped);
  $('next').addEventListener('click', goNext);
  $('back').addEventListener('click', () => moveTo(step - 1));
  $('submit').addEventListener('click', submit);
  $('tell-staff-ok').addEventListener('click', () => { $('tell-staff').hidden = true; });
  $('idle-continue').addEventListener('click', () => resetIdle());
  for (const type of ['pointerdown', 'keydown', 'touchstart', 'input']) document.addEventListener(type, () => resetIdle(), { passive: true });
  // Capture phase: ng-zorro stops the events of a tapped answer before they could bubble here (see scheduleCheck).
  for (const type of ['pointerup', 'click', 'keyup', 'input', 'change']) $(CONTAINER).addEventListener(type, scheduleCheck, { capture: true, passive: true });
  $('lost-ok').addEventListener('click', () => location.replace(`${location.pathname}${location.search}`));
  applyLanguage();
  registerServiceWorker();
  const busy = await restore();
  if (busy) return;
  if (handoffCode) await claimCode(handoffCode);
  else $('code').focus();
}

boot();
