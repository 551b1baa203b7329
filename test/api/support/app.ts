/** The real app for API tests: real content from the project, real middleware, no mocks. */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { SubjectDataSource } from '../../../src/api/data-source.js';
import { createApp } from '../../../src/app.js';
import { loadConfig } from '../../../src/config/index.js';
import { loadKnowledge, type KnowledgeBase } from '../../../src/knowledge/index.js';

export const PROJECT_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
export const PUBLIC_URL = 'http://fhir.test';

let knowledge: Promise<KnowledgeBase> | undefined;
export function projectKnowledge(): Promise<KnowledgeBase> {
  knowledge ??= loadKnowledge(PROJECT_ROOT);
  return knowledge;
}

export async function testApp(options: { dataSource?: SubjectDataSource; env?: Record<string, string> } = {}) {
  const config = loadConfig({ LOG_LEVEL: 'silent', PUBLIC_URL, ...options.env });
  return createApp({
    config,
    knowledge: await projectKnowledge(),
    ...(options.dataSource ? { dataSource: options.dataSource } : {}),
  });
}

export const FHIR_JSON = 'application/fhir+json';

export function readJson<T>(relative: string): T {
  return JSON.parse(readFileSync(path.join(PROJECT_ROOT, relative), 'utf8')) as T;
}
