// Type-aware linting: the rules that matter most in a long-running server are the
// ones that catch a forgotten promise (an unhandled rejection kills the process).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['node_modules/**', 'coverage/**', 'bench/results/**', '.tmp/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
    },
  },
  // src/demo/*.js is the demo page's browser script, served as is: linted, but outside the TypeScript project.
  { files: ['eslint.config.js', 'vitest.config.ts', 'src/demo/*.js'], ...tseslint.configs.disableTypeChecked },
);
