// The waiting-room tablet. Holds one patient's answers at a time, in memory, and an encrypted copy (AES-GCM,
// key in memory only) while they are being answered or waiting to be sent. After submit or an idle timeout it
// wipes everything and reloads to the code screen. The patient never sees flags, rules or clinical results.
import { t, setLanguage, language } from './i18n.js';
import { saveEncrypted, clearStore } from './vault.js';

const BASE = document.body.dataset.base;
const IDLE_MS = Number(document.body.dataset.idle) || 180000;
const WARN_MS = Math.min(30000, Math.floor(IDLE_MS / 2));
const CONTAINER = 'lforms-form';
const device = (new URL(location.href).searchParams.get('device') || 'tablet').replace(/[^A-Za-z0-9 _-]/g, '').slice(0, 40) || 'tablet';

const $ = (id) => document.getElementById(id);
let session = null; // { handle, patientName }
let questionnaire = null;
let responseId = null;
let step = 0;
let groups = [];
let idleTimer = null;
let countdownTimer = null;
let alertShown = false;
let sending = false;

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
  for (const id of ['code-screen', 'form-screen', 'thanks-screen']) $(id).hidden = id !== screen;
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
  if (session) await renderForm(answers);
}

// ---- the form -----------------------------------------------------------------------------------
async function lformsReady() {
  for (let i = 0; i < 400; i++) {
    if (window.LForms?.Util?.addFormToPage) return window.LForms;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error('The form did not load.');
}

function currentResponse() {
  return window.LForms.Util.getFormFHIRData('QuestionnaireResponse', 'R4', CONTAINER);
}

/** Drop ARIA references to elements that do not exist (LHC-Forms help popovers), as the clinician app does. */
function repairAria(root) {
  for (const attr of ['aria-controls', 'aria-describedby', 'aria-labelledby']) {
    for (const el of root.querySelectorAll(`[${attr}]`)) {
      const ids = el.getAttribute(attr).split(/\s+/).filter((id) => id && document.getElementById(id));
      if (ids.length) el.setAttribute(attr, ids.join(' '));
      else el.removeAttribute(attr);
      if (attr === 'aria-labelledby' && !ids.length && el.id.startsWith('unit_')) el.setAttribute('aria-label', t('unit'));
    }
  }
}

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
  window.scrollTo(0, 0);
  const heading = groups[step]?.querySelector('.lhc-de-label, label, legend');
  if (heading) heading.setAttribute('tabindex', '-1');
}

async function renderForm(previous) {
  const LForms = await lformsReady();
  questionnaire = await api(`questionnaire?lang=${language()}`);
  const container = $(CONTAINER);
  container.replaceChildren();
  const options = { fhirVersion: 'R4' };
  if (previous) options.questionnaireResponse = previous;
  await LForms.Util.addFormToPage(questionnaire, CONTAINER, options);
  repairAria(container);
  groups = findGroupElements();
  showStep(step);
}

function withoutEmpty(response) {
  return { ...response, identifier: { system: 'https://periplan.app/fhir/sid/tablet-response', value: responseId } };
}

async function saveProgress() {
  if (!session || !questionnaire) return;
  try {
    await saveEncrypted('draft', { response: currentResponse(), step, lang: language() });
  } catch { /* storage unavailable: answers stay in memory */ }
}

let checkTimer = null;
function scheduleCheck() {
  clearTimeout(checkTimer);
  checkTimer = setTimeout(checkEmergency, 600);
}

async function checkEmergency() {
  if (!session || alertShown) return;
  try {
    const result = await api('check', { method: 'POST', body: { response: withoutEmpty(currentResponse()) } });
    if (result?.tellStaff && !alertShown) {
      alertShown = true;
      $('tell-staff').hidden = false;
      $('tell-staff-ok').focus();
    }
  } catch { /* offline: the full rules run when the answers are sent */ }
}

function validationProblems() {
  const problems = window.LForms.Util.checkValidity(CONTAINER) || [];
  return problems;
}

function next() {
  showStep(step + 1);
  saveProgress();
  scheduleCheck();
  groups[step]?.querySelector('input, button')?.focus?.({ preventScroll: true });
}

function showErrors(messages) {
  const box = $('form-errors');
  box.replaceChildren();
  const h = document.createElement('h2');
  h.textContent = t('problems');
  const ul = document.createElement('ul');
  for (const m of messages) {
    const li = document.createElement('li');
    li.textContent = m;
    ul.append(li);
  }
  box.append(h, ul);
  box.hidden = false;
  box.focus();
}

