// What is wrong with a part of the form, on screen: the list above the buttons and the answers marked invalid.
import { t } from './i18n.js';
import { $ } from './tablet-page.js';

export const itemElement = (elementId) => document.getElementById(`item-${elementId}`);
/** The answer control to focus (its first input; not the help button LHC-Forms puts before it). */
export const firstControl = (elementId) =>
  itemElement(elementId)?.querySelector('input:not([type="hidden"]), textarea, select') ??
  itemElement(elementId)?.querySelector('button');

/** `aria-invalid` on the answers of the items at fault (cleared everywhere else). */
export function markProblems(problems) {
  const ids = new Set(problems.map((p) => p.elementId));
  for (const el of document.querySelectorAll('#lforms-form .tablet-problem')) el.classList.remove('tablet-problem');
  for (const el of document.querySelectorAll('#lforms-form [aria-invalid="true"]')) el.removeAttribute('aria-invalid');
  for (const id of ids) {
    itemElement(id)?.classList.add('tablet-problem');
    for (const control of itemElement(id)?.querySelectorAll('input, textarea, select') ?? [])
      control.setAttribute('aria-invalid', 'true');
  }
}

function problemItem(p) {
  const li = document.createElement('li');
  if (p.elementId) {
    const b = document.createElement('button');
    b.type = 'button';
    b.className = 'problem';
    b.textContent = p.text;
    b.addEventListener('click', () => firstControl(p.elementId)?.focus());
    li.append(b);
  } else li.textContent = p.text;
  return li;
}

/** The list above the buttons (announced: role=alert), each problem a button to its question; focus to the first. */
export function showProblems(problems, { focus = true } = {}) {
  const box = $('form-errors');
  box.replaceChildren();
  const h = document.createElement('h2');
  h.textContent = t('problems');
  const ul = document.createElement('ul');
  for (const p of problems) ul.append(problemItem(p));
  box.append(h, ul);
  box.hidden = false;
  markProblems(problems);
  if (!focus) return;
  const first = problems.find((p) => p.elementId && firstControl(p.elementId));
  if (first) {
    firstControl(first.elementId).focus({ preventScroll: true });
    itemElement(first.elementId).scrollIntoView({ block: 'center' });
  } else box.focus();
}

export function showErrors(messages) {
  showProblems(messages.map((text) => ({ text })));
}
