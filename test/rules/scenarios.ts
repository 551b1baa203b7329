/**
 * One worked example per rule (and tier variant): the source of examples/<name>/{patient,response}.json.
 * `fires` is what the example exists to show; the golden file records everything else that fires with it.
 */
import { BASELINE, type Answers } from './support.js';

export interface Scenario {
  name: string;
  summary: string;
  answers: Answers | null;
  fires: Array<[code: string, priority: string]>;
  /** Rules that must not fire in this example. */
  absent?: string[];
}

const base = (overrides: Answers): Answers => ({ ...BASELINE, ...overrides });

export const SCENARIOS: Scenario[] = [
  {
    name: 'RF-00',
    summary: 'Fever and night pain answered "Not sure": the red-flag screen is incomplete.',
    answers: base({ 'rf-fever': '?', 'rf-night-pain': '?' }),
    fires: [['RF-00', 'urgent']],
    absent: ['RF-10'],
  },
  {
    name: 'RF-01',
    summary: 'Saddle numbness: possible cauda equina syndrome.',
    answers: base({ 'rf-saddle-numbness': 'Y' }),
    fires: [['RF-01', 'stat']],
    absent: ['CS', 'RF-10'],
  },
  {
    name: 'RF-02',
    summary: 'Significant and worsening leg weakness.',
    answers: base({ 'rf-leg-weakness': 'significant', 'rf-weakness-worsening': 'Y' }),
    fires: [['RF-02', 'asap']],
    absent: ['RF-10'],
  },
  {
    name: 'RF-03',
    summary: 'Fever with an infection risk factor.',
    answers: base({ 'rf-fever': 'Y', 'rf-infection-risk': 'Y' }),
    fires: [['RF-03', 'asap']],
  },
  {
    name: 'RF-04-urgent',
    summary: 'History of cancer, no neurological symptoms.',
    answers: base({ 'rf-cancer-history': 'Y' }),
    fires: [['RF-04', 'asap']],
  },
  {
    name: 'RF-04-emergency',
    summary: 'History of cancer with pain into one leg: possible spinal cord compression.',
    answers: base({ 'rf-cancer-history': 'Y', 'leg-symptoms': 'one-leg' }),
    fires: [['RF-04', 'stat']],
    absent: ['RF-08', 'CS'],
  },
  {
    name: 'RF-05-soon',
    summary: 'Night pain alone: one weaker feature.',
    answers: base({ 'rf-night-pain': 'Y' }),
    fires: [['RF-05', 'urgent']],
    absent: ['RF-10'],
  },
  {
    name: 'RF-05-urgent',
    summary: 'Unexplained weight loss and night pain: two weaker features.',
    answers: base({ 'rf-weight-loss': 'Y', 'rf-night-pain': 'Y' }),
    fires: [['RF-05', 'asap']],
  },
  {
    name: 'RF-06-urgent',
    summary: 'Sudden severe pain, postmenopausal, known osteoporosis.',
    answers: base({
      age: 58,
      'menopausal-status': 'post',
      'final-period-age': 51,
      'pain-onset': 'sudden-severe',
      'known-osteoporosis': 'Y',
      'pain-duration-weeks': 1,
      'pain-severity': 9,
    }),
    fires: [
      ['RF-06', 'asap'],
      ['BMD-06', 'asap'],
    ],
  },
  {
    name: 'RF-06-soon',
    summary: 'Height loss of 4 cm.',
    answers: base({ 'height-loss-cm': 4 }),
    fires: [
      ['RF-06', 'urgent'],
      ['BMD-06', 'urgent'],
    ],
  },
  {
    name: 'RF-07',
    summary: 'Pain after a road accident.',
    answers: base({ 'rf-trauma': 'major' }),
    fires: [['RF-07', 'stat']],
    absent: ['CS'],
  },
  {
    name: 'RF-08',
    summary: 'Pain into one leg, no red flags.',
    answers: base({ 'leg-symptoms': 'one-leg' }),
    fires: [
      ['RF-08', 'routine'],
      ['RF-10', 'routine'],
    ],
  },
  {
    name: 'RF-09',
    summary: 'Aged 38 with morning stiffness that eases with exercise.',
    answers: base({
      age: 38,
      'menopausal-status': 'pre',
      'morning-stiffness-30min': 'Y',
      'stiffness-eases-exercise': 'Y',
    }),
    fires: [['RF-09', 'urgent']],
    absent: ['RF-10'],
  },
  {
    name: 'RF-10',
    summary: 'Three weeks of mechanical pain, every red flag answered No.',
    answers: base({}),
    fires: [
      ['RF-10', 'routine'],
      ['CS', 'routine'],
    ],
  },
  {
    name: 'RF-11',
    summary: 'Eight weeks of pain, not improving.',
    answers: base({ 'pain-duration-weeks': 8, 'pain-trend': 'same' }),
    fires: [
      ['RF-11', 'routine'],
      ['CS-05', 'routine'],
    ],
  },
  {
    name: 'BMD-01',
    summary: 'Aged 66, postmenopausal.',
    answers: base({ age: 66, 'menopausal-status': 'post', 'final-period-age': 52, 'pain-trend': 'improving' }),
    fires: [['BMD-01', 'routine']],
  },
  {
    name: 'BMD-02',
    summary: 'Postmenopausal at 58, weight 55 kg (OST 0, ORAI 16).',
    answers: base({
      age: 58,
      'menopausal-status': 'post',
      'final-period-age': 50,
      'weight-kg': 55,
      'pain-trend': 'improving',
    }),
    fires: [['BMD-02', 'routine']],
  },
  {
    name: 'BMD-03',
    summary: 'Wrist fracture from a fall at 46.',
    answers: base({ 'prior-fragility-fracture': 'Y' }),
    fires: [['BMD-03', 'urgent']],
  },
  {
    name: 'BMD-04',
    summary: 'Long-term oral steroids.',
    answers: base({ 'rf-steroids': 'Y' }),
    fires: [['BMD-04', 'urgent']],
  },
  {
    name: 'BMD-05',
    summary: 'Perimenopausal, weight 55 kg.',
    answers: base({ 'weight-kg': 55 }),
    fires: [['BMD-05', 'routine']],
  },
  {
    name: 'BMD-06',
    summary: 'Height loss of 5 cm at 52.',
    answers: base({ age: 52, 'height-loss-cm': 5, 'pain-trend': 'improving' }),
    fires: [
      ['BMD-06', 'urgent'],
      ['RF-06', 'urgent'],
    ],
  },
  {
    name: 'BMD-07',
    summary: 'Menopause at 42, not on HRT.',
    answers: base({ age: 49, 'menopausal-status': 'post', 'final-period-age': 42 }),
    fires: [['BMD-07', 'routine']],
  },
  {
    name: 'CS',
    summary: 'Self-management plan with the safety edits (NSAIDs, magnesium, omega-3).',
    answers: base({ 'supplement-magnesium': 'Y', 'supplement-omega3': 'Y', 'oral-nsaids': 'most-days' }),
    fires: [
      ['CS', 'routine'],
      ['CS-01', 'routine'],
      ['CS-02', 'routine'],
      ['CS-03', 'routine'],
    ],
  },
  {
    name: 'CS-04',
    summary: 'Perimenopausal with 14 weeks of (improving) pain: HRT as a shared decision.',
    answers: base({ 'pain-duration-weeks': 14, 'pain-trend': 'improving' }),
    fires: [
      ['CS-04', 'routine'],
      ['CS-05', 'routine'],
    ],
  },
  {
    name: 'CS-05',
    summary: "Seven weeks of improving pain: women's health physiotherapy.",
    answers: base({ 'pain-duration-weeks': 7, 'pain-trend': 'improving' }),
    fires: [['CS-05', 'routine']],
    absent: ['RF-11', 'CS-04'],
  },
  {
    name: 'no-response',
    summary: 'A Patient (aged 67 by birth date) and no intake response: every red flag unknown.',
    answers: null,
    fires: [
      ['RF-00', 'urgent'],
      ['BMD-01', 'routine'],
    ],
    absent: ['RF-10'],
  },
];

/** Birth date that makes the `age` answer true on the examples' authored date (2026-11-24). */
export function birthDateFor(answers: Answers | null, fallbackAge = 67): string {
  const age = typeof answers?.age === 'number' ? answers.age : fallbackAge;
  return `${2026 - age}-05-01`;
}
