// The idle timeout: after IDLE_MS without a touch the tablet wipes itself; the last WARN_MS show a countdown
// she can stop. Made once per page (`state.idle`); what happens at the end is the caller's (the wipe).
import { noteActivity } from './tablet-progress.js';
import { $, IDLE_MS, WARN_MS } from './tablet-page.js';

export function createIdleTimeout(state, onTimeout) {
  let idleTimer = null;
  let countdownTimer = null;

  function stop() {
    clearTimeout(idleTimer);
    clearInterval(countdownTimer);
    $('idle').hidden = true;
  }

  function startCountdown(ms) {
    let left = Math.max(1, Math.ceil(ms / 1000));
    $('idle-seconds').textContent = String(left);
    $('idle').hidden = false;
    $('idle-continue').focus();
    countdownTimer = setInterval(() => {
      left -= 1;
      $('idle-seconds').textContent = String(Math.max(0, left));
      if (left <= 0 && !state.sending) onTimeout();
    }, 1000);
  }

  /** The countdown starts WARN_MS before the timeout, counted from the last activity (`elapsed` ms ago). */
  function arm(elapsed) {
    stop();
    idleTimer = setTimeout(
      () => startCountdown(Math.min(WARN_MS, IDLE_MS - elapsed)),
      Math.max(0, IDLE_MS - WARN_MS - elapsed),
    );
  }

  /** She touched the tablet: the timeout starts again (and the time is noted for a reload). */
  function reset() {
    if (!state.session || state.sending) return;
    noteActivity(state);
    arm(0);
  }

  return { stop, arm, reset };
}
