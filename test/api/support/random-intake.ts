/**
 * Seeded random intake QuestionnaireResponses, generated from the Questionnaire itself (so they follow the
 * content as it changes): random subsets of items, random valid answers, and — on request — broken ones
 * (wrong value types, unknown codes, junk). Used by the generated-input test and the benchmark.
 */

/** mulberry32: small, fast, good enough for test inputs; same seed -> same sequence. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface RandomResponseOptions {
  subject: string;
  /** Probability that an item is answered at all. */
  answerRate?: number;
  /** Probability that an answer is deliberately wrong (type, code, shape). */
  corruptRate?: number;
}

type Rng = () => number;
const pick = <T>(rng: Rng, list: readonly T[]): T => list[Math.floor(rng() * list.length)]!;

const INTEGER_RANGES: Record<string, [number, number]> = {
  age: [18, 90],
  'pain-severity': [0, 10],
  'pain-duration-weeks': [0, 60],
  'final-period-age': [35, 60],
  'walking-days-per-week': [0, 7],
  'strength-sessions-per-week': [0, 14],
};

function validAnswer(rng: Rng, item: fhir4.QuestionnaireItem): fhir4.QuestionnaireResponseItemAnswer[] {
  switch (item.type) {
    case 'integer': {
      const [lo, hi] = INTEGER_RANGES[item.linkId] ?? [-5, 40];
      return [{ valueInteger: lo + Math.floor(rng() * (hi - lo + 1)) }];
    }
    case 'decimal':
      return [{ valueDecimal: Math.round((item.linkId === 'weight-kg' ? 40 + rng() * 80 : rng() * 8) * 10) / 10 }];
    case 'boolean':
      return [{ valueBoolean: rng() < 0.5 }];
    case 'string':
    case 'text':
      return [{ valueString: `text ${Math.floor(rng() * 1000)}` }];
    case 'choice':
    case 'open-choice': {
      const options = (item.answerOption ?? []).filter((o) => o.valueCoding);
      if (options.length === 0) return [];
      if (item.repeats) {
        const chosen = options.filter(() => rng() < 0.4);
        return (chosen.length > 0 ? chosen : [options[0]!]).map((o) => ({ valueCoding: o.valueCoding! }));
      }
      return [{ valueCoding: pick(rng, options).valueCoding! }];
    }
    default:
      return [];
  }
}

const JUNK_ANSWERS: ReadonlyArray<() => unknown> = [
  () => ({ valueString: 'forty' }),
  () => ({ valueInteger: 'x' }),
  () => ({ valueInteger: 1.5 }),
  () => ({ valueDecimal: '12,5' }),
  () => ({ valueCoding: { system: 'urn:junk', code: 'nope' } }),
  () => ({ valueCoding: 'Y' }),
  () => ({ valueBoolean: 'true' }),
  () => ({}),
  () => null,
  () => ({ valueInteger: 1e308 }),
  () => ({ valueDate: '2026-13-45' }),
];

function itemsFor(
  rng: Rng,
  items: readonly fhir4.QuestionnaireItem[],
  options: Required<RandomResponseOptions>,
): unknown[] {
  const out: unknown[] = [];
  for (const item of items) {
    if (item.type === 'display') continue;
    if (item.type === 'group') {
      const children = itemsFor(rng, item.item ?? [], options);
      if (children.length > 0) out.push({ linkId: item.linkId, item: children });
      continue;
    }
    if (rng() > options.answerRate) continue;
    if (rng() < options.corruptRate) {
      out.push(
        rng() < 0.1
          ? { linkId: `unknown-${Math.floor(rng() * 100)}`, answer: [{ valueString: 'x' }] }
          : { linkId: item.linkId, answer: [pick(rng, JUNK_ANSWERS)()] },
      );
      continue;
    }
    const answer = validAnswer(rng, item);
    if (answer.length > 0) out.push({ linkId: item.linkId, answer });
  }
  return out;
}

export function randomResponse(
  rng: Rng,
  questionnaire: fhir4.Questionnaire,
  opts: RandomResponseOptions,
): fhir4.QuestionnaireResponse {
  const options = { answerRate: 0.8, corruptRate: 0, ...opts };
  return {
    resourceType: 'QuestionnaireResponse',
    questionnaire: `${questionnaire.url}|${questionnaire.version}`,
    status: 'completed',
    subject: { reference: options.subject },
    authored: '2026-11-24T08:30:00Z',
    item: itemsFor(rng, questionnaire.item ?? [], options) as fhir4.QuestionnaireResponseItem[],
  };
}

/** A Patient with a birth date consistent with an `age` answer when there is one. */
export function patientFor(id: string, response: fhir4.QuestionnaireResponse): fhir4.Patient {
  const age = findAnswer(response, 'age')?.valueInteger;
  const year = 2026 - (typeof age === 'number' && age > 0 && age < 130 ? age : 50);
  return { resourceType: 'Patient', id, gender: 'female', birthDate: `${year}-06-01` };
}

function findAnswer(
  response: fhir4.QuestionnaireResponse,
  linkId: string,
): fhir4.QuestionnaireResponseItemAnswer | undefined {
  const stack = [...(response.item ?? [])];
  while (stack.length > 0) {
    const it = stack.pop()!;
    if (it?.linkId === linkId) return it.answer?.[0];
    stack.push(...(it?.item ?? []));
  }
  return undefined;
}

/** The $apply Parameters for one subject and its data. */
export function applyParameters(subject: string, resources: unknown[]): fhir4.Parameters {
  return {
    resourceType: 'Parameters',
    parameter: [
      { name: 'subject', valueString: subject },
      {
        name: 'data',
        resource: {
          resourceType: 'Bundle',
          type: 'collection',
          entry: resources.map((resource) => ({ resource: resource as fhir4.FhirResource })),
        } as fhir4.Bundle,
      },
    ],
  };
}
