/**
 * The decision content itself: every FHIRPath compiles, every name resolves, every rule has its code,
 * citations and inputs, and everything is valid R4.
 */
import { describe, it } from '@jest/globals';
import { expect } from '../support/expect.js';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { compileFhirPath } from '../../src/fhirpath/index.js';
import { contentExpressions, EXT_INPUT_ITEM, EXT_VARIABLE, RULE_SYSTEM } from '../../src/rules/index.js';
import { validateResource } from '../../src/validation/index.js';
import { ALL_ITEMS, contentFiles, loadRulesKnowledge, ROOT } from './support.js';

const kb = loadRulesKnowledge();
const resources = contentFiles().map((file) => JSON.parse(readFileSync(file, 'utf8')) as fhir4.FhirResource);
const planDefinitions = kb.ofType('PlanDefinition');
const top = planDefinitions.find((p) => p.id === 'back-pain-follow-up')!;

function ruleActions(): fhir4.PlanDefinitionAction[] {
  const out: fhir4.PlanDefinitionAction[] = [];
  const walk = (actions: fhir4.PlanDefinitionAction[] | undefined) => {
    for (const a of actions ?? []) {
      if (a.code) out.push(a);
      walk(a.action);
    }
  };
  for (const pd of planDefinitions) walk(pd.action);
  return out;
}
const ruleCode = (a: fhir4.PlanDefinitionAction) => a.code?.[0]?.coding?.[0]?.code ?? '';

