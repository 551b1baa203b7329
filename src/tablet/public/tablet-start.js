// How a patient's form starts: a code staff gave (typed, or from the QR code), or what an earlier page left in
// the vault (a queued submission is sent first; an unfinished form is resumed if recent).
import { t, setLanguage } from './i18n.js';
import { clearStore, readEncrypted, readPlain, saveEncrypted } from './vault.js';
import { ApiError, api } from './tablet-api.js';
import { applyLanguage, renderForm } from './tablet-form.js';
import { $, device, handoffCode, IDLE_MS, RETRY_MS, show } from './tablet-page.js';
import { showErrors } from './tablet-problems.js';
import { saveProgress } from './tablet-progress.js';
import { showLost, showThanks, startPing, waitForNetwork } from './tablet-send.js';
import { wipe } from './tablet-wipe.js';

const claimErrorWords = (e) =>
  e instanceof ApiError && e.status === 429
    ? t('tooMany')
    : e instanceof ApiError && e.status === 404
      ? t('badCode')
      : t('noNetwork');

export async function claimCode(state, code) {
  $('code-error').textContent = '';
  try {
    const r = await api(state, 'claim', { method: 'POST', body: { code, device } });
    state.session = {
      handle: r.session,
      patientName: r.patientName,
      ...(r.expectedAge ? { expectedAge: r.expectedAge } : {}),
    };
    state.responseId = crypto.randomUUID();
    state.ageConfirmed = null;
    state.step = 0;
    state.alertShown = false;
    state.savedAnswers = null;
    state.checkedAnswers = null;
    $('code').value = '';
    show('form-screen');
    applyLanguage(state);
    await renderForm(state, null);
    startPing(state);
    state.lastActivityWrite = 0;
    state.idle.reset();
    await saveProgress(state);
    $('main').focus({ preventScroll: true });
  } catch (e) {
    $('code-error').textContent = claimErrorWords(e);
  }
}

export function claimTyped(state, event) {
  event.preventDefault();
  const code = $('code').value.trim();
  if (!code) {
    $('code-error').textContent = t('noCode');
    return;
  }
  claimCode(state, code);
}

/** Continue an unfinished form after a reload; its last activity was `idleFor` ms ago (within the timeout). */
async function resumeDraft(state, draft, idleFor) {
  state.session = draft.session;
  state.responseId = draft.responseId;
  state.step = draft.step ?? 0;
  state.alertShown = Boolean(draft.alertShown);
  state.ageConfirmed = draft.ageConfirmed ?? null;
  state.savedAnswers = null;
  state.checkedAnswers = null;
  setLanguage(draft.lang);
  show('form-screen');
  applyLanguage(state);
  state.idle.arm(idleFor);
  startPing(state);
  for (;;) {
    try {
      await renderForm(state, draft.response);
      $('status').textContent = '';
      return;
    } catch (e) {
      if (e instanceof ApiError && e.status >= 400 && e.status < 500) {
        // The session ended on the server (e.g. its 60 minutes are over): nothing to continue.
        await wipe(state, { reload: false });
        return;
      }
      $('status').textContent = t('noNetwork');
      await new Promise((r) => setTimeout(r, RETRY_MS));
      if (!state.session) return; // wiped meanwhile (idle)
    }
  }
}

/** What to do once a queued submission is no longer queued: staff told, back to the form, or the next patient. */
async function afterQueued(state, pending, result) {
  if (result.state === 'lost') {
    await showLost(state, result);
    return;
  }
  if (result.state === 'invalid') {
    // Refused as it stands: back to the form to fix it (never silently dropped).
    state.sending = false;
    await resumeDraft(
      state,
      {
        session: state.session,
        responseId: state.responseId,
        response: pending.body.response,
        step: pending.step,
        lang: pending.lang,
      },
      0,
    );
    await saveProgress(state);
    await saveEncrypted('pending', null).catch(() => undefined);
    showErrors([result.message]);
    return;
  }
  await wipe(state, { reload: false });
  if (handoffCode) await claimCode(state, handoffCode);
  else $('code').focus();
}

/** A submission queued by an earlier page: send it first (when online); only then is the tablet wiped. */
function resumeQueued(state, pending) {
  state.session = pending.session;
  state.responseId = pending.body.response.identifier?.value ?? null;
  state.sending = true;
  setLanguage(pending.lang);
  showThanks(state, true);
  const retry = waitForNetwork(state, pending.body, (result) => afterQueued(state, pending, result));
  retry();
}

/** The vault's queued submission or unfinished form, and the last activity; nothing when it cannot be read. */
async function readVault() {
  try {
    const pending = await readEncrypted('pending');
    const draft = pending ? null : await readEncrypted('draft');
    const activity = await readPlain('activity');
    return { pending, draft, activity };
  } catch {
    // Written under a key that is gone or damaged: nothing in it can be read.
    await clearStore().catch(() => undefined);
    return null;
  }
}

/** What an earlier page left: a queued submission, an unfinished form (resumed if recent), or nothing. */
export async function restore(state) {
  const kept = await readVault();
  if (!kept) return false;
  const { pending, draft, activity } = kept;
  if (pending) {
    resumeQueued(state, pending);
    return true;
  }
  if (!draft) {
    await clearStore().catch(() => undefined);
    return false;
  }
  const idleFor = Date.now() - (Number(activity) || 0);
  if (handoffCode || idleFor >= IDLE_MS) {
    // Too old to show again (or staff handed the tablet to someone else): end it like an idle timeout.
    state.session = draft.session;
    await wipe(state, { reload: false });
    return false;
  }
  await resumeDraft(state, draft, idleFor);
  return true;
}
