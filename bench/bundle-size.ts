/**
 * Browser bundle of the SDK: bundles a small browser app entry that imports
 * `@parley/client` and `@parley/client/browser` with esbuild (platform `browser`,
 * ESM, minified, export condition `parley-source` so the TypeScript sources are
 * bundled), then reports the minified and gzip sizes and what went in: any Node
 * built-in, the `ws` package, a `Buffer` polyfill or a file of `packages/server`
 * would be a defect (packages/client/test/browser-bundle.test.ts asserts it).
 *
 * `npm run bench -- bundle-size` (through bench/run.ts) or `npx tsx bench/bundle-size.ts`;
 * writes bench/results/bundle-size-<ISO date>.json.
 */
import { builtinModules } from 'node:module';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { build, type Metafile, type Plugin } from 'esbuild';

const benchDir = dirname(fileURLToPath(import.meta.url));
const repoRoot = join(benchDir, '..');

/**
 * The app entry bundled: everything both entries export (so nothing is shaken
 * off and the size is the SDK's whole browser surface).
 */
export const BROWSER_APP_ENTRY = ["export * from '@parley/client';", "export * from '@parley/client/browser';"].join('\n');

/**
 * The bundle budget (bytes): measured 562,572 minified / 172,284 gzip (2026-12-06, esbuild 0.28.2), plus about 15 %;
 * raised by 15,000 / 5,000 for social recovery (`device.recovery`: about 14,400 bytes minified of its own modules).
 */
// +50 KB / +13 KB for X-Wing (ML-KEM-768 + X25519: @hpke/hybridkem-x-wing, mlkem; docs/post-quantum.md).
export const BUNDLE_BUDGET = { minifiedBytes: 760_000, gzipBytes: 232_000 } as const;

/** What the bundle check found. */
export interface BundleSizeResult {
  readonly minifiedBytes: number;
  readonly gzipBytes: number;
  readonly budget: typeof BUNDLE_BUDGET;
  /** Input files (repository-relative), by package: bytes each contributes to the minified output. */
  readonly largestInputs: readonly { readonly path: string; readonly bytes: number }[];
  /** Node built-ins the bundle imports statically or through `require` (must be empty). */
  readonly nodeBuiltins: readonly string[];
  /**
   * Node built-ins behind a dynamic `import()`, left external (not bundled): runtime
   * fallbacks of dependencies for hosts without `globalThis.crypto`, never reached in a
   * browser. Only those in `ALLOWED_DYNAMIC_BUILTINS` are acceptable.
   */
  readonly dynamicNodeBuiltins: readonly string[];
  /** Inputs that must never be in a browser bundle: `ws`, a `buffer` polyfill, `packages/server` (must be empty). */
  readonly forbiddenInputs: readonly string[];
  readonly inputCount: number;
  readonly esbuild: string;
}

const BUILTINS = new Set(builtinModules.flatMap((m) => [m, `node:${m}`]));

/**
 * Dynamic `import()`s of Node built-ins that may stay in the bundle: `@hpke/common` falls back
 * to `import("crypto")` only when `globalThis.crypto` is undefined, which no browser is.
 */
export const ALLOWED_DYNAMIC_BUILTINS: readonly RegExp[] = [/^crypto \(from node_modules\/@hpke\/common\/esm\/src\//, /^crypto \(from node_modules\/mlkem\/esm\/src\//];

/** Records every Node built-in import and keeps it external, so the build finishes and reports them all. */
function nodeBuiltinSpy(found: Set<string>, dynamic: Set<string>): Plugin {
  return {
    name: 'node-builtin-spy',
    setup(b) {
      b.onResolve({ filter: /.*/ }, (args) => {
        const root = args.path.split('/')[0] ?? args.path;
        if (args.path.startsWith('node:') || BUILTINS.has(args.path) || BUILTINS.has(root)) {
          (args.kind === 'dynamic-import' ? dynamic : found).add(`${args.path} (from ${relative(repoRoot, args.importer)})`);
          return { path: args.path, external: true };
        }
        return undefined;
      });
    },
  };
}

function forbidden(path: string): boolean {
  return /(^|\/)node_modules\/(ws|buffer|node-gyp-build|bufferutil|utf-8-validate)\//.test(path) || /(^|\/)packages\/server\//.test(path);
}

/** Bundles the browser app entry and measures it (nothing is written). */
export async function measureBrowserBundle(): Promise<BundleSizeResult> {
  const builtins = new Set<string>();
  const dynamicBuiltins = new Set<string>();
  const result = await build({
    stdin: { contents: BROWSER_APP_ENTRY, resolveDir: repoRoot, sourcefile: 'browser-app.js', loader: 'js' },
    bundle: true,
    platform: 'browser',
    format: 'esm',
    target: 'es2022',
    minify: true,
    conditions: ['parley-source'],
    metafile: true,
    write: false,
    logLevel: 'silent',
    plugins: [nodeBuiltinSpy(builtins, dynamicBuiltins)],
  });
  const output = result.outputFiles[0];
  if (!output) throw new Error('esbuild produced no output');
  const metafile: Metafile = result.metafile;
  const inputs = Object.keys(metafile.inputs);
  const out = Object.values(metafile.outputs)[0];
  const largestInputs = Object.entries(out?.inputs ?? {})
    .map(([path, info]) => ({ path, bytes: info.bytesInOutput }))
    .sort((a, b) => b.bytes - a.bytes)
    .slice(0, 15);
  const { version } = await import('esbuild');
  return {
    minifiedBytes: output.contents.length,
    gzipBytes: gzipSync(output.contents, { level: 9 }).length,
    budget: BUNDLE_BUDGET,
    largestInputs,
    nodeBuiltins: [...builtins].sort(),
    dynamicNodeBuiltins: [...dynamicBuiltins].sort(),
    forbiddenInputs: inputs.filter(forbidden),
    inputCount: inputs.length,
    esbuild: version,
  };
}

/**
 * The bench section: measures, and with `write` saves bench/results/bundle-size-<ISO date>.json
 * (bench/run.ts saves its own report, so it passes `write: false`).
 *
 * @example
 * const { minifiedBytes, gzipBytes } = await runBundleSizeBench({ write: true });
 */
export async function runBundleSizeBench(options: { write?: boolean } = {}): Promise<BundleSizeResult & { file?: string }> {
  const result = await measureBrowserBundle();
  console.log(`browser bundle (@parley/client + @parley/client/browser): ${result.minifiedBytes} bytes minified, ${result.gzipBytes} bytes gzip (budget ${BUNDLE_BUDGET.minifiedBytes} / ${BUNDLE_BUDGET.gzipBytes})`);
  if (!options.write) return result;
  const dir = join(benchDir, 'results');
  await mkdir(dir, { recursive: true });
  const file = join(dir, `bundle-size-${new Date().toISOString().replace(/:/g, '-')}.json`);
  await writeFile(file, JSON.stringify({ name: 'bundle-size', measuredAt: new Date().toISOString(), ...result }, null, 2) + '\n');
  return { ...result, file };
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  runBundleSizeBench({ write: true }).then(
    (r) => console.log(`results: ${r.file}`),
    (error: unknown) => {
      console.error(error);
      process.exitCode = 1;
    },
  );
}
