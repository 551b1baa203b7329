// The shared test data is found beside the repository, and a missing data set stops the tests with its path.
import path from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { realWorldQuestionnairesDir, REPOSITORY_ROOT, SHARED_DIR, sharedDataPath } from './shared-data.js';

describe('shared test data', () => {
  it('is ../shared relative to the repository root', () => {
    expect(SHARED_DIR).toBe(path.join(path.dirname(REPOSITORY_ROOT), 'shared'));
    expect(realWorldQuestionnairesDir()).toBe(path.join(SHARED_DIR, 'testdata', 'questionnaires'));
  });

  it('a missing data set throws an error naming the missing path', () => {
    const missing = path.join(SHARED_DIR, 'testdata', 'no-such-data-set');
    expect(() => sharedDataPath('testdata/no-such-data-set')).toThrow(missing);
  });
});
