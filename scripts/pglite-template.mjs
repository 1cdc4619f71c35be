// Part of `npm run build` (after `tsc -b`): the embedded engine's data-directory template
// (packages/server/src/storage/pglite-template.ts), so that a new node's first start copies a
// freshly initialised PGlite database, with the server's migrations already applied, instead of
// running initdb and every migration in WebAssembly (issue 18). Remade when the PGlite release or
// a migration changes (the key file next to the template names both).
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PGlite } from '@electric-sql/pglite';

const root = join(fileURLToPath(new URL('.', import.meta.url)), '..');
const dist = join(root, 'packages/server/dist/storage');
const { PGLITE_TEMPLATE_URL, pgliteVersion, sealPgliteDataDir, writePgliteTemplate } = await import(join(dist, 'pglite-template.js'));
const { PgliteDatabase } = await import(join(dist, 'pglite.js'));
const { migrate } = await import(join(dist, 'migrate.js'));
const file = fileURLToPath(PGLITE_TEMPLATE_URL);
const keyFile = `${file}.key`;

// What the template holds: the PGlite release, every migration's exact text, and how it was made
// (recipe 2: the WAL switched to a fresh segment before the last shutdown).
const migrationsDir = join(dist, 'migrations');
const hash = createHash('sha256');
for (const name of (await readdir(migrationsDir)).filter((n) => n.endsWith('.sql')).sort()) {
  hash.update(`${name}\n`).update(await readFile(join(migrationsDir, name)));
}
const key = `pglite ${await pgliteVersion()}; migrations sha256 ${hash.digest('hex')}; recipe 2\n`;
if (existsSync(file) && existsSync(keyFile) && (await readFile(keyFile, 'utf8')) === key) {
  console.log(`pglite-template: up to date (${key.trim()})`);
  process.exit(0);
}
const dir = await mkdtemp(join(tmpdir(), 'parley-pglite-template-'));
try {
  const pgdata = join(dir, 'pgdata');
  // PGlite's own initdb and a clean shutdown…
  await (await PGlite.create(pgdata)).close();
  // …then the server's migrations (they create schema only: no rows, no secrets), and another
  // clean shutdown (checkpoint): nothing to replay when a node starts on it.
  const db = await PgliteDatabase.open({ dataDir: pgdata });
  const applied = await migrate(db);
  await db.close();
  // …and a last one after a switch to a fresh WAL segment: the template's WAL is its checkpoint.
  await sealPgliteDataDir(pgdata);
  const { entries, bytes } = await writePgliteTemplate(pgdata, file);
  await writeFile(keyFile, key);
  console.log(`pglite-template: ${key.trim()}; ${applied.length} migrations applied; ${entries} entries, ${(bytes / 1e6).toFixed(1)} MB → ${file}`);
} finally {
  await rm(dir, { recursive: true, force: true });
}
