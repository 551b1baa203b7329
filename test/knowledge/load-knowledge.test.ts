import { describe, it, expect } from '@jest/globals';
import { existsSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ContentError, loadKnowledge, loadExamples, type ContentProblem } from '../../src/knowledge/index.js';
import { validContent, writeContent, type ContentFiles } from './content-fixture.js';

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));

/** Load `files`, expect a ContentError, and return it. */
async function loadFailure(files: ContentFiles): Promise<ContentError> {
  const { dir, cleanup } = await writeContent(files);
  try {
    await loadKnowledge(dir);
  } catch (err) {
    expect(err).toBeInstanceOf(ContentError);
    return err as ContentError;
  } finally {
    await cleanup();
  }
  throw new Error('loadKnowledge accepted invalid content');
}

type ProblemMatch = Partial<Omit<ContentProblem, 'message'>> & { message?: RegExp | string };

function find(err: ContentError, match: ProblemMatch): ContentProblem {
  const hit = err.problems.find(
    (p) =>
      (match.file === undefined || p.file === match.file) &&
      (match.resource === undefined || p.resource === match.resource) &&
      (match.expression === undefined || p.expression === match.expression) &&
      (match.message === undefined ||
        (typeof match.message === 'string' ? p.message.includes(match.message) : match.message.test(p.message))),
  );
  if (!hit) throw new Error(`no problem matching ${JSON.stringify(match)} in:\n${err.message}`);
  return hit;
}

const intakeFile = 'questionnaires/back-pain-intake.json';
const intake = 'Questionnaire/back-pain-intake';

function withIntake(edit: (q: fhir4.Questionnaire) => void): ContentFiles {
  const files = validContent();
  edit(files[intakeFile] as fhir4.Questionnaire);
  return files;
}

function itemOf(q: fhir4.Questionnaire, linkId: string): fhir4.QuestionnaireItem {
  for (const g of q.item ?? []) for (const i of g.item ?? []) if (i.linkId === linkId) return i;
  throw new Error(`no ${linkId}`);
}

