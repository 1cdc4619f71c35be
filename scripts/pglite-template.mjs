// Part of `npm run build` (after `tsc -b`): the embedded engine's data-directory template
// (packages/server/src/storage/pglite-template.ts), so that a new node's first start copies a
// freshly initialised PGlite database instead of running initdb in WebAssembly (issue 18).
// Made once per PGlite release: skipped when the template of the installed release is there.
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { PGlite } from '@electric-sql/pglite';

const root = join(fileURLToPath(new URL('.', import.meta.url)), '..');
const { PGLITE_TEMPLATE_URL, pgliteVersion, writePgliteTemplate } = await import(join(root, 'packages/server/dist/storage/pglite-template.js'));
const file = fileURLToPath(PGLITE_TEMPLATE_URL);
const version = await pgliteVersion();

if (existsSync(file)) {
  const data = gunzipSync(await readFile(file));
  const n = data.readUInt16BE(9);
  if (data.subarray(11, 11 + n).toString() === version) {
    console.log(`pglite-template: up to date (PGlite ${version})`);
    process.exit(0);
  }
}
const dir = await mkdtemp(join(tmpdir(), 'parley-pglite-template-'));
try {
  const pgdata = join(dir, 'pgdata');
  // PGlite's own initdb, then a clean shutdown (checkpoint): nothing to replay when a node starts on it.
  const db = await PGlite.create(pgdata);
  await db.close();
  const { entries, bytes } = await writePgliteTemplate(pgdata, file);
  console.log(`pglite-template: PGlite ${version}, ${entries} entries, ${(bytes / 1e6).toFixed(1)} MB → ${file}`);
} finally {
  await rm(dir, { recursive: true, force: true });
}
