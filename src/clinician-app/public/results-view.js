// Results for the clinician: every flag and recommendation with its basis (clinical spec section 6), the
// proposals to accept or dismiss, the patient's self-management plan (printable) and the history chart.
import { api } from './api.js';
import { context } from './context.js';
import { historyChart } from './chart.js';
import { tabletButton } from './tablet-view.js';
import { announce, clearStatus, formatDate, h, render } from './dom.js';

/** Keep the keyboard user where they were: on the act just recorded for `target`, not back at the top. */
function focusRecordedAct(target) {
  const line = document.querySelector(`li[data-target="${target}"] .decision`);
  if (line) {
    line.setAttribute('tabindex', '-1');
    line.focus();
  }
}

function tierBadge(rule) {
  // Never colour alone: the tier is written out, the colour only repeats it.
  return h('span', { class: `tier tier-${rule.tierColour}` }, rule.tierWords);
}

/** "Undo" for the clinician's own act, while the server still allows it (the undo is a new recorded act). */
function undoButton(provenance, what, onDecided) {
  return h(
    'button',
    {
      type: 'button',
      class: 'link-button undo',
      onclick: async () => {
        try {
          await api('POST', '/undo', { provenance });
          announce(`${what}: undone.`, 'success');
          await onDecided();
        } catch (err) {
          announce(err.message, 'error');
        }
      },
    },
    `Undo (${what})`,
  );
}

function decisionLine(d, p, onDecided) {
  const verb = d.decision === 'accepted' ? 'Accepted' : 'Dismissed';
  return h(
    'p',
    { class: `decision decision-${d.decision}` },
    `${verb}${d.who ? ` by ${d.who}` : ''}${d.when ? ` on ${formatDate(d.when, true)}` : ''}${d.reason ? ` — reason: ${d.reason}` : ''}${d.note ? ` (${d.note})` : ''}`,
    d.undoable && d.provenance
      ? [' ', undoButton(d.provenance, `${verb.toLowerCase()} ${p.display}`, onDecided)]
      : null,
  );
}

/** A Flag stays open until the clinician records what happened to the patient; then who, when and what. */
function flagItem(p, li, onDecided) {
  if (p.outcome) {
    const o = p.outcome;
    li.append(
      h(
        'p',
        { class: 'decision decision-outcome' },
        `${o.display}${o.who ? ` — recorded by ${o.who}` : ''}${o.when ? ` on ${formatDate(o.when, true)}` : ''}${o.note ? ` (${o.note})` : ''}`,
        o.undoable && o.provenance ? [' ', undoButton(o.provenance, o.display, onDecided)] : null,
      ),
    );
    return li;
  }
  if (!p.outcomeNeeded || !p.target) {
    li.append(h('span', { class: 'hint' }, ` — ${p.status ?? 'not yet in the record'}`));
    return li;
  }
  const uid = p.target.replace('/', '-');
  const outcome = h(
    'select',
    { id: `outcome-${uid}`, name: 'outcome' },
    h('option', { value: '' }, 'Choose what happened'),
    (context().flagOutcomes ?? []).map((o) => h('option', { value: o.code }, o.display)),
  );
  const note = h('input', {
    id: `outcome-note-${uid}`,
    name: 'note',
    type: 'text',
    autocomplete: 'off',
    maxlength: '1000',
  });
  const message = h('p', { class: 'field-error', id: `outcome-error-${uid}`, hidden: true });
  async function record() {
    message.hidden = true;
    const chosen = (context().flagOutcomes ?? []).find((o) => o.code === outcome.value);
    const problem = !chosen
      ? 'Choose what happened to the patient.'
      : chosen.noteRequired && !note.value.trim()
        ? `Say why in the note ("${chosen.display}").`
        : '';
    if (problem) {
      message.textContent = problem;
      message.hidden = false;
      const field = !chosen ? outcome : note;
      field.setAttribute('aria-invalid', 'true');
      field.setAttribute('aria-describedby', message.id);
      field.focus();
      return;
    }
    try {
      await api('POST', '/flags/outcome', {
        target: p.target,
        outcome: outcome.value,
        ...(note.value ? { note: note.value } : {}),
      });
      announce(`${p.display}: ${chosen.display.toLowerCase()} recorded; the flag is closed.`, 'success');
      await onDecided();
      focusRecordedAct(p.target);
    } catch (err) {
      message.textContent = err.message;
      message.hidden = false;
    }
  }
  li.append(
    h('span', { class: 'hint' }, ' — open until you record what happened to the patient'),
    h(
      'div',
      { class: 'decide', role: 'group', 'aria-label': `What happened: ${p.display}` },
      h('div', { class: 'field' }, h('label', { for: outcome.id }, 'What happened to the patient'), outcome),
      h('div', { class: 'field' }, h('label', { for: note.id }, 'Note'), note),
      h('button', { type: 'button', class: 'primary', onclick: record }, `Record outcome and close ${p.display}`),
      message,
    ),
  );
  return li;
}

