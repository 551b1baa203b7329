/**
 * Rule behaviour at the boundaries the clinical spec sets, three-valued logic, several rules at once, the
 * output shape (evidence, proposals, ids) and input errors.
 */
import { describe, it, expect } from '@jest/globals';
import { applyPlanDefinition } from '../../src/rules/index.js';
import { FhirError } from '../../src/outcomes/index.js';
import {
  BASELINE,
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

interface RunOptions {
  birthDate?: string;
  extra?: fhir4.FhirResource[];
  authored?: string | null;
  noResponse?: boolean;
}

function apply(answers: Answers, options: RunOptions = {}): fhir4.CarePlan {
  const data: fhir4.FhirResource[] = [buildPatient('p1', options.birthDate ?? '1978-05-01')];
  if (!options.noResponse) data.push(buildResponse(answers, { patientId: 'p1', authored: options.authored }));
  data.push(...(options.extra ?? []));
  return applyPlanDefinition(pd, { subject: 'Patient/p1', data, knowledge: kb, now: FIXED_NOW });
}

/** rule code -> priority of the (single) action with that code */
function rules(answers: Answers, options?: RunOptions): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = {};
  for (const r of firedRules(apply(answers, options))) out[r.code] = r.priority;
  return out;
}

const withBase = (overrides: Answers): Answers => ({ ...BASELINE, ...overrides });
const drop = (answers: Answers, ...linkIds: string[]): Answers => {
  const out = { ...answers };
  for (const l of linkIds) delete out[l];
  return out;
};

describe('baseline', () => {
  it('mechanical pain with every red flag No: RF-10 and the self-management plan, nothing else', () => {
    expect(rules(BASELINE)).toEqual({
      'RF-10': 'routine',
      CS: 'routine',
      'CS-01': 'routine',
      'CS-02': 'routine',
      'CS-03': 'routine',
    });
  });
});

describe('age boundaries', () => {
  const inflammatory: Answers = { 'morning-stiffness-30min': 'Y', 'stiffness-eases-exercise': 'Y' };
  it('RF-09 fires at 44, not at 45', () => {
    expect(rules(withBase({ ...inflammatory, age: 44 }))['RF-09']).toBe('urgent');
    expect(rules(withBase({ ...inflammatory, age: 45 }))['RF-09']).toBeUndefined();
  });
  it('RF-09 needs two inflammatory Yes answers', () => {
    expect(rules(withBase({ age: 40, 'morning-stiffness-30min': 'Y' }))['RF-09']).toBeUndefined();
  });
  it('RF-05 (age >= 50 and duration < 6) fires at 50, not at 49', () => {
    expect(rules(withBase({ age: 50 }))['RF-05']).toBe('urgent');
    const at49 = rules(withBase({ age: 49 }));
    expect(at49['RF-05']).toBeUndefined();
    expect(at49['RF-10']).toBe('routine');
  });
  it('BMD-01 fires at 65, not at 64', () => {
    expect(rules(withBase({ age: 65 }))['BMD-01']).toBe('routine');
    expect(rules(withBase({ age: 64 }))['BMD-01']).toBeUndefined();
  });
  it('RF-06 with sudden severe onset: age 65 is itself the risk factor; at 64 (perimenopausal, no other risk) it does not fire', () => {
    const sudden: Answers = { 'pain-onset': 'sudden-severe' };
    expect(rules(withBase({ ...sudden, age: 65 }))['RF-06']).toBe('asap');
    expect(rules(withBase({ ...sudden, age: 64 }))['RF-06']).toBeUndefined();
  });
  it('age falls back to whole years from Patient.birthDate to QuestionnaireResponse.authored', () => {
    const noAge = drop(BASELINE, 'age');
    // authored 2026-11-24: born 1976-11-24 -> 50 (RF-05 fires), born 1976-11-25 -> 49
    expect(rules(noAge, { birthDate: '1976-11-24' })['RF-05']).toBe('urgent');
    expect(rules(noAge, { birthDate: '1976-11-25' })['RF-05']).toBeUndefined();
  });
  it('the age answer wins over Patient.birthDate', () => {
    expect(rules(withBase({ age: 66 }), { birthDate: '1990-01-01' })['BMD-01']).toBe('routine');
  });
});

