/** Element paths as FHIRPath: Medplum's `value[x]` segments made concrete. */

/**
 * Medplum reports choice elements by their definition path (`Observation.value[x].value`), which is not
 * FHIRPath. Rewrite each `name[x]` segment to the property actually present (`valueQuantity`).
 */
export function withConcreteChoicePaths(i: fhir4.OperationOutcomeIssue, resource: object): fhir4.OperationOutcomeIssue {
  if (!i.expression?.some((e) => e.includes('[x]'))) return i;
  return { ...i, expression: i.expression.map((e) => concreteChoicePath(e, resource)) };
}

/** Rewrite `name[x]` segments of a Medplum element path to the property present in `resource`. */
export function concreteChoicePath(expression: string, resource: object): string {
  const segments = expression.split('.');
  let current: unknown = resource;
  const out = [segments[0] ?? ''];
  for (const segment of segments.slice(1)) {
    const m = /^([A-Za-z_][A-Za-z0-9_]*)(\[x\])?(?:\[(\d+)\])?$/.exec(segment);
    if (!m) return expression;
    let name = m[1]!;
    const obj = Array.isArray(current) ? (current[0] as unknown) : current;
    if (m[2] && obj && typeof obj === 'object') {
      const key = Object.keys(obj).find((k) => k.startsWith(name) && /^[A-Z]/.test(k.slice(name.length)));
      if (!key) return expression;
      name = key;
    }
    current = obj && typeof obj === 'object' ? (obj as Record<string, unknown>)[name] : undefined;
    if (m[3] !== undefined && Array.isArray(current)) current = current[Number(m[3])];
    out.push(m[3] !== undefined ? `${name}[${m[3]}]` : name);
  }
  return out.join('.');
}
