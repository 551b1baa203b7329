// Test fixtures for the forms tests: the real intake Questionnaire and responses built from flat answers.
import { readFileSync } from 'node:fs';

export const INTAKE_URL = 'https://periplan.app/fhir/Questionnaire/back-pain-intake';
export const INTAKE_CANONICAL = `${INTAKE_URL}|1.0.0`;
export const V2 = 'http://terminology.hl7.org/CodeSystem/v2-0136';
export const DAR = 'http://terminology.hl7.org/CodeSystem/data-absent-reason';
export const ANSWER = 'https://periplan.app/fhir/CodeSystem/back-pain-answer';
export const SCT = 'http://snomed.info/sct';

export function loadIntake(): fhir4.Questionnaire {
  return JSON.parse(
    readFileSync(new URL('../../questionnaires/back-pain-intake.json', import.meta.url), 'utf8'),
  ) as fhir4.Questionnaire;
}

export const yes: fhir4.QuestionnaireResponseItemAnswer = { valueCoding: { system: V2, code: 'Y', display: 'Yes' } };
export const no: fhir4.QuestionnaireResponseItemAnswer = { valueCoding: { system: V2, code: 'N', display: 'No' } };
export const unsure: fhir4.QuestionnaireResponseItemAnswer = {
  valueCoding: { system: DAR, code: 'asked-unknown', display: 'Not sure' },
};
export const local = (code: string): fhir4.QuestionnaireResponseItemAnswer => ({
  valueCoding: { system: ANSWER, code },
});
export const int = (n: number): fhir4.QuestionnaireResponseItemAnswer => ({ valueInteger: n });
export const dec = (n: number): fhir4.QuestionnaireResponseItemAnswer => ({ valueDecimal: n });

type Answers = Record<string, fhir4.QuestionnaireResponseItemAnswer | fhir4.QuestionnaireResponseItemAnswer[]>;

/** A complete, valid answer set: a 52-year-old perimenopausal woman with mechanical pain and no red flags. */
export function completeAnswers(): Answers {
  return {
    age: int(52),
    'pain-severity': int(6),
    'pain-duration-weeks': int(3),
    'pain-trend': local('improving'),
    'pain-onset': local('gradual'),
    'leg-symptoms': local('none'),
    'pain-location': [local('lower-back'), local('hip')],
    'pain-pattern': [local('worse-morning')],
    'pain-character': [local('dull-ache')],
    'rf-saddle-numbness': no,
    'rf-bladder-bowel': no,
    'rf-leg-weakness': local('none'),
    'rf-walking-difficulty': no,
    'rf-fever': no,
    'rf-infection-risk': no,
    'rf-cancer-history': no,
    'rf-weight-loss': no,
    'rf-night-pain': no,
    'rf-trauma': local('none'),
    'rf-steroids': no,
    'morning-stiffness-30min': no,
    'menopausal-status': { valueCoding: { system: SCT, code: '161541000119104' } },
    'weight-kg': dec(68.5),
    'height-loss-cm': dec(1),
    'hrt-current': no,
    'recent-dxa': unsure,
    'ost-score': int(3),
    'orai-score': int(5),
    'walking-days-per-week': int(4),
    'strength-sessions-per-week': int(1),
    'oral-nsaids': local('flares-only'),
  };
}

/** A response to the intake nested like the Questionnaire (groups, then questions), in Questionnaire order. */
export function intakeResponse(
  answers: Answers,
  status: fhir4.QuestionnaireResponse['status'] = 'completed',
  questionnaire = loadIntake(),
): fhir4.QuestionnaireResponse {
  const items: fhir4.QuestionnaireResponseItem[] = [];
  for (const group of questionnaire.item ?? []) {
    const children: fhir4.QuestionnaireResponseItem[] = [];
    for (const q of group.item ?? []) {
      const a = answers[q.linkId];
      if (a !== undefined) children.push({ linkId: q.linkId, answer: Array.isArray(a) ? a : [a] });
    }
    if (children.length > 0) items.push({ linkId: group.linkId, item: children });
  }
  return {
    resourceType: 'QuestionnaireResponse',
    id: 'qr-1',
    questionnaire: INTAKE_CANONICAL,
    status,
    subject: { reference: 'Patient/p-1' },
    authored: '2026-11-20T10:00:00Z',
    item: items,
  };
}

export function resolverFor(...questionnaires: fhir4.Questionnaire[]) {
  return (canonical: string): fhir4.Questionnaire | undefined => {
    const [url, version] = canonical.split('|');
    return questionnaires.find((q) => q.url === url && (version === undefined || q.version === version));
  };
}

export function errorsOf(outcome: fhir4.OperationOutcome): fhir4.OperationOutcomeIssue[] {
  return outcome.issue.filter((i) => i.severity === 'error' || i.severity === 'fatal');
}