describe('duration boundaries', () => {
  it('RF-05 (duration >= 4 and not improving) fires at 4, not at 3', () => {
    expect(rules(withBase({ 'pain-duration-weeks': 4, 'pain-trend': 'same' }))['RF-05']).toBe('urgent');
    expect(rules(withBase({ 'pain-duration-weeks': 3, 'pain-trend': 'worse' }))['RF-05']).toBeUndefined();
    expect(rules(withBase({ 'pain-duration-weeks': 4, 'pain-trend': 'improving' }))['RF-05']).toBeUndefined();
  });
  it('RF-10 needs duration < 6; RF-11 and CS-05 start at 6', () => {
    const at5 = rules(withBase({ 'pain-duration-weeks': 5, 'pain-trend': 'improving' }));
    expect(at5['RF-10']).toBe('routine');
    expect(at5['CS-05']).toBeUndefined();
    const at6 = rules(withBase({ 'pain-duration-weeks': 6, 'pain-trend': 'improving' }));
    expect(at6['RF-10']).toBeUndefined();
    expect(at6['RF-11']).toBeUndefined(); // improving
    expect(at6['CS-05']).toBe('routine');
    expect(rules(withBase({ 'pain-duration-weeks': 6, 'pain-trend': 'worse' }))['RF-11']).toBe('routine');
    expect(rules(withBase({ 'pain-duration-weeks': 5, 'pain-trend': 'worse' }))['RF-11']).toBeUndefined();
  });
  it('CS-04 needs peri/postmenopausal and duration >= 12', () => {
    expect(rules(withBase({ 'pain-duration-weeks': 12, 'pain-trend': 'improving' }))['CS-04']).toBe('routine');
    expect(rules(withBase({ 'pain-duration-weeks': 11, 'pain-trend': 'improving' }))['CS-04']).toBeUndefined();
    expect(
      rules(withBase({ 'pain-duration-weeks': 12, 'pain-trend': 'improving', 'menopausal-status': 'pre' }))['CS-04'],
    ).toBeUndefined();
  });
});

