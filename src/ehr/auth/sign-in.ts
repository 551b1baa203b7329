/**
 * The sandbox sign-in: oidc-provider's "interaction" for login + consent, as Express routes.
 *
 * - EHR launch (`launch` parameter): the launch context already names the clinician and the patient,
 *   so the interaction completes at once, without a page (the launch id is used up here).
 * - Standalone launch: a page asks which clinician you are (no passwords: a sandbox) and, when the app
 *   needs a patient (`launch/patient` or any `patient/` scope), which patient.
 * Either way a new grant is made for exactly the requested scopes this server offers, and the launch
 * context is stored with it (AuthDatabase.saveGrantContext).
 */
import express, { type NextFunction, type Request, type Response, type Router } from 'express';
import { errors, type InteractionDetails, type Provider } from 'oidc-provider';
import type { AuthDatabase, GrantContext, LaunchContext } from './auth-database.js';
import type { SmartClient } from './clients.js';
import type { Directory } from './directory.js';
import { errorPage, signInPage } from './pages.js';
import { OIDC_SCOPES, pageCsp } from './smart-metadata.js';
import { isGrantableResourceScope, isWithinScopes } from './smart-scopes.js';

export interface SignInDependencies {
  provider: Provider;
  db: AuthDatabase;
  directory: Directory;
  clients: readonly SmartClient[];
  /** Path the auth router is mounted at, e.g. `/ehr/auth`. */
  mountPath: string;
  fhirBaseUrl: string;
  smartStyleUrl: string;
}

const OIDC_SCOPE_SET = new Set(OIDC_SCOPES);
const splitScope = (scope: unknown) => (typeof scope === 'string' ? scope.split(' ').filter(Boolean) : []);

/** What the sign-in handlers share: the dependencies and the registered clients by id. */
interface SignIn {
  deps: SignInDependencies;
  clientsById: Map<string, SmartClient>;
}

/** Routes `/interaction/:uid` (GET, POST) and `/interaction/:uid/abort`; mount before `provider.callback()`. */
export function createSignInRouter(deps: SignInDependencies): Router {
  const signIn: SignIn = { deps, clientsById: new Map(deps.clients.map((c) => [c.clientId, c])) };
  const router = express.Router();
  router.get('/interaction/:uid', (req, res) => showInteraction(signIn, req, res));
  router.post('/interaction/:uid', express.urlencoded({ extended: false, limit: '10kb' }), (req, res) =>
    submitSignIn(signIn, req, res),
  );
  router.post('/interaction/:uid/abort', (req, res) => abortSignIn(deps.provider, req, res));
  // Errors of the sign-in pages (oidc-provider answers its own endpoints' errors itself).
  router.use(signInErrorHandler(deps.mountPath));
  return router;
}

async function finishSignIn(
  { deps, clientsById }: SignIn,
  req: Request,
  res: Response,
  details: InteractionDetails,
  context: GrantContext,
): Promise<void> {
  const { provider, db, fhirBaseUrl } = deps;
  const requested = splitScope(details.params.scope);
  const grant = new provider.Grant({ accountId: context.practitioner, clientId: details.params.client_id });
  const oidc = requested.filter((s) => OIDC_SCOPE_SET.has(s));
  // Least privilege: only what this client is registered for (unknown client: nothing).
  const allowed = clientsById.get(details.params.client_id)?.scopes ?? [];
  const resource = requested.filter((s) => isWithinScopes(s, allowed));
  if (oidc.length) grant.addOIDCScope(oidc.join(' '));
  if (resource.length) grant.addResourceScope(fhirBaseUrl, resource.join(' '));
  // Recorded as refused, so that the provider does not ask again for what this client can never get.
  const refused = requested.filter((s) => isGrantableResourceScope(s) && !resource.includes(s));
  if (refused.length) grant.rejectResourceScope(fhirBaseUrl, refused.join(' '));
  const grantId = await grant.save();
  db.saveGrantContext(grantId, context);
  await provider.interactionFinished(
    req,
    res,
    { login: { accountId: context.practitioner, remember: false }, consent: { grantId } },
    { mergeWithLastSubmission: false },
  );
}

/** Standalone launch: a patient must be chosen for `launch/patient` and for any `patient/` scope. */
const needsPatientPicker = (scopes: string[]) =>
  scopes.includes('launch/patient') || scopes.some((s) => s.startsWith('patient/') && isGrantableResourceScope(s));

