// Part of `npm run build` (after `tsc -b`): replaces the compiled output of core's two
// "vendor" modules, which only re-export a dependency, with ONE ES module each that bundles
// that dependency's own code (esbuild, no minification, the dependency's licence at the top).
// Node loads ES modules one by one, and these two packages ship ~700 (typebox 1.4.3) and ~100
// (ts-mls 1.6.4) small modules: loading them was the largest part of the server's start-up
// (issue 18). The modules themselves say why every importer goes through them:
//   packages/core/src/typebox.ts    → dist/typebox.js     (typebox, everything bundled)
//   packages/core/src/mls/ts-mls.ts → dist/mls/ts-mls.js  (ts-mls's own code; its imports of
//       other packages, @hpke/* and @noble/*, stay imports: one copy of each at run time)
//
// The source maps tsc wrote for the re-exports no longer match and are removed; the .d.ts stay
// (they re-export the types from the dependency, which remains a dependency of @parley/core).
import { build } from 'esbuild';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const core = join(root, 'packages', 'core');
const require = createRequire(join(core, 'package.json'));

/** Each vendor module: its source, its output, the package it bundles, and whether other packages stay imports. */
const VENDORED = [
  { source: 'src/typebox.ts', output: 'dist/typebox.js', pkg: 'typebox', licence: 'license', othersExternal: false },
  { source: 'src/mls/ts-mls.ts', output: 'dist/mls/ts-mls.js', pkg: 'ts-mls', licence: 'LICENSE', othersExternal: true },
];

/** The package's folder: its entry's nearest folder with a package.json of that name. */
function packageDir(name) {
  let dir = dirname(require.resolve(name));
  while (!existsSync(join(dir, 'package.json')) || JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')).name !== name) {
    if (dirname(dir) === dir) throw new Error(`bundle-vendor: the ${name} package was not found`);
    dir = dirname(dir);
  }
  return dir;
}

/** esbuild plugin: every bare import other than `pkg` (and its subpaths) stays an import. */
function onlyBundle(pkg) {
  return {
    name: 'only-bundle',
    setup(b) {
      b.onResolve({ filter: /^[^./]/ }, (args) => (args.path === pkg || args.path.startsWith(`${pkg}/`) ? undefined : { path: args.path, external: true }));
    },
  };
}

for (const v of VENDORED) {
  const dir = packageDir(v.pkg);
  const { version } = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
  const licence = readFileSync(join(dir, v.licence), 'utf8').trim();
  const outfile = join(core, v.output);
  const banner = [`${v.pkg} ${version}, bundled into one module by scripts/bundle-vendor.mjs (see ${v.source}).`, '', ...licence.split('\n')];
  const result = await build({
    entryPoints: [join(core, v.source)],
    outfile,
    bundle: true,
    format: 'esm',
    // Node and the browser SDK load the same files: no Node built-ins, no globals assumed.
    platform: 'neutral',
    target: 'es2022',
    sourcemap: false,
    legalComments: 'none',
    banner: { js: `/*\n${banner.map((line) => ` * ${line}`.trimEnd()).join('\n')}\n */` },
    plugins: v.othersExternal ? [onlyBundle(v.pkg)] : [],
    logLevel: 'warning',
    metafile: true,
  });
  rmSync(`${outfile}.map`, { force: true });
  const inputs = Object.keys(result.metafile.inputs).length;
  const bytes = Object.values(result.metafile.outputs)[0].bytes;
  console.log(`${v.pkg} ${version}: ${inputs} modules bundled into ${relative(root, outfile)} (${Math.round(bytes / 1024)} KiB)`);
}
