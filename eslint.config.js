import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'build/**', 'node_modules/**', 'bench/peers/**', '.ballast/**', 'coverage/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-explicit-any': 'error',
      'no-constant-condition': ['error', { checkLoops: false }],
    },
  },
  {
    files: ['**/*.mjs', '**/*.js'],
    languageOptions: { globals: { process: 'readonly', console: 'readonly' } },
  },
  {
    // The dashboard's client module runs in the browser.
    files: ['src/dashboard/client/**/*.js'],
    languageOptions: {
      globals: { window: 'readonly', document: 'readonly', getComputedStyle: 'readonly', EventSource: 'readonly', setTimeout: 'readonly', clearTimeout: 'readonly' },
    },
  },
);
