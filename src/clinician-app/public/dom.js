// Tiny DOM helpers. Text is always set with textContent (never innerHTML): nothing from a server or a
// Questionnaire is ever parsed as HTML by this app.
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs ?? {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof window.Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

export function formatDate(iso, withTime = false) {
  if (!iso) return '';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return withTime
    ? d.toLocaleString('en-GB', { day: 'numeric', month: 'short', year: 'numeric', hour: '2-digit', minute: '2-digit' })
    : d.toLocaleDateString('en-GB', { day: 'numeric', month: 'short', year: 'numeric' });
}

const statusEl = () => document.getElementById('status');

/** Announce a message politely (status region) and show it. kind: info | success | warning | error. */
export function announce(message, kind = 'info') {
  const el = statusEl();
  el.className = `status no-print status-${kind}`;
  el.textContent = message;
}

export function clearStatus() {
  const el = statusEl();
  el.className = 'status no-print';
  el.textContent = '';
}

/** Replace the main region's content and move focus to its heading (for screen readers and keyboards). */
export function render(...children) {
  const main = document.getElementById('main');
  main.replaceChildren(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
  const heading = main.querySelector('h1');
  if (heading) {
    heading.setAttribute('tabindex', '-1');
    heading.focus();
  }
}