describe('bone density scores and thresholds', () => {
  // Postmenopausal, 58, smoker, on HRT: ORAI = 5 + 3 + 0 = 8 (negative) at 60-69.9 kg, so OST decides.
  const post: Answers = {
    age: 58,
    'menopausal-status': 'post',
    'final-period-age': 52,
    'current-smoker': 'Y',
    'hrt-current': 'Y',
  };
  it('BMD-02 on OST: 67.9 kg -> OST 1 (positive) fires; 68 kg -> OST 2 does not', () => {
    expect(rules(withBase({ ...post, 'weight-kg': 67.9 }))['BMD-02']).toBe('routine');
    expect(rules(withBase({ ...post, 'weight-kg': 68 }))['BMD-02']).toBeUndefined();
  });
  it('BMD-02 on ORAI with OST negative: ORAI 8 does not fire, ORAI 9 fires', () => {
    // 55 y, 69 kg, HRT: OST trunc(14/5) = 2, ORAI 5 + 3 + 0 = 8
    expect(rules(withBase({ ...post, age: 55, 'weight-kg': 69 }))['BMD-02']).toBeUndefined();
    // 45 y, 59 kg (low weight is the risk factor), HRT: OST trunc(14/5) = 2, ORAI 0 + 9 + 0 = 9
    expect(rules(withBase({ ...post, age: 45, 'weight-kg': 59, 'current-smoker': 'N' }))['BMD-02']).toBe('routine');
  });
  it('BMD-02 needs a clinical risk factor', () => {
    expect(rules(withBase({ ...post, 'weight-kg': 62, 'current-smoker': 'N' }))['BMD-02']).toBeUndefined();
  });
  it('height loss 4.0 cm fires RF-06 and BMD-06 (SOON); 3.9 does not', () => {
    const at4 = rules(withBase({ 'height-loss-cm': 4.0 }));
    expect(at4['RF-06']).toBe('urgent');
    expect(at4['BMD-06']).toBe('urgent');
    const below = rules(withBase({ 'height-loss-cm': 3.9 }));
    expect(below['RF-06']).toBeUndefined();
    expect(below['BMD-06']).toBeUndefined();
  });
  it('low body weight is < 60: BMD-05 fires at 59.9, not at 60', () => {
    expect(rules(withBase({ 'weight-kg': 59.9 }))['BMD-05']).toBe('routine');
    expect(rules(withBase({ 'weight-kg': 60 }))['BMD-05']).toBeUndefined();
  });
  it('a recent DXA stops screening rules (BMD-01) but not diagnostic ones (BMD-03, BMD-04)', () => {
    const r = rules(withBase({ age: 70, 'recent-dxa': 'Y', 'prior-fragility-fracture': 'Y', 'rf-steroids': 'Y' }));
    expect(r['BMD-01']).toBeUndefined();
    expect(r['BMD-03']).toBe('urgent');
    expect(r['BMD-04']).toBe('urgent');
  });
  it('BMD-07: menopause before 45 without HRT, or rheumatoid arthritis', () => {
    expect(rules(withBase({ 'menopausal-status': 'post', 'final-period-age': 44 }))['BMD-07']).toBe('routine');
    expect(rules(withBase({ 'menopausal-status': 'post', 'final-period-age': 45 }))['BMD-07']).toBeUndefined();
    expect(
      rules(withBase({ 'menopausal-status': 'post', 'final-period-age': 40, 'hrt-current': 'Y' }))['BMD-07'],
    ).toBeUndefined();
    expect(rules(withBase({ 'rheumatoid-arthritis': 'Y' }))['BMD-07']).toBe('routine');
  });
  it('BMD-06 follows RF-06: URGENT when RF-06 is URGENT', () => {
    const r = rules(
      withBase({
        age: 58,
        'menopausal-status': 'post',
        'pain-onset': 'sudden-severe',
        'rf-trauma': 'minor',
        'height-loss-cm': 5,
      }),
    );
    expect(r['RF-06']).toBe('asap');
    expect(r['BMD-06']).toBe('asap');
  });
});

describe('tiers that follow the data', () => {
  it('RF-04 is URGENT alone and EMERGENCY with any neuro feature', () => {
    expect(rules(withBase({ 'rf-cancer-history': 'Y' }))['RF-04']).toBe('asap');
    expect(rules(withBase({ 'rf-cancer-history': 'Y', 'rf-leg-weakness': 'mild' }))['RF-04']).toBe('stat');
    expect(rules(withBase({ 'rf-cancer-history': 'Y', 'leg-symptoms': 'one-leg' }))['RF-04']).toBe('stat');
  });
  it('RF-05 is SOON with one feature and URGENT with two', () => {
    expect(rules(withBase({ 'rf-weight-loss': 'Y' }))['RF-05']).toBe('urgent');
    expect(rules(withBase({ 'rf-weight-loss': 'Y', age: 55 }))['RF-05']).toBe('asap');
  });
  it('only one action per rule fires even when both tiers could match', () => {
    const codes = firedRules(apply(withBase({ 'pain-onset': 'sudden-severe', age: 66, 'height-loss-cm': 6 }))).map(
      (r) => r.code,
    );
    expect(codes.filter((c) => c === 'RF-06')).toHaveLength(1);
    expect(codes.filter((c) => c === 'BMD-06')).toHaveLength(1);
  });
});

