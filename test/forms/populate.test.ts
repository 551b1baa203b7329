// $populate: age from Patient.birthDate and the latest body weight, read through an injected search function.
import { readFileSync } from 'node:fs';
import { describe, it, expect } from '@jest/globals';
import { populateQuestionnaire, validateQuestionnaireResponse } from '../../src/forms/index.js';
import { errorsOf, INTAKE_CANONICAL, loadIntake, resolverFor } from './support.js';
import { realWorldQuestionnairesDir } from '../support/shared-data.js';

const intake = loadIntake();
const patient: fhir4.Patient = { resourceType: 'Patient', id: 'p-1', birthDate: '1970-03-15', gender: 'female' };

function weight(
  id: string,
  kg: number,
  when: string,
  unit: Partial<fhir4.Quantity> = { unit: 'kg', system: 'http://unitsofmeasure.org', code: 'kg' },
): fhir4.Observation {
  return {
    resourceType: 'Observation',
    id,
    status: 'final',
    subject: { reference: 'Patient/p-1' },
    effectiveDateTime: when,
    code: { coding: [{ system: 'http://loinc.org', code: '29463-7', display: 'Body weight' }] },
    valueQuantity: { value: kg, ...unit },
  };
}

/** A FHIR store reduced to what $populate asks of it: search Observations by subject and code. */
function fakeStore(observations: fhir4.Observation[]) {
  const queries: string[] = [];
  const fetchResources = async (query: string): Promise<fhir4.Bundle> => {
    queries.push(query);
    const [path, search = ''] = query.split('?');
    const params = new URLSearchParams(search);
    if (path !== 'Observation') return { resourceType: 'Bundle', type: 'searchset', entry: [] };
    const code = params.get('code')?.split('|')[1];
    const hits = observations.filter(
      (o) => o.subject?.reference === params.get('subject') && o.code.coding?.some((c) => c.code === code),
    );
    // Deliberately ignores _sort and _count, as some servers do: the caller must still pick the newest.
    return { resourceType: 'Bundle', type: 'searchset', entry: hits.map((resource) => ({ resource })) };
  };
  return { fetchResources, queries };
}

const answerOf = (r: fhir4.QuestionnaireResponse, group: string, linkId: string) =>
  r.item?.find((g) => g.linkId === group)?.item?.find((i) => i.linkId === linkId)?.answer;

