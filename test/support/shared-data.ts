/**
 * The shared test data lives beside the repository, in `../shared` (README, "Run it, test it"). Tests find it
 * relative to the repository root, never by one machine's absolute path, and a missing data set is an error
 * naming the path: a test that silently skips would pass while checking nothing.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPOSITORY_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const SHARED_DIR = path.resolve(REPOSITORY_ROOT, '..', 'shared');

/** The absolute path of `relative` inside ../shared; throws, naming the path, when it is not there. */
export function sharedDataPath(relative: string): string {
  const full = path.join(SHARED_DIR, relative);
  if (!existsSync(full)) {
    throw new Error(
      `Shared test data missing: ${full} does not exist. The tests need the shared data folder beside the repository (${SHARED_DIR}).`,
    );
  }
  return full;
}

/** The third-party Questionnaires (with their index.json, see the README there). */
export function realWorldQuestionnairesDir(): string {
  sharedDataPath('testdata/questionnaires/index.json');
  return sharedDataPath('testdata/questionnaires');
}
