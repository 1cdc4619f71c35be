// Part of `npm run build` (after `tsc -b`): replaces packages/core/dist/typebox.js, tsc's two
// re-export lines of `typebox` and `typebox/compile`, with ONE ES module that bundles what they
// export (esbuild, no minification, TypeBox's licence kept at the top). TypeBox 1.4.3 ships ~700
// separate modules; Node loading them one by one was the largest part of the server's start-up
// (issue 18). packages/core/src/typebox.ts says why every package imports TypeBox through it.
//
// The source map tsc wrote for the re-exports no longer matches and is removed; the .d.ts stays
// (it re-exports the types from `typebox`, a dependency of @parley/core).
import { build } from 'esbuild';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const core = join(dirname(fileURLToPath(import.meta.url)), '..', 'packages', 'core');
const require = createRequire(join(core, 'package.json'));
// The package's folder: its entry's nearest folder with a package.json named typebox.
let typeboxDir = dirname(require.resolve('typebox'));
while (!existsSync(join(typeboxDir, 'package.json')) || JSON.parse(readFileSync(join(typeboxDir, 'package.json'), 'utf8')).name !== 'typebox') {
  if (dirname(typeboxDir) === typeboxDir) throw new Error('bundle-typebox: the typebox package was not found');
  typeboxDir = dirname(typeboxDir);
}
const { version } = JSON.parse(readFileSync(join(typeboxDir, 'package.json'), 'utf8'));
const licence = readFileSync(join(typeboxDir, 'license'), 'utf8').trim();

const outfile = join(core, 'dist', 'typebox.js');
const result = await build({
  entryPoints: [join(core, 'src', 'typebox.ts')],
  outfile,
  bundle: true,
  format: 'esm',
  // Node and the browser SDK load the same file: no Node built-ins, no globals assumed.
  platform: 'neutral',
  target: 'es2022',
  sourcemap: false,
  legalComments: 'none',
  banner: { js: `/*\n * typebox ${version}, bundled into one module by scripts/bundle-typebox.mjs (see src/typebox.ts).\n *\n${licence.split('\n').map((line) => ` * ${line}`.trimEnd()).join('\n')}\n */` },
  logLevel: 'warning',
  metafile: true,
});
rmSync(`${outfile}.map`, { force: true });
const inputs = Object.keys(result.metafile.inputs).length;
const bytes = result.metafile.outputs[Object.keys(result.metafile.outputs)[0]].bytes;
console.log(`typebox ${version}: ${inputs} modules bundled into packages/core/dist/typebox.js (${Math.round(bytes / 1024)} KiB)`);