function proposalItem(p, onDecided) {
  const li = h(
    'li',
    { class: 'proposal', dataset: p.target ? { target: p.target } : {} },
    h('span', { class: 'proposal-name' }, p.display),
  );
  if (p.kind === 'Flag') return flagItem(p, li, onDecided);
  if (p.decision) {
    li.append(decisionLine(p.decision, p, onDecided));
    return li;
  }
  if (!p.decidable) {
    li.append(
      h(
        'span',
        { class: 'hint' },
        p.kind === 'Flag'
          ? ` — ${p.status === 'active' ? 'active flag' : (p.status ?? 'not yet in the record')}`
          : ' — not yet in the record',
      ),
    );
    return li;
  }
  const ctx = context();
  const uid = p.target.replace('/', '-');
  const reason = h(
    'select',
    { id: `reason-${uid}`, name: 'reason' },
    h('option', { value: '' }, 'Choose a reason'),
    ctx.decisionReasons.map((r) => h('option', { value: r.code }, r.display ?? r.code)),
  );
  const note = h('input', { id: `note-${uid}`, name: 'note', type: 'text', autocomplete: 'off', maxlength: '1000' });
  const message = h('p', { class: 'field-error', id: `error-${uid}`, hidden: true });
  async function decide(decision) {
    message.hidden = true;
    if (decision === 'dismiss' && !reason.value) {
      message.textContent = 'Choose a reason for dismissing this proposal.';
      message.hidden = false;
      reason.setAttribute('aria-invalid', 'true');
      reason.setAttribute('aria-describedby', message.id);
      reason.focus();
      return;
    }
    try {
      await api('POST', '/decisions', {
        target: p.target,
        decision,
        ...(reason.value ? { reason: reason.value } : {}),
        ...(note.value ? { note: note.value } : {}),
      });
      announce(`${p.display}: ${decision === 'accept' ? 'accepted' : 'dismissed'}.`, 'success');
      await onDecided();
      focusRecordedAct(p.target);
    } catch (err) {
      message.textContent = err.message;
      message.hidden = false;
    }
  }
  li.append(
    h(
      'div',
      { class: 'decide', role: 'group', 'aria-label': `Decide: ${p.display}` },
      h('button', { type: 'button', class: 'primary', onclick: () => decide('accept') }, `Accept ${p.display}`),
      h('div', { class: 'field' }, h('label', { for: reason.id }, 'Reason to dismiss'), reason),
      h('div', { class: 'field' }, h('label', { for: note.id }, 'Note (optional)'), note),
      h('button', { type: 'button', onclick: () => decide('dismiss') }, `Dismiss ${p.display}`),
      message,
    ),
  );
  return li;
}

function ruleCard(rule, view, onDecided) {
  // The answers a criterion already shows are not repeated under "Other answers it read".
  const named = new Set((rule.criteria ?? []).flatMap((c) => c.linkIds));
  const others = rule.basis.filter((b) => !named.has(b.linkId));
  return h(
    'article',
    {
      class: `rule rule-${rule.tierColour}`,
      'aria-labelledby': `rule-${rule.actionId}`,
      dataset: { rule: rule.ruleId },
    },
    h('h3', { id: `rule-${rule.actionId}` }, tierBadge(rule), ' ', rule.title),
    h('p', { class: 'rule-description' }, rule.description),
    rule.criteria?.length ? criteriaSection(rule.criteria) : null,
    others.length ? basisSection(others, rule.criteria?.length) : null,
    rule.unknowns.length ? unknownsSection(rule.unknowns) : null,
    rule.proposals.length ? proposalsSection(rule.proposals, onDecided) : null,
    rule.citations.length ? citationsSection(rule.citations) : null,
    h(
      'p',
      { class: 'audit' },
      `Rule ${rule.ruleId}${rule.ruleDisplay ? ` (${rule.ruleDisplay})` : ''} · ${rule.sourcePlanDefinition ?? view.planDefinition ?? ''}`,
    ),
  );
}

/** One part of a rule card: a heading over a list, one item per entry. */
function titledList(heading, items, { section = {}, list = {} } = {}) {
  return h('div', section, h('h4', {}, heading), h('ul', list, items));
}

/** The conditions that made the rule fire, each with the answers (link ids) it read. */
function criteriaSection(criteria) {
  return titledList(
    'Why: what made this fire',
    criteria.map((c) =>
      h(
        'li',
        { dataset: { items: c.linkIds.join(' ') } },
        h('strong', {}, c.text),
        c.source ? h('span', { class: 'hint' }, ` (from ${c.source})`) : null,
      ),
    ),
    { list: { class: 'criteria' } },
  );
}

