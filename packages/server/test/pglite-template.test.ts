/**
 * The embedded engine's data-directory template (storage/pglite-template.ts, issue 18): a new
 * data directory gets a copy of an initialised, cleanly closed PGlite database instead of
 * initdb; a directory with a database, a template of another PGlite release or no template at
 * all leave PGlite to do what it always did.
 */
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { gunzipSync, gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PgliteDatabase } from '../src/storage/pglite.js';
import { latestMigrationVersion, migrate } from '../src/storage/migrate.js';
import { restorePgliteTemplate, sealPgliteDataDir, writePgliteTemplate } from '../src/storage/pglite-template.js';

describe('PGlite data-directory template', () => {
  let dir: string;
  let source: string;
  let template: URL;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'parley-pglite-template-'));
    // What the build does (scripts/pglite-template.mjs): initdb, a clean shutdown, the WAL
    // switched to a fresh segment, then pack.
    source = join(dir, 'source');
    const db = await PgliteDatabase.open({ dataDir: source });
    await db.close();
    await sealPgliteDataDir(source);
    const file = join(dir, 'template.bin.gz');
    const packed = await writePgliteTemplate(source, file);
    expect(packed.entries).toBeGreaterThan(100);
    template = pathToFileURL(file);
  }, 120_000);

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('restores into a new directory (private modes, PG_VERSION present), and PGlite opens and migrates it', async () => {
    const data = join(dir, 'fresh');
    expect(await restorePgliteTemplate(data, template)).toBe(true);
    expect(((await stat(data)).mode & 0o777).toString(8)).toBe('700');
    expect(((await stat(join(data, 'PG_VERSION'))).mode & 0o777).toString(8)).toBe('600');
    expect(((await stat(join(data, 'base'))).mode & 0o777).toString(8)).toBe('700');
    expect((await readFile(join(data, 'PG_VERSION'), 'utf8')).trim()).toMatch(/^\d+$/);
    const db = await PgliteDatabase.open({ dataDir: data });
    try {
      await migrate(db);
      const rows = await db.query<{ v: number }>('SELECT max(version) AS v FROM schema_migrations');
      expect(Number(rows[0]!.v)).toBe(await latestMigrationVersion());
      await db.query('CREATE TABLE t (x int)');
      await db.query('INSERT INTO t VALUES (1)');
    } finally {
      await db.close();
    }
    // A second start keeps the database: no restore over it.
    expect(await restorePgliteTemplate(data, template)).toBe(false);
    const again = await PgliteDatabase.open({ dataDir: data });
    try {
      expect(await again.query('SELECT x FROM t')).toEqual([{ x: 1 }]);
    } finally {
      await again.close();
    }
  }, 120_000);

  it('restores the same bytes, all-zero pages as holes: the WAL segment holds only the checkpoint', async () => {
    const data = join(dir, 'same-bytes');
    expect(await restorePgliteTemplate(data, template)).toBe(true);
    const files = async (root: string, rel = ''): Promise<string[]> => {
      const out: string[] = [];
      for (const entry of await readdir(join(root, rel), { withFileTypes: true })) {
        const path = rel === '' ? entry.name : `${rel}/${entry.name}`;
        if (entry.isDirectory()) out.push(...(await files(root, path)));
        else out.push(path);
      }
      return out.sort();
    };
    const paths = await files(source);
    expect(await files(data)).toEqual(paths);
    let written = 0;
    let size = 0;
    for (const path of paths) {
      const [a, b] = await Promise.all([readFile(join(source, path)), readFile(join(data, path))]);
      expect(b.equals(a), path).toBe(true);
      const info = await stat(join(data, path));
      written += info.blocks * 512;
      size += info.size;
    }
    // The WAL: one 16 MB segment of which only the checkpoint's pages hold anything.
    const segments = paths.filter((p) => /^pg_wal\/[0-9A-F]{24}$/.test(p));
    expect(segments).toHaveLength(1);
    const wal = await stat(join(data, segments[0]!));
    expect(wal.size).toBe(16 * 1024 * 1024);
    expect(wal.blocks * 512).toBeLessThan(256 * 1024);
    expect(written).toBeLessThan(size * 0.7);
  }, 120_000);

  it('leaves a directory alone when the template is missing or from another PGlite release', async () => {
    const data = join(dir, 'untouched');
    expect(await restorePgliteTemplate(data, pathToFileURL(join(dir, 'missing.bin.gz')))).toBe(false);
    const raw = gunzipSync(await readFile(template));
    const n = raw.readUInt16BE(9);
    const other = Buffer.concat([raw.subarray(0, 9), Buffer.from([0, 5]), Buffer.from('0.0.0'), raw.subarray(11 + n)]);
    const otherFile = join(dir, 'other.bin.gz');
    await writeFile(otherFile, gzipSync(other));
    expect(await restorePgliteTemplate(data, pathToFileURL(otherFile))).toBe(false);
    await expect(readdir(data)).rejects.toThrow();
  });

  it('refuses a truncated template', async () => {
    const raw = gunzipSync(await readFile(template));
    const cut = join(dir, 'cut.bin.gz');
    await writeFile(cut, gzipSync(raw.subarray(0, raw.length - 1000)));
    await expect(restorePgliteTemplate(join(dir, 'cut'), pathToFileURL(cut))).rejects.toThrow(/truncated/);
    await expect(stat(join(dir, 'cut', 'PG_VERSION'))).rejects.toThrow();
  });
});
