/** A write path against a fresh FHIR server, as a describe block's fixture (jest hooks). */
import { afterAll, beforeAll } from '@jest/globals';
import type { KnowledgeBase } from '../../../src/knowledge/index.js';
import type { WritePath } from '../../../src/submission/write-path.js';
import { getKnowledge, testWritePath } from './fixtures.js';
import type { TestFhirServer } from './servers.js';

/**
 * A write path against a fresh FHIR server for one describe block (started before its tests, stopped after).
 * Read the fields inside tests: they are set in beforeAll.
 */
export function useWritePathAgainst(start: () => Promise<TestFhirServer>): {
  server: TestFhirServer;
  writePath: WritePath;
  kb: KnowledgeBase;
} {
  const ctx = {} as { server: TestFhirServer; writePath: WritePath; kb: KnowledgeBase };
  beforeAll(async () => {
    [ctx.server, ctx.kb] = await Promise.all([start(), getKnowledge()]);
    ctx.writePath = testWritePath(ctx.server, ctx.kb);
    await ctx.writePath.start();
  });
  afterAll(async () => {
    await ctx.writePath?.stop();
    await ctx.server?.close();
  });
  return ctx;
}
