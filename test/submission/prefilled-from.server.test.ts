/**
 * `ext-prefilled-from` sent by an API client is believed only when the record proves it. Two sandbox patients
 * in one server (composed as `npm start` composes it), their submissions interleaved over real HTTP with a
 * clinician's token: a marker that names another patient's Observation, names the patient's own Observation
 * with another value, or names one that cannot be read is stripped before the rules and before the write (the
 * basis then names the submitter, and `$submit` says so in a `warning`); a true one is kept, re-dated from the
 * record.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { submissionFor } from './support/fixtures.js';
import { answersTo } from '../support/responses.js';
import { launchToken, startAppHarness, type AppHarness } from '../security/support.js';

const PREFILLED_FROM = 'https://periplan.app/fhir/StructureDefinition/ext-prefilled-from';
const A = 'sandbox-patient-4';
const B = 'sandbox-patient-6';

let h: AppHarness;
let clinician: string;
beforeAll(async () => {
  h = await startAppHarness();
  clinician = (
    await launchToken(
      h,
      A,
      'user/QuestionnaireResponse.crus user/Observation.crs user/Flag.crus user/ServiceRequest.crus user/CarePlan.crs user/Provenance.crs user/Patient.rs',
    )
  ).access_token;
}, 120_000);
afterAll(async () => h?.close());

/** The newest body weight of a patient in the record. */
function latestWeight(patientId: string): fhir4.Observation {
  const { matches } = h.ehr.store.search('Observation', [
    ['subject', `Patient/${patientId}`],
    ['code', 'http://loinc.org|29463-7'],
    ['_sort', '-date'],
    ['_count', '1'],
  ]);
  return matches[0] as fhir4.Observation;
}

/** BMD-05's example (perimenopausal; a weight under 60 kg is its criterion) for `patientId`, the weight answered with `weight` and `marker`. */
function responseWith(
  patientId: string,
  n: number,
  weight: number,
  marker: { observation: string; date?: string },
): fhir4.QuestionnaireResponse {
  const { response } = submissionFor('BMD-05', patientId, n);
  const answer = answersTo(response, 'weight-kg')![0]!;
  answer.valueDecimal = weight;
  answer.extension = [
    {
      url: PREFILLED_FROM,
      extension: [
        { url: 'observation', valueReference: { reference: marker.observation } },
        ...(marker.date ? [{ url: 'date', valueDateTime: marker.date }] : []),
      ],
    },
  ];
  return { ...response, author: { reference: 'Practitioner/sandbox-clinician' } };
}

interface Submitted {
  status: number;
  response: fhir4.QuestionnaireResponse;
  carePlan: fhir4.CarePlan;
  warnings: string[];
  stored: fhir4.QuestionnaireResponse;
}

async function submit(response: fhir4.QuestionnaireResponse): Promise<Submitted> {
  const res = await fetch(`${h.baseUrl}/fhir/QuestionnaireResponse/$submit`, {
    method: 'POST',
    headers: { 'content-type': 'application/fhir+json', authorization: `Bearer ${clinician}` },
    body: JSON.stringify(response),
  });
  const out = (await res.json()) as fhir4.Parameters;
  const param = (name: string) => out.parameter?.filter((p) => p.name === name) ?? [];
  const { matches } = h.ehr.store.search('QuestionnaireResponse', [
    ['identifier', `${response.identifier!.system}|${response.identifier!.value}`],
  ]);
  return {
    status: res.status,
    response: param('response')[0]?.resource as fhir4.QuestionnaireResponse,
    carePlan: param('carePlan')[0]?.resource as fhir4.CarePlan,
    warnings: param('warning').map((p) => p.valueString ?? ''),
    stored: matches[0] as fhir4.QuestionnaireResponse,
  };
}

const markerOf = (r: fhir4.QuestionnaireResponse | undefined) =>
  answersTo(r, 'weight-kg')?.[0]?.extension?.find((e) => e.url === PREFILLED_FROM);
