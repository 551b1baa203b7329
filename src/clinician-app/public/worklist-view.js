// The worklist: patients with active flags, filtered and paged on the FHIR server.
import { api } from './api.js';
import { formatDate, h, render } from './dom.js';

const FLAG_LABELS = { 'emergency-assessment': 'Emergency assessment', 'imaging-follow-up': 'Imaging follow-up', 'bone-density-scan': 'Bone density scan' };

export async function showWorklist(params) {
  const flag = params.get('flag') ?? '';
  const sort = params.get('sort') === 'date' ? 'date' : 'tier';
  const page = Math.max(1, Number(params.get('page') ?? '1') || 1);
  const data = await api('GET', `/worklist?${new window.URLSearchParams({ ...(flag ? { flag } : {}), sort, page: String(page) })}`);
  const pages = Math.max(1, Math.ceil(data.total / data.pageSize));
  const go = (p) => `#/worklist?${new window.URLSearchParams({ ...(flag ? { flag } : {}), sort, page: String(p) })}`;
  const flagSelect = h('select', { id: 'wl-flag', name: 'flag' }, h('option', { value: '' }, 'All flags'), Object.entries(FLAG_LABELS).map(([v, l]) => h('option', { value: v, selected: v === flag }, l)));
  const sortSelect = h('select', { id: 'wl-sort', name: 'sort' }, h('option', { value: 'tier', selected: sort === 'tier' }, 'Tier, then newest'), h('option', { value: 'date', selected: sort === 'date' }, 'Newest first'));
  const form = h(
    'form',
    { class: 'filters', role: 'search', 'aria-label': 'Filter the worklist' },
    h('div', { class: 'field' }, h('label', { for: 'wl-flag' }, 'Flag'), flagSelect),
    h('div', { class: 'field' }, h('label', { for: 'wl-sort' }, 'Sort by'), sortSelect),
    h('button', { type: 'submit' }, 'Show'),
  );
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    location.hash = `#/worklist?${new window.URLSearchParams({ ...(flagSelect.value ? { flag: flagSelect.value } : {}), sort: sortSelect.value, page: '1' })}`;
  });
  render(
    h('h1', {}, 'Worklist: patients with flags'),
    form,
    h('p', { id: 'wl-count', role: 'status' }, `${data.total} flag${data.total === 1 ? '' : 's'}${flag ? ` (${FLAG_LABELS[flag]})` : ''}; page ${data.page} of ${pages}.`),
    data.rows.length
      ? h(
          'table',
          { class: 'worklist' },
          h('caption', { class: 'visually-hidden' }, 'Flags, one per row'),
          h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Patient'), h('th', { scope: 'col' }, 'Flag'), h('th', { scope: 'col' }, 'Priority'), h('th', { scope: 'col' }, 'Raised'), h('th', { scope: 'col' }, 'Status'))),
          h(
            'tbody',
            {},
            data.rows.map((r) =>
              h(
                'tr',
                {},
                h('th', { scope: 'row' }, r.patient ? h('a', { href: `#/results/${encodeURIComponent(r.patient.id)}` }, r.patient.name) : 'Unknown patient', r.patient?.birthDate ? h('span', { class: 'hint' }, ` born ${r.patient.birthDate}`) : null),
                h('td', {}, r.flag),
                h('td', {}, h('span', { class: `tier tier-${{ PH: 'urgent', PM: 'soon', PL: 'routine' }[r.tier] ?? 'info'}` }, r.tierWords)),
                h('td', {}, formatDate(r.since, true)),
                h('td', {}, r.status),
              ),
            ),
          ),
        )
      : h('p', {}, 'No flags match.'),
    h(
      'nav',
      { class: 'pager', 'aria-label': 'Worklist pages' },
      page > 1 ? h('a', { href: go(page - 1), rel: 'prev' }, 'Previous page') : null,
      page < pages ? h('a', { href: go(page + 1), rel: 'next' }, 'Next page') : null,
    ),
  );
}
