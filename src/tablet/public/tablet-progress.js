// What survives a reload: `draft` is the session, the answers so far, the step and language; `pending` (see
// tablet-submit.js) a submission not yet acknowledged; `activity` the time of the last touch.
import { language } from './i18n.js';
import { savePlain, saveEncrypted } from './vault.js';
import { currentResponse } from './tablet-form.js';

export async function saveProgress(state) {
  const { session, questionnaire, sending, responseId, step, alertShown, ageConfirmed } = state;
  if (!session || !questionnaire || sending) return;
  try {
    await saveEncrypted('draft', {
      session,
      responseId,
      response: currentResponse(),
      step,
      lang: language(),
      alertShown,
      ageConfirmed,
    });
  } catch {
    /* storage unavailable: the answers stay in memory */
  }
}

export function noteActivity(state) {
  const now = Date.now();
  if (!state.session || state.sending || now - state.lastActivityWrite < 1000) return;
  state.lastActivityWrite = now;
  savePlain('activity', now).catch(() => undefined);
}
