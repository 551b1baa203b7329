// Lint: recommended JS + typescript-eslint rules (type-aware checks stay in `tsc --noEmit`).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['node_modules/**', 'data/**', 'coverage/**', 'dist/**', 'shims/**', 'test-results/**', 'bench/results/**'] },
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
  {
    files: ['public/**/*.js', 'src/**/public/**/*.js'],
    languageOptions: { globals: { window: 'readonly', document: 'readonly', fetch: 'readonly', console: 'readonly', LForms: 'readonly', location: 'readonly', sessionStorage: 'readonly', localStorage: 'readonly', setTimeout: 'readonly', clearTimeout: 'readonly', setInterval: 'readonly', clearInterval: 'readonly', URL: 'readonly', navigator: 'readonly', crypto: 'readonly', indexedDB: 'readonly', TextEncoder: 'readonly', TextDecoder: 'readonly', EventSource: 'readonly', HTMLElement: 'readonly', FormData: 'readonly' } },
  },
);
