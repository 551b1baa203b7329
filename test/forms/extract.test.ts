// $extract: Observations for pain severity and weight, as an idempotent transaction of conditional creates.
import { describe, it, expect } from '@jest/globals';
import { extractFromResponse, EXTRACTED_OBSERVATION_IDENTIFIER_SYSTEM } from '../../src/forms/index.js';
import { validateResource } from '../../src/validation/index.js';
import { completeAnswers, intakeResponse, loadIntake } from './support.js';

const intake = loadIntake();

describe('$extract', () => {
  it('extracts pain severity (LOINC 72514-3) and weight in kg (LOINC 29463-7) from a completed response', async () => {
    const response = intakeResponse(completeAnswers());
    const bundle = await extractFromResponse(response, intake);
    expect(bundle).toMatchObject({ resourceType: 'Bundle', type: 'transaction' });
    expect(bundle.entry).toHaveLength(2);
    const [pain, weight] = bundle.entry!.map((e) => e.resource as fhir4.Observation);

    expect(pain).toMatchObject({
      resourceType: 'Observation',
      status: 'final',
      category: [{ coding: [expect.objectContaining({ code: 'survey' })] }],
      code: { coding: [expect.objectContaining({ system: 'http://loinc.org', code: '72514-3' })] },
      subject: { reference: 'Patient/p-1' },
      effectiveDateTime: '2026-11-20T10:00:00Z',
      derivedFrom: [{ reference: 'QuestionnaireResponse/qr-1' }],
      valueInteger: 6,
    });
    expect(weight).toMatchObject({
      code: { coding: [expect.objectContaining({ system: 'http://loinc.org', code: '29463-7' })] },
      category: [
        {
          coding: [
            expect.objectContaining({
              system: 'http://terminology.hl7.org/CodeSystem/observation-category',
              code: 'vital-signs',
            }),
          ],
        },
      ],
      valueQuantity: { value: 68.5, unit: 'kg', system: 'http://unitsofmeasure.org', code: 'kg' },
      subject: { reference: 'Patient/p-1' },
      derivedFrom: [{ reference: 'QuestionnaireResponse/qr-1' }],
    });
    for (const e of bundle.entry!) {
      expect(e.request).toMatchObject({ method: 'POST', url: 'Observation' });
      expect(e.fullUrl).toMatch(/^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    }
    expect(validateResource(bundle).filter((i) => i.severity === 'error')).toEqual([]);
  });

  it('is idempotent: the same response always gives the same conditional creates', async () => {
    const response = intakeResponse(completeAnswers());
    const first = await extractFromResponse(response, intake);
    const again = await extractFromResponse(structuredClone(response), intake);
    expect(again).toEqual(first);
    const pain = first.entry![0]!;
    const id = (pain.resource as fhir4.Observation).identifier![0]!;
    expect(id).toEqual({
      system: EXTRACTED_OBSERVATION_IDENTIFIER_SYSTEM,
      value: 'QuestionnaireResponse-qr-1.pain-severity',
    });
    expect(pain.request!.ifNoneExist).toBe(
      `identifier=${encodeURIComponent(id.system!)}|${encodeURIComponent(id.value!)}`,
    );
  });

  it('keys on a content hash when the response has no id yet, and a different response gets a different key', async () => {
    const a = intakeResponse(completeAnswers());
    delete a.id;
    const b = { ...structuredClone(a), authored: '2026-11-21T10:00:00Z' };
    const idOf = async (r: fhir4.QuestionnaireResponse) =>
      ((await extractFromResponse(r, intake)).entry![0]!.resource as fhir4.Observation).identifier![0]!.value;
    expect(await idOf(a)).toBe(await idOf(structuredClone(a)));
    expect(await idOf(a)).not.toBe(await idOf(b));
    expect(await idOf(a)).toMatch(/^QuestionnaireResponse-[0-9a-f]{32}\.pain-severity$/);
  });

  it('extracts only what was answered, as preliminary for an in-progress response', async () => {
    const answers = completeAnswers();
    delete answers['weight-kg'];
    const bundle = await extractFromResponse(intakeResponse(answers, 'in-progress'), intake);
    expect(bundle.entry).toHaveLength(1);
    expect(bundle.entry![0]!.resource).toMatchObject({ status: 'preliminary', valueInteger: 6 });
  });

  it('refuses a response without a subject, for another Questionnaire, or entered in error', async () => {
    const noSubject = intakeResponse(completeAnswers());
    delete noSubject.subject;
    await expect(extractFromResponse(noSubject, intake)).rejects.toMatchObject({
      status: 422,
      outcome: { issue: [expect.objectContaining({ expression: ['QuestionnaireResponse.subject'] })] },
    });
    const other = { ...intakeResponse(completeAnswers()), questionnaire: 'https://example.org/Questionnaire/other' };
    await expect(extractFromResponse(other, intake)).rejects.toMatchObject({
      status: 400,
      outcome: { issue: [expect.objectContaining({ expression: ['QuestionnaireResponse.questionnaire'] })] },
    });
    await expect(
      extractFromResponse({ ...intakeResponse(completeAnswers()), status: 'entered-in-error' }, intake),
    ).rejects.toMatchObject({ status: 422 });
  });
});
