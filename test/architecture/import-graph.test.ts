/**
 * The shape of src/: every import (TypeScript and the browser's ES modules) runs down the floors or along one,
 * and no files import each other in a loop. A new folder must be given a floor here before it can be imported.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from '@jest/globals';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const SRC = path.join(ROOT, 'src');

/**
 * The floors, lowest first. A file may import from its own floor or any floor below, never from one above.
 * Keys are folders (or files) under src/; the longest matching key wins.
 */
export const FLOORS: readonly (readonly string[])[] = [
  ['platform', 'outcomes', 'config', 'fhirpath', 'browser-shared'],
  ['validation'],
  ['knowledge'],
  ['forms'],
  ['rules'],
  ['submission'],
  ['api'],
  ['ehr'],
  ['clinician-app', 'tablet', 'sandbox'],
  ['app.ts', 'server.ts', 'main.ts', 'module-state.ts'],
];

/** The browser's own URL for the shared modules (served under each app's assets/shared/). */
const BROWSER_SHARED = path.join(SRC, 'browser-shared/public');

function sourceFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const full = path.join(dir, e.name);
    if (e.isDirectory()) return e.name === 'node_modules' ? [] : sourceFiles(full);
    return /\.(ts|js)$/.test(e.name) && !e.name.endsWith('.d.ts') ? [full] : [];
  });
}

/** Every module specifier of a file: static imports and re-exports, side-effect imports, dynamic import(). */
export function specifiers(text: string): string[] {
  const code = text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '');
  const found: string[] = [];
  for (const m of code.matchAll(/\b(?:import|export)\s+(?:type\s+)?(?:[\w*{}\s,$]+?\s+from\s+)?['"]([^'"]+)['"]/g))
    found.push(m[1]!);
  for (const m of code.matchAll(/\bimport\(\s*['"]([^'"]+)['"]\s*\)/g)) found.push(m[1]!);
  return found;
}

function resolve(from: string, specifier: string): string | undefined {
  if (!specifier.startsWith('.')) return undefined;
  const target = path.resolve(path.dirname(from), specifier);
  const candidates = [target, target.replace(/\.js$/, '.ts'), `${target}.ts`, path.join(target, 'index.ts')];
  const hit = candidates.find((c) => fs.existsSync(c) && fs.statSync(c).isFile());
  if (hit) return hit;
  const shared = /(?:^|\/)shared\/(.+)$/.exec(specifier);
  if (shared && from.includes(`${path.sep}public${path.sep}`)) {
    const file = path.join(BROWSER_SHARED, shared[1]!);
    if (fs.existsSync(file)) return file;
  }
  throw new Error(`${path.relative(ROOT, from)} imports '${specifier}', which names no file of src/.`);
}

function floorOf(file: string): number {
  const rel = path.relative(SRC, file).split(path.sep).join('/');
  let best: { floor: number; length: number } | undefined;
  FLOORS.forEach((keys, floor) => {
    for (const key of keys) {
      if ((rel === key || rel.startsWith(`${key}/`)) && key.length > (best?.length ?? -1))
        best = { floor, length: key.length };
    }
  });
  if (!best)
    throw new Error(
      `src/${rel} stands on no floor: add its folder to FLOORS in test/architecture/import-graph.test.ts.`,
    );
  return best.floor;
}

export function importGraph(): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const file of sourceFiles(SRC)) {
    const targets = specifiers(fs.readFileSync(file, 'utf8')).flatMap((s) => resolve(file, s) ?? []);
    graph.set(file, [...new Set(targets)]);
  }
  return graph;
}

/** Strongly connected components with more than one file, or a file importing itself (Tarjan). */
export function circles(graph: Map<string, string[]>): string[][] {
  let index = 0;
  const indexOf = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (v: string) => {
    indexOf.set(v, index);
    low.set(v, index++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!indexOf.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, indexOf.get(w)!));
    }
    if (low.get(v) === indexOf.get(v)) {
      const component: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        component.push(w);
      } while (w !== v);
      if (component.length > 1 || (graph.get(v) ?? []).includes(v)) found.push(component.sort());
    }
  };
  for (const v of graph.keys()) if (!indexOf.has(v)) visit(v);
  return found;
}

const rel = (file: string) => path.relative(ROOT, file).split(path.sep).join('/');

describe('the import graph of src/', () => {
  const graph = importGraph();

  it('reads every source file, TypeScript and browser modules alike', () => {
    expect(graph.size).toBeGreaterThan(100);
    expect([...graph.keys()].some((f) => f.endsWith(path.join('clinician-app', 'public', 'app.js')))).toBe(true);
  });

  it('has no circle: no files import each other, directly or round a loop', () => {
    expect(circles(graph).map((c) => c.map(rel))).toEqual([]);
  });

  it('has no circle between the top-level parts of src/ either (two apps talk through a contract, not each other)', () => {
    const partOf = (file: string) => path.relative(SRC, file).split(path.sep)[0]!;
    const parts = new Map<string, string[]>();
    for (const [file, targets] of graph) {
      const from = partOf(file);
      const to = targets.map(partOf).filter((t) => t !== from);
      parts.set(from, [...new Set([...(parts.get(from) ?? []), ...to])]);
    }
    expect(circles(parts)).toEqual([]);
  });

  it('has no back-arrow: no file imports from a floor above its own', () => {
    const upward: string[] = [];
    for (const [file, targets] of graph) {
      for (const target of targets) if (floorOf(target) > floorOf(file)) upward.push(`${rel(file)} -> ${rel(target)}`);
    }
    expect(upward).toEqual([]);
  });
});
