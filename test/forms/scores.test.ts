// OST and ORAI (clinical-rules.md section 4), computed by the Questionnaire's own calculatedExpressions.
import { describe, it, expect } from '@jest/globals';
import { applyCalculatedExpressions } from '../../src/forms/index.js';
import { dec, int, intakeResponse, loadIntake, no, unsure, yes } from './support.js';

const q = loadIntake();

function scores(answers: Parameters<typeof intakeResponse>[0]): { ost?: number; orai?: number } {
  const out = applyCalculatedExpressions(q, intakeResponse(answers, 'in-progress'));
  const bone = out.item?.find((i) => i.linkId === 'bone-health');
  const value = (id: string) => bone?.item?.find((i) => i.linkId === id)?.answer?.[0]?.valueInteger;
  return { ost: value('ost-score'), orai: value('orai-score') };
}

describe('OST = trunc(0.2 x (weight - age)), positive when < 2', () => {
  it.each([
    // weight, age, expected OST: the 1/2 boundary from both sides, and truncation toward zero
    [65, 55, 2],
    [64.9, 55, 1],
    [64.99, 55, 1],
    [60, 55, 1],
    [59.9, 55, 0],
    [50, 55, -1],
    [45.1, 55, -1],
    [45, 55, -2],
    [90, 40, 10],
  ])('weight %s kg, age %s -> %s', (weight, age, expected) => {
    expect(scores({ 'weight-kg': dec(weight), age: int(age) }).ost).toBe(expected);
  });

  it('is left empty until both weight and age are known', () => {
    expect(scores({ age: int(60) }).ost).toBeUndefined();
    expect(scores({ 'weight-kg': dec(60) }).ost).toBeUndefined();
  });
});

describe('ORAI = age points + weight points + 2 unless on HRT, positive when >= 9', () => {
  it.each([
    // age, weight, HRT answer, expected ORAI
    [54, 70, no, 2],
    [55, 70, no, 7],
    [64, 69.9, no, 10],
    [55, 70, yes, 5],
    [55, 69.9, yes, 8], // 5 + 3 + 0: just below the positive threshold
    [55, 69.9, no, 10], // 5 + 3 + 2
    [54, 59.9, no, 11],
    [54, 59.9, yes, 9], // 0 + 9 + 0: exactly at the threshold
    [64, 70, no, 7],
    [65, 70, yes, 9],
    [65, 70, no, 11],
    [74, 60, yes, 12],
    [75, 70, yes, 15],
    [80, 50, no, 26],
  ])('age %s, weight %s kg, HRT %j -> %s', (age, weight, hrt, expected) => {
    expect(scores({ age: int(age), 'weight-kg': dec(weight), 'hrt-current': hrt }).orai).toBe(expected);
  });

  it('counts HRT as not taken when unanswered or "Not sure" (2 points)', () => {
    expect(scores({ age: int(60), 'weight-kg': dec(65) }).orai).toBe(10);
    expect(scores({ age: int(60), 'weight-kg': dec(65), 'hrt-current': unsure }).orai).toBe(10);
  });
});
