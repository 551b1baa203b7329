// Differential test: the compiled structural validator (src/validation/structure.ts, the default) against
// the reference path (Medplum's own validateResource / validateTypedValue and the original passes, run via
// withMedplumReference). Both must give the same issues, in the same order, for every input: the module's
// content, the golden CarePlans, real-world Questionnaires, thousands of generated intake responses and
// thousands of seeded mutations of all of those (wrong primitive types, unknown elements, missing
// elements, bad codes, wrong choice types, hostile keys, deep nesting, nulls, primitive extensions, ...).
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from '@jest/globals';
import { withMedplumReference } from '../../src/validation/engine.js';
import { getProfile, preloadDefinitions, validateResource, type ValidateOptions } from '../../src/validation/index.js';
import { patientFor, randomResponse, seededRandom } from '../api/support/random-intake.js';
import { realWorldQuestionnairesDir } from '../support/shared-data.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const REAL_WORLD = realWorldQuestionnairesDir();
type Rng = () => number;
type Json = Record<string, unknown>;

function jsonFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    if (statSync(p).isDirectory()) return jsonFiles(p);
    return f.endsWith('.json') ? [p] : [];
  });
}

const readJson = (file: string): unknown => JSON.parse(readFileSync(file, 'utf8'));

/** Issues from both paths; the test compares them whole (severity, code, diagnostics, expression, order). */
function bothWays(resource: unknown, options?: ValidateOptions) {
  const reference = withMedplumReference(() => validateResource(resource, options));
  const compiled = validateResource(resource, options);
  return { reference, compiled };
}

/** Run every input through both paths; return how many were invalid (to show the inputs exercise the checks). */
function expectSame(inputs: Iterable<{ name: string; resource: unknown; options?: ValidateOptions }>): {
  total: number;
  invalid: number;
  messages: Set<string>;
} {
  let total = 0;
  let invalid = 0;
  const messages = new Set<string>();
  for (const { name, resource, options } of inputs) {
    const { reference, compiled } = bothWays(resource, options);
    if (JSON.stringify(compiled) !== JSON.stringify(reference)) {
      expect({ name, issues: compiled }).toEqual({ name, issues: reference });
    }
    total++;
    if (reference.some((i) => i.severity === 'error' || i.severity === 'fatal')) invalid++;
    for (const i of reference)
      messages.add(`${i.code}: ${(i.diagnostics ?? '').replace(/"[^"]*"/g, '"…"').slice(0, 60)}`);
  }
  return { total, invalid, messages };
}

const contentFiles = () =>
  ['examples', 'questionnaires', 'plandefinitions', 'profiles'].flatMap((d) => jsonFiles(join(ROOT, d)));
const moduleProfiles = () =>
  jsonFiles(join(ROOT, 'profiles'))
    .map((f) => readJson(f) as fhir4.StructureDefinition)
    .filter(
      (sd) => sd.resourceType === 'StructureDefinition' && sd.derivation === 'constraint' && sd.kind === 'resource',
    )
    .map((sd) => sd.url!)
    .filter((url) => getProfile(url));

let intake: fhir4.Questionnaire;

beforeAll(() => {
  preloadDefinitions();
  intake = readJson(join(ROOT, 'questionnaires', 'back-pain-intake.json')) as fhir4.Questionnaire;
});

