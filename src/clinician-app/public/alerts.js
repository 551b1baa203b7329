// Live emergency alerts from the waiting-room tablet. EventSource cannot send the X-Session header, so the
// stream (text/event-stream) is read with fetch() and a stream reader; it reconnects with backoff. Each
// alert stays in a banner at the top of every view (kept in sessionStorage, so a reload shows it again)
// until staff dismiss it.
import { base, currentSession } from './api.js';
import { formatDate, h } from './dom.js';

const KEY = 'periplan.alerts';
const listeners = new Set();

function stored() {
  try {
    return JSON.parse(sessionStorage.getItem(KEY) ?? '[]');
  } catch {
    return [];
  }
}

function store(alerts) {
  sessionStorage.setItem(KEY, JSON.stringify(alerts.slice(-20)));
}

function alertItem(a) {
  const dismiss = h(
    'button',
    { type: 'button', class: 'small', 'aria-label': `Dismiss the alert for ${a.patient.name}` },
    'Dismiss',
  );
  dismiss.addEventListener('click', () => {
    store(stored().filter((x) => x.id !== a.id));
    showBanner();
    document.getElementById('main')?.focus();
  });
  return h(
    'li',
    { class: 'live-alert', dataset: { alert: a.id, patient: a.patient.id } },
    h('strong', {}, 'Emergency: '),
    h('a', { href: `#/results/${encodeURIComponent(a.patient.id)}` }, a.patient.name),
    ` on tablet ${a.device} gave answers that need emergency assessment: see the patient now (raised ${formatDate(a.at, true)}).`,
    ' ',
    dismiss,
  );
}

/** Show every alert not yet dismissed; the region is a role="alert" live region, so a new one is announced. */
function showBanner() {
  const region = document.getElementById('live-alerts');
  const alerts = stored();
  region.replaceChildren(alerts.length ? h('ul', {}, alerts.map(alertItem)) : '');
  region.hidden = alerts.length === 0;
}

/** Called with each new alert (the worklist refreshes itself on one). */
export function onEmergency(listener) {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

function received(alert) {
  const alerts = stored();
  if (!alerts.some((a) => a.id === alert.id)) store([...alerts, alert]);
  showBanner();
  for (const l of listeners) l(alert);
}

/** Split a text/event-stream into events; returns the unfinished rest. Comments (": ping") are skipped. */
function parseEvents(buffer, onEvent) {
  const blocks = buffer.split(/\r?\n\r?\n/);
  const rest = blocks.pop();
  for (const block of blocks) {
    let type = 'message';
    const data = [];
    for (const line of block.split(/\r?\n/)) {
      if (line.startsWith('event:')) type = line.slice(6).trim();
      else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
    }
    if (data.length) onEvent(type, data.join('\n'));
  }
  return rest;
}

/** Open the alert stream and keep it open: reconnect after 1, 2, 4 … 30 s; stop for good on 401/403/501. */
export function startAlertStream() {
  showBanner();
  let delay = 1000;
  async function connect() {
    const s = currentSession();
    if (!s) return;
    try {
      const res = await fetch(`${base}/api/alerts`, {
        headers: { accept: 'text/event-stream', 'x-session': s.session },
        credentials: 'omit',
        cache: 'no-store',
      });
      if ([401, 403, 404, 501].includes(res.status)) return;
      if (!res.ok || !res.body) throw new Error(`alert stream: ${res.status}`);
      document.body.dataset.alertStream = 'open';
      delay = 1000;
      const reader = res.body.pipeThrough(new window.TextDecoderStream()).getReader();
      let buffer = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer = parseEvents(buffer + value, (type, data) => {
          if (type !== 'emergency') return;
          try {
            received(JSON.parse(data));
          } catch {
            // A malformed event is dropped; the Flag on the worklist still shows the alert.
          }
        });
      }
    } catch {
      // Network down or server restarting: try again below.
    }
    document.body.dataset.alertStream = 'closed';
    window.setTimeout(connect, delay);
    delay = Math.min(delay * 2, 30_000);
  }
  connect();
}
