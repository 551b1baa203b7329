// Shared content is immutable: one patient's $populate never reaches the Questionnaire every other patient gets.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from '@jest/globals';
import { expect } from '../support/expect.js';
import { populateQuestionnaire } from '../../src/forms/index.js';
import { loadKnowledge } from '../../src/knowledge/index.js';
import { applyPlanDefinition } from '../../src/rules/index.js';
import { r4DefinitionBundle } from '../../src/validation/r4-files.js';
import { answersTo as answerOf, valuesOnly } from '../support/responses.js';

const REPO = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');
const INTAKE = 'https://periplan.app/fhir/Questionnaire/back-pain-intake';
const PLAN = 'https://periplan.app/fhir/PlanDefinition/back-pain-follow-up';
const WEIGHT_CODE = '29463-7';

/** Three women with different weights in one in-memory record; each read answers only for the patient it names. */
const PATIENTS = [
  { id: 'alice', birthDate: '1965-04-08', kg: 79.5 },
  { id: 'bea', birthDate: '1957-01-17', kg: 55 },
  { id: 'carmen', birthDate: '1977-06-21', kg: 64.1 },
  { id: 'dana', birthDate: '1972-11-30', kg: 57.2 },
];

function weightOf(id: string, kg: number): fhir4.Observation {
  return {
    resourceType: 'Observation',
    id: `w-${id}`,
    status: 'final',
    subject: { reference: `Patient/${id}` },
    effectiveDateTime: '2026-10-01',
    code: { coding: [{ system: 'http://loinc.org', code: WEIGHT_CODE }] },
    valueQuantity: { value: kg, unit: 'kg', system: 'http://unitsofmeasure.org', code: 'kg' },
  };
}

/** A record that answers a search after `delayMs`, so that populates started together interleave. */
function record(queries: string[], delayMs: (i: number) => number) {
  let n = 0;
  return async (query: string): Promise<fhir4.Bundle> => {
    queries.push(query);
    await new Promise((r) => setTimeout(r, delayMs(n++)));
    const subject = new URLSearchParams(query.split('?')[1] ?? '').get('subject');
    const hits = PATIENTS.filter((p) => `Patient/${p.id}` === subject).map((p) => ({ resource: weightOf(p.id, p.kg) }));
    return { resourceType: 'Bundle', type: 'searchset', entry: hits };
  };
}

/** Every object inside the knowledge base's artifacts. */
function objectsOf(node: unknown, out = new Set<object>()): Set<object> {
  if (node === null || typeof node !== 'object' || out.has(node)) return out;
  out.add(node);
  for (const v of Object.values(node)) objectsOf(v, out);
  return out;
}

/** Paths inside `node` of objects that are a piece of the knowledge base itself (the same object, not a copy). */
function sharedParts(node: unknown, shared: Set<object>, where: string, out: string[] = []): string[] {
  if (node === null || typeof node !== 'object') return out;
  if (shared.has(node)) out.push(where);
  for (const [k, v] of Object.entries(node)) sharedParts(v, shared, `${where}.${k}`, out);
  return out;
}

