// The intake Questionnaire against clinical-rules.md sections 1, 2 and 8 and the team brief's pinned structure.
import { readFileSync } from 'node:fs';
import { describe, it } from '@jest/globals';
import { expect } from '../support/expect.js';
import { compileFhirPath } from '../../src/fhirpath/index.js';
import { validateResource } from '../../src/validation/index.js';
import { ANSWER, DAR, INTAKE_URL, loadIntake, SCT, V2 } from './support.js';

const q = loadIntake();
const YNU = [`${V2}|Y`, `${V2}|N`, `${DAR}|asked-unknown`];
const localCodes = (...codes: string[]) => codes.map((c) => `${ANSWER}|${c}`);

// Spec section 2 and the brief, row by row: linkId, group, type, answer codes (system|code), extra checks.
type Row = {
  linkId: string;
  group: string;
  type: string;
  answers?: string[];
  repeats?: boolean;
  code?: string;
  required?: boolean;
  readOnly?: boolean;
};
const ynu = (group: string, required: boolean, ...ids: string[]): Row[] =>
  ids.map((linkId) => ({ linkId, group, type: 'choice', answers: YNU, required }));
const PINNED: Row[] = [
  { linkId: 'age', group: 'pain', type: 'integer' },
  { linkId: 'pain-severity', group: 'pain', type: 'integer', code: 'http://loinc.org|72514-3' },
  { linkId: 'pain-duration-weeks', group: 'pain', type: 'integer' },
  { linkId: 'pain-trend', group: 'pain', type: 'choice', answers: localCodes('improving', 'same', 'worse') },
  { linkId: 'pain-onset', group: 'pain', type: 'choice', answers: localCodes('gradual', 'sudden-severe') },
  {
    linkId: 'pain-location',
    group: 'pain',
    type: 'choice',
    repeats: true,
    answers: localCodes('lower-back', 'mid-back', 'sacral', 'hip'),
  },
  {
    linkId: 'pain-pattern',
    group: 'pain',
    type: 'choice',
    repeats: true,
    answers: localCodes('worse-morning', 'eases-movement', 'flares-period'),
  },
  {
    linkId: 'pain-character',
    group: 'pain',
    type: 'choice',
    repeats: true,
    answers: localCodes('dull-ache', 'sharp-twinges'),
  },
  {
    linkId: 'leg-symptoms',
    group: 'red-flags',
    type: 'choice',
    answers: localCodes('none', 'one-leg', 'both-legs'),
    required: true,
  },
  ...ynu('red-flags', true, 'rf-saddle-numbness', 'rf-bladder-bowel'),
  {
    linkId: 'rf-leg-weakness',
    group: 'red-flags',
    type: 'choice',
    answers: localCodes('none', 'mild', 'significant'),
    required: true,
  },
  ...ynu(
    'red-flags',
    true,
    'rf-weakness-worsening',
    'rf-walking-difficulty',
    'rf-fever',
    'rf-infection-risk',
    'rf-cancer-history',
    'rf-weight-loss',
    'rf-night-pain',
  ),
  {
    linkId: 'rf-trauma',
    group: 'red-flags',
    type: 'choice',
    answers: localCodes('none', 'minor', 'major'),
    required: true,
  },
  ...ynu('red-flags', true, 'rf-steroids'),
  ...ynu(
    'inflammatory',
    false,
    'morning-stiffness-30min',
    'stiffness-eases-exercise',
    'alternating-buttock-pain',
    'wakes-late-night',
  ),
  {
    linkId: 'menopausal-status',
    group: 'bone-health',
    type: 'choice',
    answers: [`${SCT}|22636003`, `${SCT}|161541000119104`, `${SCT}|76498008`, `${DAR}|asked-unknown`],
  },
  { linkId: 'final-period-age', group: 'bone-health', type: 'integer' },
  { linkId: 'weight-kg', group: 'bone-health', type: 'decimal', code: 'http://loinc.org|29463-7' },
  { linkId: 'height-loss-cm', group: 'bone-health', type: 'decimal' },
  ...ynu(
    'bone-health',
    false,
    'known-osteoporosis',
    'prior-fragility-fracture',
    'parental-hip-fracture',
    'current-smoker',
    'alcohol-3-plus',
    'rheumatoid-arthritis',
    'hrt-current',
    'recent-dxa',
  ),
  { linkId: 'ost-score', group: 'bone-health', type: 'integer', readOnly: true },
  { linkId: 'orai-score', group: 'bone-health', type: 'integer', readOnly: true },
  { linkId: 'walking-days-per-week', group: 'self-management', type: 'integer' },
  { linkId: 'strength-sessions-per-week', group: 'self-management', type: 'integer' },
  ...ynu(
    'self-management',
    false,
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
    answers: localCodes('never', 'flares-only', 'most-days'),
  },
  ...ynu('self-management', false, 'physiotherapy'),
];

