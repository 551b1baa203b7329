import { defineConfig } from 'vitest/config';

// Two cores in CI: forks keep native modules (better-sqlite3) isolated per file. Two files at a time: most of a
// browser or multi-process test is waiting on Chromium or a child server, and vitest's default (cores - 1) would
// run every file one after another.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // A throwaway PostgreSQL cluster for the PostgreSQL adapters' tests (test/support/postgres-cluster.ts).
    globalSetup: ['./test/support/postgres-global-setup.ts'],
    pool: 'forks',
    maxWorkers: 2,
    testTimeout: 30_000,
    hookTimeout: 60_000,
    reporters: ['default', './test/support/summary-reporter.ts'],
  },
});