describe('shared content is immutable', () => {
  it('interleaved $populate for four patients: each gets her own weight only, and the Questionnaire is as loaded', async () => {
    const knowledge = await loadKnowledge(REPO);
    const intake = knowledge.resolve(INTAKE, 'Questionnaire') as fhir4.Questionnaire;
    const asLoaded = JSON.parse(
      readFileSync(path.join(REPO, 'questionnaires/back-pain-intake.json'), 'utf8'),
    ) as unknown;
    const before = JSON.stringify(intake);

    const run = async () => {
      const queries: string[] = [];
      // The first patient's read answers last: the others start and finish while hers is still open.
      const fetchResources = record(queries, (i) => (i === 0 ? 40 : 5));
      const results = await Promise.all(
        PATIENTS.map((p) =>
          populateQuestionnaire(intake, {
            subject: { resourceType: 'Patient', id: p.id, birthDate: p.birthDate, gender: 'female' },
            fetchResources,
            authored: '2026-11-24T09:00:00Z',
          }),
        ),
      );
      return { queries, results };
    };
    // One round after another, then again: nothing the first round did may reach the second.
    for (const round of [await run(), await run()]) {
      PATIENTS.forEach((p, i) => {
        expect(valuesOnly(answerOf(round.results[i]!.response, 'weight-kg')), p.id).toEqual([{ valueDecimal: p.kg }]);
        expect(round.results[i]!.response.subject).toEqual({ reference: `Patient/${p.id}` });
      });
      expect(round.queries.map((q) => new URLSearchParams(q.split('?')[1]).get('subject')).sort()).toEqual(
        PATIENTS.map((p) => `Patient/${p.id}`).sort(),
      );
    }
    expect(JSON.stringify(intake)).toBe(before);
    expect(intake).toEqual(asLoaded);
    for (const p of PATIENTS) expect(JSON.stringify(intake)).not.toContain(p.id);
  });

  it('a populate handed a plain (unfrozen) Questionnaire leaves it unchanged too', async () => {
    const intake = JSON.parse(
      readFileSync(path.join(REPO, 'questionnaires/back-pain-intake.json'), 'utf8'),
    ) as fhir4.Questionnaire;
    const before = JSON.stringify(intake);
    const queries: string[] = [];
    const fetchResources = record(queries, () => 1);
    for (const p of PATIENTS) {
      const { response } = await populateQuestionnaire(intake, {
        subject: { resourceType: 'Patient', id: p.id, birthDate: p.birthDate },
        fetchResources,
        authored: '2026-11-24',
      });
      expect(valuesOnly(answerOf(response, 'weight-kg')), p.id).toEqual([{ valueDecimal: p.kg }]);
    }
    expect(queries.map((q) => new URLSearchParams(q.split('?')[1]).get('subject'))).toEqual(
      PATIENTS.map((p) => `Patient/${p.id}`),
    );
    expect(JSON.stringify(intake)).toBe(before);
  });

  it('every artifact the knowledge base hands out is frozen to the leaves: a write throws instead of reaching the next patient', async () => {
    const knowledge = await loadKnowledge(REPO);
    const unfrozen: string[] = [];
    const visit = (node: unknown, where: string): void => {
      if (node === null || typeof node !== 'object') return;
      if (!Object.isFrozen(node)) unfrozen.push(where);
      for (const [k, v] of Object.entries(node)) visit(v, `${where}.${k}`);
    };
    for (const r of knowledge.all()) visit(r, `${r.resourceType}/${r.id}`);
    expect(unfrozen).toEqual([]);

    const intake = knowledge.resolve(INTAKE, 'Questionnaire') as fhir4.Questionnaire;
    expect(() => {
      intake.contained![0]!.id = 'changed';
    }).toThrow(TypeError);
    expect(() => {
      (knowledge.read('PlanDefinition', 'back-pain-follow-up') as fhir4.PlanDefinition).action!.push({});
    }).toThrow(TypeError);
  });

  it('the R4 definitions every validation and search reads are frozen too: a write into one throws', async () => {
    await loadKnowledge(REPO); // r4DefinitionBundle hands every reader (validator, canonical index, search) the same object
    for (const file of ['fhir/r4/profiles-resources.json', 'fhir/r4/search-parameters.json']) {
      const bundle = r4DefinitionBundle(file);
      const first = bundle.entry![0]!.resource as fhir4.StructureDefinition;
      expect(Object.isFrozen(bundle.entry), file).toBe(true);
      expect(() => {
        first.id = 'changed';
      }, file).toThrow(TypeError);
      expect(() => {
        bundle.entry!.push({});
      }, file).toThrow(TypeError);
    }
  });

  it("$apply hands out no piece of the PlanDefinition (the CarePlan is the caller's to change) and leaves every artifact as loaded", async () => {
    const knowledge = await loadKnowledge(REPO);
    const snapshot = new Map(knowledge.all().map((r) => [`${r.resourceType}/${r.id}`, JSON.stringify(r)]));
    const shared = objectsOf(knowledge.all());
    const plan = knowledge.resolve(PLAN, 'PlanDefinition') as fhir4.PlanDefinition;
    const examples = ['RF-01', 'RF-10', 'CS', 'BMD-05', 'RF-06-urgent', 'no-response'];
    for (const name of examples) {
      const dir = path.join(REPO, 'examples', name);
      const data: fhir4.FhirResource[] = [
        JSON.parse(readFileSync(path.join(dir, 'patient.json'), 'utf8')) as fhir4.Patient,
      ];
      try {
        data.push(JSON.parse(readFileSync(path.join(dir, 'response.json'), 'utf8')) as fhir4.QuestionnaireResponse);
      } catch {
        // an example without a response (the rules run on the Patient alone)
      }
      for (const evaluator of ['compiled', 'fhirpath.js'] as const) {
        const carePlan = applyPlanDefinition(plan, {
          subject: `Patient/${(data[0] as fhir4.Patient).id}`,
          data,
          knowledge,
          now: new Date('2026-11-24T09:00:00Z'),
          evaluator,
        });
        // What $apply returns is the caller's to change (the write path adds ids and references to it): none
        // of it may be a piece of the knowledge base itself.
        expect(sharedParts(carePlan, shared, 'CarePlan'), `${name} ${evaluator}`).toEqual([]);
        expect(carePlan.resourceType).toBe('CarePlan');
      }
    }
    for (const r of knowledge.all())
      expect(JSON.stringify(r), `${r.resourceType}/${r.id}`).toBe(snapshot.get(`${r.resourceType}/${r.id}`));
  });
});