const groups = q.item ?? [];
const questions = (g: fhir4.QuestionnaireItem) => (g.item ?? []).filter((i) => i.type !== 'display');
const find = (linkId: string) => groups.flatMap((g) => g.item ?? []).find((i) => i.linkId === linkId);
const ext = (item: { extension?: fhir4.Extension[] }, url: string) =>
  (item.extension ?? []).filter((e) => e.url === url);
const allItems = (items: fhir4.QuestionnaireItem[] = []): fhir4.QuestionnaireItem[] =>
  items.flatMap((i) => [i, ...allItems(i.item)]);

describe('intake Questionnaire: identity and structure', () => {
  it('has the pinned id, url and version and is strict R4', () => {
    expect(q).toMatchObject({
      resourceType: 'Questionnaire',
      id: 'back-pain-intake',
      url: INTAKE_URL,
      version: '1.0.0',
      status: 'active',
    });
    expect(validateResource(q).filter((i) => i.severity === 'error')).toEqual([]);
  });

  it('has the five groups in the pinned order, each holding exactly its pinned questions in order', () => {
    expect(groups.map((g) => [g.linkId, g.type])).toEqual(
      ['pain', 'red-flags', 'inflammatory', 'bone-health', 'self-management'].map((id) => [id, 'group']),
    );
    for (const g of groups) {
      expect(
        questions(g).map((i) => i.linkId),
        g.linkId,
      ).toEqual(PINNED.filter((r) => r.group === g.linkId).map((r) => r.linkId));
    }
  });

  it('nests nothing under questions except help text', () => {
    for (const item of groups.flatMap((g) => g.item ?? [])) {
      for (const child of item.item ?? []) {
        expect(child.type).toBe('display');
        expect(
          ext(child, 'http://hl7.org/fhir/StructureDefinition/questionnaire-itemControl')[0]?.valueCodeableConcept
            ?.coding?.[0]?.code,
        ).toBe('help');
      }
    }
  });

  it('uses answerOption everywhere (no answerValueSet: LHC-Forms must render offline)', () => {
    expect(allItems(q.item).filter((i) => i.answerValueSet)).toEqual([]);
  });
});

describe.each(PINNED)('pinned item $linkId', (row) => {
  const item = find(row.linkId);
  it(`is a ${row.type} in group ${row.group} with the pinned answers, code and flags`, () => {
    expect(item).toBeDefined();
    expect(item!.type).toBe(row.type);
    expect(groups.find((g) => g.item?.includes(item!))?.linkId).toBe(row.group);
    if (row.answers) {
      expect(item!.answerOption?.map((o) => `${o.valueCoding?.system}|${o.valueCoding?.code}`)).toEqual(row.answers);
      for (const o of item!.answerOption ?? []) expect(o.valueCoding?.display, 'every option has a label').toBeTruthy();
    }
    expect(item!.repeats ?? false).toBe(row.repeats ?? false);
    if (row.code) expect(item!.code?.map((c) => `${c.system}|${c.code}`)).toContain(row.code);
    expect(item!.required ?? false).toBe(row.required ?? false);
    expect(item!.readOnly ?? false).toBe(row.readOnly ?? false);
    expect(item!.text, 'has question text').toBeTruthy();
  });
});

