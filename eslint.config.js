// Type-aware lint for product code: promises must be awaited or explicitly
// voided, type-only imports stay type-only. Two boundaries are enforced too: ts-mls is
// imported only in packages/core/src/mls/, and core stays runtime-free (no Node built-ins,
// no Buffer) outside files named *.node.ts.
import { builtinModules } from 'node:module';
import tseslint from 'typescript-eslint';

const TS_MLS_MESSAGE =
  'ts-mls is imported only under packages/core/src/mls/ (all of it through mls/ts-mls.ts); use @parley/core/mls.';
const TS_MLS_DEEP_MESSAGE = 'inside mls/, import ts-mls (its entry and its internals) through ./ts-mls.js only: the build bundles that one module.';
const NODE_MESSAGE =
  'core and the SDK must run in browsers: no Node built-ins outside *.node.ts files (use WebCrypto, Uint8Array, bytes.ts).';
const BUFFER_MESSAGE = 'core and the SDK use Uint8Array and the helpers in bytes.ts, not Buffer (outside *.node.ts files).';
const TYPEBOX_MESSAGE =
  "import TypeBox's Type and Compile from @parley/core/typebox (inside core: ./typebox.js), which the build bundles into one module (start-up, issue 18).";
const TYPEBOX_PATHS = ['typebox', 'typebox/compile', 'typebox/value'].map((name) => ({ name, message: TYPEBOX_MESSAGE, allowTypeImports: true }));
const TEST_FOLDER_MESSAGE = "shared test helpers live in @parley/test-kit (server, sdk, evidence): never import another package's test folder.";

export default tseslint.config(
  { ignores: ['**/node_modules/**', '**/dist/**', 'bench/results/**'] },
  {
    files: ['packages/*/src/**/*.ts', 'bench/**/*.ts', 'apps/*/src/**/*.ts', 'apps/*/src/**/*.tsx'],
    languageOptions: {
      parser: tseslint.parser,
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    plugins: { '@typescript-eslint': tseslint.plugin },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: { arguments: false } }],
      '@typescript-eslint/await-thenable': 'error',
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-explicit-any': 'error',
    },
  },
  {
    // The MLS boundary (a ts-mls upgrade touches packages/core/src/mls/ only). A rule of its
    // own name, so that it composes with the runtime rule below instead of replacing it.
    // TypeBox at run time comes through core's one bundled entry (src/typebox.ts, its only importer).
    files: ['packages/*/src/**/*.ts'],
    ignores: ['packages/core/src/mls/**', 'packages/core/src/typebox.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        { paths: [{ name: 'ts-mls', message: TS_MLS_MESSAGE }, ...TYPEBOX_PATHS], patterns: [{ group: ['ts-mls/*'], message: TS_MLS_MESSAGE }] },
      ],
    },
  },
  {
    // Inside mls/, every import from ts-mls (entry and internals) lives in one file, which the build bundles.
    files: ['packages/core/src/mls/**/*.ts'],
    ignores: ['packages/core/src/mls/ts-mls.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        { paths: [{ name: 'ts-mls', message: TS_MLS_DEEP_MESSAGE }, ...TYPEBOX_PATHS], patterns: [{ group: ['ts-mls/*'], message: TS_MLS_DEEP_MESSAGE }] },
      ],
    },
  },
  {
    // Core and the SDK are browser-safe; runtime-specific code lives in files that say so (*.node.ts).
    files: ['packages/core/src/**/*.ts', 'packages/client/src/**/*.ts', 'apps/*/src/**/*.ts', 'apps/*/src/**/*.tsx'],
    ignores: ['**/*.node.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: builtinModules.filter((name) => !name.startsWith('_')).map((name) => ({ name, message: NODE_MESSAGE })),
          patterns: [{ group: ['node:*'], message: NODE_MESSAGE }],
        },
      ],
      'no-restricted-globals': ['error', { name: 'Buffer', message: BUFFER_MESSAGE }],
      // Also `(globalThis as …).Buffer`, the form a runtime check for Node takes.
      'no-restricted-properties': ['error', { property: 'Buffer', message: BUFFER_MESSAGE }],
    },
  },
  {
    // Tests and benchmarks share helpers through the private test-kit workspace, not by
    // reaching into another package's test folder.
    files: ['packages/*/test/**/*.ts', 'packages/*/src/**/*.ts', 'bench/**/*.ts'],
    languageOptions: { parser: tseslint.parser },
    rules: {
      'no-restricted-syntax': [
        'error',
        { selector: "ImportDeclaration[source.value=/^(\\.\\.\\/)+(packages\\/)?[a-z-]+\\/test\\//]", message: TEST_FOLDER_MESSAGE },
      ],
    },
  },
);
