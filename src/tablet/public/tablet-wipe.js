// The wipe: end the session and remove everything the tablet holds about the patient.
import { setLanguage } from './i18n.js';
import { clearStore } from './vault.js';
import { applyLanguage } from './tablet-form.js';
import { $, BASE, CONTAINER, SHELL_CACHE, show } from './tablet-page.js';

/**
 * End the session and remove everything the tablet holds: IndexedDB (answers, queue, key), Web Storage,
 * Cache Storage, the form. Then reload, which drops everything held in memory (LHC-Forms' own state too);
 * `reload: false` only where no form was rendered in this page (start-up), so memory holds nothing.
 * `lost`: instead, the "could not be sent" screen stays until staff tap OK, which reloads.
 */
export async function wipe(state, { reload = true, lost = false } = {}) {
  state.idle.stop();
  clearInterval(state.timers.retry);
  clearInterval(state.timers.ping);
  const handle = state.session?.handle;
  state.session = null;
  state.questionnaire = null;
  state.ageConfirmed = null;
  $('age-check').hidden = true;
  state.sending = false;
  $(CONTAINER).replaceChildren();
  if (handle)
    await fetch(`${BASE}/api/end`, { method: 'POST', headers: { 'X-Tablet-Session': handle } }).catch(() => undefined);
  await clearStore().catch(() => undefined);
  try {
    sessionStorage.clear();
    localStorage.clear();
  } catch {
    /* ignore */
  }
  try {
    const c = window.caches;
    for (const k of await c.keys()) if (k !== SHELL_CACHE) await c.delete(k);
  } catch {
    /* no Cache Storage */
  }
  if (lost) {
    show('lost-screen');
    applyLanguage(state);
    $('lost-title').focus();
    return;
  }
  if (reload) {
    location.replace(`${location.pathname}${location.search}`);
    return;
  }
  setLanguage('en');
  applyLanguage(state);
  $('waiting').hidden = true;
  show('code-screen');
}