describe('intake Questionnaire: SDC behaviour', () => {
  it('shows Yes / No / Not sure on every YNU item', () => {
    for (const row of PINNED.filter((r) => r.answers === YNU)) {
      expect(
        find(row.linkId)!.answerOption!.map((o) => o.valueCoding!.display),
        row.linkId,
      ).toEqual(['Yes', 'No', 'Not sure']);
    }
  });

  it('asks about worsening weakness only when there is weakness, and the last period age only when postmenopausal', () => {
    const worsening = find('rf-weakness-worsening')!;
    expect(worsening.enableBehavior).toBe('any');
    expect(worsening.enableWhen!.map((e) => [e.question, e.operator, e.answerCoding?.code])).toEqual([
      ['rf-leg-weakness', '=', 'mild'],
      ['rf-leg-weakness', '=', 'significant'],
    ]);
    expect(find('final-period-age')!.enableWhen).toEqual([
      { question: 'menopausal-status', operator: '=', answerCoding: { system: SCT, code: '76498008' } },
    ]);
  });

  it('declares the patient launch context the way both LHC-Forms and sdc-populate read it', () => {
    const lc = ext(q, 'http://hl7.org/fhir/uv/sdc/StructureDefinition/sdc-questionnaire-launchContext');
    expect(lc).toHaveLength(1);
    const parts = Object.fromEntries(lc[0]!.extension!.map((e) => [e.url, e]));
    expect(parts.name?.valueCoding).toMatchObject({
      system: 'http://hl7.org/fhir/uv/sdc/CodeSystem/launchContext',
      code: 'patient',
    });
    expect(parts.type?.valueCode).toBe('Patient');
  });

  it('pre-fills age from %patient.birthDate and weight from the latest body-weight Observation', () => {
    const age = ext(find('age')!, 'http://hl7.org/fhir/uv/sdc/StructureDefinition/sdc-questionnaire-initialExpression');
    expect(age[0]?.valueExpression?.expression).toContain('%patient.birthDate');
    const source = ext(q, 'http://hl7.org/fhir/uv/sdc/StructureDefinition/sdc-questionnaire-sourceQueries');
    expect(source[0]?.valueReference?.reference).toBe('#PrePopQuery');
    const batch = q.contained?.find((r) => r.id === 'PrePopQuery') as fhir4.Bundle | undefined;
    expect(batch?.type).toBe('batch');
    expect(batch?.entry?.[0]?.request?.url).toBe(
      'Observation?subject=Patient/{{%patient.id}}&code=http://loinc.org|29463-7&_sort=-date&_count=1',
    );
    const weight = ext(
      find('weight-kg')!,
      'http://hl7.org/fhir/uv/sdc/StructureDefinition/sdc-questionnaire-initialExpression',
    );
    expect(weight[0]?.valueExpression?.expression).toContain('%PrePopQuery');
    // No x-fhir-query variables: LHC-Forms rejects those when no FHIR server is connected.
    expect(
      ext(q, 'http://hl7.org/fhir/StructureDefinition/variable').filter(
        (e) => e.valueExpression?.language === 'application/x-fhir-query',
      ),
    ).toEqual([]);
  });

  it('marks pain severity and weight for Observation extraction', () => {
    const marked = allItems(q.item).filter(
      (i) =>
        ext(i, 'http://hl7.org/fhir/uv/sdc/StructureDefinition/sdc-questionnaire-observationExtract')[0]
          ?.valueBoolean === true,
    );
    expect(marked.map((i) => i.linkId)).toEqual(['pain-severity', 'weight-kg']);
    expect(
      ext(find('weight-kg')!, 'http://hl7.org/fhir/StructureDefinition/questionnaire-unit')[0]?.valueCoding,
    ).toMatchObject({ system: 'http://unitsofmeasure.org', code: 'kg' });
  });

  it.each([
    ['age', 18, 120],
    ['pain-severity', 0, 10],
    ['pain-duration-weeks', 0, undefined],
    ['weight-kg', 20, 300],
    ['walking-days-per-week', 0, 7],
    ['strength-sessions-per-week', 0, 14],
    ['height-loss-cm', 0, undefined],
  ])('limits %s to %s..%s', (linkId, min, max) => {
    const item = find(linkId)!;
    const value = (e?: fhir4.Extension) => e?.valueInteger ?? e?.valueDecimal;
    expect(value(ext(item, 'http://hl7.org/fhir/StructureDefinition/minValue')[0])).toBe(min);
    if (max !== undefined) expect(value(ext(item, 'http://hl7.org/fhir/StructureDefinition/maxValue')[0])).toBe(max);
  });

  it('every FHIRPath expression compiles', () => {
    const urls = ['calculatedExpression', 'initialExpression', 'enableWhenExpression'].map(
      (n) => `http://hl7.org/fhir/uv/sdc/StructureDefinition/sdc-questionnaire-${n}`,
    );
    urls.push('http://hl7.org/fhir/StructureDefinition/variable');
    const expressions = [q, ...allItems(q.item)].flatMap((el) =>
      (el.extension ?? []).filter((e) => urls.includes(e.url)).map((e) => e.valueExpression!),
    );
    const fhirpath = expressions.filter((e) => e.language === 'text/fhirpath');
    expect(fhirpath.length).toBeGreaterThanOrEqual(8);
    for (const e of fhirpath) expect(() => compileFhirPath(e.expression!), e.expression).not.toThrow();
  });

  it('computes OST and ORAI read-only with calculatedExpression', () => {
    for (const id of ['ost-score', 'orai-score']) {
      const item = find(id)!;
      expect(item.readOnly).toBe(true);
      expect(
        ext(item, 'http://hl7.org/fhir/uv/sdc/StructureDefinition/sdc-questionnaire-calculatedExpression'),
      ).toHaveLength(1);
    }
  });
});