async function renderSignIn(
  { deps, clientsById }: SignIn,
  res: Response,
  details: InteractionDetails,
  status = 200,
  extra: Partial<Parameters<typeof signInPage>[0]> = {},
) {
  const { directory, mountPath } = deps;
  const client = clientsById.get(details.params.client_id);
  // The page lists what the user allows: FHIR scopes beyond the client's registration are never granted, so
  // they are not shown either (the patient picker still follows the request).
  const scopes = splitScope(details.params.scope).filter(
    (s) => !isGrantableResourceScope(s) || isWithinScopes(s, client?.scopes ?? []),
  );
  res.status(status).type('html').set('Cache-Control', 'no-store');
  // The form's answer redirects to the app: the CSP must allow that origin as a form target
  // (a site-wide `form-action 'self'` would block a cross-origin app after sign-in).
  const appOrigin = URL.parse(details.params.redirect_uri ?? '')?.origin;
  res.set('Content-Security-Policy', pageCsp([appOrigin]));
  res.send(
    signInPage({
      assetsPath: `${mountPath}/assets`,
      actionPath: `${mountPath}/interaction/${details.uid}`,
      abortPath: `${mountPath}/interaction/${details.uid}/abort`,
      clientName: client?.name ?? details.params.client_id,
      scopes,
      practitioners: await directory.listPractitioners(),
      ...(needsPatientPicker(splitScope(details.params.scope)) ? { patients: await directory.listPatients() } : {}),
      ...extra,
    }),
  );
}

/** GET /interaction/:uid: the sign-in page, or (EHR launch) the grant made at once from the launch context. */
async function showInteraction(signIn: SignIn, req: Request, res: Response): Promise<void> {
  const { provider, db, smartStyleUrl } = signIn.deps;
  const details = await provider.interactionDetails(req, res);
  const launchId = details.params.launch;
  if (!launchId) {
    await renderSignIn(signIn, res, details);
    return;
  }
  // EHR launch: the EHR already knows the clinician and the patient; nothing to ask.
  const launch: LaunchContext | undefined = db.findLaunch(launchId);
  if (!launch || !db.useLaunch(launchId)) {
    await provider.interactionFinished(
      req,
      res,
      {
        error: 'invalid_request',
        error_description: 'launch is unknown, expired or already used: launch the app again from the EHR',
      },
      { mergeWithLastSubmission: false },
    );
    return;
  }
  await finishSignIn(signIn, req, res, details, {
    patient: launch.patient,
    ...(launch.encounter ? { encounter: launch.encounter } : {}),
    practitioner: launch.practitioner,
    needPatientBanner: launch.needPatientBanner,
    smartStyleUrl: launch.smartStyleUrl ?? smartStyleUrl,
  });
}

/** POST /interaction/:uid: the chosen clinician (and patient), or the page again with what is missing (400). */
async function submitSignIn(signIn: SignIn, req: Request, res: Response): Promise<void> {
  const { provider, directory, smartStyleUrl } = signIn.deps;
  const details = await provider.interactionDetails(req, res);
  const form = (req.body ?? {}) as Record<string, unknown>;
  const practitionerId = typeof form.practitioner === 'string' ? form.practitioner : '';
  const patientId = typeof form.patient === 'string' ? form.patient : '';
  const wantsPatient = needsPatientPicker(splitScope(details.params.scope));
  const problems: { field: 'practitioner' | 'patient'; message: string }[] = [];
  if (!practitionerId || !(await directory.listPractitioners()).find((p) => p.id === practitionerId))
    problems.push({ field: 'practitioner', message: 'Choose the clinician you are.' });
  if (wantsPatient && (!patientId || !(await directory.listPatients()).find((p) => p.id === patientId)))
    problems.push({ field: 'patient', message: 'Choose a patient.' });
  if (problems.length) {
    await renderSignIn(signIn, res, details, 400, {
      errors: problems,
      selected: { practitioner: practitionerId, patient: patientId },
    });
    return;
  }
  await finishSignIn(signIn, req, res, details, {
    ...(wantsPatient ? { patient: patientId, needPatientBanner: true } : { needPatientBanner: false }),
    practitioner: practitionerId,
    smartStyleUrl,
  });
}

/** POST /interaction/:uid/abort: the user cancelled. */
async function abortSignIn(provider: Provider, req: Request, res: Response): Promise<void> {
  await provider.interactionDetails(req, res);
  await provider.interactionFinished(
    req,
    res,
    { error: 'access_denied', error_description: 'the user cancelled the sign-in' },
    { mergeWithLastSubmission: false },
  );
}

function signInErrorHandler(mountPath: string) {
  return (error: unknown, req: Request, res: Response, next: NextFunction) => {
    if (res.headersSent) {
      next(error);
      return;
    }
    const expired = error instanceof errors.SessionNotFound;
    const description = expired
      ? 'this sign-in page has expired or was opened in another browser; launch the app again'
      : 'the sign-in could not be completed';
    if (!expired) console.error('ehr auth interaction failed:', error);
    res.status(expired ? 400 : 500).set('Cache-Control', 'no-store');
    if (req.accepts(['html', 'json']) === 'json')
      res.json({ error: expired ? 'invalid_request' : 'server_error', error_description: description });
    else
      res
        .type('html')
        .send(errorPage(`${mountPath}/assets`, expired ? 'invalid_request' : 'server_error', description));
  };
}
