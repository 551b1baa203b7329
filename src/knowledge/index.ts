export { KnowledgeBase, KNOWLEDGE_TYPES, isKnowledgeType, parseCanonical, compareVersions } from './knowledge-base.js';
export type { KnowledgeType, CanonicalResource } from './knowledge-base.js';
