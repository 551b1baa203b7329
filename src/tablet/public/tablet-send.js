// Sending the answers, and the offline queue: one attempt, retries until the network is back, the heartbeat.
import { t } from './i18n.js';
import { clearStore } from './vault.js';
import { ApiError, api } from './tablet-api.js';
import { applyLanguage } from './tablet-form.js';
import { $, PING_MS, RETRY_MS, show } from './tablet-page.js';
import { wipe } from './tablet-wipe.js';

/**
 * One attempt. `sent`: the server has it (the store is cleared); `invalid`: an answer must be fixed first;
 * `lost`: refused for good (401/403/404: the session is gone, even past the server's submit grace period),
 * staff must be told; `queued`: no answer from the server (or one worth retrying), try again later with the
 * same identifier (exactly once).
 */
export async function sendPending(state, body) {
  try {
    await api(state, 'submit', { method: 'POST', body });
    await clearStore();
    return { state: 'sent' };
  } catch (e) {
    if (e instanceof ApiError && (e.status === 422 || e.status === 400))
      return { state: 'invalid', message: e.message };
    if (e instanceof ApiError && [401, 403, 404].includes(e.status))
      return { state: 'lost', status: e.status, message: e.message };
    return { state: 'queued' };
  }
}

export function showThanks(state, queued) {
  show('thanks-screen');
  $('queued-note').hidden = !queued;
  applyLanguage(state);
  document.querySelector('#thanks-screen h1').focus();
}

/**
 * The server refused the submission for good: never thank her as if it were sent. Log it, wipe the tablet
 * (the answers cannot go anywhere), and leave the staff-facing message on screen until staff tap OK (then the
 * page reloads to the code screen).
 */
export async function showLost(state, result) {
  console.error(
    `tablet: the answers could not be sent (HTTP ${result.status}: ${result.message}); they were deleted from this tablet and must be entered again`,
  );
  await wipe(state, { reload: false, lost: true });
}

/** Retry every few seconds and when the browser says it is online; `onDone(result)` once it is not queued. Returns the retry. */
export function waitForNetwork(state, body, onDone) {
  $('waiting').hidden = false;
  $('waiting').textContent = t('waiting');
  let busy = false;
  const retry = async () => {
    if (busy) return;
    busy = true;
    try {
      const result = await sendPending(state, body);
      if (result.state === 'queued') return;
      window.removeEventListener('online', retry);
      clearInterval(state.timers.retry);
      state.timers.retry = null;
      await onDone(result);
    } finally {
      busy = false;
    }
  };
  state.timers.retry = setInterval(retry, RETRY_MS);
  window.addEventListener('online', retry);
  return retry;
}

// Staff's Tablets view shows a tablet as offline when it has not been heard from for a while: a patient who
// reads slowly (no other request) still says "here" every 20 s.
export function startPing(state) {
  clearInterval(state.timers.ping);
  state.timers.ping = setInterval(() => {
    if (state.session && state.questionnaire && !state.sending)
      api(state, 'ping', { method: 'POST' }).catch(() => undefined);
  }, PING_MS);
}