describe('three-valued logic: unanswered and "Not sure" are unknown, never No', () => {
  it('a "Not sure" red flag fires RF-00 and stops RF-10', () => {
    const r = rules(withBase({ 'rf-fever': '?' }));
    expect(r['RF-00']).toBe('urgent');
    expect(r['RF-10']).toBeUndefined();
  });
  it('an unanswered red flag behaves exactly like "Not sure"', () => {
    expect(rules(drop(BASELINE, 'rf-fever'))).toEqual(rules(withBase({ 'rf-fever': '?' })));
  });
  it('leg-symptoms unknown counts as an unknown red-flag item', () => {
    expect(rules(drop(BASELINE, 'leg-symptoms'))['RF-00']).toBe('urgent');
  });
  it('rf-weakness-worsening is not asked (so not unknown) when leg weakness is none', () => {
    expect(rules(BASELINE)['RF-00']).toBeUndefined();
    expect(rules(withBase({ 'rf-leg-weakness': 'mild' }))['RF-00']).toBe('urgent');
    expect(rules(withBase({ 'rf-leg-weakness': 'mild', 'rf-weakness-worsening': 'N' }))['RF-00']).toBeUndefined();
  });
  it('an unknown answer never fires a rule that needs a Yes', () => {
    const r = rules(
      withBase({ 'rf-saddle-numbness': '?', 'rf-cancer-history': '?', 'rf-fever': '?', 'rf-infection-risk': '?' }),
    );
    for (const code of ['RF-01', 'RF-03', 'RF-04']) expect(r[code]).toBeUndefined();
  });
  it('unknown age or duration is not treated as young or short', () => {
    const r = rules(
      drop(withBase({ 'morning-stiffness-30min': 'Y', 'stiffness-eases-exercise': 'Y' }), 'age', 'pain-duration-weeks'),
      { birthDate: undefined },
    );
    expect(r['RF-09']).toBeUndefined();
    expect(r['RF-10']).toBeUndefined();
  });
  it('the unknown red-flag items are listed on every fired rule with their question text', () => {
    const cp = apply(withBase({ 'rf-fever': '?', 'rf-night-pain': undefined }));
    for (const { action } of firedRules(cp)) {
      const unknown = (action.extension ?? []).filter((e) => e.url.endsWith('ext-unknown-item'));
      expect(unknown.map((e) => e.extension?.find((x) => x.url === 'linkId')?.valueString)).toEqual([
        'rf-fever',
        'rf-night-pain',
      ]);
      expect(unknown[0]!.extension?.find((x) => x.url === 'question')?.valueString).toMatch(/fever/);
    }
  });
  it('contradictory answers (Yes and No to one red flag) are not a No', () => {
    const qr = buildResponse(BASELINE, { patientId: 'p1' });
    const fever = qr.item!.flatMap((g) => g.item ?? []).find((i) => i.linkId === 'rf-fever')!;
    fever.answer!.push({ valueCoding: { system: 'http://terminology.hl7.org/CodeSystem/v2-0136', code: 'Y' } });
    const cp = applyPlanDefinition(pd, {
      subject: 'Patient/p1',
      data: [buildPatient('p1', '1978-05-01'), qr],
      knowledge: kb,
      now: FIXED_NOW,
    });
    expect(firedRules(cp).map((r) => r.code)).not.toContain('RF-10');
  });
  it('no QuestionnaireResponse: everything unknown, RF-00 fires and RF-10 does not', () => {
    const r = rules({}, { noResponse: true, birthDate: '1970-01-01' });
    expect(r['RF-00']).toBe('urgent');
    expect(r['RF-10']).toBeUndefined();
    expect(r['BMD-01']).toBeUndefined(); // 56 by birth date
  });
});

