/**
 * verifyPrefilledFrom: an answer's `ext-prefilled-from` stays only when the Observation it names (read through
 * the injected reader) is the subject's and holds that value in that unit. The end-to-end cases (two patients
 * in one server, over HTTP) are in test/submission/prefilled-from.server.test.ts.
 */
import { describe, expect, it } from '@jest/globals';
import { MAX_CHECKED_MARKERS, PREFILLED_FROM, verifyPrefilledFrom } from '../../src/forms/index.js';
import { loadIntake } from './support.js';

const intake = loadIntake();
const UCUM = 'http://unitsofmeasure.org';

function weight(
  id: string,
  value: number,
  unit: string,
  subject = 'Patient/p-1',
  status: fhir4.Observation['status'] = 'final',
): fhir4.Observation {
  return {
    resourceType: 'Observation',
    id,
    status,
    subject: { reference: subject },
    code: { coding: [{ system: 'http://loinc.org', code: '29463-7' }] },
    effectiveDateTime: '2026-09-01T08:00:00Z',
    valueQuantity: { value, unit, system: UCUM, code: unit },
  };
}

function marked(value: number, observations: string[]): fhir4.QuestionnaireResponse {
  return {
    resourceType: 'QuestionnaireResponse',
    status: 'completed',
    subject: { reference: 'Patient/p-1' },
    item: [
      {
        linkId: 'bone-health',
        item: observations.map((o) => ({
          linkId: 'weight-kg',
          answer: [
            {
              valueDecimal: value,
              extension: [
                { url: 'urn:other', valueString: 'kept' },
                { url: PREFILLED_FROM, extension: [{ url: 'observation', valueReference: { reference: o } }] },
              ],
            },
          ],
        })),
      },
    ],
  };
}

const reader = (...observations: fhir4.Observation[]) => {
  const reads: string[] = [];
  return {
    reads,
    readObservation: async (id: string) => {
      reads.push(id);
      const o = observations.find((x) => x.id === id);
      if (!o) throw new Error('404');
      return o;
    },
  };
};

const extensionsOf = (r: fhir4.QuestionnaireResponse) => r.item![0]!.item!.map((i) => i.answer![0]!.extension);

describe('verifyPrefilledFrom', () => {
  it("keeps a proven marker (rebuilt with the Observation date) and leaves the caller's response unchanged", async () => {
    const input = marked(64.1, ['Observation/w1']);
    const before = structuredClone(input);
    const { response, stripped } = await verifyPrefilledFrom(input, {
      questionnaire: intake,
      ...reader(weight('w1', 64.1, 'kg')),
    });
    expect(stripped).toEqual([]);
    expect(extensionsOf(response)).toEqual([
      [
        { url: 'urn:other', valueString: 'kept' },
        {
          url: PREFILLED_FROM,
          extension: [
            { url: 'observation', valueReference: { reference: 'Observation/w1' } },
            { url: 'date', valueDateTime: '2026-09-01T08:00:00Z' },
          ],
        },
      ],
    ]);
    expect(input).toEqual(before);
  });

  it('strips a marker whose Observation is in another unit, entered in error, or cannot be read; other extensions stay', async () => {
    const r = reader(weight('lb', 64.1, '[lb_av]'), weight('err', 64.1, 'kg', 'Patient/p-1', 'entered-in-error'));
    const { response, stripped } = await verifyPrefilledFrom(
      marked(64.1, [
        'Observation/lb',
        'Observation/err',
        'Observation/gone',
        'https://elsewhere.example/Observation/lb',
      ]),
      { questionnaire: intake, ...r },
    );
    expect(stripped.map((s) => s.reason)).toEqual([
      'the Observation is in [lb_av], not kg',
      'the Observation is entered-in-error',
      'the Observation could not be read from the record',
      'it names no Observation in the record',
    ]);
    expect(extensionsOf(response)).toEqual(Array(4).fill([{ url: 'urn:other', valueString: 'kept' }]));
  });

  it(`reads at most ${MAX_CHECKED_MARKERS} Observations per response; the markers past that are stripped unread`, async () => {
    const ids = Array.from({ length: MAX_CHECKED_MARKERS + 3 }, (_, i) => `w${i}`);
    const r = reader(...ids.map((id) => weight(id, 60, 'kg')));
    const { stripped } = await verifyPrefilledFrom(
      marked(
        60,
        ids.map((id) => `Observation/${id}`),
      ),
      { questionnaire: intake, ...r },
    );
    expect(r.reads).toHaveLength(MAX_CHECKED_MARKERS);
    expect(stripped).toHaveLength(3);
    expect(stripped.every((s) => s.reason === 'too many pre-filled answers to check')).toBe(true);
  });

  it('returns a response without markers as it is, reading nothing', async () => {
    const input: fhir4.QuestionnaireResponse = {
      resourceType: 'QuestionnaireResponse',
      status: 'completed',
      item: [{ linkId: 'weight-kg', answer: [{ valueDecimal: 60 }] }],
    };
    const r = reader();
    expect((await verifyPrefilledFrom(input, r)).response).toBe(input);
    expect(r.reads).toEqual([]);
  });
});
