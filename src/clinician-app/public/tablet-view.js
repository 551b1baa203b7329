// The staff side of the waiting-room tablet: start a tablet intake for a patient (one-time code, QR code,
// expiry countdown) and the "Tablets" view (codes waiting, tablets in use, submissions not yet in the EHR).
import { api } from './api.js';
import { context } from './context.js';
import { announce, clearStatus, formatDate, h, render } from './dom.js';

/** A "Start tablet intake" button for this patient, or nothing when this sign-in cannot hand out tablets. */
export function tabletButton(patientId, patientName, { compact = false } = {}) {
  if (!context()?.tablet || !patientId) return null;
  const button = h(
    'button',
    {
      type: 'button',
      class: compact ? 'small' : '',
      dataset: { tabletPatient: patientId },
      'aria-label': patientName ? `Start tablet intake for ${patientName}` : 'Start tablet intake',
    },
    'Start tablet intake',
  );
  button.addEventListener('click', () => startTabletIntake(patientId, button));
  return button;
}

function spaced(code) {
  // Read aloud or typed in two halves: "ABCD EFGH".
  const half = Math.ceil(code.length / 2);
  return code.length >= 6 ? `${code.slice(0, half)} ${code.slice(half)}` : code;
}

const WATCH_MS = 3000;

/**
 * The "code still valid" banner is true only while the code waits for a tablet: it is taken down as soon as
 * a tablet has used the code (or staff cancelled it, or it expired), unless another message replaced it.
 */
function watchCodeBanner(handoff, message) {
  const stillShown = () => document.getElementById('status')?.textContent === message;
  const takeDown = () => {
    window.clearInterval(timer);
    window.clearTimeout(expiry);
    if (stillShown()) clearStatus();
  };
  const timer = window.setInterval(async () => {
    if (!stillShown()) return takeDown();
    try {
      const { sessions } = await api('GET', '/tablet-sessions');
      if (!sessions.some((s) => s.handoff === handoff.handoffId && s.state === 'waiting-for-code')) takeDown();
    } catch {
      /* the next look tries again; the expiry takes it down in any case */
    }
  }, WATCH_MS);
  const expiry = window.setTimeout(takeDown, Math.max(0, Date.parse(handoff.expiresAt) - Date.now()));
}

function remaining(ms) {
  const s = Math.max(0, Math.round(ms / 1000));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}

/** The code dialog. The expiry line and the buttons come from the caller, which updates and wires them up. */
function handoffDialog(handoff, expiry, close, cancel) {
  // The SVG is shown as an image (never parsed into the page): an <img> cannot run anything it contains.
  const qr = h('img', {
    class: 'handoff-qr',
    src: `data:image/svg+xml;base64,${window.btoa(handoff.qrSvg)}`,
    alt: 'QR code that opens the tablet intake with this code',
    width: '240',
    height: '240',
  });
  return h(
    'dialog',
    { class: 'handoff', 'aria-labelledby': 'handoff-title', 'aria-describedby': 'handoff-help' },
    h('h2', { id: 'handoff-title' }, `Tablet intake for ${handoff.patient.name}`),
    h(
      'p',
      { id: 'handoff-help' },
      "Type this code on the waiting-room tablet, or scan the QR code with it. The tablet then shows only this patient's form.",
    ),
    // Shown in two groups of three; screen readers get it spelled out one character at a time.
    h(
      'p',
      { class: 'handoff-code' },
      h('span', { 'aria-hidden': 'true' }, spaced(handoff.code)),
      h('span', { class: 'visually-hidden' }, `Code: ${handoff.code.split('').join(' ')}`),
    ),
    qr,
    expiry,
    h('div', { class: 'actions' }, close, cancel),
  );
}

/** Create a code for the patient and show it (large), with its QR code and expiry, in a modal dialog. */
export async function startTabletIntake(patientId, opener) {
  let handoff;
  try {
    handoff = await api('POST', '/tablet-handoff', { patientId });
  } catch (err) {
    announce(`The tablet intake could not be started: ${err.message}`, 'error');
    return;
  }
  const expires = Date.parse(handoff.expiresAt);
  const countdown = h('span', { class: 'countdown' }, remaining(expires - Date.now()));
  const expiry = h(
    'p',
    { id: 'handoff-expiry', class: 'handoff-expiry' },
    'The code works once and expires in ',
    countdown,
    ` (at ${formatDate(handoff.expiresAt, true)}).`,
  );
  const close = h('button', { type: 'button', class: 'primary' }, 'Close');
  const cancel = h('button', { type: 'button' }, 'Cancel this code');
  const dialog = handoffDialog(handoff, expiry, close, cancel);
  const tick = window.setInterval(() => {
    const left = expires - Date.now();
    countdown.textContent = remaining(left);
    if (left <= 0) {
      window.clearInterval(tick);
      expiry.textContent = 'This code has expired. Start a new tablet intake if the patient still needs one.';
    }
  }, 1000);
  const finish = () => {
    window.clearInterval(tick);
    if (dialog.open) dialog.close();
    dialog.remove();
    // The worklist may have refreshed meanwhile: then focus the same patient's button in the new rows.
    const target = opener?.isConnected
      ? opener
      : document.querySelector(`[data-tablet-patient="${window.CSS.escape(patientId)}"]`);
    (target ?? document.getElementById('main'))?.focus();
  };
  dialog.addEventListener('close', finish);
  close.addEventListener('click', () => {
    const message = `Tablet code for ${handoff.patient.name} still valid until ${formatDate(handoff.expiresAt, true)}.`;
    announce(message, 'info');
    if (handoff.handoffId) watchCodeBanner(handoff, message);
    finish();
  });
  cancel.addEventListener('click', async () => {
    try {
      await api('POST', '/tablet-handoff/cancel', { code: handoff.code });
      announce(`The tablet code for ${handoff.patient.name} was cancelled.`, 'info');
    } catch (err) {
      announce(`The code could not be cancelled: ${err.message}`, 'error');
    }
    finish();
  });
  document.body.append(dialog);
  dialog.showModal();
  close.focus();
}

