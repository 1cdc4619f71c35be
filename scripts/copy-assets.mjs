// Part of `npm run build` (before `tsc -b`, which type-checks against the copied .d.ts): copies the runtime files that are not TypeScript,
// which the compiled code reads next to itself (relative to import.meta.url) or exports:
//   core:   src/web/web-message.js and its hand-written .d.ts (`@parley/core/web-message`), the same for
//           src/web/attachment-stream.js (`@parley/core/attachment-stream`)
//   server: src/storage/migrations/*.sql (migrate.ts), src/routing/web/retrieve.{html,js}
//           (http/routes/routing.ts)
//   gateway: src/storage/migrations/*.sql (storage/migrations.ts)
// Fails when a listed source is missing, so a moved file cannot ship a broken package.
import { copyFileSync, existsSync, mkdirSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

/** [package, path under src/ (a file, or a directory with a file suffix)]. */
const ASSETS = [
  ['core', 'web/web-message.js'],
  ['core', 'web/web-message.d.ts'],
  ['core', 'web/attachment-stream.js'],
  ['core', 'web/attachment-stream.d.ts'],
  ['server', 'routing/web/retrieve.html'],
  ['server', 'routing/web/retrieve.js'],
  ['server', { dir: 'storage/migrations', suffix: '.sql' }],
  ['gateway', { dir: 'storage/migrations', suffix: '.sql' }],
];

let copied = 0;
for (const [pkg, spec] of ASSETS) {
  const src = join(root, 'packages', pkg, 'src');
  const dist = join(root, 'packages', pkg, 'dist');
  const files =
    typeof spec === 'string' ? [spec] : readdirSync(join(src, spec.dir)).filter((f) => f.endsWith(spec.suffix)).map((f) => join(spec.dir, f));
  if (files.length === 0) throw new Error(`copy-assets: nothing matches ${pkg}/src/${spec.dir}/*${spec.suffix}`);
  for (const file of files) {
    const from = join(src, file);
    if (!existsSync(from)) throw new Error(`copy-assets: ${from} is missing`);
    mkdirSync(dirname(join(dist, file)), { recursive: true });
    copyFileSync(from, join(dist, file));
    copied++;
  }
}
process.stdout.write(`copy-assets: ${copied} files copied into packages/*/dist\n`);