describe('several rules at once', () => {
  it('rules proposing the same thing share one proposal at the highest of their priorities', () => {
    // BMD-03 (SOON) and BMD-05 (ROUTINE) both propose a DXA; RF-01 and RF-02 both propose an MRI.
    const cp = apply(
      withBase({ 'prior-fragility-fracture': 'Y', 'rf-bladder-bowel': 'Y', 'rf-walking-difficulty': 'Y' }),
    );
    const srs = contained(cp).filter((r): r is fhir4.ServiceRequest => r.resourceType === 'ServiceRequest');
    expect(srs.map((s) => [s.code?.coding?.[0]?.code, s.priority])).toEqual([
      ['24968-0', 'stat'],
      ['312681000', 'urgent'],
    ]);
    const fired = firedRules(cp);
    const mriRefs = fired
      .filter((r) => r.code === 'RF-01' || r.code === 'RF-02')
      .map((r) => r.action.action?.[0]?.resource?.reference);
    expect(new Set(mriRefs).size).toBe(1);
    const flags = contained(cp)
      .filter((r): r is fhir4.Flag => r.resourceType === 'Flag')
      .map((f) => f.code.coding?.[0]?.code);
    expect(flags).toEqual(['emergency-assessment', 'imaging-follow-up', 'bone-density-scan']);
  });
  it('per-rule messages are not merged: RF-08 and RF-10 each keep their own recommendation', () => {
    const cp = apply(withBase({ 'leg-symptoms': 'one-leg' }));
    const fired = firedRules(cp);
    const refs = ['RF-08', 'RF-10'].map((code) => fired.find((r) => r.code === code)?.action.resource?.reference);
    expect(refs).toEqual(['#RF-08', '#RF-10']);
    const texts = refs.map(
      (ref) =>
        (contained(cp).find((r) => `#${r.id}` === ref) as fhir4.CommunicationRequest).payload?.[0]?.contentString,
    );
    expect(texts[0]).toMatch(/radicular/);
    expect(texts[1]).toMatch(/no imaging/);
  });
  it('a shared proposal is raised when a later rule needs it sooner', () => {
    // BMD-05 (ROUTINE) comes after BMD-03 (SOON) in the content, RF-06 URGENT's BMD-06 later still.
    const cp = apply(
      withBase({
        age: 58,
        'menopausal-status': 'post',
        'pain-onset': 'sudden-severe',
        'known-osteoporosis': 'Y',
        'prior-fragility-fracture': 'Y',
      }),
    );
    const dxa = contained(cp).filter(
      (r): r is fhir4.ServiceRequest =>
        r.resourceType === 'ServiceRequest' && r.code?.coding?.[0]?.code === '312681000',
    );
    expect(dxa).toHaveLength(1);
    expect(dxa[0]!.priority).toBe('asap');
    const flag = contained(cp).find(
      (r): r is fhir4.Flag => r.resourceType === 'Flag' && r.code.coding?.[0]?.code === 'bone-density-scan',
    );
    expect(flag?.extension?.find((e) => e.url.endsWith('flag-priority'))?.valueCodeableConcept?.coding?.[0]?.code).toBe(
      'PH',
    );
  });
  it('the highest tier sets RequestGroup.priority, and actions are ordered most urgent first', () => {
    const cp = apply(
      withBase({
        'menopausal-status': 'pre',
        'rf-saddle-numbness': 'Y',
        'rf-fever': 'Y',
        'rf-infection-risk': 'Y',
        'rf-steroids': 'Y',
      }),
    );
    const rg = requestGroupOf(cp);
    expect(rg.priority).toBe('stat');
    const fired = firedRules(cp);
    expect(fired.map((r) => r.code)).toEqual(['RF-01', 'RF-03', 'BMD-04']);
    expect(fired.map((r) => r.code)).not.toContain('CS'); // an EMERGENCY rule fired
  });
  it('serious rules suppress RF-08, RF-10 and RF-11', () => {
    const r = rules(withBase({ 'leg-symptoms': 'one-leg', 'rf-walking-difficulty': 'Y', 'pain-duration-weeks': 10 }));
    expect(r['RF-02']).toBe('asap');
    expect(r['RF-08']).toBeUndefined();
    expect(r['RF-10']).toBeUndefined();
    expect(r['RF-11']).toBeUndefined();
  });
  it('RF-09 and RF-05 stop RF-10', () => {
    expect(
      rules(withBase({ age: 40, 'morning-stiffness-30min': 'Y', 'wakes-late-night': 'Y' }))['RF-10'],
    ).toBeUndefined();
    expect(rules(withBase({ 'rf-night-pain': 'Y' }))['RF-10']).toBeUndefined();
  });
  it('the self-management plan is offered with URGENT rules but not with EMERGENCY ones', () => {
    expect(rules(withBase({ 'rf-cancer-history': 'Y' })).CS).toBe('routine');
    expect(rules(withBase({ 'rf-trauma': 'major' })).CS).toBeUndefined();
    expect(rules(withBase({ 'leg-symptoms': 'both-legs' })).CS).toBeUndefined();
  });
});

