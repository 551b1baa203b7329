// The worklist: patients with active flags, filtered and paged on the FHIR server. It refreshes itself
// (every 30 s while visible, and at once on a live tablet alert) without moving the keyboard focus, so an
// emergency raised on a tablet, here or on another replica of the app, shows up at the top.
import { onEmergency } from './alerts.js';
import { api } from './api.js';
import { formatDate, h, render } from './dom.js';
import { tabletButton } from './tablet-view.js';

const FLAG_LABELS = {
  'emergency-assessment': 'Emergency assessment',
  'imaging-follow-up': 'Imaging follow-up',
  'bone-density-scan': 'Bone density scan',
  'red-flag-screen-incomplete': 'Red-flag screen incomplete',
};
const REFRESH_MS = 30_000;
const TIER_COLOURS = { stat: 'emergency', asap: 'urgent', urgent: 'soon', routine: 'routine' };

let current = null; // { flag, sort, page } of the worklist on screen
let refreshTimer;

function query(flag, sort, page) {
  return new window.URLSearchParams({ ...(flag ? { flag } : {}), sort, page: String(page) });
}

function rowsTable(data) {
  if (!data.rows.length) return h('p', {}, 'No flags match.');
  return h(
    'table',
    { class: 'worklist' },
    h('caption', { class: 'visually-hidden' }, 'Flags, one per row'),
    h(
      'thead',
      {},
      h(
        'tr',
        {},
        h('th', { scope: 'col' }, 'Patient'),
        h('th', { scope: 'col' }, 'Priority'),
        h('th', { scope: 'col' }, 'Rule'),
        h('th', { scope: 'col' }, 'Flag'),
        h('th', { scope: 'col' }, 'Raised'),
        h('th', { scope: 'col' }, 'Status'),
        h('th', { scope: 'col' }, h('span', { class: 'visually-hidden' }, 'Actions')),
      ),
    ),
    h(
      'tbody',
      {},
      data.rows.map((r) =>
        h(
          'tr',
          {
            dataset: {
              flag: r.flagId,
              tier: r.tier,
              tierCode: r.tierCode,
              ...(r.ruleId ? { rule: r.ruleId } : {}),
              ...(r.patient ? { patient: r.patient.id } : {}),
            },
          },
          h(
            'th',
            { scope: 'row' },
            r.patient
              ? h('a', { href: `#/results/${encodeURIComponent(r.patient.id)}` }, r.patient.name)
              : 'Unknown patient',
            r.patient?.birthDate ? h('span', { class: 'hint' }, ` born ${r.patient.birthDate}`) : null,
          ),
          // The tier in words (Emergency, Urgent, Soon, Routine); the colour only repeats it.
          h('td', {}, h('span', { class: `tier tier-${TIER_COLOURS[r.tierCode] ?? 'info'}` }, r.tierWords)),
          h('td', { class: 'rule' }, r.ruleId ? [h('strong', {}, r.ruleId), ' ', r.ruleTitle ?? ''] : 'Unknown rule'),
          h('td', {}, r.flag),
          h('td', {}, formatDate(r.since, true)),
          h('td', {}, r.status),
          h('td', {}, r.patient ? tabletButton(r.patient.id, r.patient.name, { compact: true }) : null),
        ),
      ),
    ),
  );
}

function pager(data, flag, sort, page) {
  const pages = Math.max(1, Math.ceil(data.total / data.pageSize));
  return h(
    'nav',
    { class: 'pager', 'aria-label': 'Worklist pages' },
    page > 1 ? h('a', { href: `#/worklist?${query(flag, sort, page - 1)}`, rel: 'prev' }, 'Previous page') : null,
    page < pages ? h('a', { href: `#/worklist?${query(flag, sort, page + 1)}`, rel: 'next' }, 'Next page') : null,
  );
}

