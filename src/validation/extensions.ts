import { issue } from '../outcomes/index.js';
import { coreDefinition } from './canonicals.js';
import { validateAgainstProfile } from './profile-schemas.js';

type StructureDefinition = fhir4.StructureDefinition;

/**
 * Medplum checks extension slices by url and cardinality but not an extension's content against its
 * definition. For extensions whose definition is known (the module's own, and FHIR R4's core extensions
 * such as flag-priority), check the content too: a flag-priority carrying a valueString is an error.
 */
export function validateExtensions(
  root: object,
  ownDefinition: (url: string) => StructureDefinition | undefined,
): fhir4.OperationOutcomeIssue[] {
  const out: fhir4.OperationOutcomeIssue[] = [];
  const visit = (node: unknown, path: string): void => {
    if (Array.isArray(node)) {
      node.forEach((v, i) => visit(v, `${path}[${i}]`));
      return;
    }
    if (node === null || typeof node !== 'object') return;
    for (const [key, value] of Object.entries(node)) {
      const childPath = `${path}.${key}`;
      if ((key === 'extension' || key === 'modifierExtension') && Array.isArray(value)) {
        value.forEach((ext: unknown, i) => {
          const url = (ext as { url?: unknown } | null)?.url;
          if (typeof url !== 'string') return;
          const extPath = `${childPath}[${i}]`;
          const own = ownDefinition(url);
          if (own?.type === 'Extension') {
            // The module's extensions may be complex (nested extensions): check them fully.
            const found = validateAgainstProfile('Extension', ext, own);
            for (const f of found) out.push(rebase(f, 'Extension', extPath));
            out.push(...extensionValueIssues(ext as Record<string, unknown>, own, extPath));
            return;
          }
          // FHIR's own extensions: the value's type is what Medplum misses (its datatype is crawled already);
          // a full profile parse per extension would cost ~0.2 ms each.
          const core = coreDefinition(url, 'StructureDefinition');
          if (core?.type === 'Extension')
            out.push(...extensionValueIssues(ext as Record<string, unknown>, core, extPath));
        });
      }
      visit(value, childPath);
    }
  };
  visit(root, (root as { resourceType: string }).resourceType);
  return out;
}

/** Medplum accepts any `value[x]` type in a profiled extension; R4 allows only the types the definition lists. */
function extensionValueIssues(
  ext: Record<string, unknown>,
  sd: StructureDefinition,
  path: string,
): fhir4.OperationOutcomeIssue[] {
  const rule = valueRule(sd);
  if (!rule) return [];
  const { element, allowed } = rule;
  const valueKeys = Object.keys(ext).filter((k) => /^value[A-Z]/.test(k));
  const out: fhir4.OperationOutcomeIssue[] = [];
  if (element.max === '0' && valueKeys.length > 0) {
    out.push(
      issue({
        code: 'structure',
        diagnostics: `Extension ${sd.url} takes no value (it has nested extensions)`,
        expression: `${path}.${valueKeys[0]}`,
      }),
    );
  }
  for (const k of valueKeys) {
    if (element.max !== '0' && allowed.length > 0 && !allowed.includes(k)) {
      out.push(
        issue({
          code: 'structure',
          diagnostics: `Extension ${sd.url} needs ${allowed.join(' or ')}, not ${k}`,
          expression: `${path}.${k}`,
        }),
      );
    }
  }
  if ((element.min ?? 0) > 0 && valueKeys.length === 0) {
    out.push(
      issue({
        code: 'required',
        diagnostics: `Extension ${sd.url} needs a value (${allowed.join(' or ')})`,
        expression: path,
      }),
    );
  }
  return out;
}

/** Per extension definition: its `Extension.value[x]` element and the `value*` keys it allows (looked up once). */
const valueRules = new WeakMap<StructureDefinition, { element: fhir4.ElementDefinition; allowed: string[] } | null>();

function valueRule(sd: StructureDefinition): { element: fhir4.ElementDefinition; allowed: string[] } | null {
  let rule = valueRules.get(sd);
  if (rule === undefined) {
    const element = sd.snapshot?.element.find((e) => e.path === 'Extension.value[x]');
    rule = element
      ? {
          element,
          allowed: (element.type ?? []).map((t) => `value${t.code.charAt(0).toUpperCase()}${t.code.slice(1)}`),
        }
      : null;
    valueRules.set(sd, rule);
  }
  return rule;
}

function rebase(i: fhir4.OperationOutcomeIssue, from: string, to: string): fhir4.OperationOutcomeIssue {
  if (!i.expression) return { ...i, expression: [to] };
  return {
    ...i,
    expression: i.expression.map((e) => (e === from || e.startsWith(`${from}.`) ? to + e.slice(from.length) : e)),
  };
}
