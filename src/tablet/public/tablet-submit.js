// Submit: every part checked again, the submission queued in the vault before the first attempt, then sent
// (or kept until the network is back); the tablet wipes itself once the server has it.
import { language } from './i18n.js';
import { saveEncrypted } from './vault.js';
import { currentResponse, withIdentifier } from './tablet-form.js';
import { $ } from './tablet-page.js';
import { partIsReady } from './tablet-parts.js';
import { showErrors } from './tablet-problems.js';
import { saveProgress } from './tablet-progress.js';
import { sendPending, showLost, showThanks, waitForNetwork } from './tablet-send.js';
import { wipe } from './tablet-wipe.js';

/** Every part again (an earlier answer may have been changed with Back): the first part with a problem is shown. */
async function everyPartReady(state) {
  state.advancing = true;
  try {
    for (let i = 0; i < state.groups.length; i++) if (!(await partIsReady(state, i))) return false;
    return true;
  } finally {
    state.advancing = false;
  }
}

/** Refused as it stands: back to the form, with the reason. */
async function backToForm(state, message) {
  state.sending = false;
  $('submit').disabled = false;
  await saveEncrypted('pending', null).catch(() => undefined);
  await saveProgress(state);
  state.idle.reset();
  showErrors([message]);
}

export async function submit(state) {
  if (state.sending || state.advancing) return;
  if (!(await everyPartReady(state))) return;
  state.sending = true;
  state.idle.stop();
  $('submit').disabled = true;
  const body = { response: withIdentifier(state, { ...currentResponse(), status: 'completed' }) };
  // Queued before the first attempt: if the page goes away during it, the next page load sends it.
  await saveEncrypted('pending', { session: state.session, body, lang: language(), step: state.step }).catch(
    () => undefined,
  );
  await saveEncrypted('draft', null).catch(() => undefined);
  const result = await sendPending(state, body);
  if (result.state === 'invalid') {
    await backToForm(state, result.message);
    return;
  }
  if (result.state === 'lost') {
    await showLost(state, result);
    return;
  }
  showThanks(state, result.state === 'queued');
  if (result.state === 'sent') setTimeout(() => wipe(state), 4000);
  else waitForNetwork(state, body, (later) => (later.state === 'lost' ? showLost(state, later) : wipe(state)));
}
