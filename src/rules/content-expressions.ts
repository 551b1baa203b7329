/**
 * Every FHIRPath expression in decision content (variables, conditions, dynamicValues, cqf-expressions,
 * could-change lists), with where it sits: lets tests and the content loader compile them all up front.
 */
import { EXT_COULD_CHANGE_ITEMS, EXT_CQF_EXPRESSION, EXT_VARIABLE } from './vocabulary.js';

export interface ContentExpression {
  /** Canonical or id of the resource holding it. */
  resource: string;
  /** Where in the resource, as a FHIRPath-ish path. */
  path: string;
  expression: string;
}

export function contentExpressions(resource: fhir4.FhirResource): ContentExpression[] {
  const out: ContentExpression[] = [];
  const owner = (resource as { url?: string }).url ?? `${resource.resourceType}/${resource.id ?? ''}`;
  const walk = (node: unknown, path: string, parentKey: string) => {
    if (node === null || typeof node !== 'object') return;
    if (Array.isArray(node)) {
      node.forEach((n, i) => walk(n, `${path}[${i}]`, parentKey));
      return;
    }
    const obj = node as Record<string, unknown>;
    const url = obj.url;
    const valueExpression = obj.valueExpression as fhir4.Expression | undefined;
    if (
      valueExpression?.expression &&
      (url === EXT_VARIABLE || url === EXT_CQF_EXPRESSION || url === EXT_COULD_CHANGE_ITEMS)
    ) {
      out.push({ resource: owner, path: `${path}.valueExpression`, expression: valueExpression.expression });
    }
    // condition.expression and dynamicValue.expression are Expressions of language text/fhirpath.
    const expr = obj.expression as fhir4.Expression | undefined;
    if (
      (parentKey === 'condition' || parentKey === 'dynamicValue') &&
      expr &&
      typeof expr === 'object' &&
      expr.expression &&
      (expr.language ?? 'text/fhirpath') === 'text/fhirpath'
    ) {
      out.push({ resource: owner, path: `${path}.expression`, expression: expr.expression });
    }
    for (const [key, value] of Object.entries(obj)) walk(value, path ? `${path}.${key}` : key, key);
  };
  walk(resource, resource.resourceType, '');
  return out;
}
