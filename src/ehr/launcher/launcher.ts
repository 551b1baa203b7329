/**
 * The sandbox EHR's launcher page (mounted at `/ehr`): pick a clinician and a patient, then launch an
 * app the way an EHR does (EHR launch: a server-side launch context and `?iss=…&launch=…`), in a new
 * tab or embedded in an EHR frame (iframe under the EHR's own patient banner), or open an app's
 * standalone launch. This is where a newcomer lands after `npm start`.
 *
 * Works without JavaScript (a plain form POST answered by a 303 to the app); launcher.js only adds
 * a live summary of the choice and remembers the last one. No inline scripts or styles (CSP-friendly).
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import express, { type Request, type Response, type Router } from 'express';
import { DEFAULT_MAX_JSON_DEPTH, jsonBody } from '../../platform/http/json-body.js';
import { z } from 'zod';
import { FhirError, outcomeFromUnknown } from '../../outcomes/index.js';
import { consoleErrors, errorHandler } from '../../platform/http/errors.js';
import type { SmartAuth } from '../auth/smart-auth.js';
import { escapeHtml } from '../auth/pages.js';
import { pageCsp } from '../auth/smart-metadata.js';

export interface LauncherOptions {
  auth: Pick<SmartAuth, 'createLaunch' | 'clients' | 'fhirBaseUrl' | 'directory'>;
}

const publicDir = path.join(path.dirname(fileURLToPath(import.meta.url)), 'public');

const launchForm = z
  .object({
    app: z.string({ error: 'Choose an app.' }).min(1, 'Choose an app.'),
    patient: z.string({ error: 'Choose a patient.' }).min(1, 'Choose a patient.'),
    practitioner: z.string({ error: 'Choose a clinician.' }).min(1, 'Choose a clinician.'),
    encounter: z
      .string()
      .trim()
      .max(64)
      .regex(/^[A-Za-z0-9\-.]*$/, 'An encounter id has letters, digits, "-" and "." only.')
      .optional(),
    /** Default true. The HTML form's checkbox is absent when unticked: the form handler turns that into false. */
    need_patient_banner: z.union([z.boolean(), z.enum(['true', 'false', 'on'])]).optional(),
    /** `tab` (default): the browser goes to the app. `embedded`: an EHR page frames the app (no app banner needed). */
    display: z.enum(['tab', 'embedded']).optional(),
  })
  .loose();

/** Cookie holding the launcher form's CSRF token (double submit: the form carries the same value). */
export const LAUNCHER_CSRF_COOKIE = 'ehr_launcher_csrf';
const CSRF_TOKEN = /^[A-Za-z0-9_-]{43}$/;

