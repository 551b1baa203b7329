export { KnowledgeBase, KNOWLEDGE_TYPES, isKnowledgeType, parseCanonical, compareVersions } from './knowledge-base.js';
export type { KnowledgeType, CanonicalResource } from './knowledge-base.js';
export { deepFreeze } from '../platform/deep-freeze.js';
export { loadKnowledge, loadExamples, checkResource, checkKnowledge, parseJson, KNOWLEDGE_FOLDERS } from './loader.js';
export type { LoadedResource } from './loader.js';
export { ContentError, formatProblem, formatProblems } from './content-error.js';
export type { ContentProblem } from './content-error.js';
export * from './pinned-intake-items.js';
