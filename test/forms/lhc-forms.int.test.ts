// The intake Questionnaire in LHC-Forms (lforms 40) in real Chromium, offline: it renders, its
// calculatedExpressions and enableWhen run in the browser, and the response LHC-Forms produces passes $validate.
import { createServer, type Server } from 'node:http';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import fs from 'node:fs';
import os from 'node:os';
import { describe, it, beforeAll, afterAll } from '@jest/globals';
import { expect } from '../support/expect.js';
import { poll } from '../support/poll.js';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { validateQuestionnaireResponse } from '../../src/forms/index.js';
import { completeAnswers, dec, errorsOf, int, intakeResponse, loadIntake, local, no, resolverFor } from './support.js';
import { CHROMIUM_ARGS, CHROMIUM_PATH } from '../support/chromium.js';

const LFORMS = fileURLToPath(new URL('../../node_modules/lforms/dist/lforms/', import.meta.url));
const SCRIPTS = [
  'webcomponent/assets/lib/zone.min.js',
  'webcomponent/runtime.js',
  'webcomponent/polyfills.js',
  'webcomponent/main.js',
  'fhir/R4/lformsFHIR.min.js',
];
// Scripts after the container (main.js appends to <body>); UTF-8, or the FHIRPath parser in lformsFHIR breaks.
const PAGE = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>intake</title>
<link rel="stylesheet" href="/lforms/webcomponent/styles.css"></head><body><div id="form"></div>
${SCRIPTS.map((s) => `<script src="/lforms/${s}"></script>`).join('\n')}
</body></html>`;

const intake = loadIntake();
let server: Server;
let baseUrl = '';
let browser: BrowserContext;
let userDataDir = '';
const outsideRequests: string[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname === '/') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(PAGE);
      return;
    }
    const file = path.normalize(path.join(LFORMS, url.pathname.replace(/^\/lforms\//, '')));
    if (!url.pathname.startsWith('/lforms/') || !file.startsWith(LFORMS)) {
      res.writeHead(404).end();
      return;
    }
    readFile(file).then(
      (body) =>
        res
          .writeHead(200, {
            'content-type': file.endsWith('.js')
              ? 'text/javascript; charset=utf-8'
              : file.endsWith('.css')
                ? 'text/css; charset=utf-8'
                : 'application/octet-stream',
          })
          .end(body),
      () => res.writeHead(404).end(),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  baseUrl = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'forms-chromium-'));
  browser = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: CHROMIUM_ARGS,
  });
  // Offline: anything not served by the local server is recorded and refused.
  await browser.route('**/*', (route) => {
    if (route.request().url().startsWith(baseUrl)) return route.continue();
    outsideRequests.push(route.request().url());
    return route.abort();
  });
});

afterAll(async () => {
  await browser?.close();
  await new Promise<void>((resolve) => server?.close(() => resolve()));
  if (userDataDir) fs.rmSync(userDataDir, { recursive: true, force: true });
});

/** Render the intake (optionally merged with a response, optionally with a launch-context patient). */
async function render(response?: fhir4.QuestionnaireResponse, patient?: fhir4.Patient): Promise<Page> {
  const page = await browser.newPage();
  await page.goto(baseUrl);
  await page.waitForFunction(
    () => typeof (window as unknown as { LForms?: { FHIR?: unknown } }).LForms?.FHIR === 'object',
  );
  await page.evaluate(
    async ({ q, qr, patient }) => {
      const LForms = (window as unknown as { LForms: { Util: Record<string, (...args: unknown[]) => unknown> } })
        .LForms;
      // No FHIR server: the launch context is given as a variable, which is all the intake needs from it.
      if (patient) LForms.Util.setFHIRContext!(undefined, { patient });
      // The questionnaireResponse option (not mergeFHIRDataIntoLForms) makes lforms run calculatedExpressions on load.
      await LForms.Util.addFormToPage!(
        q,
        'form',
        qr ? { fhirVersion: 'R4', questionnaireResponse: qr } : { fhirVersion: 'R4' },
      );
    },
    { q: intake, qr: response, patient },
  );
  return page;
}

async function responseFrom(page: Page): Promise<fhir4.QuestionnaireResponse> {
  return page.evaluate(() => {
    const LForms = (window as unknown as { LForms: { Util: Record<string, (...args: unknown[]) => unknown> } }).LForms;
    // The container element itself: given its id as a string, lforms 40 fails ('templateOptions').
    return LForms.Util.getFormFHIRData!(
      'QuestionnaireResponse',
      'R4',
      document.getElementById('form'),
    ) as fhir4.QuestionnaireResponse;
  });
}

const answer = (
  r: fhir4.QuestionnaireResponse,
  linkId: string,
): fhir4.QuestionnaireResponseItemAnswer[] | undefined => {
  const walk = (items: fhir4.QuestionnaireResponseItem[] = []): fhir4.QuestionnaireResponseItemAnswer[] | undefined => {
    for (const i of items) {
      if (i.linkId === linkId) return i.answer;
      const inner = walk(i.item);
      if (inner) return inner;
    }
    return undefined;
  };
  return walk(r.item);
};

describe('intake Questionnaire in LHC-Forms', () => {
  it('renders offline, with every group and its questions', async () => {
    const page = await render();
    const text = (await page.textContent('#form')) ?? '';
    for (const g of intake.item ?? []) {
      expect(text).toContain(g.text);
      for (const i of g.item ?? []) if (i.type !== 'display' && !i.enableWhen) expect(text, i.linkId).toContain(i.text);
    }
    // enableWhen: the follow-up questions stay hidden until their condition holds.
    expect(text).not.toContain('Is the weakness in your legs getting worse?');
    expect(text).not.toContain('How old were you when you had your last period?');
    expect(outsideRequests).toEqual([]);
    await page.close();
  });

  it('pre-fills age from the patient launch context, as sdc-populate does', async () => {
    const year = new Date().getFullYear();
    // Born on 1 January: the age is the same whatever today's date and time zone.
    const page = await render(undefined, { resourceType: 'Patient', id: 'p-1', birthDate: `${year - 60}-01-01` });
    await poll(async () => answer(await responseFrom(page), 'age')).toEqual([{ valueInteger: 60 }]);
    await page.close();
  });

  it('computes OST and ORAI in the browser and returns a response that passes $validate', async () => {
    const answers: ReturnType<typeof completeAnswers> = {
      ...completeAnswers(),
      age: int(62),
      'weight-kg': dec(58),
      'rf-leg-weakness': local('mild'),
      'rf-weakness-worsening': no,
    };
    delete answers['ost-score'];
    delete answers['orai-score'];
    const page = await render(intakeResponse(answers, 'in-progress'));
    const text = (await page.textContent('#form')) ?? '';
    expect(text).toContain('Is the weakness in your legs getting worse?');
    const r = await responseFrom(page);
    // OST trunc(0.2 x (58 - 62)) = 0; ORAI 5 + 9 + 2 = 16
    expect(answer(r, 'ost-score')).toEqual([{ valueInteger: 0 }]);
    expect(answer(r, 'orai-score')).toEqual([{ valueInteger: 16 }]);
    expect(answer(r, 'pain-location')?.map((a) => a.valueCoding?.code)).toEqual(['lower-back', 'hip']);
    // LHC-Forms marks its output completed: every required question is answered, so it must pass as is.
    expect(r.status).toBe('completed');
    const outcome = validateQuestionnaireResponse(r, { resolveQuestionnaire: resolverFor(intake) });
    expect(errorsOf(outcome)).toEqual([]);
    expect(outsideRequests).toEqual([]);
    await page.close();
  });
});