describe('output shape', () => {
  const answers = withBase({
    'menopausal-status': 'pre',
    'rf-fever': 'Y',
    'rf-infection-risk': 'Y',
    'prior-fragility-fracture': 'Y',
    'rf-night-pain': undefined,
  });
  const cp = apply(answers);
  const rg = requestGroupOf(cp);
  const byId = new Map(contained(cp).map((r) => [`#${r.id}`, r]));

  it('is a draft proposal CarePlan for the subject, instantiating the PlanDefinition url|version, with the intended use', () => {
    expect(cp).toMatchObject({
      resourceType: 'CarePlan',
      status: 'draft',
      intent: 'proposal',
      subject: { reference: 'Patient/p1' },
    });
    expect(cp.instantiatesCanonical).toEqual(['https://periplan.app/fhir/PlanDefinition/back-pain-follow-up|1.0.0']);
    expect(rg.instantiatesCanonical).toEqual(cp.instantiatesCanonical);
    expect(cp.activity?.[0]?.reference?.reference).toBe('#request-group');
    expect(cp.note?.[0]?.text).toMatch(
      /decision support for clinicians; not a diagnosis; not for emergencies by patients/i,
    );
  });
  it("every rule action carries code, priority, citations, source PlanDefinition and the patient's answers", () => {
    for (const { action } of firedRules(cp)) {
      expect(action.code?.[0]?.coding?.[0]?.system).toBe('https://periplan.app/fhir/CodeSystem/back-pain-rule');
      expect(action.priority).toMatch(/^(routine|urgent|asap|stat)$/);
      expect(action.documentation?.length).toBeGreaterThan(0);
      expect(action.description).toMatch(/Consider|Possible/);
      const source = action.extension?.find((e) => e.url.endsWith('ext-source-plan-definition'))?.valueCanonical;
      expect(source).toMatch(/^https:\/\/periplan\.app\/fhir\/PlanDefinition\/back-pain-[a-z-]+\|1\.0\.0$/);
    }
    const rf03 = firedRules(cp).find((r) => r.code === 'RF-03')!.action;
    const basis = rf03.extension!.filter((e) => e.url.endsWith('ext-basis'));
    expect(basis.map((b) => b.extension?.find((x) => x.url === 'linkId')?.valueString)).toEqual([
      'rf-fever',
      'rf-infection-risk',
    ]);
    const fever = basis[0]!.extension!;
    expect(fever.find((x) => x.url === 'question')?.valueString).toMatch(/fever/);
    expect(fever.find((x) => x.url === 'answer')?.valueCoding?.code).toBe('Y');
    expect(fever.find((x) => x.url === 'authored')?.valueDateTime).toBe('2026-11-24T08:30:00Z');
    expect(fever.find((x) => x.url === 'response')?.valueReference?.reference).toBe('QuestionnaireResponse/p1-intake');
  });
  it('proposals only: ServiceRequests are draft proposals with verified codes, never LOINC 24531-6', () => {
    const srs = contained(cp).filter((r): r is fhir4.ServiceRequest => r.resourceType === 'ServiceRequest');
    expect(srs.length).toBeGreaterThan(0);
    for (const sr of srs) {
      expect(sr).toMatchObject({ status: 'draft', intent: 'proposal', subject: { reference: 'Patient/p1' } });
      expect(sr.code?.coding?.map((c) => c.code)).not.toContain('24531-6');
    }
    const codes = srs.flatMap((s) => s.code?.coding?.map((c) => c.code) ?? []);
    expect(codes).toContain('24967-2'); // RF-03
    expect(codes).toContain('312681000'); // BMD-03
    expect(JSON.stringify(cp)).not.toMatch(/24531-6|www\.ama-assn\.org|\bCPT\b/);
  });
  it('flags travel in CPG report-flag Tasks, with category, priority and the response as detail', () => {
    const tasks = contained(cp).filter(
      (r): r is fhir4.Task => r.resourceType === 'Task' && r.code?.coding?.[0]?.code === 'report-flag',
    );
    expect(tasks.length).toBeGreaterThan(0);
    for (const task of tasks) {
      expect(task).toMatchObject({ status: 'draft', intent: 'proposal', for: { reference: 'Patient/p1' } });
      const flag = byId.get(task.input?.[0]?.valueReference?.reference ?? '') as fhir4.Flag;
      expect(flag.resourceType).toBe('Flag');
      expect(flag.category?.[0]?.coding?.[0]).toMatchObject({
        system: 'http://terminology.hl7.org/CodeSystem/flag-category',
        code: 'clinical',
      });
      expect(flag.subject.reference).toBe('Patient/p1');
      const priority = flag.extension?.find((e) => e.url === 'http://hl7.org/fhir/StructureDefinition/flag-priority')
        ?.valueCodeableConcept?.coding?.[0]?.code;
      expect(['PH', 'PM', 'PL']).toContain(priority);
      const detail = flag.extension?.find((e) => e.url === 'http://hl7.org/fhir/StructureDefinition/flag-detail')
        ?.valueReference?.reference;
      expect(detail).toBe('QuestionnaireResponse/p1-intake');
    }
    const flagCodes = contained(cp)
      .filter((r): r is fhir4.Flag => r.resourceType === 'Flag')
      .map((f) => f.code.coding?.[0]?.code);
    expect(flagCodes).toEqual(['imaging-follow-up', 'bone-density-scan']);
  });
  it('flag priority follows the tier: URGENT PH, SOON PM', () => {
    const flags = contained(cp).filter((r): r is fhir4.Flag => r.resourceType === 'Flag');
    const prio = (f: fhir4.Flag) =>
      f.extension?.find((e) => e.url.endsWith('flag-priority'))?.valueCodeableConcept?.coding?.[0]?.code;
    expect(flags.map(prio)).toEqual(['PH', 'PM']);
  });
  it('RF-00 proposes a Task to complete the red-flag questions of the intake', () => {
    const task = contained(cp).find(
      (r): r is fhir4.Task => r.resourceType === 'Task' && r.code?.coding?.[0]?.code === 'collect-information',
    );
    expect(task).toMatchObject({
      status: 'draft',
      intent: 'proposal',
      priority: 'urgent',
      input: [{ valueCanonical: 'https://periplan.app/fhir/Questionnaire/back-pain-intake|1.0.0' }],
    });
  });
  it('every local reference resolves inside the CarePlan', () => {
    const refs = JSON.stringify(cp).match(/"reference":"#[^"]+"/g) ?? [];
    for (const ref of refs) expect(byId.has(ref.slice(13, -1))).toBe(true);
  });
  it('self-management advice is patient-facing, with the safety edits', () => {
    const advice = contained(cp).filter(
      (r): r is fhir4.CommunicationRequest => r.resourceType === 'CommunicationRequest',
    );
    const text = advice.flatMap((a) => a.payload?.map((p) => p.contentString) ?? []).join('\n');
    expect(text).toMatch(/350 mg/);
    expect(text).not.toMatch(/400 mg/);
    expect(text).toMatch(/Discuss them with your clinician/);
    expect(text).toMatch(/short flare-ups only/);
    for (const a of advice) expect(a).toMatchObject({ status: 'draft', recipient: [{ reference: 'Patient/p1' }] });
  });
  it('is deterministic: the same input gives the same output', () => {
    const again = apply(answers);
    expect(again).toEqual(cp);
  });
});

