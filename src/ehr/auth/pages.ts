/**
 * HTML of the sandbox sign-in page and of the authorization server's error page.
 * Plain server-rendered forms: no scripts at all (CSP-friendly), every control labelled, errors announced.
 */
import type { DirectoryPatient, DirectoryPractitioner } from './directory.js';
import { printable } from '../../platform/text.js';

export function escapeHtml(value: unknown): string {
  return printable(value).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function layout(title: string, assetsPath: string, body: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<link rel="stylesheet" href="${escapeHtml(assetsPath)}/auth.css">
</head>
<body>
<main class="card">
${body}
</main>
</body>
</html>`;
}

const SCOPE_WORDS: Record<string, string> = {
  openid: 'Confirm who you are (OpenID Connect)',
  fhirUser: 'Know which clinician you are (your Practitioner record)',
  profile: 'See your name',
  launch: 'Open in the context of the current EHR patient',
  'launch/patient': 'Ask you which patient to work on',
  'launch/encounter': 'Know the current encounter',
  offline_access: 'Stay connected after you sign out (refresh token)',
  online_access: 'Stay connected while you are signed in (refresh token)',
};

const PERMISSION_WORDS: Record<string, string> = { c: 'create', r: 'read', u: 'update', d: 'delete', s: 'search' };

/** A human description of a scope, e.g. `patient/Flag.crs` → "create, read, search Flag of the chosen patient". */
export function describeScope(scope: string): string {
  if (SCOPE_WORDS[scope]) return SCOPE_WORDS[scope];
  const match = /^(patient|user)\/(\*|\w+)\.(\w+|\*)$/.exec(scope);
  if (!match) return scope;
  const [, context, type, perms] = match as unknown as [string, string, string, string];
  const letters = perms === 'read' ? 'rs' : perms === 'write' ? 'cud' : perms === '*' ? 'cruds' : perms;
  const verbs = letters
    .split('')
    .map((l) => PERMISSION_WORDS[l] ?? l)
    .join(', ');
  const what = type === '*' ? 'all resource types' : type;
  return `${verbs} ${what} ${context === 'patient' ? 'of the chosen patient' : 'you can access'}`;
}

export interface SignInPageInput {
  assetsPath: string;
  actionPath: string;
  abortPath: string;
  clientName: string;
  scopes: string[];
  practitioners: DirectoryPractitioner[];
  /** Present when the app needs a patient chosen (standalone launch with launch/patient or patient/ scopes). */
  patients?: DirectoryPatient[];
  selected?: { practitioner?: string; patient?: string };
  errors?: { field: 'practitioner' | 'patient'; message: string }[];
}

export function signInPage(input: SignInPageInput): string {
  const errorFor = (field: string) => input.errors?.find((e) => e.field === field);
  const options = (items: { id: string; label: string }[], selected: string | undefined, placeholder: string) =>
    [`<option value="">${escapeHtml(placeholder)}</option>`]
      .concat(
        items.map(
          (i) =>
            `<option value="${escapeHtml(i.id)}"${i.id === selected ? ' selected' : ''}>${escapeHtml(i.label)}</option>`,
        ),
      )
      .join('');
  const field = (
    name: 'practitioner' | 'patient',
    label: string,
    items: { id: string; label: string }[],
    placeholder: string,
  ) => {
    const error = errorFor(name);
    return `<div class="field${error ? ' field-error' : ''}">
  <label for="${name}">${escapeHtml(label)}</label>
  ${error ? `<p class="error" id="${name}-error">${escapeHtml(error.message)}</p>` : ''}
  <select id="${name}" name="${name}" required${error ? ` aria-invalid="true" aria-describedby="${name}-error"` : ''}>
    ${options(items, input.selected?.[name], placeholder)}
  </select>
</div>`;
  };
  const summary = input.errors?.length
    ? `<div class="error-summary" role="alert" aria-labelledby="error-summary-title" tabindex="-1" autofocus>
  <h2 id="error-summary-title">Please check</h2>
  <ul>${input.errors.map((e) => `<li><a href="#${e.field}">${escapeHtml(e.message)}</a></li>`).join('')}</ul>
</div>`
    : '';
  const body = `
<p class="sandbox-notice"><strong>Sandbox EHR.</strong> There are no passwords here: choose who you are. Never use real patient data.</p>
<h1>Sign in to open ${escapeHtml(input.clientName)}</h1>
${summary}
<form method="post" action="${escapeHtml(input.actionPath)}">
  ${field(
    'practitioner',
    'Clinician',
    input.practitioners.map((p) => ({ id: p.id, label: p.role ? `${p.name} — ${p.role}` : p.name })),
    'Choose a clinician',
  )}
  ${
    input.patients
      ? field(
          'patient',
          'Patient',
          input.patients.map((p) => ({ id: p.id, label: p.birthDate ? `${p.name} (born ${p.birthDate})` : p.name })),
          'Choose a patient',
        )
      : ''
  }
  <h2>${escapeHtml(input.clientName)} asks to</h2>
  <ul class="scopes">${input.scopes.map((s) => `<li>${escapeHtml(describeScope(s))} <code>${escapeHtml(s)}</code></li>`).join('')}</ul>
  <div class="actions"><button type="submit" class="primary">Sign in and allow</button></div>
</form>
<form method="post" action="${escapeHtml(input.abortPath)}" class="actions">
  <button type="submit" class="secondary">Cancel</button>
</form>`;
  return layout(`Sign in — ${input.clientName} — sandbox EHR`, input.assetsPath, body);
}

export function errorPage(assetsPath: string, error: string, description: string | undefined): string {
  const body = `
<p class="sandbox-notice"><strong>Sandbox EHR</strong> authorization server</p>
<h1>The app could not be authorized</h1>
<div class="error-summary" role="alert">
  <p><strong>${escapeHtml(error)}</strong>${description ? `: ${escapeHtml(description)}` : ''}</p>
</div>
<p>Start again from the EHR launcher, or check the app's registration (client id and redirect URI).</p>`;
  return layout('Authorization error — sandbox EHR', assetsPath, body);
}