describe('compiled validator = Medplum reference, on real content', () => {
  it('every JSON under examples/, questionnaires/, plandefinitions/, profiles/', () => {
    const files = contentFiles();
    expect(files.length).toBeGreaterThan(100);
    const { total } = expectSame(files.map((f) => ({ name: f, resource: readJson(f) })));
    expect(total).toBe(files.length);
  });

  it('the golden CarePlans and their contained resources, alone and against every module profile of their type', () => {
    const goldens = jsonFiles(join(ROOT, 'examples')).filter((f) => f.endsWith('expected-careplan.json'));
    expect(goldens.length).toBeGreaterThan(20);
    const profiles = moduleProfiles();
    expect(profiles.length).toBeGreaterThan(0);
    const inputs = goldens.flatMap((f) => {
      const carePlan = readJson(f) as fhir4.CarePlan;
      const contained = (carePlan.contained ?? []) as unknown as Json[];
      return [
        { name: f, resource: carePlan },
        ...contained.map((r, i) => ({ name: `${f}#contained[${i}]`, resource: r })),
        ...contained.flatMap((r, i) =>
          profiles
            .filter((url) => getProfile(url)!.type === r.resourceType)
            .map((profile) => ({ name: `${f}#contained[${i}] as ${profile}`, resource: r, options: { profile } })),
        ),
      ];
    });
    const { total } = expectSame(inputs);
    expect(total).toBeGreaterThan(goldens.length * 4); // contained Flags and ServiceRequests, with and without their profiles
  });

  it('the real-world Questionnaires (some broken on purpose)', () => {
    const files = jsonFiles(REAL_WORLD);
    const { invalid } = expectSame(files.map((f) => ({ name: f, resource: readJson(f) })));
    expect(invalid).toBeGreaterThan(0);
  });

  it('2,000 generated intake responses (valid and corrupted) and their Patients', () => {
    const rng = seededRandom(20261124);
    const inputs = function* () {
      for (let i = 0; i < 2000; i++) {
        const response = randomResponse(rng, intake, {
          subject: `Patient/gen-${i}`,
          answerRate: rng(),
          corruptRate: i % 3 === 0 ? 0.2 : 0,
        });
        if (i % 4 === 0)
          response.meta = { profile: ['https://periplan.app/fhir/StructureDefinition/back-pain-intake-response'] };
        yield { name: `response ${i}`, resource: response };
        yield { name: `patient ${i}`, resource: patientFor(`gen-${i}`, response) };
      }
    };
    const { total, invalid } = expectSame(inputs());
    expect(total).toBe(4000);
    expect(invalid).toBeGreaterThan(100);
  }, 120_000);
});

// --- Seeded mutations ---

const pick = <T>(rng: Rng, list: readonly T[]): T => list[Math.floor(rng() * list.length)]!;

interface Slot {
  parent: Json | unknown[];
  key: string | number;
}

/** Every position (property or array item) in a JSON tree. */
function slots(root: Json): Slot[] {
  const out: Slot[] = [];
  const visit = (node: unknown): void => {
    if (Array.isArray(node)) {
      node.forEach((v, i) => {
        out.push({ parent: node, key: i });
        visit(v);
      });
    } else if (node && typeof node === 'object') {
      for (const [k, v] of Object.entries(node)) {
        out.push({ parent: node as Json, key: k });
        visit(v);
      }
    }
  };
  visit(root);
  return out;
}

const get = (s: Slot): unknown => (s.parent as Record<string | number, unknown>)[s.key];
const set = (s: Slot, v: unknown): void => {
  (s.parent as Record<string | number, unknown>)[s.key] = v;
};

const CHOICE_PREFIX =
  /^(value|effective|onset|occurrence|answer|initial|timing|deceased|multipleBirth|fixed|pattern|defaultValue|definition|serviced|asNeeded|abatement|performed|born|item)([A-Z].*)$/;
const TYPE_SUFFIXES = [
  'String',
  'Integer',
  'Boolean',
  'Coding',
  'Quantity',
  'Date',
  'DateTime',
  'Decimal',
  'Reference',
  'CodeableConcept',
  'Period',
  'Foo',
  'Uri',
  'Canonical',
  'Attachment',
];
const CODE_KEYS = new Set([
  'status',
  'type',
  'code',
  'intent',
  'priority',
  'gender',
  'operator',
  'use',
  'mode',
  'enableBehavior',
  'kind',
  'system',
]);

const nested = (depth: number): Json => {
  let node: Json = { url: 'http://example.org/leaf', valueString: 'x' };
  for (let i = 0; i < depth; i++) node = { url: 'http://example.org/nest', extension: [node] };
  return node;
};

