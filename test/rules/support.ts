/**
 * Test support for the rules: load the decision content from disk, and build intake responses from a flat
 * map (linkId -> short answer) nested in the pinned group structure, so tests state only what matters.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { KnowledgeBase, type CanonicalResource } from '../../src/knowledge/knowledge-base.js';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const TOP_URL = 'https://periplan.app/fhir/PlanDefinition/back-pain-follow-up';
export const INTAKE = 'https://periplan.app/fhir/Questionnaire/back-pain-intake|1.0.0';
export const FIXED_NOW = new Date('2026-11-24T09:00:00.000Z');
export const AUTHORED = '2026-11-24T08:30:00Z';

/**
 * The rules' own content: plandefinitions/, the rule and flag CodeSystems, and the intake Questionnaire the
 * answers are checked against (its wording is what the basis shows).
 */
export function contentFiles(): string[] {
  const pd = readdirSync(join(ROOT, 'plandefinitions'))
    .filter((f) => f.endsWith('.json'))
    .map((f) => join(ROOT, 'plandefinitions', f));
  return [
    ...pd,
    join(ROOT, 'profiles', 'CodeSystem-back-pain-rule.json'),
    join(ROOT, 'profiles', 'CodeSystem-back-pain-flag.json'),
    join(ROOT, 'questionnaires', 'back-pain-intake.json'),
  ];
}

export function loadRulesKnowledge(): KnowledgeBase {
  return new KnowledgeBase(
    contentFiles().map((file) => ({
      resource: JSON.parse(readFileSync(file, 'utf8')) as CanonicalResource,
      origin: file,
    })),
  );
}

export function topPlanDefinition(kb: KnowledgeBase): fhir4.PlanDefinition {
  const pd = kb.resolve(TOP_URL, 'PlanDefinition');
  if (!pd) throw new Error('top-level PlanDefinition missing');
  return pd;
}

type Kind = 'ynu' | 'local' | 'local-repeats' | 'menopause' | 'integer' | 'decimal';
interface ItemDef {
  linkId: string;
  text: string;
  kind: Kind;
}
const g = (linkId: string, text: string, items: Array<[string, Kind, string]>) => ({
  linkId,
  text,
  items: items.map(([l, kind, t]): ItemDef => ({ linkId: l, kind, text: t })),
});

