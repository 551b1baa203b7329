/**
 * The decision engine: PlanDefinition/$apply over FHIR R4 content. Pure and synchronous (no I/O, no HTTP).
 * See docs/rules.md for how it works, the output shape and how to add a rule.
 */
export { applyPlanDefinition, canonicalOf } from './apply.js';
export type { ApplyOptions } from './apply.js';
export { contentExpressions } from './content-expressions.js';
export type { ContentExpression } from './content-expressions.js';
export * from './vocabulary.js';
