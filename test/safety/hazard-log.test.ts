/**
 * The hazard log names, for every control, the tests that prove it. A control whose test was renamed or
 * deleted would be a claim nobody checks any more, so every test the log names must exist, by file and name.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from '@jest/globals';
import { expect } from '../support/expect.js';

const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');
const LOG = path.join(ROOT, 'docs/safety/hazard-log.md');

/** "- `test/x.test.ts` › `test name`" lines under a hazard's "Proved by". */
const PROOF = /^\s*-\s+`(test\/[^`]+\.test\.ts)`\s+›\s+`([^`]+)`\s*$/;

interface Proof {
  hazard: string;
  file: string;
  name: string;
}

function proofs(markdown: string): Proof[] {
  const out: Proof[] = [];
  let hazard = '';
  for (const line of markdown.split('\n')) {
    const heading = /^###\s+(HAZ-\d+)/.exec(line);
    if (heading) hazard = heading[1]!;
    const m = PROOF.exec(line);
    if (m) out.push({ hazard, file: m[1]!, name: m[2]! });
  }
  return out;
}

/** A test title as it appears in source: directly after `it(`, `test(` or `it.each(...)(`, in any quote style. */
function declaresTest(source: string, name: string): boolean {
  const spellings = [name, name.replace(/'/g, "\\'"), name.replace(/"/g, '\\"')];
  for (const spelled of spellings) {
    for (const quote of ["'", '"', '`']) {
      let at = source.indexOf(quote + spelled + quote);
      while (at >= 0) {
        const before = source.slice(Math.max(0, at - 120), at);
        if (/(\b(?:it|test)(?:\.(?:only|concurrent|sequential))?\s*\(\s*|\)\s*\(\s*)$/.test(before)) return true;
        at = source.indexOf(quote + spelled + quote, at + 1);
      }
    }
  }
  return false;
}

describe('docs/safety/hazard-log.md', () => {
  const markdown = fs.readFileSync(LOG, 'utf8');
  const all = proofs(markdown);
  const hazards = [...markdown.matchAll(/^###\s+(HAZ-\d+)/gm)].map((m) => m[1]!);

  it('names at least one proving test for every hazard', () => {
    expect(hazards.length).toBeGreaterThan(0);
    const unproved = hazards.filter((h) => !all.some((p) => p.hazard === h));
    expect(unproved, 'hazards without a "Proved by" test').toEqual([]);
  });

  it('every test it names exists, by file and by name', () => {
    const missing = all
      .filter((p) => {
        const file = path.join(ROOT, p.file);
        return !fs.existsSync(file) || !declaresTest(fs.readFileSync(file, 'utf8'), p.name);
      })
      .map((p) => `${p.hazard}: ${p.file} › ${p.name}`);
    expect(missing).toEqual([]);
  });

  it('the check itself tells a named test from a missing one', () => {
    const self = fs.readFileSync(new URL(import.meta.url), 'utf8');
    expect(declaresTest(self, 'every test it names exists, by file and by name')).toBe(true);
    expect(declaresTest(self, 'a test that was never written')).toBe(false);
  });
});
