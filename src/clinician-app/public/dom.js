// Tiny DOM helpers. Text is always set with textContent (never innerHTML): nothing from a server or a
// Questionnaire is ever parsed as HTML by this app.
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs ?? {})) if (!isLeftOut(v)) setAttribute(el, k, v);
  for (const c of children.flat(Infinity)) if (!isLeftOut(c)) appendChild(el, c);
  return el;
}

/** Left out rather than rendered, so that callers can write `condition ? value : null` (or `&&`) inline. */
function isLeftOut(value) {
  return value === undefined || value === null || value === false;
}

/** `class`, `on<event>` handlers and `dataset` have their own DOM APIs; anything else is a plain attribute. */
function setAttribute(el, name, value) {
  if (name === 'class') el.className = value;
  else if (name.startsWith('on') && typeof value === 'function') el.addEventListener(name.slice(2), value);
  else if (name === 'dataset') Object.assign(el.dataset, value);
  else el.setAttribute(name, value === true ? '' : String(value));
}

/** Nodes go in as they are; anything else becomes a text node (never parsed as HTML). */
function appendChild(el, child) {
  el.append(child instanceof window.Node ? child : document.createTextNode(String(child)));
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
