/**
 * Third-party Questionnaires (../shared/testdata/questionnaires, see its README) through the loader's
 * per-resource checks. The README's `strict R4` column is the expectation; the one known disagreement is
 * documented below.
 */
import { describe, it } from '@jest/globals';
import { expect } from '../support/expect.js';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { checkResource } from '../../src/knowledge/index.js';
import { realWorldQuestionnairesDir } from '../support/shared-data.js';

const dir = realWorldQuestionnairesDir();
interface Entry {
  file: string;
  strictR4: string;
  note?: string;
}
const index = JSON.parse(readFileSync(path.join(dir, 'index.json'), 'utf8')) as Entry[];

/**
 * Strictly valid R4, but the loader's Questionnaire checks find what the README's NEGATIVE note says:
 * item1 and item2 depend on item3, which depends on both (an enableWhen loop).
 */
const CAUGHT_BEYOND_STRICT_R4: Record<string, RegExp> = {
  'lforms__q-enableWhen-with-reference-loop.json': /enableWhen loop: item1 → item3 → item1/,
};

describe('real-world Questionnaires', () => {
  it('the index lists the data set', () => {
    expect(index.length).toBeGreaterThan(0);
  });

  for (const entry of index) {
    it(`${entry.file}: ${entry.strictR4 === 'ok' ? 'passes' : 'is reported'}`, () => {
      const resource = JSON.parse(readFileSync(path.join(dir, entry.file), 'utf8')) as unknown;
      let result: ReturnType<typeof checkResource> | undefined;
      expect(() => (result = checkResource(resource, entry.file, { knowledge: false }))).not.toThrow();
      const problems = result!.problems;
      const special = CAUGHT_BEYOND_STRICT_R4[entry.file];
      if (special) {
        expect(problems.map((p) => p.message)).toEqual(expect.arrayContaining([expect.stringMatching(special)]));
        return;
      }
      if (entry.strictR4 === 'ok') {
        expect(problems).toEqual([]);
        return;
      }
      // "N issue(s): <expression> <message> | ..." — the first issue the README lists is among ours.
      expect(problems.length).toBeGreaterThan(0);
      // The README names choice elements Medplum-style (`extension[2].value[x].value`); ours are concrete
      // (`extension[2].valueDuration.value`), so compare up to the choice.
      const firstExpected = /^\d+ issue\(s\): (\S+)/.exec(entry.strictR4)?.[1];
      for (const p of problems) {
        expect(p.file).toBe(entry.file);
        expect(p.message.length).toBeGreaterThan(5);
        expect(p.expression).toMatch(/^Questionnaire(\.|$)/);
      }
      if (firstExpected) {
        const prefix = firstExpected.split(/[A-Za-z]+\[x\]/)[0]!;
        expect(
          problems.some((p) => p.expression?.startsWith(prefix)),
          `${prefix} in ${JSON.stringify(problems)}`,
        ).toBe(true);
      }
    });
  }

  it('the deliberately broken ones are reported', () => {
    for (const entry of index.filter((e) => e.note?.startsWith('NEGATIVE'))) {
      const { problems } = checkResource(JSON.parse(readFileSync(path.join(dir, entry.file), 'utf8')), entry.file, {
        knowledge: false,
      });
      expect(problems.length, entry.file).toBeGreaterThan(0);
    }
  });
});
