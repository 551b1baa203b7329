/**
 * The intake items pinned by the specification (clinical-rules.md section 2 and the intake's agreed layout), as data: the loader checks the
 * real `back-pain-intake` Questionnaire against it at start-up, and tests and rules can import it instead of
 * repeating linkIds. Changing a row here changes the module's public interface.
 */

export const CANONICAL_BASE = 'https://periplan.app/fhir';
export const INTAKE_QUESTIONNAIRE_ID = 'back-pain-intake';
export const INTAKE_QUESTIONNAIRE_URL = `${CANONICAL_BASE}/Questionnaire/back-pain-intake`;
export const FOLLOW_UP_PLAN_DEFINITION_URL = `${CANONICAL_BASE}/PlanDefinition/back-pain-follow-up`;
export const RULE_CODE_SYSTEM = `${CANONICAL_BASE}/CodeSystem/back-pain-rule`;
export const FLAG_CODE_SYSTEM = `${CANONICAL_BASE}/CodeSystem/back-pain-flag`;
export const ANSWER_CODE_SYSTEM = `${CANONICAL_BASE}/CodeSystem/back-pain-answer`;
export const YES_NO_SYSTEM = 'http://terminology.hl7.org/CodeSystem/v2-0136';
export const DATA_ABSENT_SYSTEM = 'http://terminology.hl7.org/CodeSystem/data-absent-reason';
export const SNOMED = 'http://snomed.info/sct';
export const LOINC = 'http://loinc.org';

export interface PinnedCode {
  system: string;
  code: string;
}

export type PinnedItemType = 'integer' | 'decimal' | 'choice';

export interface PinnedItem {
  linkId: string;
  /** linkId of the top-level group the item sits in, directly. */
  group: string;
  type: PinnedItemType;
  /** Exactly these answer codes (order free), for choice items. */
  answers?: readonly PinnedCode[];
  repeats?: boolean;
  /** The item must carry this code in `item.code` (e.g. the LOINC of a measured value). */
  code?: PinnedCode;
  /** Read-only and computed by an SDC calculatedExpression. */
  calculated?: boolean;
  /** `required: true` in the Questionnaire (clinical-rules.md: all red-flag items are required). */
  required?: boolean;
}

const yes: PinnedCode = { system: YES_NO_SYSTEM, code: 'Y' };
const no: PinnedCode = { system: YES_NO_SYSTEM, code: 'N' };
const unsure: PinnedCode = { system: DATA_ABSENT_SYSTEM, code: 'asked-unknown' };
/** Yes / No / Not sure. */
export const YNU: readonly PinnedCode[] = [yes, no, unsure];
const local = (...codes: string[]): PinnedCode[] => codes.map((code) => ({ system: ANSWER_CODE_SYSTEM, code }));

/** The top-level groups of the intake, in this order. */
export const INTAKE_GROUPS = ['pain', 'red-flags', 'inflammatory', 'bone-health', 'self-management'] as const;

const ynu = (group: string, ...linkIds: string[]): PinnedItem[] =>
  linkIds.map((linkId) => ({ linkId, group, type: 'choice', answers: YNU }));
const required = (items: PinnedItem[]): PinnedItem[] => items.map((i) => ({ ...i, required: true }));

