// jest, in its ESM mode (the project is ESM: `NODE_OPTIONS=--experimental-vm-modules`, set by the npm scripts).
// Four projects, all run by `npm test`; the file name says which one a test file belongs to:
// - `unit` (`*.test.ts`): the fast in-process tests; `npm run test:unit` runs them alone (≈45 s on two cores).
// - `server` (`*.server.test.ts`): in-process tests that start servers over real HTTP (the module as `npm start`
//   composes it, the sandbox EHR with its OIDC provider, the tablet, the write path against the EHR). Each such
//   file costs seconds of CPU before its first test: the knowledge is loaded and checked, stores and servers built.
// - `slow` (`*.slow.test.ts`): in-process suites whose own work takes seconds to a minute (thousands of seeded
//   generated or mutated inputs, fuzzing, the differential test against Medplum's validator, hundreds of
//   parallel submissions).
// - `int` (`*.int.test.ts`): tests that drive Chromium, spawn servers or use PostgreSQL.

/** @type {import('jest').Config} */
const shared = {
  testEnvironment: 'node',
  extensionsToTreatAsEsm: ['.ts'],
  transform: {
    '^.+\\.ts$': ['@swc/jest', { jsc: { parser: { syntax: 'typescript' }, target: 'es2022' } }],
  },
  // Sources import each other as `./x.js` (NodeNext); jest resolves the `.ts` file behind it.
  moduleNameMapper: {
    '^(\\.{1,2}/.*)\\.js$': '$1',
  },
};

/** @type {import('jest').Config} */
export default {
  projects: [
    {
      ...shared,
      displayName: 'unit',
      testMatch: ['<rootDir>/test/**/*.test.ts'],
      testPathIgnorePatterns: ['/node_modules/', '\\.(int|server|slow)\\.test\\.ts$'],
    },
    {
      ...shared,
      displayName: 'server',
      testMatch: ['<rootDir>/test/**/*.server.test.ts'],
    },
    {
      ...shared,
      displayName: 'slow',
      testMatch: ['<rootDir>/test/**/*.slow.test.ts'],
    },
    {
      ...shared,
      displayName: 'int',
      testMatch: ['<rootDir>/test/**/*.int.test.ts'],
      // A throwaway PostgreSQL cluster for the PostgreSQL adapters' tests (test/support/postgres-cluster.ts).
      globalSetup: '<rootDir>/test/support/postgres-global-setup.js',
      globalTeardown: '<rootDir>/test/support/postgres-global-teardown.js',
    },
  ],
  // Two files at a time on CI's two cores. A third worker overloaded them: a browser test's `$populate` (bounded
  // at 10 s in the product) then timed out.
  maxWorkers: 2,
  // jest's ESM mode keeps each finished file's modules alive in its worker; a worker past 1 GB is replaced.
  workerIdleMemoryLimit: '1GB',
  // A backstop for a hang; every wait inside a test has its own, shorter bound that names what it waited for.
  testTimeout: 60_000,
  reporters: ['<rootDir>/test/support/progress-reporter.js', '<rootDir>/test/support/summary-reporter.js'],
};
