import { defineConfig } from 'vitest/config';

// Two cores in CI: forks keep native modules (better-sqlite3) isolated per file.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    pool: 'forks',
    testTimeout: 30_000,
    hookTimeout: 60_000,
    reporters: ['default', './test/support/summary-reporter.ts'],
  },
});