export const PINNED_INTAKE_ITEMS: readonly PinnedItem[] = [
  // Pain
  { linkId: 'age', group: 'pain', type: 'integer' },
  { linkId: 'pain-severity', group: 'pain', type: 'integer', code: { system: LOINC, code: '72514-3' } },
  { linkId: 'pain-duration-weeks', group: 'pain', type: 'integer' },
  { linkId: 'pain-trend', group: 'pain', type: 'choice', answers: local('improving', 'same', 'worse') },
  { linkId: 'pain-onset', group: 'pain', type: 'choice', answers: local('gradual', 'sudden-severe') },
  {
    linkId: 'pain-location',
    group: 'pain',
    type: 'choice',
    repeats: true,
    answers: local('lower-back', 'mid-back', 'sacral', 'hip'),
  },
  {
    linkId: 'pain-pattern',
    group: 'pain',
    type: 'choice',
    repeats: true,
    answers: local('worse-morning', 'eases-movement', 'flares-period'),
  },
  {
    linkId: 'pain-character',
    group: 'pain',
    type: 'choice',
    repeats: true,
    answers: local('dull-ache', 'sharp-twinges'),
  },
  // Red flags (all required)
  // An RF-01 criterion (both legs): unanswered it leaves the red-flag screen incomplete, so it is asked with the warning signs.
  ...required([
    { linkId: 'leg-symptoms', group: 'red-flags', type: 'choice', answers: local('none', 'one-leg', 'both-legs') },
  ]),
  ...required(ynu('red-flags', 'rf-saddle-numbness', 'rf-bladder-bowel')),
  ...required([
    { linkId: 'rf-leg-weakness', group: 'red-flags', type: 'choice', answers: local('none', 'mild', 'significant') },
  ]),
  ...required(
    ynu(
      'red-flags',
      'rf-weakness-worsening',
      'rf-walking-difficulty',
      'rf-fever',
      'rf-infection-risk',
      'rf-cancer-history',
      'rf-weight-loss',
      'rf-night-pain',
    ),
  ),
  ...required([{ linkId: 'rf-trauma', group: 'red-flags', type: 'choice', answers: local('none', 'minor', 'major') }]),
  ...required(ynu('red-flags', 'rf-steroids')),
  // Inflammatory pattern
  ...ynu(
    'inflammatory',
    'morning-stiffness-30min',
    'stiffness-eases-exercise',
    'alternating-buttock-pain',
    'wakes-late-night',
  ),
  // Bone health
  {
    linkId: 'menopausal-status',
    group: 'bone-health',
    type: 'choice',
    answers: [
      { system: SNOMED, code: '22636003' },
      { system: SNOMED, code: '161541000119104' },
      { system: SNOMED, code: '76498008' },
      unsure,
    ],
  },
  { linkId: 'final-period-age', group: 'bone-health', type: 'integer' },
  { linkId: 'weight-kg', group: 'bone-health', type: 'decimal', code: { system: LOINC, code: '29463-7' } },
  { linkId: 'height-loss-cm', group: 'bone-health', type: 'decimal' },
  ...ynu(
    'bone-health',
    'known-osteoporosis',
    'prior-fragility-fracture',
    'parental-hip-fracture',
    'current-smoker',
    'alcohol-3-plus',
    'rheumatoid-arthritis',
    'hrt-current',
    'recent-dxa',
  ),
  { linkId: 'ost-score', group: 'bone-health', type: 'integer', calculated: true },
  { linkId: 'orai-score', group: 'bone-health', type: 'integer', calculated: true },
  // Self-management (linkIds pinned by the specification)
  { linkId: 'walking-days-per-week', group: 'self-management', type: 'integer' },
  { linkId: 'strength-sessions-per-week', group: 'self-management', type: 'integer' },
  ...ynu(
    'self-management',
    'pilates-yoga',
    'sitting-breaks',
    'heat-use',
    'supplement-magnesium',
    'supplement-omega3',
    'topical-gels',
  ),
  {
    linkId: 'oral-nsaids',
    group: 'self-management',
    type: 'choice',
    answers: local('never', 'flares-only', 'most-days'),
  },
  ...ynu('self-management', 'physiotherapy'),
];

/** Codes the pinned CodeSystems must define (clinical-rules.md sections 1, 3 and 4). */
export const PINNED_CODE_SYSTEM_CODES: ReadonlyArray<{ url: string; codes: readonly string[] }> = [
  { url: FLAG_CODE_SYSTEM, codes: ['emergency-assessment', 'imaging-follow-up', 'bone-density-scan'] },
  {
    url: RULE_CODE_SYSTEM,
    codes: [
      ...['00', '01', '02', '03', '04', '05', '06', '07', '08', '09', '10', '11'].map((n) => `RF-${n}`),
      ...['01', '02', '03', '04', '05', '06', '07'].map((n) => `BMD-${n}`),
    ],
  },
];