describe('$populate', () => {
  it('fills age at the authored date and the latest weight in kg, then the scores', async () => {
    const store = fakeStore([
      weight('w1', 80, '2024-05-01'),
      weight('w3', 71.5, '2026-10-02T09:00:00Z'),
      weight('w2', 75, '2025-06-01'),
    ]);
    const { response, outcome } = await populateQuestionnaire(intake, {
      subject: patient,
      fetchResources: store.fetchResources,
      authored: '2026-11-20T10:00:00Z',
    });

    expect(store.queries).toEqual([
      'Observation?subject=Patient/p-1&code=http://loinc.org|29463-7&_sort=-date&_count=1',
    ]);
    expect(response).toMatchObject({
      resourceType: 'QuestionnaireResponse',
      status: 'in-progress',
      questionnaire: INTAKE_CANONICAL,
      subject: { reference: 'Patient/p-1' },
      authored: '2026-11-20T10:00:00Z',
    });
    expect(answerOf(response, 'pain', 'age')).toEqual([{ valueInteger: 56 }]);
    // The newest weight, marked as taken from the record with that Observation and its date (shown under "Why").
    expect(answerOf(response, 'bone-health', 'weight-kg')).toEqual([
      {
        valueDecimal: 71.5,
        extension: [
          {
            url: 'https://periplan.app/fhir/StructureDefinition/ext-prefilled-from',
            extension: [
              { url: 'observation', valueReference: { reference: 'Observation/w3' } },
              { url: 'date', valueDateTime: '2026-10-02T09:00:00Z' },
            ],
          },
        ],
      },
    ]);
    expect(answerOf(response, 'pain', 'age')?.[0]?.extension).toBeUndefined();
    // OST trunc(0.2 x (71.5 - 56)) = 3; ORAI 5 (55-64) + 0 (>= 70 kg) + 2 (HRT not answered) = 7
    expect(answerOf(response, 'bone-health', 'ost-score')).toEqual([{ valueInteger: 3 }]);
    expect(answerOf(response, 'bone-health', 'orai-score')).toEqual([{ valueInteger: 7 }]);
    expect(errorsOf(outcome)).toEqual([]);
    // The pre-filled response is itself a valid in-progress response to the intake.
    expect(errorsOf(validateQuestionnaireResponse(response, { resolveQuestionnaire: resolverFor(intake) }))).toEqual(
      [],
    );
  });

  it('counts age in whole years: the day before the birthday is still the younger age', async () => {
    const store = fakeStore([]);
    const before = await populateQuestionnaire(intake, {
      subject: patient,
      fetchResources: store.fetchResources,
      authored: '2026-03-14',
    });
    const on = await populateQuestionnaire(intake, {
      subject: patient,
      fetchResources: store.fetchResources,
      authored: '2026-03-15',
    });
    expect(answerOf(before.response, 'pain', 'age')).toEqual([{ valueInteger: 55 }]);
    expect(answerOf(on.response, 'pain', 'age')).toEqual([{ valueInteger: 56 }]);
  });

  it('leaves weight empty (with a note) when there is no weight in kg, and never uses pounds as kg', async () => {
    const store = fakeStore([
      weight('lb', 160, '2026-10-01', { unit: 'lb', system: 'http://unitsofmeasure.org', code: '[lb_av]' }),
    ]);
    const { response, outcome } = await populateQuestionnaire(intake, {
      subject: patient,
      fetchResources: store.fetchResources,
      authored: '2026-11-20',
    });
    expect(answerOf(response, 'bone-health', 'weight-kg')).toBeUndefined();
    expect(answerOf(response, 'bone-health', 'ost-score')).toBeUndefined();
    expect(outcome.issue.map((i) => i.diagnostics).join(' ')).toMatch(/No body weight in kg/);
  });

  it('reports a failing FHIR read as a warning and still returns the age', async () => {
    const fetchResources = async (): Promise<fhir4.Bundle> => {
      throw new Error('EHR unreachable');
    };
    const { response, outcome } = await populateQuestionnaire(intake, {
      subject: patient,
      fetchResources,
      authored: '2026-11-20',
    });
    expect(answerOf(response, 'pain', 'age')).toEqual([{ valueInteger: 56 }]);
    expect(outcome.issue.some((i) => i.severity === 'warning' && /EHR unreachable/.test(i.diagnostics ?? ''))).toBe(
      true,
    );
  });

  it('warns when the patient has no birth date', async () => {
    const { response, outcome } = await populateQuestionnaire(intake, {
      subject: { resourceType: 'Patient', id: 'p-2' },
      fetchResources: fakeStore([]).fetchResources,
    });
    expect(answerOf(response, 'pain', 'age')).toBeUndefined();
    expect(outcome.issue).toContainEqual(
      expect.objectContaining({ severity: 'warning', expression: ['Patient.birthDate'] }),
    );
    expect(Date.parse(response.authored!)).not.toBeNaN();
  });

  it('rejects a subject that is not a Patient with an id', async () => {
    const fetchResources = fakeStore([]).fetchResources;
    await expect(
      populateQuestionnaire(intake, { subject: { resourceType: 'Patient' }, fetchResources }),
    ).rejects.toMatchObject({ status: 400 });
    await expect(
      populateQuestionnaire(intake, {
        subject: { resourceType: 'Group', id: 'g' } as unknown as fhir4.Patient,
        fetchResources,
      }),
    ).rejects.toMatchObject({ status: 400 });
  });
});

describe('$populate on real-world Questionnaires', () => {
  const TESTDATA = `${realWorldQuestionnairesDir()}/`;
  const files = (JSON.parse(readFileSync(`${TESTDATA}index.json`, 'utf8')) as Array<{ file: string }>).map(
    (e) => e.file,
  );

  it.each(files)('%s: returns an in-progress response and an outcome, without throwing', async (file) => {
    const q = JSON.parse(readFileSync(TESTDATA + file, 'utf8')) as fhir4.Questionnaire;
    const { response, outcome } = await populateQuestionnaire(q, {
      subject: patient,
      fetchResources: fakeStore([]).fetchResources,
      authored: '2026-11-20',
    });
    expect(response).toMatchObject({
      resourceType: 'QuestionnaireResponse',
      status: 'in-progress',
      subject: { reference: 'Patient/p-1' },
    });
    expect(outcome.resourceType).toBe('OperationOutcome');
    expect(errorsOf(outcome)).toEqual([]);
    // Whatever was pre-filled conforms to the Questionnaire (a broken Questionnaire is reported as such).
    const validation = validateQuestionnaireResponse(
      { ...response, questionnaire: response.questionnaire ?? 'urn:test' },
      { resolveQuestionnaire: () => q },
    );
    for (const e of errorsOf(validation)) expect(e.diagnostics).toMatch(/is broken/);
  });
});