describe('choosing the response', () => {
  it('uses the newest completed intake response for the subject and ignores others', () => {
    const older = buildResponse(withBase({ 'rf-saddle-numbness': 'Y' }), {
      patientId: 'p1',
      id: 'old',
      authored: '2026-10-01T08:00:00Z',
    });
    const otherPatient = buildResponse(withBase({ 'rf-trauma': 'major' }), {
      patientId: 'p2',
      id: 'other',
      authored: '2026-12-01T08:00:00Z',
    });
    const inProgress = buildResponse(withBase({ 'rf-fever': 'Y', 'rf-infection-risk': 'Y' }), {
      patientId: 'p1',
      id: 'draft',
      status: 'in-progress',
      authored: '2026-12-01T08:00:00Z',
    });
    const r = rules(BASELINE, { extra: [older, otherPatient, inProgress] });
    expect(r['RF-01']).toBeUndefined();
    expect(r['RF-07']).toBeUndefined();
    expect(r['RF-03']).toBeUndefined();
    expect(r['RF-10']).toBe('routine');
  });
  it('works without a Patient when the response is there (age from the answer)', () => {
    const cp = applyPlanDefinition(pd, {
      subject: 'Patient/p1',
      data: [buildResponse(withBase({ age: 70 }), { patientId: 'p1' })],
      knowledge: kb,
      now: FIXED_NOW,
    });
    expect(firedRules(cp).map((r) => r.code)).toContain('BMD-01');
  });
  it('a response without `authored` still works (age from birthDate to now)', () => {
    expect(rules(drop(BASELINE, 'age'), { authored: null, birthDate: '1960-01-01' })['BMD-01']).toBe('routine');
  });
});

