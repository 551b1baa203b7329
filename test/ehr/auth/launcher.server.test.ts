/**
 * The launcher page (/ehr): lists the directory's patients and clinicians, and turns a choice into an
 * EHR launch URL (`?iss=…&launch=…`) whose launch id the authorization server then accepts.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import request from 'supertest';
import { startHarness, tokensForLaunch, type Harness } from './harness.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h?.close();
});

/** The launcher page as a browser gets it: its CSRF cookie (kept by the agent) and the form's token. */
async function launcherForm() {
  const agent = request.agent(h.app);
  const page = await agent.get('/ehr').expect(200);
  const csrf = /name="csrf" value="([^"]+)"/.exec(page.text)![1]!;
  return { agent, csrf };
}

describe('launcher page', () => {
  it('renders the patients and practitioners from the directory, with labels and no inline script', async () => {
    const res = await request(h.app).get('/ehr').expect(200).expect('content-type', /html/);
    // The launch form's 303 goes to the app: the page's CSP names the app origins as form targets.
    expect(res.headers['content-security-policy']).toContain(`form-action 'self' ${h.baseUrl}`);
    expect(res.headers['content-security-policy']).toContain("script-src 'self'");
    const html = res.text;
    expect(html).toContain('<option value="pat-a">Alice Archer (born 1974-02-11)</option>');
    expect(html).toContain('<option value="pat-b">Beatrice Brown (born 1970-09-30)</option>');
    expect(html).toContain('<option value="dr-jones">Dr Emma Jones — GP</option>');
    expect(html).toContain('<option value="periplan-app">PeriPlan back pain (clinician app)</option>');
    for (const id of [
      'practitioner',
      'patient',
      'app',
      'encounter',
      'need_patient_banner',
      'display-tab',
      'display-embedded',
    ]) {
      expect(html).toContain(`<label for="${id}"`);
      expect(html).toContain(`id="${id}"`);
    }
    // Scripts only from files (CSP without 'unsafe-inline'), and no inline event handlers.
    expect(html).toMatch(/<script src="\/ehr\/launcher-assets\/launcher.js" defer><\/script>/);
    expect(html).not.toMatch(/<script>|<script [^>]*>[^<]+<\/script>|\son[a-z]+="/);
    expect(html).toContain(`${h.fhirBaseUrl}/.well-known/smart-configuration`);
    expect(html).toContain(`href="${h.baseUrl}/tablet/"`);
    await request(h.app)
      .get('/ehr/launcher-assets/launcher.js')
      .expect(200)
      .expect('content-type', /javascript/);
    await request(h.app).get('/ehr/launcher-assets/launcher.css').expect(200).expect('content-type', /css/);
  });

  it('a form launch answers 303 to the app with iss and a launch id carrying the chosen context', async () => {
    const { agent, csrf } = await launcherForm();
    const res = await agent
      .post('/ehr/launch')
      .type('form')
      .send({ csrf, practitioner: 'physio-lee', patient: 'pat-b', app: 'periplan-app', encounter: 'enc-7' })
      .expect(303);
    const location = new URL(res.headers.location!);
    expect(`${location.origin}${location.pathname}`).toBe(`${h.baseUrl}/app/launch`);
    expect(location.searchParams.get('iss')).toBe(h.fhirBaseUrl);
    const launch = location.searchParams.get('launch')!;
    expect(launch).toMatch(/^[A-Za-z0-9_-]{32}$/);
    // The app that follows it gets the chosen context (the unticked banner box means false).
    const tokens = await tokensForLaunch(h, launch);
    expect(tokens).toMatchObject({
      patient: 'pat-b',
      encounter: 'enc-7',
      need_patient_banner: false,
      fhirUser: `${h.fhirBaseUrl}/Practitioner/physio-lee`,
    });
  });

  it('an embedded launch shows the EHR banner and frames the app (which then needs no banner)', async () => {
    const { agent, csrf } = await launcherForm();
    const res = await agent
      .post('/ehr/launch')
      .type('form')
      .send({
        csrf,
        practitioner: 'dr-jones',
        patient: 'pat-a',
        app: 'periplan-app',
        display: 'embedded',
        need_patient_banner: 'true',
      })
      .expect(200);
    expect(res.text).toContain('<section class="patient-banner" aria-label="Patient">');
    expect(res.text).toContain('<h1>Alice Archer</h1>');
    expect(res.headers['content-security-policy']).toContain(`frame-src 'self' ${h.baseUrl}`);
    const src = /<iframe class="app-frame" title="PeriPlan back pain \(clinician app\)" src="([^"]+)">/
      .exec(res.text)![1]!
      .replace(/&#38;/g, '&');
    const launch = new URL(src).searchParams.get('launch')!;
    const tokens = await tokensForLaunch(h, launch);
    expect(tokens).toMatchObject({ patient: 'pat-a', need_patient_banner: false });
  });

  it('the JSON variant returns the launch URL', async () => {
    const res = await request(h.app)
      .post('/ehr/launches')
      .send({ practitioner: 'dr-jones', patient: 'pat-a', app: 'periplan-app', need_patient_banner: false })
      .expect(201);
    expect(res.body.url).toBe(
      `${h.baseUrl}/app/launch?iss=${encodeURIComponent(h.fhirBaseUrl)}&launch=${res.body.launch}`,
    );
    expect(new Date(res.body.expiresAt).getTime()).toBeGreaterThan(Date.now());
  });

  it('refuses an unknown patient or a missing clinician, saying which', async () => {
    const unknown = await request(h.app)
      .post('/ehr/launches')
      .send({ practitioner: 'dr-jones', patient: 'nobody', app: 'periplan-app' })
      .expect(400);
    expect(unknown.body.issue[0]).toMatchObject({ diagnostics: 'Unknown patient nobody', expression: ['patient'] });
    const { agent, csrf } = await launcherForm();
    const form = await agent
      .post('/ehr/launch')
      .type('form')
      .send({ csrf, patient: 'pat-a', app: 'periplan-app' })
      .expect(400);
    expect(form.text).toContain('role="alert"');
    expect(form.text).toContain('Choose a clinician.');
  });
});