/** The answers the rule read; the whole "why" when the rule has no criteria to show. */
function basisSection(answers, hasCriteria) {
  return titledList(
    hasCriteria ? 'Other answers it read' : "Why: the patient's answers",
    answers.map((b) =>
      h(
        'li',
        {},
        h('span', { class: 'question' }, b.question),
        b.separator ?? ': ',
        h('strong', {}, b.answer),
        b.source || b.authored
          ? h(
              'span',
              { class: 'hint' },
              ` (${[b.source ? `from ${b.source}` : '', b.authored ? `answered ${formatDate(b.authored)}` : ''].filter(Boolean).join(', ')})`,
            )
          : null,
      ),
    ),
    { list: { class: 'basis' } },
  );
}

function unknownsSection(unknowns) {
  return titledList(
    'Unknown answers that could change this',
    unknowns.map((u) =>
      h('li', {}, u.question || u.linkId, u.reason ? h('span', { class: 'hint' }, ` (${u.reason})`) : null),
    ),
    { section: { class: 'unknowns' } },
  );
}

function proposalsSection(proposals, onDecided) {
  return titledList(
    'Proposed',
    proposals.map((p) => proposalItem(p, onDecided)),
    { list: { class: 'proposals' } },
  );
}

function citationsSection(citations) {
  return titledList(
    'Evidence',
    citations.map((c) =>
      h(
        'li',
        {},
        c.url
          ? h(
              'a',
              { href: c.url, target: '_blank', rel: 'noopener noreferrer' },
              c.display ?? c.label ?? c.url,
              h('span', { class: 'visually-hidden' }, ' (opens in a new tab)'),
            )
          : (c.display ?? c.label),
        c.citation ? h('span', { class: 'hint' }, ` — ${c.citation}`) : null,
      ),
    ),
    { list: { class: 'citations' } },
  );
}

function selfManagementPlan(view, patientName) {
  if (!view.selfManagement.length) return null;
  return h(
    'section',
    { id: 'self-management-plan', class: 'plan', 'aria-labelledby': 'plan-heading' },
    h('h2', { id: 'plan-heading' }, 'Your back pain self-management plan'),
    patientName
      ? h(
          'p',
          { class: 'plan-for' },
          `For ${patientName}${view.responseAuthored ? `, ${formatDate(view.responseAuthored)}` : ''}`,
        )
      : null,
    view.selfManagement.map((s) =>
      h(
        'div',
        { class: 'plan-part' },
        h('h3', {}, s.title),
        h(
          'ul',
          {},
          s.lines.map((l) => h('li', {}, l)),
        ),
      ),
    ),
    h('button', { type: 'button', class: 'no-print', onclick: () => window.print() }, 'Print the plan for the patient'),
  );
}

export function renderResults(view, { pending = false, heading = 'Results', patientName, patientId, extra = [] } = {}) {
  const onDecided = () => showResults(patientId, new window.URLSearchParams(`response=${view.response?.id ?? ''}`));
  render(
    h('h1', {}, heading),
    h('p', { class: 'intended-use', role: 'note' }, h('strong', {}, 'Intended use: '), view.intendedUse),
    computedFrom(view),
    pending ? notYetInRecordNotice() : null,
    view.response && context().patient?.id === patientId ? amendOrNewIntake(view.response) : null,
    flagsAndRecommendations(view, onDecided),
    view.otherOpenFlags?.length ? otherOpenFlags(view.otherOpenFlags, onDecided) : null,
    selfManagementPlan(view, patientName),
    ...extra,
  );
}

/** Which intake (and version) the results were computed from, and with which PlanDefinition. */
function computedFrom(view) {
  return view.response
    ? h(
        'p',
        { class: 'hint' },
        `Intake of ${formatDate(view.response.authored, true)} (${view.response.status}, version ${view.response.version ?? '1'}) · ${view.planDefinition ?? ''}`,
      )
    : h('p', { class: 'hint' }, `Computed with ${view.planDefinition ?? ''}`);
}

function notYetInRecordNotice() {
  return h(
    'div',
    { class: 'alert alert-warning' },
    h(
      'p',
      {},
      'These results are saved here and not yet in the record; proposals can be accepted or dismissed once they have been sent.',
    ),
  );
}

/** Offered only for the launch patient: the form always writes for the patient in context. */
function amendOrNewIntake(response) {
  return h(
    'p',
    { class: 'actions no-print' },
    h('a', { class: 'button', href: `#/form?amend=${encodeURIComponent(response.id)}` }, 'Amend this response'),
    ' ',
    h('a', { class: 'button primary', id: 'new-intake', href: '#/form' }, 'New intake'),
  );
}