describe('unusable input', () => {
  const catchError = (fn: () => unknown): FhirError => {
    try {
      fn();
    } catch (err) {
      if (err instanceof FhirError) return err;
      throw err;
    }
    throw new Error('expected a FhirError');
  };
  it('a subject that is not a Patient reference is a 400 pointing at the subject parameter', () => {
    const err = catchError(() => applyPlanDefinition(pd, { subject: 'Group/1', data: [], knowledge: kb }));
    expect(err.status).toBe(400);
    expect(err.outcome.issue[0]?.expression?.[0]).toMatch(/subject/);
  });
  it('a subject the data says nothing about is a 422 pointing at the data parameter', () => {
    const err = catchError(() =>
      applyPlanDefinition(pd, { subject: 'Patient/nobody', data: [buildPatient('p1')], knowledge: kb }),
    );
    expect(err.status).toBe(422);
    expect(err.outcome.issue[0]?.expression?.[0]).toMatch(/data/);
  });
  it('answers of the wrong type (which $validate rejects) are unknown with a warning naming the item, never a crash', () => {
    const qr = buildResponse({ ...BASELINE, 'menopausal-status': 'peri' }, { patientId: 'p1' });
    const weight = qr.item!.flatMap((g) => g.item ?? []).find((i) => i.linkId === 'weight-kg')!;
    weight.answer = [{ valueQuantity: { value: 55, unit: 'kg' } }];
    const cp = applyPlanDefinition(pd, {
      subject: 'Patient/p1',
      data: [buildPatient('p1'), qr],
      knowledge: kb,
      now: FIXED_NOW,
    });
    // 55 kg would be low body weight (BMD-05 for a perimenopausal woman); unknown weight decides nothing.
    expect(firedRules(cp).map((r) => r.code)).not.toContain('BMD-05');
    expect((cp.note ?? []).map((n) => n.text).join('\n')).toMatch(/weight-kg.*valueQuantity/);
  });
  it('a sub-PlanDefinition applied on its own fails clearly (its variables live on the top-level one)', () => {
    const sub = kb.resolve('https://periplan.app/fhir/PlanDefinition/back-pain-red-flags', 'PlanDefinition')!;
    const err = catchError(() =>
      applyPlanDefinition(sub, { subject: 'Patient/p1', data: [buildPatient('p1')], knowledge: kb }),
    );
    expect(err.status).toBe(422);
    expect(err.message).toMatch(/rf00|undefined environment variable/);
  });
});