function cookieValue(req: Request, name: string): string | undefined {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

const sameToken = (a: string, b: string) => a.length === b.length && timingSafeEqual(Buffer.from(a), Buffer.from(b));

/**
 * Who may create a launch. A launch signs the browser into an app as a chosen clinician for a chosen patient,
 * so another site must not be able to make a visitor's browser do it (login CSRF):
 * - a browser request from another origin is refused: `Sec-Fetch-Site` other than same-origin/none, or an
 *   `Origin` other than the EHR's own (its public URL, not the Host header);
 * - the HTML form must also carry the CSRF token of the launcher page (double submit with a SameSite=Strict
 *   cookie), which another site can neither read nor set.
 * Scripts (no Origin, no Sec-Fetch-Site: not a browser) may use the JSON variant, as tests and tools do.
 */
function crossSiteReason(req: Request, ownOrigin: string): string | undefined {
  // Fetch metadata is set by the browser and cannot be forged by a page; when present it decides (a page
  // under `Referrer-Policy: no-referrer` posts its own forms with `Origin: null`). Otherwise the Origin does.
  const site = req.get('sec-fetch-site');
  if (site !== undefined) return site === 'same-origin' || site === 'none' ? undefined : `a ${site} request`;
  const origin = req.get('origin');
  if (origin !== undefined && origin !== ownOrigin) return `a request from ${origin.slice(0, 100)}`;
  return undefined;
}

/** What the launcher's handlers share: the EHR's auth server, its own origin, and whether cookies are Secure. */
interface Launcher {
  auth: LauncherOptions['auth'];
  ownOrigin: string;
  secureCookie: boolean;
}

type Launched = Awaited<ReturnType<typeof createLaunch>>;
type Directory = LauncherOptions['auth']['directory'];
type OptionHtml = (value: string, label: string, field?: string) => string;

export function createLauncherRouter(options: LauncherOptions): Router {
  const { auth } = options;
  const ownOrigin = new URL(auth.fhirBaseUrl).origin;
  const launcher: Launcher = { auth, ownOrigin, secureCookie: ownOrigin.startsWith('https:') };
  const router = express.Router();
  router.use('/launcher-assets', express.static(publicDir, { maxAge: '1h', index: false }));
  router.get('/', (req, res) => showLauncher(launcher, req, res));
  /** Form POST (no JS needed): creates the launch and sends the browser to the app. */
  router.post('/launch', express.urlencoded({ extended: false, limit: '10kb' }), (req, res) =>
    launchFromForm(launcher, req, res),
  );
  /** The same as JSON, for scripts and tests: `{ launch, url, expiresAt }`. */
  router.post(
    '/launches',
    jsonBody({
      limitBytes: 10 * 1024,
      maxDepth: DEFAULT_MAX_JSON_DEPTH,
      mediaTypes: ['application/json'],
      otherTypes: 'skip',
    }),
    (req, res) => launchFromJson(launcher, req, res),
  );
  // The JSON launch API (and a malformed body) answers OperationOutcomes; the form re-renders itself above.
  router.use(errorHandler({ log: consoleErrors('ehr launcher'), noStore: true }));
  return router;
}

/** The page's CSRF token: the browser's current one, or a new one set as a cookie. */
function csrfToken(launcher: Launcher, req: Request, res: Response): string {
  const current = cookieValue(req, LAUNCHER_CSRF_COOKIE);
  if (current && CSRF_TOKEN.test(current)) return current;
  const token = randomBytes(32).toString('base64url');
  res.cookie(LAUNCHER_CSRF_COOKIE, token, {
    httpOnly: true,
    sameSite: 'strict',
    secure: launcher.secureCookie,
    path: new URL(req.baseUrl || '/', 'http://x').pathname || '/',
  });
  return token;
}

const launchable = (launcher: Launcher) => launcher.auth.clients.filter((c) => c.launchUrl);

/** The launch form's answer redirects to the app, which may live on another origin. */
function launcherCsp(launcher: Launcher): string {
  const appOrigins = () => launchable(launcher).map((c) => URL.parse(c.launchUrl ?? '')?.origin);
  return pageCsp(appOrigins(), appOrigins());
}

/** GET /: the launcher page. */
async function showLauncher(launcher: Launcher, req: Request, res: Response): Promise<void> {
  const csrf = csrfToken(launcher, req, res);
  res
    .type('html')
    .set('Cache-Control', 'no-store')
    .set('Content-Security-Policy', launcherCsp(launcher))
    .send(await page(launcher, req.baseUrl, csrf));
}

/** The launcher page again with a 403 and why the launch was refused. */
async function refuseFormLaunch(launcher: Launcher, req: Request, res: Response, message: string): Promise<void> {
  res.status(403).type('html').set('Cache-Control', 'no-store').set('Content-Security-Policy', launcherCsp(launcher));
  res.send(await page(launcher, req.baseUrl, csrfToken(launcher, req, res), message));
}

/** POST /launch: the form's launch (same-site and with the page's CSRF token only), a 303 to the app or its EHR frame. */
async function launchFromForm(launcher: Launcher, req: Request, res: Response): Promise<void> {
  const crossSite = crossSiteReason(req, launcher.ownOrigin);
  if (crossSite) {
    await refuseFormLaunch(launcher, req, res, `Launches start from this page only (refused ${crossSite}).`);
    return;
  }
  const cookie = cookieValue(req, LAUNCHER_CSRF_COOKIE);
  const sent = (req.body as Record<string, unknown> | undefined)?.csrf;
  if (!cookie || typeof sent !== 'string' || !sameToken(cookie, sent)) {
    await refuseFormLaunch(
      launcher,
      req,
      res,
      'This launch form has expired or did not come from this page: choose again and press Launch.',
    );
    return;
  }
  try {
    const form = { ...(req.body as Record<string, unknown>) };
    const embedded = form.display === 'embedded';
    // An unticked checkbox is absent from the form; embedded apps sit under the EHR's own banner.
    form.need_patient_banner = embedded ? 'false' : (form.need_patient_banner ?? 'false');
    const launched = await createLaunch(launcher, form);
    if (!embedded) {
      res.redirect(303, launched.url);
      return;
    }
    res
      .type('html')
      .set('Cache-Control', 'no-store')
      .set('Content-Security-Policy', launcherCsp(launcher))
      .send(await embeddedPage(launcher.auth.directory, req.baseUrl, launched));
  } catch (error) {
    const { status, outcome } = outcomeFromUnknown(error);
    const message = outcome.issue.map((i) => i.diagnostics).join('; ');
    res
      .status(status)
      .type('html')
      .set('Content-Security-Policy', launcherCsp(launcher))
      .send(
        await page(launcher, req.baseUrl, csrfToken(launcher, req, res), message, req.body as Record<string, unknown>),
      );
  }
}

/** POST /launches: the JSON launch, for scripts and tests (never from another site). */
async function launchFromJson(launcher: Launcher, req: Request, res: Response): Promise<void> {
  const crossSite = crossSiteReason(req, launcher.ownOrigin);
  if (crossSite)
    throw new FhirError(403, {
      code: 'forbidden',
      diagnostics: `Launches are created by the EHR itself or by local tools, not by other sites (refused ${crossSite}).`,
    });
  if (!req.is('application/json'))
    throw new FhirError(415, {
      code: 'not-supported',
      diagnostics: 'Send the launch as Content-Type: application/json.',
    });
  const { url, launch, expiresAt } = await createLaunch(launcher, req.body);
  res.status(201).json({ launch, url, expiresAt: expiresAt.toISOString() });
}

async function createLaunch(launcher: Launcher, body: unknown) {
  const { auth } = launcher;
  const parsed = launchForm.safeParse(body ?? {});
  if (!parsed.success) {
    throw new FhirError(
      400,
      parsed.error.issues.map((i) => ({
        code: 'required' as const,
        diagnostics: i.message,
        expression: i.path.join('.'),
      })),
    );
  }
  const form = parsed.data;
  const app = launchable(launcher).find((c) => c.clientId === form.app);
  if (!app?.launchUrl)
    throw new FhirError(400, { code: 'invalid', diagnostics: `Unknown app ${form.app}`, expression: 'app' });
  const { launch, expiresAt } = await auth.createLaunch({
    patient: form.patient,
    practitioner: form.practitioner,
    ...(form.encounter ? { encounter: form.encounter } : {}),
    needPatientBanner:
      form.need_patient_banner === undefined || [true, 'true', 'on'].includes(form.need_patient_banner),
    clientId: app.clientId,
  });
  const url = new URL(app.launchUrl);
  url.searchParams.set('iss', auth.fhirBaseUrl);
  url.searchParams.set('launch', launch);
  return { launch, url: url.href, expiresAt, app, patient: form.patient, practitioner: form.practitioner };
}

/** An EHR screen: its own patient banner, and the app in a frame below it. */
async function embeddedPage(directory: Directory, base: string, launched: Launched): Promise<string> {
  const [patients, practitioners] = await Promise.all([directory.listPatients(), directory.listPractitioners()]);
  const patient = patients.find((p) => p.id === launched.patient);
  const practitioner = practitioners.find((p) => p.id === launched.practitioner);
  return `<!doctype html>
<html lang="en" class="embedded">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(patient?.name ?? launched.patient)} — ${escapeHtml(launched.app.name)} — Sandbox EHR</title>
<link rel="stylesheet" href="${escapeHtml(base)}/launcher-assets/launcher.css">
</head>
<body class="embedded">
<header class="ehr-bar"><a class="ehr-name" href="${escapeHtml(base)}/">Sandbox EHR</a> <span class="ehr-tag">test data only</span>
  <span class="ehr-user">Signed in: ${escapeHtml(practitioner?.name ?? launched.practitioner)}</span></header>
<main>
<section class="patient-banner" aria-label="Patient">
  <h1>${escapeHtml(patient?.name ?? launched.patient)}</h1>
  ${patient?.birthDate ? `<span>Born ${escapeHtml(patient.birthDate)}</span>` : ''}
  <span>Patient id ${escapeHtml(launched.patient)}</span>
</section>
<iframe class="app-frame" title="${escapeHtml(launched.app.name)}" src="${escapeHtml(launched.url)}"></iframe>
</main>
</body>
</html>`;
}

/** `base`: where the router is mounted (e.g. `/ehr`), so links work with or without a trailing slash. */
async function page(
  launcher: Launcher,
  base: string,
  csrf: string,
  error?: string,
  previous: Record<string, unknown> = {},
): Promise<string> {
  const { auth } = launcher;
  const [patients, practitioners] = await Promise.all([
    auth.directory.listPatients(),
    auth.directory.listPractitioners(),
  ]);
  const option: OptionHtml = (value, label, field) =>
    `<option value="${escapeHtml(value)}"${field && previous[field] === value ? ' selected' : ''}>${escapeHtml(label)}</option>`;
  const apps = launchable(launcher);
  const standalone = auth.clients.filter((c) => c.standaloneUrl);
  const wellKnown = `${auth.fhirBaseUrl}/.well-known/smart-configuration`;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sandbox EHR — launch PeriPlan</title>
<link rel="stylesheet" href="${escapeHtml(base)}/launcher-assets/launcher.css">
<script src="${escapeHtml(base)}/launcher-assets/launcher.js" defer></script>
</head>
<body>
<header class="ehr-bar"><span class="ehr-name">Sandbox EHR</span> <span class="ehr-tag">test data only — no passwords</span></header>
<main>
<h1>Launch an app</h1>
<p>This sandbox stands in for a clinic's EHR. Choose who is signed in and which patient is open, then launch the app the way an EHR does (SMART EHR launch).</p>
${error ? `<div class="error-summary" role="alert" tabindex="-1" autofocus><h2>The app could not be launched</h2><p>${escapeHtml(error)}</p></div>` : ''}
${launchFormHtml(base, csrf, practitioners, patients, apps, option)}
${standaloneSection(standalone)}
<h2>For developers</h2>
<dl class="endpoints">
  <dt>FHIR base (<code>iss</code>)</dt><dd><code>${escapeHtml(auth.fhirBaseUrl)}</code></dd>
  <dt>SMART configuration</dt><dd><a href="${escapeHtml(wellKnown)}"><code>${escapeHtml(wellKnown)}</code></a></dd>
</dl>
</main>
</body>
</html>`;
}

/** The launch form: clinician, patient, app, the launch options, and how to open the app. */
function launchFormHtml(
  base: string,
  csrf: string,
  practitioners: Awaited<ReturnType<Directory['listPractitioners']>>,
  patients: Awaited<ReturnType<Directory['listPatients']>>,
  apps: LauncherOptions['auth']['clients'],
  option: OptionHtml,
): string {
  return `<form method="post" action="${escapeHtml(base)}/launch" target="_blank" id="launch-form">
  <input type="hidden" name="csrf" value="${escapeHtml(csrf)}">
  <div class="field">
    <label for="practitioner">Signed-in clinician</label>
    <select id="practitioner" name="practitioner" required>
      <option value="">Choose a clinician</option>
      ${practitioners.map((p) => option(p.id, p.role ? `${p.name} — ${p.role}` : p.name, 'practitioner')).join('\n      ')}
    </select>
  </div>
  <div class="field">
    <label for="patient">Open patient</label>
    <select id="patient" name="patient" required>
      <option value="">Choose a patient</option>
      ${patients.map((p) => option(p.id, p.birthDate ? `${p.name} (born ${p.birthDate})` : p.name, 'patient')).join('\n      ')}
    </select>
  </div>
  <div class="field">
    <label for="app">App</label>
    <select id="app" name="app" required>
      ${apps.map((a) => option(a.clientId, a.name, 'app')).join('\n      ')}
    </select>
  </div>
  <details class="field">
    <summary>More launch options</summary>
    <div class="field">
      <label for="encounter">Encounter id <span class="hint">(optional)</span></label>
      <input id="encounter" name="encounter" type="text" inputmode="text" autocomplete="off" pattern="[A-Za-z0-9\\-.]*" aria-describedby="encounter-hint">
      <p class="hint" id="encounter-hint">Passed to the app as the <code>encounter</code> launch context.</p>
    </div>
    <div class="field checkbox">
      <input id="need_patient_banner" name="need_patient_banner" type="checkbox" value="true" checked>
      <label for="need_patient_banner">The app shows its own patient banner (<code>need_patient_banner</code>)</label>
    </div>
  </details>
  <fieldset class="field">
    <legend>Open the app</legend>
    <div class="checkbox"><input type="radio" id="display-tab" name="display" value="tab" checked><label for="display-tab">In a new tab</label></div>
    <div class="checkbox"><input type="radio" id="display-embedded" name="display" value="embedded"><label for="display-embedded">Embedded in the EHR, under its patient banner (new tab)</label></div>
  </fieldset>
  <p id="launch-summary" class="summary" aria-live="polite"></p>
  <button type="submit" class="primary">Launch app <span class="hint-inline">(opens in a new tab)</span></button>
</form>`;
}

/** Links to the apps' standalone launches (nothing when no app has one). */
function standaloneSection(standalone: LauncherOptions['auth']['clients']): string {
  return standalone.length
    ? `<h2>Standalone launch</h2>
<p>Start an app on its own; it asks the EHR to sign you in${standalone.length ? ' and, when it needs one, to pick a patient' : ''}.</p>
<ul class="links">
  ${standalone.map((c) => `<li><a href="${escapeHtml(c.standaloneUrl)}" target="_blank" rel="noopener">${escapeHtml(c.name)} <span class="hint-inline">(opens in a new tab)</span></a></li>`).join('\n  ')}
</ul>`
    : '';
}