describe('loadKnowledge', () => {
  it('loads valid content and indexes it by canonical', async () => {
    const { dir, cleanup } = await writeContent(validContent());
    try {
      const kb = await loadKnowledge(dir);
      expect(kb.resolve('https://periplan.app/fhir/Questionnaire/back-pain-intake|1.0.0', 'Questionnaire')?.id).toBe(
        'back-pain-intake',
      );
      expect(kb.read('PlanDefinition', 'back-pain-follow-up')).toBeDefined();
    } finally {
      await cleanup();
    }
  });

  it('loads the real content of this repository', async () => {
    const folders = ['questionnaires', 'plandefinitions', 'profiles'].filter(
      (f) => existsSync(repoRoot + f) && readdirSync(repoRoot + f).some((n) => n.endsWith('.json')),
    );
    if (folders.length === 0) return; // nothing written yet
    const kb = await loadKnowledge(repoRoot).catch((err: unknown) => {
      throw new Error(err instanceof Error ? err.message : String(err));
    });
    expect(kb.read('Questionnaire', 'back-pain-intake')).toBeDefined();
    expect(kb.ofType('StructureDefinition').length).toBeGreaterThan(0);
  });

  it('names file and position for a JSON syntax error', async () => {
    const err = await loadFailure({
      ...validContent(),
      'plandefinitions/broken.json': '{\n  "resourceType": "PlanDefinition",\n  "id": "x",,\n}',
    });
    const p = find(err, { file: 'plandefinitions/broken.json' });
    expect(p.message).toMatch(/not valid JSON at line 3, column \d+/);
    expect(err.message).toContain('plandefinitions/broken.json: not valid JSON at line 3');
  });

  it('names file, resource and element for a structural error', async () => {
    const err = await loadFailure(
      withIntake((q) => ((itemOf(q, 'age') as unknown as Record<string, unknown>).required = 'yes')),
    );
    const p = find(err, { file: intakeFile, resource: intake, message: 'expected boolean' });
    expect(p.expression).toBe('Questionnaire.item[0].item[0].required');
    expect(err.message).toContain(
      `${intakeFile} › ${intake} › Questionnaire.item[0].item[0].required: Invalid JSON type: expected boolean`,
    );
  });

  it('reports a code outside a required binding', async () => {
    const err = await loadFailure(withIntake((q) => ((q as unknown as Record<string, unknown>).status = 'published')));
    find(err, { resource: intake, expression: 'Questionnaire.status', message: '"published"' });
  });

  it('reports a FHIRPath expression that does not compile, with its element', async () => {
    const err = await loadFailure(
      withIntake((q) => {
        itemOf(q, 'ost-score').extension![0]!.valueExpression!.expression = 'trunc(0.2 * (%weight - %age)';
      }),
    );
    const p = find(err, { resource: intake, message: 'FHIRPath does not compile' });
    expect(p.expression).toBe('Questionnaire.item[3].item[12].extension[0].valueExpression.expression');
  });

  it('reports unknown FHIRPath functions and variables out of scope', async () => {
    const err = await loadFailure(
      withIntake((q) => {
        itemOf(q, 'ost-score').extension![0]!.valueExpression!.expression = 'trunc(0.2 * (%weight - %age))';
      }),
    );
    find(err, { resource: intake, message: 'unknown function trunc()' });
    find(err, { resource: intake, message: /uses %weight, %age, not defined here/ });
  });

  it('reports a bad FHIRPath in a PlanDefinition condition', async () => {
    const files = validContent();
    const pd = files['plandefinitions/PlanDefinition-back-pain-follow-up.json'] as fhir4.PlanDefinition;
    pd.action![0]!.condition![0]!.expression!.expression = "(('a' | 'b') intersect %yes).count()";
    const err = await loadFailure(files);
    const p = find(err, { resource: 'PlanDefinition/back-pain-follow-up', message: 'FHIRPath does not compile' });
    expect(p.expression).toBe('PlanDefinition.action[0].condition[0].expression.expression');
  });

  it('reports a canonical that resolves nowhere', async () => {
    const files = validContent();
    const pd = files['plandefinitions/PlanDefinition-back-pain-follow-up.json'] as fhir4.PlanDefinition;
    pd.action![0]!.definitionCanonical = 'https://periplan.app/fhir/ActivityDefinition/no-such-thing';
    pd.library = ['http://hl7.org/fhir/Library/typo'];
    const err = await loadFailure(files);
    find(err, {
      expression: 'PlanDefinition.action[0].definitionCanonical',
      message: 'does not resolve: no resource in questionnaires/, plandefinitions/ or profiles/ has this url',
    });
    find(err, { expression: 'PlanDefinition.library[0]', message: 'not defined by FHIR R4' });
  });

  it('accepts canonicals that resolve in the knowledge base or are known HL7 / terminology canonicals', async () => {
    const files = validContent();
    const pd = files['plandefinitions/PlanDefinition-back-pain-follow-up.json'] as fhir4.PlanDefinition;
    pd.action![0]!.input = [
      { type: 'QuestionnaireResponse', profile: ['http://hl7.org/fhir/StructureDefinition/QuestionnaireResponse'] },
    ];
    pd.relatedArtifact = [
      { type: 'depends-on', resource: 'https://periplan.app/fhir/Questionnaire/back-pain-intake|1.0.0' },
    ];
    pd.type = { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/plan-definition-type', code: 'eca-rule' }] };
    const { dir, cleanup } = await writeContent(files);
    try {
      await expect(loadKnowledge(dir)).resolves.toBeDefined();
    } finally {
      await cleanup();
    }
  });

  it('reports a canonical whose version is not loaded', async () => {
    const files = validContent();
    (files['plandefinitions/PlanDefinition-back-pain-follow-up.json'] as fhir4.PlanDefinition).relatedArtifact = [
      { type: 'depends-on', resource: 'https://periplan.app/fhir/Questionnaire/back-pain-intake|9.9.9' },
    ];
    const err = await loadFailure(files);
    find(err, { expression: 'PlanDefinition.relatedArtifact[0].resource', message: 'only at version 1.0.0' });
  });

  it('reports codes missing from the module CodeSystems and unknown extensions', async () => {
    const files = validContent();
    const pd = files['plandefinitions/PlanDefinition-back-pain-follow-up.json'] as fhir4.PlanDefinition;
    pd.action![0]!.code = [
      { coding: [{ system: 'https://periplan.app/fhir/CodeSystem/back-pain-rule', code: 'RF-99' }] },
    ];
    pd.extension = [{ url: 'https://periplan.app/fhir/StructureDefinition/ext-missing', valueString: 'x' }];
    const err = await loadFailure(files);
    find(err, { expression: 'PlanDefinition.action[0].code[0].coding[0].code', message: '"RF-99" is not defined' });
    find(err, { expression: 'PlanDefinition.extension[0].url', message: 'has no StructureDefinition in profiles/' });
  });

  it('reports a missing pinned linkId', async () => {
    const err = await loadFailure(
      withIntake((q) => {
        const pain = q.item![0]!;
        pain.item = pain.item!.filter((i) => i.linkId !== 'pain-onset');
      }),
    );
    find(err, {
      file: intakeFile,
      resource: intake,
      expression: 'Questionnaire.item',
      message: 'pinned item "pain-onset" (choice, in group pain) is missing',
    });
  });

  it('reports a pinned item with the wrong type', async () => {
    const err = await loadFailure(withIntake((q) => (itemOf(q, 'pain-duration-weeks').type = 'decimal')));
    find(err, {
      resource: intake,
      expression: 'Questionnaire.item[0].item[2].type',
      message: 'must be of type integer, is decimal',
    });
  });

  it('reports a pinned item with the wrong answer codes', async () => {
    const err = await loadFailure(
      withIntake((q) => {
        const trauma = itemOf(q, 'rf-trauma');
        trauma.answerOption = trauma.answerOption!.filter((o) => o.valueCoding?.code !== 'major');
        trauma.answerOption.push({
          valueCoding: { system: 'https://periplan.app/fhir/CodeSystem/back-pain-answer', code: 'severe' },
        });
      }),
    );
    const p = find(err, { resource: intake, message: 'answer codes differ' });
    expect(p.expression).toBe('Questionnaire.item[1].item[11].answerOption');
    expect(p.message).toContain('missing https://periplan.app/fhir/CodeSystem/back-pain-answer|major');
    expect(p.message).toContain('unexpected https://periplan.app/fhir/CodeSystem/back-pain-answer|severe');
  });

  it('reports a red-flag item that is not required', async () => {
    const err = await loadFailure(withIntake((q) => delete itemOf(q, 'rf-fever').required));
    find(err, {
      resource: intake,
      expression: 'Questionnaire.item[1].item[6].required',
      message: 'item "rf-fever" is a red-flag question and must be required',
    });
  });

  it('reports a pinned item outside its group', async () => {
    const err = await loadFailure(
      withIntake((q) => {
        const pain = q.item![0]!;
        const age = pain.item!.shift()!;
        q.item![3]!.item!.push(age);
      }),
    );
    find(err, { resource: intake, message: 'item "age" must sit directly in group "pain", is in "bone-health"' });
  });

  it('reports duplicate ids and duplicate linkIds', async () => {
    const files = validContent();
    files['questionnaires/copy.json'] = {
      ...(files[intakeFile] as object),
      url: 'https://periplan.app/fhir/Questionnaire/back-pain-intake',
    };
    const withDupLink = withIntake((q) => q.item![2]!.item!.push({ linkId: 'age', type: 'integer', text: 'again' }));
    const err = await loadFailure(files);
    find(err, {
      file: 'questionnaires/copy.json',
      resource: intake,
      expression: 'Questionnaire.id',
      message: 'duplicate Questionnaire/back-pain-intake: questionnaires/back-pain-intake.json already defines it',
    });
    const err2 = await loadFailure(withDupLink);
    find(err2, {
      resource: intake,
      expression: 'Questionnaire.item[2].item[4].linkId',
      message: 'Duplicate linkId "age"',
    });
  });

  it('reports enableWhen pointing at a missing question or using the wrong answer type', async () => {
    const err = await loadFailure(
      withIntake((q) => {
        itemOf(q, 'rf-weakness-worsening').enableWhen = [
          {
            question: 'rf-leg-weaknes',
            operator: '!=',
            answerCoding: { system: 'https://periplan.app/fhir/CodeSystem/back-pain-answer', code: 'none' },
          },
        ];
        itemOf(q, 'final-period-age').enableWhen = [
          { question: 'menopausal-status', operator: '=', answerBoolean: true },
        ];
      }),
    );
    find(err, {
      resource: intake,
      expression: 'Questionnaire.item[1].item[4].enableWhen[0].question',
      message: 'no item has',
    });
    find(err, {
      resource: intake,
      expression: 'Questionnaire.item[3].item[1].enableWhen[0].answerBoolean',
      message: 'is a choice question',
    });
  });

  it('reports content that is not knowledge and a missing pinned intake', async () => {
    const files = validContent();
    delete files[intakeFile];
    files['questionnaires/patient.json'] = { resourceType: 'Patient', id: 'p1' };
    const err = await loadFailure(files);
    find(err, {
      file: 'questionnaires/patient.json',
      resource: 'Patient/p1',
      expression: 'resourceType',
      message: 'not a knowledge resource',
    });
    find(err, { message: 'The intake Questionnaire is missing' });
  });

  it('writes one line per problem as file › Resource/id › expression: message', async () => {
    const err = await loadFailure(withIntake((q) => (itemOf(q, 'pain-duration-weeks').type = 'decimal')));
    const lines = err.message.split('\n');
    expect(lines[0]).toMatch(/^The content in .* is not valid \(\d+ problems?\):$/);
    expect(lines).toContain(
      `  ${intakeFile} › ${intake} › Questionnaire.item[0].item[2].type: item "pain-duration-weeks" must be of type integer, is decimal`,
    );
  });
});

describe('loadExamples', () => {
  it('loads strict-R4 examples and reports broken ones by file and element', async () => {
    const { dir, cleanup } = await writeContent({
      'examples/patient.json': { resourceType: 'Patient', id: 'p1', birthDate: '1970-01-01' },
      'examples/bad.json': { resourceType: 'Patient', id: 'p2', birthDate: '1970-13-01' },
    });
    try {
      const err = (await loadExamples(dir).catch((e: unknown) => e)) as ContentError;
      expect(err).toBeInstanceOf(ContentError);
      expect(err.problems).toEqual([
        {
          file: 'examples/bad.json',
          resource: 'Patient/p2',
          expression: 'Patient.birthDate',
          message: 'Invalid date format',
        },
      ]);
    } finally {
      await cleanup();
    }
  });
});

describe('decision content variables', () => {
  it('reports a %variable that neither the engine nor any variable extension defines', async () => {
    const files = validContent();
    const pd = files['plandefinitions/PlanDefinition-back-pain-follow-up.json'] as fhir4.PlanDefinition;
    pd.extension = [
      {
        url: 'http://hl7.org/fhir/StructureDefinition/variable',
        valueExpression: { name: 'age', language: 'text/fhirpath', expression: '%response.item.first().answer.value' },
      },
    ];
    pd.action![0]!.condition![0]!.expression!.expression = '%agee >= 50 and %age < 65';
    const err = await loadFailure(files);
    const p = find(err, {
      resource: 'PlanDefinition/back-pain-follow-up',
      expression: 'PlanDefinition.action[0].condition[0].expression.expression',
    });
    expect(p.message).toContain('uses %agee, which neither the rules engine nor any variable extension defines');
    expect(err.problems.filter((x) => x.message.includes('%age,'))).toEqual([]);
  });
});

describe('ValueSets', () => {
  it('reports a ValueSet that includes a module CodeSystem that does not exist', async () => {
    const files = validContent();
    files['profiles/ValueSet-x.json'] = {
      resourceType: 'ValueSet',
      id: 'x',
      url: 'https://periplan.app/fhir/ValueSet/x',
      status: 'active',
      compose: { include: [{ system: 'https://periplan.app/fhir/CodeSystem/back-pain-flags' }] },
    };
    const err = await loadFailure(files);
    find(err, {
      file: 'profiles/ValueSet-x.json',
      resource: 'ValueSet/x',
      expression: 'ValueSet.compose.include[0].system',
      message: 'has no CodeSystem',
    });
  });
});

describe('Questionnaire variables in scope', () => {
  it('accepts launchContext, sourceQueries and variables defined on an ancestor', async () => {
    const files = withIntake((q) => {
      const prePop: fhir4.Bundle = {
        resourceType: 'Bundle',
        id: 'PrePop',
        type: 'batch',
        entry: [{ request: { method: 'GET', url: 'Observation?code=http://loinc.org|29463-7' } }],
      };
      q.contained = [prePop];
      q.extension = [
        {
          url: 'http://hl7.org/fhir/uv/sdc/StructureDefinition/sdc-questionnaire-launchContext',
          extension: [
            {
              url: 'name',
              valueCoding: { system: 'http://hl7.org/fhir/uv/sdc/CodeSystem/launchContext', code: 'patient' },
            },
            { url: 'type', valueCode: 'Patient' },
          ],
        },
        {
          url: 'http://hl7.org/fhir/uv/sdc/StructureDefinition/sdc-questionnaire-sourceQueries',
          valueReference: { reference: '#PrePop' },
        },
      ];
      const bone = q.item![3]!;
      bone.extension = [
        {
          url: 'http://hl7.org/fhir/StructureDefinition/variable',
          valueExpression: {
            name: 'weight',
            language: 'text/fhirpath',
            expression: "%resource.repeat(item).where(linkId='weight-kg').answer.value.first()",
          },
        },
      ];
      itemOf(q, 'ost-score').extension![0]!.valueExpression!.expression =
        '(0.2 * (%weight - %patient.birthDate.toString().substring(0, 4).toInteger())).truncate()';
      itemOf(q, 'weight-kg').extension = [
        {
          url: 'http://hl7.org/fhir/uv/sdc/StructureDefinition/sdc-questionnaire-initialExpression',
          valueExpression: {
            language: 'text/fhirpath',
            expression: '%PrePop.entry[0].resource.entry.resource.value.value.first()',
          },
        },
      ];
    });
    const { dir, cleanup } = await writeContent(files);
    try {
      await expect(loadKnowledge(dir)).resolves.toBeDefined();
    } finally {
      await cleanup();
    }
  });
});

describe('checkResource never throws', () => {
  it('reports garbage in content files instead of crashing', async () => {
    const { checkResource } = await import('../../src/knowledge/index.js');
    const cyclic: Record<string, unknown> = { resourceType: 'Questionnaire', id: 'c', status: 'active' };
    cyclic.item = [cyclic];
    for (const raw of [
      null,
      42,
      'x',
      [],
      {},
      { resourceType: 'Nope', id: 'x' },
      JSON.parse('{"resourceType":"Questionnaire","id":"q","status":"active","item":[{"__proto__":{}}]}'),
      cyclic,
    ]) {
      let result: ReturnType<typeof checkResource> | undefined;
      expect(() => (result = checkResource(raw, 'questionnaires/x.json', { knowledge: true }))).not.toThrow();
      expect(result!.problems.length).toBeGreaterThan(0);
      expect(result!.loaded).toBeUndefined();
    }
  });
});