/** The rules that ask something of the clinician first (their count in the heading), then the self-care ones. */
function flagsAndRecommendations(view, onDecided) {
  const actionable = view.rules.filter((r) => r.tier !== 'SELF-CARE');
  return h(
    'section',
    { 'aria-labelledby': 'flags-heading', class: 'no-print-when-plan' },
    h('h2', { id: 'flags-heading' }, `Flags and recommendations (${actionable.length})`),
    actionable.length
      ? actionable.map((r) => ruleCard(r, view, onDecided))
      : h('p', {}, 'No flags or recommendations.'),
    view.rules.filter((r) => r.tier === 'SELF-CARE').map((r) => ruleCard(r, view, onDecided)),
  );
}

/**
 * Open flags none of these rules raised (an earlier version's flag the amendment no longer fires, a tablet
 * alert): still open, closed here by recording what happened, like any other.
 */
function otherOpenFlags(flags, onDecided) {
  return h(
    'section',
    { 'aria-labelledby': 'other-flags-heading', class: 'no-print-when-plan other-flags' },
    h('h2', { id: 'other-flags-heading' }, `Other open flags (${flags.length})`),
    h(
      'p',
      { class: 'hint' },
      'Raised by an earlier version of this intake or on the waiting-room tablet; open until you record what happened to the patient.',
    ),
    h(
      'ul',
      { class: 'proposals' },
      flags.map((p) => proposalItem({ ...p, display: `${p.ruleId ? `${p.ruleId} ` : ''}${p.display}` }, onDecided)),
    ),
  );
}

/** Every intake of the patient, newest first; each opens its own results. */
function intakeHistory(patientId, intakes, shownId) {
  if (!intakes?.length) return null;
  return h(
    'section',
    { class: 'intake-history no-print', 'aria-labelledby': 'intakes-heading' },
    h('h2', { id: 'intakes-heading' }, `Intake history (${intakes.length})`),
    h(
      'ul',
      {},
      intakes.map((i) => {
        const label = `Intake of ${formatDate(i.authored, true)} (${i.status}${i.version && i.version !== '1' ? `, version ${i.version}` : ''})`;
        return h(
          'li',
          { dataset: { response: i.id } },
          i.id === shownId
            ? h('span', { 'aria-current': 'true' }, label, ' — shown')
            : h(
                'a',
                { href: `#/results/${encodeURIComponent(patientId)}?response=${encodeURIComponent(i.id)}` },
                label,
              ),
        );
      }),
    ),
  );
}

/** The patient's own "Start tablet intake" (staff only), e.g. before her next visit. */
function tabletActions(patientId, name) {
  const button = tabletButton(patientId, name ?? document.querySelector('#banner .banner-name')?.textContent);
  return button ? h('p', { class: 'actions no-print' }, button) : null;
}

/** The results just submitted (by their key), an earlier intake (by its response id), or else the latest. */
function resultsQuery(params) {
  return params.get('key')
    ? `?key=${encodeURIComponent(params.get('key'))}`
    : params.get('response')
      ? `?response=${encodeURIComponent(params.get('response'))}`
      : '';
}

/** The name the banner shows; the launch patient's own name when the EHR shows the banner instead. */
function shownPatientName(patientId) {
  return (
    document.querySelector('#banner .banner-name')?.textContent ??
    (context().patient?.id === patientId ? context().patient.name : undefined)
  );
}

export async function showResults(patientId, params) {
  if (!params.get('submitted')) clearStatus();
  if (!patientId) {
    render(h('h1', {}, 'Results'), h('p', {}, 'No patient is open. Choose one from the worklist.'));
    return;
  }
  let view;
  try {
    view = await api('GET', `/patients/${encodeURIComponent(patientId)}/results${resultsQuery(params)}`);
  } catch (err) {
    if (err.status === 404) {
      render(h('h1', {}, 'Results'), h('p', {}, err.message), tabletActions(patientId));
      return;
    }
    throw err;
  }
  const history = await api('GET', `/patients/${encodeURIComponent(patientId)}/history`).catch(() => ({ points: [] }));
  const banner = shownPatientName(patientId);
  const intakes = await api('GET', `/patients/${encodeURIComponent(patientId)}/intakes`).catch(() => ({ intakes: [] }));
  renderResults(view, {
    heading: `Results${banner ? ` for ${banner}` : ''}`,
    patientName: banner,
    patientId,
    extra: [intakeHistory(patientId, intakes.intakes, view.response?.id), historyChart(history.points)],
  });
  document.querySelector('#main h1')?.after(tabletActions(patientId, banner) ?? '');
  if (params.get('submitted')) announce('Saved to the record. The results are below.', 'success');
}