/** The pinned intake structure (docs/forms.md; checked by src/knowledge/pinned-intake-items.ts), with question texts. */
export const GROUPS = [
  g('pain', 'About your back pain', [
    ['age', 'integer', 'Your age in years'],
    ['pain-severity', 'integer', 'How bad is your back pain right now, from 0 (no pain) to 10 (worst imaginable)?'],
    ['pain-duration-weeks', 'integer', 'How many weeks ago did this episode of back pain start?'],
    ['pain-trend', 'local', 'Over the last week, is your pain improving, about the same, or getting worse?'],
    ['pain-onset', 'local', 'How did this pain start?'],
    ['pain-location', 'local-repeats', 'Where is your pain?'],
    ['pain-pattern', 'local-repeats', 'When is your pain worse or better?'],
    ['pain-character', 'local-repeats', 'What does the pain feel like?'],
  ]),
  g('red-flags', 'Important symptoms to check', [
    ['leg-symptoms', 'local', 'Do you have pain, numbness or tingling going down into your legs?'],
    ['rf-saddle-numbness', 'ynu', 'Do you have numbness or tingling around your genitals, buttocks or inner thighs?'],
    [
      'rf-bladder-bowel',
      'ynu',
      'Have you had new difficulty passing urine, or new loss of control of your bladder or bowel?',
    ],
    ['rf-leg-weakness', 'local', 'Do you have weakness in your legs?'],
    ['rf-weakness-worsening', 'ynu', 'Is the weakness getting worse?'],
    ['rf-walking-difficulty', 'ynu', 'Do you have new difficulty walking, or feel unsteady on your feet?'],
    ['rf-fever', 'ynu', 'Have you had a fever, chills or shivering with the back pain?'],
    [
      'rf-infection-risk',
      'ynu',
      'Do you inject drugs, have a weakened immune system (including long-term steroids or biologic medicines), or have you had a serious infection recently?',
    ],
    ['rf-cancer-history', 'ynu', 'Have you ever had cancer?'],
    ['rf-weight-loss', 'ynu', 'Have you lost weight without trying?'],
    ['rf-night-pain', 'ynu', 'Does the pain wake you repeatedly at night, or is it not eased by changing position?'],
    ['rf-trauma', 'local', 'Did the pain start after a fall or an accident?'],
    ['rf-steroids', 'ynu', 'Have you taken steroid tablets or injections for more than 3 months?'],
  ]),
  g('inflammatory', 'Stiffness', [
    ['morning-stiffness-30min', 'ynu', 'Is your back stiff for more than 30 minutes after waking?'],
    ['stiffness-eases-exercise', 'ynu', 'Does the stiffness ease with exercise but not with rest?'],
    ['alternating-buttock-pain', 'ynu', 'Do you get pain in one buttock and then the other?'],
    ['wakes-late-night', 'ynu', 'Does back pain wake you in the second half of the night?'],
  ]),
  g('bone-health', 'Bone health', [
    ['menopausal-status', 'menopause', 'Which best describes you now?'],
    ['final-period-age', 'integer', 'How old were you at your last period?'],
    ['weight-kg', 'decimal', 'Your weight (kg)'],
    ['height-loss-cm', 'decimal', 'How much height have you lost since your early twenties (cm)?'],
    ['known-osteoporosis', 'ynu', 'Have you been told you have osteoporosis?'],
    [
      'prior-fragility-fracture',
      'ynu',
      'Since age 40, have you broken a bone from a fall from standing height or less?',
    ],
    ['parental-hip-fracture', 'ynu', 'Did either of your parents break a hip?'],
    ['current-smoker', 'ynu', 'Do you smoke?'],
    ['alcohol-3-plus', 'ynu', 'Do you usually drink 3 or more units of alcohol a day?'],
    ['rheumatoid-arthritis', 'ynu', 'Do you have rheumatoid arthritis?'],
    ['hrt-current', 'ynu', 'Are you taking estrogen or HRT now?'],
    ['recent-dxa', 'ynu', 'Have you had a bone density (DXA) scan in the last 2 years?'],
    ['ost-score', 'integer', 'OST score (calculated)'],
    ['orai-score', 'integer', 'ORAI score (calculated)'],
  ]),
  g('self-management', 'What you do now', [
    ['walking-days-per-week', 'integer', 'On how many days a week do you walk for 20 minutes or more?'],
    ['strength-sessions-per-week', 'integer', 'How many strength-training sessions do you do a week?'],
    ['pilates-yoga', 'ynu', 'Do you do Pilates or yoga?'],
    ['sitting-breaks', 'ynu', 'Do you take a movement break at least every 45 minutes when sitting?'],
    ['heat-use', 'ynu', 'Do you use heat (a heat pack or hot water bottle) for the pain?'],
    ['supplement-magnesium', 'ynu', 'Do you take a magnesium supplement?'],
    ['supplement-omega3', 'ynu', 'Do you take omega-3 or fish oil?'],
    ['topical-gels', 'ynu', 'Do you use anti-inflammatory gels on the painful area?'],
    ['oral-nsaids', 'local', 'How often do you take anti-inflammatory tablets such as ibuprofen or naproxen?'],
    ['physiotherapy', 'ynu', 'Are you seeing a physiotherapist for your back?'],
  ]),
];

export const ALL_ITEMS: ItemDef[] = GROUPS.flatMap((grp) => grp.items);
const ITEM_BY_ID = new Map(ALL_ITEMS.map((i) => [i.linkId, i]));

/** Short answers: 'Y' | 'N' | '?' for YNU; local codes; 'pre' | 'peri' | 'post' | '?' for menopause; numbers. */
export type Short = string | number | string[];
export type Answers = Record<string, Short | undefined>;

