import { defaultClientConditions, defaultServerConditions } from 'vite';
import { defineConfig } from 'vitest/config';

/**
 * In-repo tests run the workspace packages from their TypeScript sources: every exports
 * entry lists `parley-source` (src/*.ts) before the built dist/ files. Vite resolves with it
 * (`ssr` is what vitest uses in Node); the test workers run with it too (Node's own resolver:
 * createRequire, import.meta.resolve), and NODE_OPTIONS passes it to every Node process a
 * test spawns (`parley` CLIs, tsx scripts), whose bin then loads the sources through tsx.
 */
const SOURCE_CONDITION = 'parley-source';

export default defineConfig({
  resolve: { conditions: [SOURCE_CONDITION, ...defaultClientConditions] },
  // Without the bundlers' `module` condition (vitest hands these conditions to Node in the workers):
  // @opentelemetry/api's `module` build imports without file extensions, which Node refuses.
  ssr: { resolve: { conditions: [SOURCE_CONDITION, ...defaultServerConditions.filter((c) => c !== 'module')], externalConditions: [SOURCE_CONDITION] } },
  test: {
    include: ['packages/*/test/**/*.test.ts'],
    globalSetup: ['./vitest.global-setup.ts'],
    env: { NODE_OPTIONS: [process.env['NODE_OPTIONS'], `--conditions=${SOURCE_CONDITION}`].filter(Boolean).join(' ') },
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Two cores: server suites start real servers and databases.
    pool: 'forks',
    poolOptions: { forks: { maxForks: 2, minForks: 1, execArgv: [`--conditions=${SOURCE_CONDITION}`] } },
  },
});