const MUTATIONS: ReadonlyArray<(rng: Rng, root: Json, s: Slot) => void> = [
  // wrong primitive types
  (rng, _root, s) => {
    const v = get(s);
    if (typeof v === 'string') set(s, pick(rng, [42, 1.5, true, {}, ['x'], '', '   ', 'a\u0001b', 'x'.repeat(70)]));
    else if (typeof v === 'number') set(s, pick(rng, ['12', 1.5, -1, 0, 1e21, -0, 2 ** 53 + 2]));
    else if (typeof v === 'boolean') set(s, pick(rng, ['true', 1, null]));
    else set(s, pick(rng, ['x', 3, false]));
  },
  // unknown elements
  (rng, _root, s) => {
    const target = get(s);
    const obj =
      target && typeof target === 'object' && !Array.isArray(target)
        ? (target as Json)
        : Array.isArray(s.parent)
          ? undefined
          : s.parent;
    if (obj)
      obj[
        pick(rng, [
          'foo',
          'valueFoo',
          '_foo',
          'extensionX',
          'Value',
          'fhir_comments',
          'resourceType',
          'value',
          '_value',
          'valueStringX',
        ])
      ] = pick(rng, ['x', 1, { a: 1 }, [1]]);
  },
  // missing elements
  (_rng, _root, s) => {
    if (Array.isArray(s.parent)) s.parent.splice(s.key as number, 1);
    else delete s.parent[s.key as string];
  },
  // bad codes on (mostly required) bindings
  (rng, root, s) => {
    const codeSlots = slots(root).filter(
      (x) => typeof x.key === 'string' && CODE_KEYS.has(x.key) && typeof get(x) === 'string',
    );
    const target = codeSlots.length > 0 ? pick(rng, codeSlots) : s;
    set(target, pick(rng, ['not-a-code', 'bad code', 'FINAL', 'draft', 'active', 'http://example.org/system']));
  },
  // wrong choice types
  (rng, root) => {
    const choice = slots(root).filter((x) => typeof x.key === 'string' && CHOICE_PREFIX.test(x.key));
    if (choice.length === 0) return;
    const target = pick(rng, choice);
    const m = CHOICE_PREFIX.exec(target.key as string)!;
    const parent = target.parent as Json;
    const value = parent[target.key as string];
    delete parent[target.key as string];
    parent[m[1] + pick(rng, TYPE_SUFFIXES)] =
      rng() < 0.5 ? value : pick(rng, ['x', 1, true, { code: 'x' }, { reference: 'Patient/1' }]);
  },
  // hostile keys
  (rng, _root, s) => {
    const target = get(s);
    const obj = target && typeof target === 'object' && !Array.isArray(target) ? (target as Json) : undefined;
    if (!obj) return;
    const key = pick(rng, ['__proto__', 'constructor', 'toString', 'hasOwnProperty', 'valueOf', '__defineGetter__']);
    Object.defineProperty(obj, key, {
      value: pick(rng, [{ polluted: true }, 'x', 1]),
      enumerable: true,
      configurable: true,
      writable: true,
    });
  },
  // deep nesting
  (rng, _root, s) => set(s, nested(pick(rng, [5, 60, 1005]))),
  // nulls and empties
  (rng, _root, s) => set(s, pick(rng, [null, {}, [], '', [null], [{}], undefined])),
  // single value <-> array
  (_rng, _root, s) => {
    const v = get(s);
    set(s, Array.isArray(v) ? v[0] : [v]);
  },
  // primitive extensions, right and wrong
  (rng, _root, s) => {
    if (Array.isArray(s.parent) || typeof get(s) !== 'string') return;
    s.parent[`_${s.key}`] = pick(rng, [
      { extension: [{ url: 'http://hl7.org/fhir/StructureDefinition/data-absent-reason', valueCode: 'unknown' }] },
      { extension: [{ url: 'http://example.org/x' }] },
      { id: 'x' },
      5,
      'x',
      [null, { id: 'y' }],
      { foo: 1 },
    ]);
  },
  // contained and nested resources
  (rng, root) => {
    root.contained = [
      ...((root.contained as unknown[]) ?? []),
      pick(rng, [
        { resourceType: 'Patient', id: 'c1' },
        { resourceType: 'Nope' },
        { resourceType: 'Bot' },
        { resourceType: 5 },
        { id: 'no-type' },
        { resourceType: 'Observation', status: 'final', code: { text: 'x' }, valueString: '' },
      ]),
    ];
  },
  // references of the wrong type, local, conditional, empty
  (rng, root) => {
    const refs = slots(root).filter((x) => x.key === 'reference' && typeof get(x) === 'string');
    if (refs.length > 0)
      set(
        pick(rng, refs),
        pick(rng, ['Observation/1', 'Patient/1', '#c1', 'Patient?identifier=x', '', 'urn:uuid:0', 'Nope/1', '/x']),
      );
  },
  // extensions: core and module definitions with right, wrong or no values
  (rng, root) => {
    const url = pick(rng, [
      'http://hl7.org/fhir/StructureDefinition/flag-priority',
      'http://hl7.org/fhir/StructureDefinition/patient-birthPlace',
      'https://periplan.app/fhir/StructureDefinition/ext-basis',
      'https://periplan.app/fhir/StructureDefinition/ext-input-item',
      'http://example.org/unknown',
    ]);
    const value = pick(rng, [
      { valueString: 'x' },
      { valueCodeableConcept: { coding: [{ code: 'PH' }] } },
      {},
      { extension: [{ url: 'x', valueBoolean: true }] },
      { valueAddress: { city: 'Oslo' } },
    ]);
    root.extension = [...((root.extension as unknown[]) ?? []), { url, ...value }];
  },
  // in-memory values JSON cannot hold
  (rng, _root, s) => set(s, pick(rng, [NaN, Infinity, () => 1, Symbol('x'), 10n, new Date(0)])),
];

