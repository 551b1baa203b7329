// Lint: recommended JS + typescript-eslint rules everywhere; for `src/`, typescript-eslint's type-checked rules
// as well (they read the types, so they run with the project's tsconfig).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  {
    ignores: [
      'node_modules/**',
      'data/**',
      'coverage/**',
      'dist/**',
      'shims/**',
      'test-results/**',
      'bench/results/**',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
      'no-console': 'off',
      eqeqeq: ['error', 'always'],
    },
  },
  ...tseslint.configs.recommendedTypeChecked.map((config) => ({ ...config, files: ['src/**/*.ts'] })),
  {
    files: ['src/**/*.ts'],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      // The SQLite adapters implement async interfaces (the PostgreSQL adapters need them) with synchronous
      // calls: `async` is what turns a synchronous throw into the rejection every caller handles.
      '@typescript-eslint/require-await': 'off',
    },
  },
  {
    // Every function in src/ stays small: complexity ≤ 15 and ≤ 80 lines, one a reader can hold in mind; one
    // that outgrows it is split into named steps.
    files: ['src/**/*.ts', 'src/**/*.js'],
    rules: {
      complexity: ['error', 15],
      'max-lines-per-function': ['error', { max: 80, skipBlankLines: true, skipComments: true }],
    },
  },
  {
    // Node scripts in plain JavaScript: jest's config, reporters and global setup.
    files: ['*.config.js', 'test/**/*.js'],
    languageOptions: { globals: { process: 'readonly', console: 'readonly' } },
  },
  {
    files: ['public/**/*.js', 'src/**/public/**/*.js'],
    languageOptions: {
      globals: {
        window: 'readonly',
        document: 'readonly',
        fetch: 'readonly',
        console: 'readonly',
        LForms: 'readonly',
        location: 'readonly',
        sessionStorage: 'readonly',
        localStorage: 'readonly',
        setTimeout: 'readonly',
        clearTimeout: 'readonly',
        setInterval: 'readonly',
        clearInterval: 'readonly',
        URL: 'readonly',
        navigator: 'readonly',
        crypto: 'readonly',
        indexedDB: 'readonly',
        TextEncoder: 'readonly',
        TextDecoder: 'readonly',
        EventSource: 'readonly',
        HTMLElement: 'readonly',
        FormData: 'readonly',
      },
    },
  },
);
