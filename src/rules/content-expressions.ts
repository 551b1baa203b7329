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
    const ofExtension = extensionExpression(obj);
    if (ofExtension) out.push({ resource: owner, path: `${path}.valueExpression`, expression: ofExtension });
    const ofAction = actionExpression(obj, parentKey);
    if (ofAction) out.push({ resource: owner, path: `${path}.expression`, expression: ofAction });
    for (const [key, value] of Object.entries(obj)) walk(value, path ? `${path}.${key}` : key, key);
  };
  walk(resource, resource.resourceType, '');
  return out;
}

/** The expression of a variable, cqf-expression or could-change-items extension. */
function extensionExpression(obj: Record<string, unknown>): string | undefined {
  const valueExpression = obj.valueExpression as fhir4.Expression | undefined;
  if (!valueExpression?.expression) return undefined;
  const url = obj.url;
  const holdsExpression = url === EXT_VARIABLE || url === EXT_CQF_EXPRESSION || url === EXT_COULD_CHANGE_ITEMS;
  return holdsExpression ? valueExpression.expression : undefined;
}

/** condition.expression and dynamicValue.expression are Expressions of language text/fhirpath. */
function actionExpression(obj: Record<string, unknown>, parentKey: string): string | undefined {
  if (parentKey !== 'condition' && parentKey !== 'dynamicValue') return undefined;
  const expr = obj.expression as fhir4.Expression | undefined;
  if (!expr || typeof expr !== 'object' || !expr.expression) return undefined;
  return (expr.language ?? 'text/fhirpath') === 'text/fhirpath' ? expr.expression : undefined;
}
