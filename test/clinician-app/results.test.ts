/** The results view model (pure) over the rules' golden CarePlans, and the Questionnaire sanitiser. */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { buildResultsView, historyPoints, itemIdentifierValue } from '../../src/clinician-app/results.js';
import { sanitizeQuestionnaire } from '../../src/forms/sanitize.js';
import { SUBMISSION_ITEM_SYSTEM } from '../../src/submission/build-bundle.js';

const REPO = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');
const golden = (name: string) =>
  JSON.parse(fs.readFileSync(path.join(REPO, 'examples', name, 'expected-careplan.json'), 'utf8')) as fhir4.CarePlan;
const KEY = 'https://periplan.app/fhir/sid/questionnaire-response|abc';

describe('buildResultsView', () => {
  it('shows every fired rule with tier words, basis, citations, rule id and PlanDefinition version, most urgent first', () => {
    const view = buildResultsView({ carePlan: golden('RF-04-emergency'), responseKey: KEY, live: [] });
    expect(view.intendedUse).toBe('Decision support for clinicians; not a diagnosis; not for emergencies by patients.');
    expect(view.planDefinition).toBe('https://periplan.app/fhir/PlanDefinition/back-pain-follow-up|1.0.0');
    const first = view.rules[0]!;
    expect(first.ruleId).toBe('RF-04');
    expect(first.tierWords).toBe('Emergency');
    expect(first.basis.some((b) => b.linkId === 'rf-cancer-history' && b.answer === 'Yes')).toBe(true);
    expect(first.citations.every((c) => !c.url || c.url.startsWith('https://'))).toBe(true);
    expect(first.sourcePlanDefinition).toMatch(/back-pain-red-flags\|1\.0\.0$/);
    expect(first.proposals.map((p) => p.kind)).toEqual(['ServiceRequest', 'Flag']);
    expect(first.proposals[0]!.decidable).toBe(false); // not on the server yet
  });

  it('lists unknown red flags that could change a result', () => {
    const view = buildResultsView({ carePlan: golden('RF-00'), responseKey: KEY, live: [] });
    expect(view.rules.find((r) => r.ruleId === 'RF-00')!.unknowns.length).toBeGreaterThan(0);
  });

  it('links proposals to the live resources and reads decisions from them', () => {
    const carePlan = golden('RF-04-emergency');
    const sr: fhir4.ServiceRequest = {
      resourceType: 'ServiceRequest',
      id: 'sr1',
      status: 'revoked',
      intent: 'proposal',
      subject: { reference: 'Patient/p' },
      identifier: [{ system: SUBMISSION_ITEM_SYSTEM, value: itemIdentifierValue(KEY, 'RF-04-emergency-mri-lumbar') }],
      extension: [
        {
          url: 'http://hl7.org/fhir/StructureDefinition/request-statusReason',
          valueCodeableConcept: { coding: [{ code: 'already-done', display: 'Already done' }] },
        },
      ],
    };
    const view = buildResultsView({
      carePlan,
      responseKey: KEY,
      live: [sr],
      decisions: new Map([['ServiceRequest/sr1', { who: 'Dr A', when: '2026-11-24T09:00:00Z' }]]),
    });
    const p = view.rules[0]!.proposals[0]!;
    expect(p.target).toBe('ServiceRequest/sr1');
    expect(p.decision).toEqual({
      decision: 'dismissed',
      who: 'Dr A',
      when: '2026-11-24T09:00:00Z',
      reason: 'Already done',
    });
  });

  it('collects the self-management plan in patient wording', () => {
    const view = buildResultsView({ carePlan: golden('CS'), responseKey: KEY, live: [] });
    expect(view.selfManagement[0]!.lines.join(' ')).toContain('Stay active');
  });
});

describe('historyPoints', () => {
  it('takes pain severity and exercise per completed response, oldest first', () => {
    const qr = (
      authored: string,
      pain: number,
      status: fhir4.QuestionnaireResponse['status'] = 'completed',
    ): fhir4.QuestionnaireResponse => ({
      resourceType: 'QuestionnaireResponse',
      status,
      authored,
      item: [
        { linkId: 'pain', item: [{ linkId: 'pain-severity', answer: [{ valueInteger: pain }] }] },
        { linkId: 'self-management', item: [{ linkId: 'walking-days-per-week', answer: [{ valueInteger: 3 }] }] },
      ],
    });
    const points = historyPoints([qr('2026-11-20', 7), qr('2026-10-01', 5), qr('2026-11-21', 1, 'in-progress')]);
    expect(points.map((p) => p.painSeverity)).toEqual([5, 7]);
    expect(points[0]!.walkingDays).toBe(3);
  });
});

describe('sanitizeQuestionnaire', () => {
  it('drops XHTML renderings, styles and narrative, keeps plain text', () => {
    const q = sanitizeQuestionnaire({
      resourceType: 'Questionnaire',
      status: 'active',
      text: { status: 'generated', div: '<div xmlns="http://www.w3.org/1999/xhtml"><script>x</script></div>' },
      item: [
        {
          linkId: 'a',
          type: 'string',
          text: 'Plain',
          _text: {
            extension: [
              {
                url: 'http://hl7.org/fhir/StructureDefinition/rendering-xhtml',
                valueString: '<img src=x onerror=alert(1)>',
              },
            ],
          },
        } as fhir4.QuestionnaireItem,
      ],
    });
    expect(JSON.stringify(q)).not.toMatch(/script|onerror|rendering-xhtml/);
    expect(q.item![0]!.text).toBe('Plain');
  });
});