/** Where the CarePlan's basis says the weight behind BMD-05 came from. */
const weightSource = (carePlan: fhir4.CarePlan): string[] => {
  const out: string[] = [];
  const walk = (x: unknown): void => {
    if (Array.isArray(x)) return x.forEach(walk);
    if (!x || typeof x !== 'object') return;
    const e = x as fhir4.Extension;
    const parts = e.extension ?? [];
    if (parts.some((p) => (p.url === 'linkId' || p.url === 'item') && p.valueString === 'weight-kg')) {
      for (const p of parts) if (p.url === 'source' && p.valueString) out.push(p.valueString);
    }
    Object.values(x).forEach(walk);
  };
  walk(carePlan);
  return [...new Set(out)];
};

describe('$submit with ext-prefilled-from from an API client', () => {
  it('a true marker is kept, dated from the record whatever date the client wrote', async () => {
    const a = latestWeight(A);
    const trueA = await submit(
      responseWith(A, 1, a.valueQuantity!.value!, { observation: `Observation/${a.id}`, date: '2001-01-01' }),
    );
    expect(trueA.status).toBe(201);
    expect(trueA.warnings).toEqual([]);
    for (const r of [trueA.response, trueA.stored]) {
      expect(markerOf(r)?.extension).toEqual([
        { url: 'observation', valueReference: { reference: `Observation/${a.id}` } },
        { url: 'date', valueDateTime: a.effectiveDateTime },
      ]);
    }
    expect(weightSource(trueA.carePlan)).toEqual([
      `pre-filled from the record (Observation/${a.id}, recorded ${a.effectiveDateTime!.slice(0, 10)})`,
    ]);
  }, 60_000);

  it("a forged marker is stripped: patient A's Observation claimed on patient B's answer, B's own Observation with another value, an Observation that does not exist", async () => {
    const a = latestWeight(A);
    const b = latestWeight(B);
    expect(a.valueQuantity?.value).not.toBe(b.valueQuantity?.value);

    // B, claiming A's Observation (and A's value) for her own answer: another patient's record proves nothing.
    const stolen = await submit(
      responseWith(B, 1, a.valueQuantity!.value!, { observation: `Observation/${a.id}`, date: a.effectiveDateTime! }),
    );
    // A, interleaved: her own true marker, kept.
    const trueA = await submit(
      responseWith(A, 2, a.valueQuantity!.value!, { observation: `Observation/${a.id}`, date: a.effectiveDateTime! }),
    );
    // B, her own Observation but a value that is not in it.
    const altered = await submit(
      responseWith(B, 2, b.valueQuantity!.value! + 1.5, {
        observation: `Observation/${b.id}`,
        date: b.effectiveDateTime!,
      }),
    );
    // B, an Observation that is not in the record (cannot be read).
    const missing = await submit(
      responseWith(B, 3, b.valueQuantity!.value!, {
        observation: 'Observation/not-in-the-record',
        date: b.effectiveDateTime!,
      }),
    );
    for (const [forged, why] of [
      [stolen, "not the response subject's"],
      [altered, "not the Observation's value"],
      [missing, 'could not be read'],
    ] as const) {
      expect(forged.status).toBe(201);
      expect(markerOf(forged.response)).toBeUndefined();
      expect(markerOf(forged.stored)).toBeUndefined();
      expect(forged.warnings).toHaveLength(1);
      expect(forged.warnings[0]).toContain('"weight-kg"');
      expect(forged.warnings[0]).toContain(why);
      // The rules read the stripped answer: the basis names the submitter (the response's author), never the record.
      expect(weightSource(forged.carePlan)).toEqual(['the clinician']);
    }

    // B, her own latest weight and its Observation: kept (the check is per patient, not a blanket removal).
    const trueB = await submit(responseWith(B, 4, b.valueQuantity!.value!, { observation: `Observation/${b.id}` }));
    expect(trueB.warnings).toEqual([]);
    expect(markerOf(trueB.stored)?.extension?.[0]?.valueReference?.reference).toBe(`Observation/${b.id}`);
    expect(weightSource(trueB.carePlan)).toEqual([
      `pre-filled from the record (Observation/${b.id}, recorded ${b.effectiveDateTime!.slice(0, 10)})`,
    ]);
    // A's response, sent between B's, still carries its own marker in the record.
    expect(
      markerOf(h.ehr.store.read('QuestionnaireResponse', trueA.stored.id!) as fhir4.QuestionnaireResponse)
        ?.extension?.[0]?.valueReference?.reference,
    ).toBe(`Observation/${a.id}`);
  }, 120_000);
});