function countLine(data, flag) {
  const pages = Math.max(1, Math.ceil(data.total / data.pageSize));
  return `${data.total} flag${data.total === 1 ? '' : 's'}${flag ? ` (${FLAG_LABELS[flag]})` : ''}; page ${data.page} of ${pages}.`;
}

/** Reload the rows of the worklist on screen in place (focus and filters untouched). False when none is shown. */
export async function refreshWorklist() {
  const results = document.getElementById('wl-results');
  if (!results || !current) return false;
  const { flag, sort, page } = current;
  const data = await api('GET', `/worklist?${query(flag, sort, page)}`);
  if (document.getElementById('wl-results') !== results) return false; // the user moved on meanwhile
  const count = document.getElementById('wl-count');
  // Only rewrite the count (a polite status region) when it changed: no announcement every 30 s.
  if (count.textContent !== countLine(data, flag)) count.textContent = countLine(data, flag);
  // Keep a keyboard user where they were: the same control of the same flag's row, if it is still listed.
  const focused = results.contains(document.activeElement) ? document.activeElement : null;
  const row = focused?.closest('tr')?.dataset.flag;
  const tag = focused?.tagName.toLowerCase();
  results.replaceChildren(rowsTable(data), pager(data, flag, sort, page));
  if (focused) {
    const again = row && tag ? results.querySelector(`tr[data-flag="${window.CSS.escape(row)}"] ${tag}`) : null;
    (again ?? document.getElementById('main')).focus();
  }
  document.body.dataset.worklistRefreshed = new Date().toISOString();
  return true;
}

// A tablet alert is sent live before its Flag is in the EHR (written right after): refresh now, and a few
// more times until a high-priority row for that patient is on screen.
onEmergency(async (alert) => {
  for (let attempt = 0; attempt < 6; attempt++) {
    if (!(await refreshWorklist().catch(() => false))) return;
    if (document.querySelector(`#wl-results tr[data-tier="PH"][data-patient="${window.CSS.escape(alert.patient.id)}"]`))
      return;
    await new Promise((resolve) => window.setTimeout(resolve, 1500));
  }
});

export async function showWorklist(params) {
  const flag = params.get('flag') ?? '';
  const sort = params.get('sort') === 'date' ? 'date' : 'tier';
  const page = Math.max(1, Number(params.get('page') ?? '1') || 1);
  const data = await api('GET', `/worklist?${query(flag, sort, page)}`);
  current = { flag, sort, page };
  const flagSelect = h(
    'select',
    { id: 'wl-flag', name: 'flag' },
    h('option', { value: '' }, 'All flags'),
    Object.entries(FLAG_LABELS).map(([v, l]) => h('option', { value: v, selected: v === flag }, l)),
  );
  const sortSelect = h(
    'select',
    { id: 'wl-sort', name: 'sort' },
    h('option', { value: 'tier', selected: sort === 'tier' }, 'Most serious first, then newest'),
    h('option', { value: 'date', selected: sort === 'date' }, 'Newest first'),
  );
  const form = h(
    'form',
    { class: 'filters', role: 'search', 'aria-label': 'Filter the worklist' },
    h('div', { class: 'field' }, h('label', { for: 'wl-flag' }, 'Flag'), flagSelect),
    h('div', { class: 'field' }, h('label', { for: 'wl-sort' }, 'Sort by'), sortSelect),
    h('button', { type: 'submit' }, 'Show'),
  );
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    location.hash = `#/worklist?${query(flagSelect.value, sortSelect.value, 1)}`;
  });
  render(
    h('h1', {}, 'Worklist: patients with flags'),
    form,
    h('p', { id: 'wl-count', role: 'status' }, countLine(data, flag)),
    h('div', { id: 'wl-results' }, rowsTable(data), pager(data, flag, sort, page)),
  );
  window.clearInterval(refreshTimer);
  refreshTimer = window.setInterval(() => {
    if (!document.getElementById('wl-results')) return window.clearInterval(refreshTimer);
    if (document.visibilityState === 'visible') refreshWorklist().catch(() => undefined);
  }, REFRESH_MS);
}