describe('decision content', () => {
  it('every FHIRPath expression compiles', () => {
    const all = resources.flatMap(contentExpressions);
    expect(all.length).toBeGreaterThan(100);
    for (const e of all) expect(() => compileFhirPath(e.expression), `${e.resource} ${e.path}`).not.toThrow();
  });

  it('every %variable used is defined before use (or is part of the $apply environment)', () => {
    const environment = new Set([
      'subject',
      'patient',
      'response',
      'resource',
      'now',
      'action',
      'ucum',
      'context',
      'itemByLinkId',
      'itemsByAnswerCoding',
      'unusableItems',
    ]);
    const defined = new Set(environment);
    for (const ext of top.extension ?? []) {
      if (ext.url !== EXT_VARIABLE) continue;
      const { name, expression } = ext.valueExpression as { name: string; expression: string };
      for (const used of expression.match(/%[A-Za-z][A-Za-z0-9]*/g) ?? [])
        expect(defined.has(used.slice(1)), `%${name} uses ${used} before it is defined`).toBe(true);
      expect(defined.has(name), `%${name} defined twice`).toBe(false);
      defined.add(name);
    }
    for (const e of resources.flatMap(contentExpressions)) {
      for (const used of e.expression.match(/%[A-Za-z][A-Za-z0-9]*/g) ?? [])
        expect(defined.has(used.slice(1)), `${e.resource} ${e.path} uses ${used}`).toBe(true);
    }
  });

  it('the rule CodeSystem has one concept per rule, each used by an action, and every action code is in it', () => {
    const cs = kb.resolve(RULE_SYSTEM, 'CodeSystem') as fhir4.CodeSystem;
    const concepts = (cs.concept ?? []).map((c) => c.code);
    const expected = [
      'RF-00',
      'RF-01',
      'RF-02',
      'RF-03',
      'RF-04',
      'RF-05',
      'RF-06',
      'RF-07',
      'RF-08',
      'RF-09',
      'RF-10',
      'RF-11',
      'BMD-01',
      'BMD-02',
      'BMD-03',
      'BMD-04',
      'BMD-05',
      'BMD-06',
      'BMD-07',
      'CS',
      'CS-01',
      'CS-02',
      'CS-03',
      'CS-04',
      'CS-05',
    ];
    expect(concepts).toEqual(expected);
    for (const c of cs.concept ?? []) expect(c.display && c.definition).toBeTruthy();
    const used = new Set(ruleActions().map(ruleCode));
    expect([...used].sort()).toEqual([...expected].sort());
    for (const a of ruleActions()) expect(a.code?.[0]?.coding?.[0]?.system).toBe(RULE_SYSTEM);
  });

  it('every rule action has a tier, hedged wording, a condition, citations and declared inputs that are intake linkIds', () => {
    const linkIds = new Set(ALL_ITEMS.map((i) => i.linkId));
    for (const a of ruleActions()) {
      const where = a.id;
      expect(['routine', 'urgent', 'asap', 'stat'], where).toContain(a.priority);
      expect(a.description, where).toMatch(/Consider|Possible/);
      expect(a.condition?.[0]?.kind, where).toBe('applicability');
      expect(a.documentation?.length, where).toBeGreaterThan(0);
      const inputs = (a.input ?? []).flatMap((i) =>
        (i.extension ?? []).filter((e) => e.url === EXT_INPUT_ITEM).map((e) => e.valueString!),
      );
      expect(inputs.length, where).toBeGreaterThan(0);
      for (const l of inputs) expect(linkIds.has(l), `${where} input ${l}`).toBe(true);
    }
  });

  it('tiers per the spec', () => {
    const tiers = Object.fromEntries(ruleActions().map((a) => [a.id, a.priority]));
    expect(tiers).toMatchObject({
      'RF-00': 'urgent',
      'RF-01': 'stat',
      'RF-02': 'asap',
      'RF-03': 'asap',
      'RF-04-emergency': 'stat',
      'RF-04-urgent': 'asap',
      'RF-05-urgent': 'asap',
      'RF-05-soon': 'urgent',
      'RF-06-urgent': 'asap',
      'RF-06-soon': 'urgent',
      'RF-07': 'stat',
      'RF-08': 'routine',
      'RF-09': 'urgent',
      'RF-10': 'routine',
      'RF-11': 'routine',
      'BMD-01': 'routine',
      'BMD-02': 'routine',
      'BMD-03': 'urgent',
      'BMD-04': 'urgent',
      'BMD-05': 'routine',
      'BMD-06-urgent': 'asap',
      'BMD-06-soon': 'urgent',
      'BMD-07': 'routine',
    });
  });

  it('citations per the spec (section 7)', () => {
    const required: Record<string, string[]> = {
      'RF-01': ['GIRFT', 'ACR 2021 v4', 'NICE CKS sciatica'],
      'RF-02': ['ACP/APS 2007 rec 3', 'ACP 2011'],
      'RF-03': ['ACP 2011', 'ACR 2021 v7'],
      'RF-04': ['ACP 2011', 'ACR 2021 v7', 'NICE NG234', 'Downie'],
      'RF-05': ['ACP 2011', 'NICE CKS', 'Choosing Wisely (NASS)'],
      'RF-06': ['ACR 2021 v6', 'ISCD', 'BHOF 2022'],
      'BMD-06': ['ACR 2021 v6', 'ISCD', 'BHOF 2022'],
      'RF-08': ['ACP/APS 2007 rec 2 and 4', 'ACR 2021 v1-3', 'NICE NG59', 'Choosing Wisely (AAFP)'],
      'RF-10': ['ACP/APS 2007 rec 2 and 4', 'ACR 2021 v1-3', 'NICE NG59'],
      'RF-11': ['ACP/APS 2007 rec 2 and 4', 'ACR 2021 v1-3', 'NICE NG59'],
      'RF-09': ['ACP 2011', 'NICE NG59 1.1.1'],
      'BMD-01': ['USPSTF', 'Cadarette'],
      'BMD-02': ['USPSTF', 'Cadarette'],
      'BMD-03': ['ISCD', 'BHOF'],
      'BMD-05': ['ISCD', 'BHOF'],
      'BMD-04': ['ACR 2022 GIOP'],
      'BMD-07': ['FRAX', 'NICE CG146'],
      CS: ['ACP 2017', 'NICE NG59'],
      'CS-02': ['NIH ODS magnesium'],
      'CS-03': ['Gencer 2021'],
      'CS-04': ['Menopause Society'],
    };
    for (const a of ruleActions()) {
      const labels = (a.documentation ?? []).map((d) => d.label ?? '').join(' ; ');
      for (const want of required[ruleCode(a)] ?? []) expect(labels, `${a.id}`).toContain(want);
    }
  });

  it('the form and the rules agree on "complete": every item whose absence makes RF-00 fire is required and asked with the warning signs', () => {
    const top = resources.find(
      (r): r is fhir4.PlanDefinition => r.resourceType === 'PlanDefinition' && r.id === 'back-pain-follow-up',
    )!;
    const expr =
      (top.extension ?? []).find((e) => e.url === EXT_VARIABLE && e.valueExpression?.name === 'redFlagItems')
        ?.valueExpression?.expression ?? '';
    const screen = [...expr.matchAll(/'([^']+)'/g)].map((m) => m[1]!);
    expect(screen).toContain('leg-symptoms');
    const intake = resources.find((r): r is fhir4.Questionnaire => r.resourceType === 'Questionnaire')!;
    const group = intake.item!.find((g) => g.linkId === 'red-flags')!;
    const inGroup = new Map((group.item ?? []).map((i) => [i.linkId, i]));
    for (const linkId of screen) {
      expect(inGroup.has(linkId), `${linkId} sits in the warning-signs group`).toBe(true);
      // rf-weakness-worsening is required where it is asked (enableWhen: some leg weakness).
      expect(inGroup.get(linkId)!.required, `${linkId} is required`).toBe(true);
    }
  });

  it('RF-06 says what it proposes: a lumbar spine radiograph (LOINC 24970-6; no thoracolumbar code is verified)', () => {
    const xr = resources.find(
      (r): r is fhir4.ActivityDefinition => r.resourceType === 'ActivityDefinition' && r.id === 'xr-lumbar',
    )!;
    expect(xr.code?.coding?.map((c) => c.code)).toContain('24970-6');
    const rf06 = ruleActions().filter((a) => ruleCode(a) === 'RF-06');
    expect(rf06.length).toBe(2);
    for (const a of rf06) {
      const proposals = (a.action ?? []).filter((x) => x.definitionCanonical?.includes('/xr-'));
      expect(
        proposals.map((x) => x.definitionCanonical),
        a.id,
      ).toEqual(['https://periplan.app/fhir/ActivityDefinition/xr-lumbar|1.0.0']);
      for (const text of [a.description ?? '', ...proposals.map((x) => x.title ?? '')]) {
        expect(text, a.id).not.toMatch(/thoracolumbar/i);
        expect(text, a.id).toMatch(/lumbar spine radiograph/);
      }
    }
  });

  it('codes: verified LOINC/SNOMED only; never LOINC 24531-6, never CPT', () => {
    const text = resources.map((r) => JSON.stringify(r)).join('\n');
    expect(text).not.toContain('24531-6');
    expect(text).not.toMatch(/ama-assn|\/cpt/i);
    const loinc = [...text.matchAll(/"system":"http:\/\/loinc\.org","code":"([^"]+)"/g)].map((m) => m[1]);
    for (const code of loinc) expect(['24968-0', '24967-2', '24970-6', '72514-3', '29463-7']).toContain(code);
  });

  it('is versioned, active content under the canonical base', () => {
    for (const r of resources as Array<fhir4.FhirResource & { url?: string; version?: string; status?: string }>) {
      expect(r.url, r.id).toMatch(/^https:\/\/periplan\.app\/fhir\//);
      expect(r.version, r.id).toBe('1.0.0');
      expect(r.status, r.id).toBe('active');
    }
  });

  it('every content resource and extension definition is valid R4', () => {
    const sds = readdirSync(join(ROOT, 'profiles'))
      .filter((f) => f.startsWith('StructureDefinition-ext-'))
      .map((f) => JSON.parse(readFileSync(join(ROOT, 'profiles', f), 'utf8')) as fhir4.FhirResource);
    expect(sds.length).toBeGreaterThanOrEqual(6);
    for (const r of [...resources, ...sds]) {
      const errors = validateResource(r).filter((i) => i.severity === 'error' || i.severity === 'fatal');
      expect(errors, `${r.resourceType}/${r.id}`).toEqual([]);
    }
  });

  it('every example input and golden CarePlan is valid R4', () => {
    const ruleExamples = readdirSync(join(ROOT, 'examples'), { withFileTypes: true }).filter(
      (d) => d.isDirectory() && existsSync(join(ROOT, 'examples', d.name, 'expected-careplan.json')),
    );
    expect(ruleExamples.length).toBeGreaterThanOrEqual(26);
    for (const dir of ruleExamples) {
      for (const file of readdirSync(join(ROOT, 'examples', dir.name)).filter((f) => f.endsWith('.json'))) {
        const errors = validateResource(
          JSON.parse(readFileSync(join(ROOT, 'examples', dir.name, file), 'utf8')),
        ).filter((i) => i.severity === 'error' || i.severity === 'fatal');
        expect(errors, `${dir.name}/${file}`).toEqual([]);
      }
    }
  });
});