describe('intake Questionnaire: wording a patient can manage', () => {
  const questionTexts = allItems(q.item)
    .filter((i) => i.type !== 'group' && i.type !== 'display' && !i.readOnly)
    .map((i) => i.text!);

  it('uses no clinical jargon in questions', () => {
    const jargon =
      /\b(cauda|equina|radicul|sciatica|saddle an|incontinen|urinary retention|NSAID|DXA|DEXA|osteopor(?!osis\))|vertebra|glucocorticoid|immunosuppress|perimenopaus|postmenopaus|premenopaus|spondyl|fragility|lumbar|thoracic|trauma|neurolog|malignan|febrile|pyrexia)/i;
    for (const t of questionTexts) expect(t, t).not.toMatch(jargon);
  });

  it('keeps questions short and readable (Flesch-Kincaid grade of all question text at most 8)', () => {
    const text = questionTexts.join(' ');
    const sentences = questionTexts.length;
    const words = text.split(/\s+/).filter(Boolean);
    const syllables = words.reduce((n, w) => n + countSyllables(w), 0);
    const grade = 0.39 * (words.length / sentences) + 11.8 * (syllables / words.length) - 15.59;
    expect(grade).toBeLessThanOrEqual(8);
    for (const t of questionTexts) expect(t.split(/\s+/).length, t).toBeLessThanOrEqual(32);
  });

  it('gives help text to every red-flag question that names a body area or a medicine', () => {
    for (const id of ['rf-saddle-numbness', 'rf-bladder-bowel', 'rf-infection-risk', 'rf-steroids']) {
      expect(find(id)!.item?.[0]?.text, id).toBeTruthy();
    }
  });
});

describe('answer terminology', () => {
  const profiles = new URL('../../profiles/', import.meta.url);
  const read = <T>(f: string) => JSON.parse(readFileSync(new URL(f, profiles), 'utf8')) as T;
  const codeSystem = read<fhir4.CodeSystem>('CodeSystem-back-pain-answer.json');
  const ANSWER_VALUE_SETS = [
    'yes-no-unsure',
    'pain-trend',
    'pain-onset',
    'leg-symptoms',
    'pain-location',
    'pain-pattern',
    'pain-character',
    'leg-weakness',
    'trauma',
    'menopausal-status',
    'nsaid-use',
  ];
  const valueSets = ANSWER_VALUE_SETS.map((id) => read<fhir4.ValueSet>(`ValueSet-back-pain-${id}.json`));

  it('defines every local answer code used by the Questionnaire', () => {
    const defined = new Set(codeSystem.concept!.map((c) => c.code));
    const used = allItems(q.item)
      .flatMap((i) => i.answerOption ?? [])
      .map((o) => o.valueCoding!)
      .filter((c) => c.system === ANSWER);
    expect(used.length).toBeGreaterThan(20);
    for (const c of used) expect(defined.has(c.code!), c.code).toBe(true);
    expect(codeSystem).toMatchObject({ url: ANSWER, content: 'complete', count: codeSystem.concept!.length });
  });

  it('has a ValueSet for every distinct answer list, enumerating exactly its options', () => {
    const lists = new Set(
      allItems(q.item)
        .filter((i) => i.answerOption)
        .map((i) =>
          i
            .answerOption!.map((o) => `${o.valueCoding!.system}|${o.valueCoding!.code}`)
            .sort()
            .join(' '),
        ),
    );
    const sets = new Set(
      valueSets.map((vs) =>
        vs
          .compose!.include.flatMap((inc) => inc.concept!.map((c) => `${inc.system}|${c.code}`))
          .sort()
          .join(' '),
      ),
    );
    for (const list of lists) expect(sets.has(list), list).toBe(true);
    expect(valueSets.map((vs) => vs.url)).toEqual(
      ANSWER_VALUE_SETS.map((id) => `https://periplan.app/fhir/ValueSet/back-pain-${id}`),
    );
    for (const vs of [...valueSets, codeSystem])
      expect(
        validateResource(vs).filter((i) => i.severity === 'error'),
        vs.id,
      ).toEqual([]);
  });
});

/** Syllables by vowel groups, minus a silent final e: rough, but stable, which is what a threshold needs. */
function countSyllables(word: string): number {
  const w = word.toLowerCase().replace(/[^a-z]/g, '');
  if (w.length <= 3) return 1;
  const groups = w
    .replace(/(?:[^laeiouy]es|ed|[^laeiouy]e)$/, '')
    .replace(/^y/, '')
    .match(/[aeiouy]{1,2}/g);
  return Math.max(1, groups?.length ?? 1);
}
