// Boot and routing of the clinician app: redeem the hand-off after a launch, load the context (patient,
// user, style), show the patient banner, then render the view named by the URL hash.
import { startAlertStream } from './alerts.js';
import { api, base, currentSession, dropPreloaded, redeemHandoff } from './api.js';
import { context, setContext } from './context.js';
import { announce, h, render } from './dom.js';
import { confirmLeavingForm, showForm } from './form-view.js';
import { showResults } from './results-view.js';
import { showTablets } from './tablet-view.js';
import { showWorklist } from './worklist-view.js';

const state = { bannerPatient: null };

function applyStyle(style) {
  // smart_style_url: only a few validated values (checked on the server), set as CSS custom properties.
  if (!style) return;
  const map = { color_highlight: '--highlight', color_background: '--ehr-background', font_family_body: '--font-body' };
  for (const [k, prop] of Object.entries(map)) if (style[k]) document.documentElement.style.setProperty(prop, style[k]);
}

export async function showBanner(patientId) {
  const banner = document.getElementById('banner');
  const ctx = context();
  const isContextPatient = ctx.patient && ctx.patient.id === patientId;
  // The EHR shows its own banner for the launch patient when need_patient_banner is false. A patient opened
  // from the worklist is not the EHR's open patient, so the app always names that one.
  if (!patientId || (isContextPatient && !ctx.needPatientBanner)) {
    banner.hidden = true;
    banner.replaceChildren();
    return;
  }
  const p = isContextPatient ? ctx.patient : await api('GET', `/patients/${encodeURIComponent(patientId)}`);
  state.bannerPatient = p;
  const parts = [
    h('span', { class: 'banner-name' }, p.name),
    h('span', {}, h('span', { class: 'banner-label' }, 'Born '), p.birthDate ?? 'unknown'),
    h('span', {}, h('span', { class: 'banner-label' }, 'Sex '), p.gender ?? 'unknown'),
    p.mrn ? h('span', {}, h('span', { class: 'banner-label' }, 'MRN '), p.mrn) : null,
    isContextPatient ? null : h('span', { class: 'banner-note' }, 'Opened from the worklist'),
  ];
  banner.replaceChildren(...parts.filter(Boolean));
  banner.hidden = false;
}

function showStart(message) {
  document.getElementById('nav').hidden = true;
  render(
    h('h1', {}, 'PeriPlan back pain'),
    message ? h('div', { class: 'alert alert-error', role: 'alert' }, h('p', {}, message)) : null,
    h('p', {}, "Open this app from a patient's record in the EHR, or sign in with the EHR and choose a patient there."),
    h('p', {}, h('a', { class: 'button primary', href: `${base}/login` }, 'Sign in with the EHR')),
  );
}

function parseHash() {
  const raw = location.hash.replace(/^#\/?/, '');
  const [path, query = ''] = raw.split('?');
  return { parts: path.split('/').filter(Boolean), params: new window.URLSearchParams(query) };
}

/**
 * Where a launch without a view lands: her draft if this clinician has one (unfinished work first), else her
 * latest results and intake history if she has an intake, else a new intake form.
 */
async function startView() {
  const pid = context().patient?.id;
  if (!pid) return 'worklist';
  const { intakes, draft } = await api('GET', `/patients/${encodeURIComponent(pid)}/intakes`);
  return !draft && intakes.length ? 'results' : 'form';
}

/** The nav link of the shown view is the current page, for screen readers as much as for the styling. */
function markCurrentNav(view) {
  for (const a of document.querySelectorAll('[data-nav]')) {
    if (a.dataset.nav === view) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
}

/** The banner first, then the view. Only the results view can show a patient other than the launch patient. */
async function showView(view, parts, params) {
  if (view === 'worklist') {
    await showBanner(context().patient?.id);
    await showWorklist(params);
  } else if (view === 'tablets') {
    await showBanner(context().patient?.id);
    await showTablets();
  } else if (view === 'results') {
    const pid = parts[1] ?? context().patient?.id;
    await showBanner(pid);
    await showResults(pid, params);
  } else {
    await showBanner(context().patient?.id);
    await showForm(params);
  }
}

let shownHash = null;
async function route() {
  // Leaving the form with unsaved answers asks first; staying puts the address back without re-rendering.
  if (shownHash !== null && location.hash !== shownHash && !confirmLeavingForm()) {
    window.history.pushState(null, '', shownHash);
    return;
  }
  shownHash = location.hash;
  const { parts, params } = parseHash();
  const view = parts[0] ?? (await startView());
  markCurrentNav(view);
  try {
    await showView(view, parts, params);
  } catch (err) {
    render(
      h('h1', {}, 'Something went wrong'),
      h('div', { class: 'alert alert-error', role: 'alert' }, h('p', {}, err.message)),
    );
  }
}

async function boot() {
  const params = new window.URLSearchParams(location.search);
  const code = params.get('handoff');
  if (code) {
    try {
      await redeemHandoff(code);
    } catch (err) {
      showStart(err.message);
      return;
    } finally {
      // The code is single-use; take it out of the address bar and history either way.
      window.history.replaceState(null, '', `${base}/ui${location.hash}`);
    }
  }
  if (!currentSession()) {
    showStart();
    return;
  }
  try {
    setContext(await api('GET', '/context'));
  } catch (err) {
    showStart(err.status === 401 ? 'Your session has ended. Open the app from the EHR again.' : err.message);
    return;
  }
  applyStyle(context().style);
  document.getElementById('nav').hidden = false;
  if (!context().patient) document.querySelector('[data-nav="form"]').parentElement.hidden = true;
  if (context().user) document.getElementById('user').textContent = `Signed in: ${context().user.name}`;
  if (context().tablet) {
    // Clinical staff: the Tablets view, and emergency alerts from the waiting-room tablet, live, on every view.
    document.querySelector('[data-nav="tablets"]').parentElement.hidden = false;
    startAlertStream();
  }
  window.addEventListener('hashchange', route);
  window.addEventListener('periplan:session-ended', (e) => announce(e.detail, 'error'));
  try {
    await route();
  } finally {
    dropPreloaded();
  }
  keepScriptsCompiled();
}

/**
 * Once the first view is up: a service worker that keeps LHC-Forms' scripts compiled, so that the next launch
 * in this browser does not compile them again (src/platform/lforms/public/script-cache-sw.js).
 */
function keepScriptsCompiled() {
  navigator.serviceWorker
    ?.register(`${base}/sw.js`, { scope: `${base}/ui`, updateViaCache: 'none' })
    .catch(() => undefined);
}

boot();