function mutant(rng: Rng, base: Json): Json {
  const root = structuredClone(base);
  for (let n = 1 + Math.floor(rng() * 3); n > 0; n--) {
    const all = slots(root);
    if (all.length === 0) break;
    pick(rng, MUTATIONS)(rng, root, pick(rng, all));
  }
  return root;
}

const MUTANTS = Number(process.env.DIFFERENTIAL_MUTANTS ?? 2000);

describe('compiled validator = Medplum reference, on seeded mutations', () => {
  it('2,000 mutated copies (more with DIFFERENTIAL_MUTANTS=n) of the module content, golden CarePlans, generated responses and real-world Questionnaires', () => {
    const rng = seededRandom(4242);
    const files = [...contentFiles(), ...jsonFiles(REAL_WORLD)];
    const bases: Json[] = files
      .map((f) => readJson(f) as Json)
      .filter((r) => r && typeof r === 'object' && !Array.isArray(r));
    for (const carePlan of bases.filter((b) => b.resourceType === 'CarePlan').slice(0, 8))
      bases.push(...((carePlan.contained as Json[]) ?? []));
    for (let i = 0; i < 40; i++)
      bases.push(randomResponse(rng, intake, { subject: `Patient/m-${i}`, corruptRate: 0.1 }) as unknown as Json);
    bases.push(
      {
        resourceType: 'Observation',
        status: 'final',
        code: { coding: [{ system: 'http://loinc.org', code: '72514-3' }] },
        subject: { reference: 'Patient/1' },
        effectiveDateTime: '2026-11-24T08:30:00Z',
        valueQuantity: { value: 7, unit: '{score}', system: 'http://unitsofmeasure.org', code: '{score}' },
      },
      {
        resourceType: 'Provenance',
        target: [{ reference: 'QuestionnaireResponse/1' }],
        recorded: '2026-11-24T08:30:00Z',
        agent: [{ who: { reference: 'Patient/1' } }],
      },
    );
    const profiles = moduleProfiles();
    const inputs = function* () {
      for (let i = 0; i < MUTANTS; i++) {
        // Large CarePlans are a quarter of the bases but cost the reference path ~15 ms each: use them less.
        let base = pick(rng, bases);
        if (base.resourceType === 'CarePlan' && rng() < 0.6) base = pick(rng, bases);
        const resource = mutant(rng, base);
        const matching = profiles.filter((url) => getProfile(url)!.type === resource.resourceType);
        const options = matching.length > 0 && rng() < 0.3 ? { profile: pick(rng, matching) } : undefined;
        yield { name: `mutant ${i} of ${String(base.resourceType)}/${String(base.id)}`, resource, options };
      }
    };
    const { total, invalid, messages } = expectSame(inputs());
    expect(total).toBe(MUTANTS);
    // The mutations reach many different checks, and most mutants are invalid.
    expect(invalid).toBeGreaterThan(MUTANTS / 2);
    expect(messages.size).toBeGreaterThan(40);
  }, 240_000);
});
