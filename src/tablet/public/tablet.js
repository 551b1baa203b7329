// The waiting-room tablet. Holds one patient's answers at a time: in memory, and an encrypted copy in IndexedDB
// (vault.js) so that a reload (accidental, or the kiosk browser restarting) loses neither the answers so far
// nor a submission waiting for the network. After submit or an idle timeout it wipes everything and returns
// to the code screen. The patient never sees flags, rules or clinical results.
//
// This entry makes the page's one state (tablet-state.js) and wires the page's controls to the modules that
// do the work, each given that state: tablet-start.js (code, resume), tablet-form.js (rendering, steps),
// tablet-answers.js (save and emergency check after each answer), tablet-parts.js (checks before Next),
// tablet-submit.js and tablet-send.js (submit, offline queue), tablet-idle.js and tablet-wipe.js.
import { setLanguage, language } from './i18n.js';
import { goNext, moveTo, scheduleCheck } from './tablet-answers.js';
import { applyLanguage, currentResponse, renderForm } from './tablet-form.js';
import { createIdleTimeout } from './tablet-idle.js';
import { registerServiceWorker } from './tablet-offline.js';
import { $, CONTAINER, handoffCode } from './tablet-page.js';
import { saveProgress } from './tablet-progress.js';
import { claimCode, claimTyped, restore } from './tablet-start.js';
import { createTabletState } from './tablet-state.js';
import { submit } from './tablet-submit.js';
import { wipe } from './tablet-wipe.js';

const state = createTabletState();
state.idle = createIdleTimeout(state, () => wipe(state));

async function switchLanguage(lang) {
  if (lang === language()) return;
  const answers = state.questionnaire ? currentResponse() : null;
  setLanguage(lang);
  applyLanguage(state);
  if (state.session && !state.sending) {
    await renderForm(state, answers);
    saveProgress(state);
  }
}

async function boot() {
  for (const b of document.querySelectorAll('[data-lang]'))
    b.addEventListener('click', () => switchLanguage(b.dataset.lang));
  $('code-form').addEventListener('submit', (event) => claimTyped(state, event));
  $('next').addEventListener('click', () => goNext(state));
  $('back').addEventListener('click', () => moveTo(state, state.step - 1));
  $('submit').addEventListener('click', () => submit(state));
  $('tell-staff-ok').addEventListener('click', () => {
    $('tell-staff').hidden = true;
  });
  $('idle-continue').addEventListener('click', () => state.idle.reset());
  for (const type of ['pointerdown', 'keydown', 'touchstart', 'input'])
    document.addEventListener(type, () => state.idle.reset(), { passive: true });
  // Capture phase: ng-zorro stops the events of a tapped answer before they could bubble here (see tablet-answers.js).
  for (const type of ['pointerup', 'click', 'keyup', 'input', 'change'])
    $(CONTAINER).addEventListener(type, () => scheduleCheck(state), { capture: true, passive: true });
  $('lost-ok').addEventListener('click', () => location.replace(`${location.pathname}${location.search}`));
  applyLanguage(state);
  registerServiceWorker();
  const busy = await restore(state);
  if (busy) return;
  if (handoffCode) await claimCode(state, handoffCode);
  else $('code').focus();
}

boot();
