/**
 * Generated inputs: thousands of random intake responses (seeded, so failures reproduce) with random subsets
 * of answers and random values. Invariants the clinical spec states must hold for every one of them.
 */
import { describe, it } from '@jest/globals';
import { expect } from '../support/expect.js';
import { applyPlanDefinition } from '../../src/rules/index.js';
import { seededRandom } from '../api/support/random-intake.js';
import {
  ALL_ITEMS,
  buildPatient,
  buildResponse,
  contained,
  FIXED_NOW,
  firedRules,
  loadRulesKnowledge,
  requestGroupOf,
  topPlanDefinition,
  type Answers,
} from './support.js';

const kb = loadRulesKnowledge();
const pd = topPlanDefinition(kb);

const prng = seededRandom;

const LOCAL_CODES: Record<string, string[]> = {
  'pain-trend': ['improving', 'same', 'worse'],
  'pain-onset': ['gradual', 'sudden-severe'],
  'leg-symptoms': ['none', 'one-leg', 'both-legs'],
  'rf-leg-weakness': ['none', 'mild', 'significant'],
  'rf-trauma': ['none', 'minor', 'major'],
  'oral-nsaids': ['never', 'flares-only', 'most-days'],
  'pain-location': ['lower-back', 'mid-back', 'sacral', 'hip'],
  'pain-pattern': ['worse-morning', 'eases-movement', 'flares-period'],
  'pain-character': ['dull-ache', 'sharp-twinges'],
};
const NUMBER_RANGES: Record<string, [number, number, boolean]> = {
  age: [18, 90, true],
  'pain-severity': [0, 10, true],
  'pain-duration-weeks': [0, 30, true],
  'final-period-age': [35, 58, true],
  'weight-kg': [40, 110, false],
  'height-loss-cm': [0, 8, false],
  'walking-days-per-week': [0, 7, true],
  'strength-sessions-per-week': [0, 14, true],
};
const RED_FLAG_YNU = [
  'rf-saddle-numbness',
  'rf-bladder-bowel',
  'rf-weakness-worsening',
  'rf-walking-difficulty',
  'rf-fever',
  'rf-infection-risk',
  'rf-cancer-history',
  'rf-weight-loss',
  'rf-night-pain',
  'rf-steroids',
];
const SERIOUS = ['RF-01', 'RF-02', 'RF-03', 'RF-04', 'RF-06', 'RF-07'];
const EMERGENCY_ACTIONS = new Set(['RF-01', 'RF-04-emergency', 'RF-07']);

function randomAnswers(rand: () => number): Answers {
  // A third are "calm": complete, mostly No and none, so the RF-10 side of the logic is exercised too.
  const calm = rand() < 0.35;
  const answered = calm ? 0.995 : rand() * 0.6 + 0.4; // how complete this response is
  const answers: Answers = {};
  for (const item of ALL_ITEMS) {
    if (item.linkId === 'ost-score' || item.linkId === 'orai-score' || rand() > answered) continue;
    const pick = <T>(xs: T[]): T => xs[Math.floor(rand() * xs.length)]!;
    if (item.kind === 'ynu') answers[item.linkId] = calm && rand() < 0.97 ? 'N' : pick(['Y', 'N', 'N', 'N', '?']);
    else if (item.kind === 'menopause') answers[item.linkId] = pick(['pre', 'peri', 'post', '?']);
    else if (item.kind === 'local' && calm && item.linkId !== 'pain-trend')
      answers[item.linkId] = LOCAL_CODES[item.linkId]![0]!;
    else if (item.kind === 'local') answers[item.linkId] = pick(LOCAL_CODES[item.linkId]!);
    else if (item.kind === 'local-repeats')
      answers[item.linkId] = LOCAL_CODES[item.linkId]!.filter(() => rand() < 0.5)
        .concat(LOCAL_CODES[item.linkId]![0]!)
        .slice(0, 3);
    else {
      const [lo, hi, integer] = NUMBER_RANGES[item.linkId]!;
      const x = lo + rand() * (hi - lo);
      answers[item.linkId] = integer ? Math.round(x) : Math.round(x * 10) / 10;
    }
  }
  return answers;
}

/** The red-flag items the spec calls unknown, computed independently of the content. */
function unknownRedFlags(a: Answers): string[] {
  const unknown = (linkId: string) => a[linkId] === undefined || a[linkId] === '?';
  const out: string[] = [];
  if (unknown('leg-symptoms')) out.push('leg-symptoms');
  if (unknown('rf-leg-weakness')) out.push('rf-leg-weakness');
  if (unknown('rf-trauma')) out.push('rf-trauma');
  for (const l of RED_FLAG_YNU) {
    if (l === 'rf-weakness-worsening' && a['rf-leg-weakness'] === 'none') continue;
    if (unknown(l)) out.push(l);
  }
  return out;
}

const RANK: Record<string, number> = { routine: 0, urgent: 1, asap: 2, stat: 3 };

describe('generated responses (seeded PRNG)', () => {
  it('3000 random responses: no throw, and the spec invariants hold', () => {
    const rand = prng(20261124);
    let rf10 = 0;
    let rf00 = 0;
    for (let n = 0; n < 3000; n++) {
      const answers = randomAnswers(rand);
      const birthDate =
        rand() < 0.5 ? `${1936 + Math.floor(rand() * 70)}-0${1 + Math.floor(rand() * 9)}-15` : undefined;
      const data: fhir4.FhirResource[] = [buildPatient('g', birthDate), buildResponse(answers, { patientId: 'g' })];
      const carePlan = applyPlanDefinition(pd, { subject: 'Patient/g', data, knowledge: kb, now: FIXED_NOW });
      const fired = firedRules(carePlan);
      const codes = new Set(fired.map((r) => r.code));
      const unknown = unknownRedFlags(answers);
      const context = () => JSON.stringify({ n, answers, fired: [...codes] });

      if (codes.has('RF-10')) {
        rf10++;
        expect(unknown, context()).toEqual([]);
        for (const s of SERIOUS) expect(codes.has(s), context()).toBe(false);
        expect(codes.has('RF-05') || codes.has('RF-09'), context()).toBe(false);
      }
      // RF-00 fires exactly when a red-flag item is unknown.
      expect(codes.has('RF-00'), context()).toBe(unknown.length > 0);
      if (codes.has('RF-00')) rf00++;
      // The self-management plan exactly when no EMERGENCY rule fired.
      const emergency = fired.some((r) => EMERGENCY_ACTIONS.has(r.action.id ?? ''));
      expect(codes.has('CS'), context()).toBe(!emergency);
      // RequestGroup.priority is the highest rule priority.
      const top = Math.max(...fired.map((r) => RANK[r.priority ?? 'routine'] ?? 0));
      expect(RANK[requestGroupOf(carePlan).priority ?? ''], context()).toBe(top);
      // Proposals only.
      for (const r of contained(carePlan)) {
        if (r.resourceType === 'ServiceRequest' || r.resourceType === 'Task')
          expect([r.status, r.intent]).toEqual(['draft', 'proposal']);
      }
    }
    // The generator must actually reach both sides of the RF-10 / RF-00 split.
    expect(rf10).toBeGreaterThan(5);
    expect(rf00).toBeGreaterThan(100);
  }, 180_000);
});
