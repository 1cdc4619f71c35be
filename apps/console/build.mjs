// Builds the operator console into dist/: index.html, app.js (one ES module bundle of
// src/main.tsx with Preact, uPlot and @parley/core's log verifier, resolved from the workspace
// TypeScript sources through the `parley-source` export condition), styles.css and uplot.css.
// No inline script or style: the server serves it under `default-src 'self'`.
// Usage: node apps/console/build.mjs [--outdir DIR]   (default: apps/console/dist)
import { copyFile, mkdir } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';

const root = dirname(fileURLToPath(import.meta.url));
const dist = join(root, 'dist');
const require = createRequire(import.meta.url);

/** esbuild options of the app bundle (exported for tests that build into another directory). */
export function buildOptions(outdir = dist) {
  return {
    entryPoints: [join(root, 'src/main.tsx')],
    outfile: join(outdir, 'app.js'),
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: ['es2022', 'chrome120', 'firefox121', 'safari17'],
    conditions: ['parley-source'],
    jsx: 'automatic',
    jsxImportSource: 'preact',
    sourcemap: true,
    minify: true,
    legalComments: 'linked',
    logLevel: 'warning',
  };
}

/** Builds the console into `outdir` (default dist/). */
export async function build(outdir = dist) {
  await mkdir(outdir, { recursive: true });
  await esbuild.build(buildOptions(outdir));
  await copyFile(join(root, 'index.html'), join(outdir, 'index.html'));
  await copyFile(join(root, 'styles.css'), join(outdir, 'styles.css'));
  const uplotDir = dirname(require.resolve('uplot'));
  await copyFile(join(uplotDir, 'uPlot.min.css'), join(outdir, 'uplot.css'));
  return outdir;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const at = process.argv.indexOf('--outdir');
  const out = await build(at > 0 && process.argv[at + 1] ? process.argv[at + 1] : dist);
  console.log(`console built into ${out}`);
}