const LOCAL = 'https://periplan.app/fhir/CodeSystem/back-pain-answer';
const MENOPAUSE: Record<string, fhir4.Coding> = {
  pre: { system: 'http://snomed.info/sct', code: '22636003', display: 'Premenopausal' },
  peri: { system: 'http://snomed.info/sct', code: '161541000119104', display: 'Perimenopausal' },
  post: { system: 'http://snomed.info/sct', code: '76498008', display: 'Postmenopausal' },
};
const UNSURE: fhir4.Coding = {
  system: 'http://terminology.hl7.org/CodeSystem/data-absent-reason',
  code: 'asked-unknown',
  display: 'Not sure',
};

function label(code: string): string {
  const s = code.replace(/-/g, ' ');
  return s.charAt(0).toUpperCase() + s.slice(1);
}

function encode(item: ItemDef, value: Short): fhir4.QuestionnaireResponseItemAnswer[] {
  switch (item.kind) {
    case 'ynu':
      if (value === '?') return [{ valueCoding: UNSURE }];
      if (value !== 'Y' && value !== 'N') throw new Error(`${item.linkId}: expected Y, N or ?, got ${String(value)}`);
      return [
        {
          valueCoding: {
            system: 'http://terminology.hl7.org/CodeSystem/v2-0136',
            code: value,
            display: value === 'Y' ? 'Yes' : 'No',
          },
        },
      ];
    case 'menopause':
      if (value === '?') return [{ valueCoding: UNSURE }];
      return [
        {
          valueCoding:
            MENOPAUSE[String(value)] ??
            (() => {
              throw new Error(`menopause: ${String(value)}`);
            })(),
        },
      ];
    case 'local':
      return [{ valueCoding: { system: LOCAL, code: String(value), display: label(String(value)) } }];
    case 'local-repeats':
      return (Array.isArray(value) ? value : [String(value)]).map((v) => ({
        valueCoding: { system: LOCAL, code: v, display: label(v) },
      }));
    case 'integer':
      return [{ valueInteger: Number(value) }];
    case 'decimal':
      return [{ valueDecimal: Number(value) }];
  }
}

/** The calculated scores the form would fill in (the rules recompute them; these are for display). */
function withScores(answers: Answers): Answers {
  const out = { ...answers };
  const age = typeof answers.age === 'number' ? answers.age : undefined;
  const weight = typeof answers['weight-kg'] === 'number' ? answers['weight-kg'] : undefined;
  if (age !== undefined && weight !== undefined) {
    if (out['ost-score'] === undefined) out['ost-score'] = Math.trunc((weight - age) / 5);
    if (out['orai-score'] === undefined) {
      const agePts = age >= 75 ? 15 : age >= 65 ? 9 : age >= 55 ? 5 : 0;
      const weightPts = weight < 60 ? 9 : weight < 70 ? 3 : 0;
      out['orai-score'] = agePts + weightPts + (answers['hrt-current'] === 'Y' ? 0 : 2);
    }
  }
  return out;
}

export interface ResponseOptions {
  id?: string;
  patientId?: string;
  authored?: string | null;
  status?: fhir4.QuestionnaireResponse['status'];
}

/** Flat answers -> a QuestionnaireResponse nested as the intake is. Unlisted (or undefined) items are left out. */
export function buildResponse(answers: Answers, options: ResponseOptions = {}): fhir4.QuestionnaireResponse {
  for (const linkId of Object.keys(answers)) if (!ITEM_BY_ID.has(linkId)) throw new Error(`unknown linkId ${linkId}`);
  const full = withScores(answers);
  const groups: fhir4.QuestionnaireResponseItem[] = [];
  for (const grp of GROUPS) {
    const items = grp.items
      .filter((i) => full[i.linkId] !== undefined)
      .map((i) => ({ linkId: i.linkId, text: i.text, answer: encode(i, full[i.linkId]!) }));
    if (items.length) groups.push({ linkId: grp.linkId, text: grp.text, item: items });
  }
  const patientId = options.patientId ?? 'example';
  return {
    resourceType: 'QuestionnaireResponse',
    id: options.id ?? `${patientId}-intake`,
    questionnaire: INTAKE,
    status: options.status ?? 'completed',
    subject: { reference: `Patient/${patientId}` },
    ...(options.authored === null ? {} : { authored: options.authored ?? AUTHORED }),
    item: groups,
  };
}