async function submit() {
  if (sending) return;
  const problems = validationProblems();
  if (problems.length) {
    // Go to the first screen with a problem.
    const first = groups.findIndex((g) => g?.querySelector('.lhc-validation, .invalid, [aria-invalid="true"]'));
    if (first >= 0 && first !== step) showStep(first);
    showErrors(problems.map((p) => String(p)));
    return;
  }
  sending = true;
  $('submit').disabled = true;
  const body = { response: withoutEmpty({ ...currentResponse(), status: 'completed' }) };
  await saveEncrypted('pending', body).catch(() => undefined);
  await saveEncrypted('draft', null).catch(() => undefined);
  const sent = await sendPending(body);
  if (sent === 'invalid') {
    sending = false;
    $('submit').disabled = false;
    return;
  }
  stopIdle();
  show('thanks-screen');
  $('queued-note').hidden = sent;
  applyLanguage();
  document.querySelector('#thanks-screen h1').focus();
  if (sent) setTimeout(wipe, 4000);
  else waitForNetwork(body);
}

/**
 * One attempt; true when the server has it, 'invalid' when an answer must be fixed first. A network error
 * keeps it queued (same identifier: exactly once).
 */
async function sendPending(body) {
  try {
    await api('submit', { method: 'POST', body });
    await clearStore();
    return true;
  } catch (e) {
    if (e instanceof ApiError && (e.status === 422 || e.status === 400)) {
      showErrors([e.message]);
      return 'invalid';
    }
    if (e instanceof ApiError && e.status < 500 && e.status !== 429 && e.status !== 408) {
      // The session ended (or was replaced): nothing the patient can do; she is thanked and staff restart it.
      await clearStore();
      return true;
    }
    return false;
  }
}

function waitForNetwork(body) {
  $('waiting').hidden = false;
  $('waiting').textContent = t('waiting');
  const retry = async () => {
    if ((await sendPending(body)) === true) {
      window.removeEventListener('online', retry);
      clearInterval(timer);
      wipe();
    }
  };
  const timer = setInterval(retry, 5000);
  window.addEventListener('online', retry);
}

// ---- idle timeout -------------------------------------------------------------------------------
function stopIdle() {
  clearTimeout(idleTimer);
  clearInterval(countdownTimer);
  $('idle').hidden = true;
}

function resetIdle() {
  if (!session || sending) return;
  stopIdle();
  idleTimer = setTimeout(startCountdown, IDLE_MS - WARN_MS);
}

function startCountdown() {
  let left = Math.ceil(WARN_MS / 1000);
  $('idle-seconds').textContent = String(left);
  $('idle').hidden = false;
  $('idle-continue').focus();
  countdownTimer = setInterval(() => {
    left -= 1;
    $('idle-seconds').textContent = String(Math.max(0, left));
    if (left <= 0) wipe();
  }, 1000);
}

// ---- wipe ---------------------------------------------------------------------------------------
async function wipe() {
  stopIdle();
  const handle = session?.handle;
  session = null;
  questionnaire = null;
  $(CONTAINER).replaceChildren();
  if (handle) await fetch(`${BASE}/api/end`, { method: 'POST', headers: { 'X-Tablet-Session': handle } }).catch(() => undefined);
  await clearStore().catch(() => undefined);
  try { sessionStorage.clear(); localStorage.clear(); } catch { /* ignore */ }
  try { const c = window.caches; for (const k of await c.keys()) await c.delete(k); } catch { /* no Cache Storage */ }
  // A reload drops everything held in memory (LHC-Forms' own state too); the shell answers with Clear-Site-Data.
  location.replace(`${location.pathname}${location.search}`);
}

// ---- start --------------------------------------------------------------------------------------
async function claim(event) {
  event.preventDefault();
  $('code-error').textContent = '';
  const code = $('code').value.trim();
  if (!code) {
    $('code-error').textContent = t('noCode');
    return;
  }
  try {
    const r = await api('claim', { method: 'POST', body: { code, device } });
    session = { handle: r.session, patientName: r.patientName };
    responseId = crypto.randomUUID();
    $('code').value = '';
    step = 0;
    show('form-screen');
    applyLanguage();
    await renderForm(null);
    resetIdle();
    $('main').focus({ preventScroll: true });
  } catch (e) {
    $('code-error').textContent = e instanceof ApiError && e.status === 429 ? t('tooMany') : e instanceof ApiError && e.status === 404 ? t('badCode') : t('noNetwork');
  }
}

async function boot() {
  for (const b of document.querySelectorAll('[data-lang]')) b.addEventListener('click', () => switchLanguage(b.dataset.lang));
  $('code-form').addEventListener('submit', claim);
  $('next').addEventListener('click', next);
  $('back').addEventListener('click', () => showStep(step - 1));
  $('submit').addEventListener('click', submit);
  $('tell-staff-ok').addEventListener('click', () => { $('tell-staff').hidden = true; });
  $('idle-continue').addEventListener('click', resetIdle);
  for (const type of ['pointerdown', 'keydown', 'touchstart', 'input']) document.addEventListener(type, resetIdle, { passive: true });
  $(CONTAINER).addEventListener('change', () => { scheduleCheck(); saveProgress(); });
  $(CONTAINER).addEventListener('click', () => scheduleCheck());
  applyLanguage();
  // Whatever an earlier page left cannot be decrypted (its key was in memory only): remove it.
  await clearStore().catch(() => undefined);
  $('code').focus();
}

boot();