const REFRESH_MS = 10_000;
let refreshTimer;

function sessionsTable(sessions) {
  if (!sessions.length) return h('p', {}, 'No tablet is in use and no code is waiting.');
  return h(
    'table',
    { class: 'tablets' },
    h('caption', {}, 'Tablet sessions'),
    h(
      'thead',
      {},
      h(
        'tr',
        {},
        ['Patient', 'Tablet', 'Started by', 'Since', 'State', 'Last seen', 'Emergency'].map((c) =>
          h('th', { scope: 'col' }, c),
        ),
      ),
    ),
    h(
      'tbody',
      {},
      sessions.map((s) =>
        h(
          'tr',
          { class: s.emergency ? 'row-emergency' : '', dataset: { state: s.state } },
          h(
            'th',
            { scope: 'row' },
            s.patient.id
              ? h('a', { href: `#/results/${encodeURIComponent(s.patient.id)}` }, s.patient.name)
              : s.patient.name,
          ),
          h('td', {}, s.device ?? '—'),
          h('td', {}, s.startedBy),
          h('td', {}, formatDate(s.since, true)),
          h(
            'td',
            { class: s.offline ? 'state-offline' : '' },
            s.stateWords,
            s.state === 'waiting-for-code' && s.expiresAt
              ? h('span', { class: 'hint' }, ` (until ${formatDate(s.expiresAt, true)})`)
              : null,
            s.state === 'ended-unsent' && s.submitUntil
              ? h('span', { class: 'hint' }, ` (accepted until ${formatDate(s.submitUntil, true)})`)
              : null,
          ),
          h('td', {}, s.lastSeenAt ? formatDate(s.lastSeenAt, true) : '—'),
          h('td', {}, s.emergency ? h('strong', { class: 'tier tier-emergency' }, 'Yes') : 'No'),
        ),
      ),
    ),
  );
}

function outboxTable(outbox) {
  if (!outbox.length) return h('p', {}, 'Every submission has reached the record.');
  return h(
    'table',
    { class: 'outbox' },
    h('caption', {}, 'Submissions waiting to reach the record'),
    h(
      'thead',
      {},
      h(
        'tr',
        {},
        ['Patient', 'Status', 'Attempts', 'Saved', 'Next attempt', 'Last error'].map((c) =>
          h('th', { scope: 'col' }, c),
        ),
      ),
    ),
    h(
      'tbody',
      {},
      outbox.map((e) =>
        h(
          'tr',
          {},
          h('th', { scope: 'row' }, e.patient.name),
          h('td', {}, e.status === 'failed' ? 'failed: needs attention' : 'waiting, retrying'),
          h('td', {}, String(e.attempts)),
          h('td', {}, formatDate(e.createdAt, true)),
          h('td', {}, e.nextAttemptAt ? formatDate(e.nextAttemptAt, true) : '—'),
          h('td', {}, e.lastError ?? ''),
        ),
      ),
    ),
  );
}

async function refreshTablets() {
  const region = document.getElementById('tablets-now');
  if (!region) return;
  const data = await api('GET', '/tablet-sessions');
  const waiting = document.getElementById('outbox-now');
  // Replace the tables only: the heading keeps focus and nothing is announced every 10 s.
  region.replaceChildren(sessionsTable(data.sessions));
  waiting?.replaceChildren(outboxTable(data.outbox));
  document.getElementById('tablets-updated').textContent =
    `Updated ${formatDate(new Date().toISOString(), true)}; refreshed every 10 seconds.`;
}

/** The staff view of tablets, refreshed every 10 s while it is on screen and the page is visible. */
export async function showTablets() {
  const ctx = context();
  if (!ctx.tablet) {
    render(h('h1', {}, 'Tablets'), h('p', {}, 'The waiting-room tablet is for clinical staff signed in with the EHR.'));
    return;
  }
  render(
    h('h1', {}, 'Tablets in the waiting room'),
    ctx.patient ? h('p', { class: 'actions' }, tabletButton(ctx.patient.id, ctx.patient.name)) : null,
    h('p', { id: 'tablets-updated', class: 'hint' }),
    h(
      'section',
      { 'aria-labelledby': 'tablets-heading' },
      h('h2', { id: 'tablets-heading' }, 'Codes and tablets'),
      h('div', { id: 'tablets-now' }),
    ),
    h(
      'section',
      { 'aria-labelledby': 'outbox-heading' },
      h('h2', { id: 'outbox-heading' }, 'Not yet in the record'),
      h('div', { id: 'outbox-now' }),
    ),
  );
  await refreshTablets();
  window.clearInterval(refreshTimer);
  refreshTimer = window.setInterval(() => {
    if (!document.getElementById('tablets-now')) return window.clearInterval(refreshTimer);
    if (document.visibilityState === 'visible') refreshTablets().catch(() => undefined);
  }, REFRESH_MS);
}