export function buildPatient(id: string, birthDate?: string): fhir4.Patient {
  return { resourceType: 'Patient', id, gender: 'female', ...(birthDate ? { birthDate } : {}) };
}

/** A woman of 48 with three weeks of mechanical low back pain, every red flag answered No. */
export const BASELINE: Answers = {
  age: 48,
  'pain-severity': 5,
  'pain-duration-weeks': 3,
  'pain-trend': 'same',
  'pain-onset': 'gradual',
  'leg-symptoms': 'none',
  'pain-location': ['lower-back'],
  'pain-pattern': ['worse-morning', 'eases-movement'],
  'pain-character': ['dull-ache'],
  'rf-saddle-numbness': 'N',
  'rf-bladder-bowel': 'N',
  'rf-leg-weakness': 'none',
  'rf-walking-difficulty': 'N',
  'rf-fever': 'N',
  'rf-infection-risk': 'N',
  'rf-cancer-history': 'N',
  'rf-weight-loss': 'N',
  'rf-night-pain': 'N',
  'rf-trauma': 'none',
  'rf-steroids': 'N',
  'morning-stiffness-30min': 'N',
  'stiffness-eases-exercise': 'N',
  'alternating-buttock-pain': 'N',
  'wakes-late-night': 'N',
  'menopausal-status': 'peri',
  'weight-kg': 68,
  'height-loss-cm': 1,
  'known-osteoporosis': 'N',
  'prior-fragility-fracture': 'N',
  'parental-hip-fracture': 'N',
  'current-smoker': 'N',
  'alcohol-3-plus': 'N',
  'rheumatoid-arthritis': 'N',
  'hrt-current': 'N',
  'recent-dxa': 'N',
  'walking-days-per-week': 2,
  'strength-sessions-per-week': 0,
  'pilates-yoga': 'N',
  'sitting-breaks': 'N',
  'heat-use': 'Y',
  'supplement-magnesium': 'N',
  'supplement-omega3': 'N',
  'topical-gels': 'N',
  'oral-nsaids': 'flares-only',
  physiotherapy: 'N',
};

/** Every rule action (recursively) of a CarePlan's RequestGroup, as [rule code, priority]. */
export function firedRules(
  carePlan: fhir4.CarePlan,
): Array<{ code: string; priority: string | undefined; action: fhir4.RequestGroupAction }> {
  const rg = carePlan.contained?.find((r): r is fhir4.RequestGroup => r.resourceType === 'RequestGroup');
  const out: Array<{ code: string; priority: string | undefined; action: fhir4.RequestGroupAction }> = [];
  const walk = (actions: fhir4.RequestGroupAction[] | undefined) => {
    for (const a of actions ?? []) {
      const code = a.code?.[0]?.coding?.[0]?.code;
      if (code) out.push({ code, priority: a.priority, action: a });
      walk(a.action);
    }
  };
  walk(rg?.action);
  return out;
}

export function requestGroupOf(carePlan: fhir4.CarePlan): fhir4.RequestGroup {
  const rg = carePlan.contained?.find((r): r is fhir4.RequestGroup => r.resourceType === 'RequestGroup');
  if (!rg) throw new Error('no RequestGroup');
  return rg;
}

/** CarePlan.contained, typed as the resources it holds. */
export function contained(carePlan: fhir4.CarePlan): fhir4.FhirResource[] {
  return (carePlan.contained ?? []) as fhir4.FhirResource[];
}
