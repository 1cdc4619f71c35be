/**
 * A freshly initialised PGlite data directory, made once at build time (`npm run build` →
 * scripts/pglite-template.mjs) and copied into a new data directory instead of running
 * PostgreSQL's initdb in WebAssembly at the node's first start (issue 18: initdb ran in a
 * second PGlite instance, took most of the first start and left ~600 MB resident).
 *
 * The template is exactly what PGlite's initdb and the migrations write, shut down cleanly (a
 * checkpoint, no WAL to replay) after a switch to a fresh WAL segment ({@link sealPgliteDataDir}),
 * and it is unpacked with its all-zero pages left as holes ({@link writeSparse}). It is used
 * only by the PGlite release that made it (its version is in the file's header) and only for
 * a directory without `PG_VERSION` (no database yet); anything else, or no template (running
 * from the TypeScript sources), falls back to PGlite's initdb.
 * Every data directory made from one build's template shares the template's PostgreSQL
 * system identifier (an embedded node has no replication that would compare them).
 *
 * Format (gzip): `PARLEYPG1`, u16 length + PGlite version, then per entry u16 length + path
 * (relative, `/`-separated), u8 kind (0 file, 1 directory), u32 size + bytes (files).
 */
import { closeSync, createReadStream, ftruncateSync, mkdirSync, openSync, writeFileSync, writeSync } from 'node:fs';
import { readFile, readdir, stat, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { createGunzip, gzipSync } from 'node:zlib';

const MAGIC = Buffer.from('PARLEYPG1');
const FILE = 0;
const DIR = 1;

/** The template next to the compiled storage code (absent when running from the sources). */
export const PGLITE_TEMPLATE_URL = new URL('./pglite-template.bin.gz', import.meta.url);

/**
 * The installed PGlite's version (its package.json, found next to its exported wasm file).
 *
 * @example
 * const v = await pgliteVersion(); // '0.5.16'
 */
export async function pgliteVersion(): Promise<string> {
  const require = createRequire(import.meta.url);
  const wasm = require.resolve('@electric-sql/pglite/pglite.wasm');
  const pkg = JSON.parse(await readFile(join(dirname(wasm), '..', 'package.json'), 'utf8')) as { version?: unknown };
  if (typeof pkg.version !== 'string') throw new Error('PGlite package.json has no version');
  return pkg.version;
}

function u16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n);
  return b;
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
}

/**
 * Readies a cleanly closed PGlite data directory for packing: the WAL is switched to a new
 * segment and a checkpoint taken, with `wal_recycle` off for this session, so that when PGlite
 * closes (a shutdown checkpoint) the only segment left in `pg_wal` holds just that checkpoint
 * and zeros: what initdb and the migrations logged (~16 MB) is not copied into every new node.
 * Throws when `pg_wal` does not end with exactly one segment.
 *
 * @example
 * await sealPgliteDataDir('/tmp/pgdata'); // then writePgliteTemplate
 */
export async function sealPgliteDataDir(dir: string): Promise<void> {
  const { PGlite } = await import('@electric-sql/pglite');
  const db = await PGlite.create(dir, { startParams: [...PGlite.defaultStartParams, '-c', 'wal_recycle=off'] });
  try {
    await db.query('SELECT pg_switch_wal()');
    await db.query('CHECKPOINT');
  } finally {
    await db.close();
  }
  const segments = (await readdir(join(dir, 'pg_wal'))).filter((name) => /^[0-9A-F]{24}$/.test(name));
  if (segments.length !== 1) throw new Error(`PGlite template: pg_wal holds ${segments.length} segments after the switch, not 1`);
}

/**
 * Packs the data directory `dir` (a cleanly closed PGlite database) into a template file.
 *
 * @example
 * await writePgliteTemplate('/tmp/pgdata', fileURLToPath(PGLITE_TEMPLATE_URL));
 */
export async function writePgliteTemplate(dir: string, file: string): Promise<{ entries: number; bytes: number }> {
  const version = Buffer.from(await pgliteVersion());
  const parts: Buffer[] = [MAGIC, u16(version.length), version];
  let entries = 0;
  const walk = async (rel: string): Promise<void> => {
    for (const name of (await readdir(join(dir, rel))).sort()) {
      const path = rel === '' ? name : `${rel}/${name}`;
      const info = await stat(join(dir, ...path.split('/')));
      const encoded = Buffer.from(path);
      if (info.isDirectory()) {
        parts.push(u16(encoded.length), encoded, Buffer.from([DIR]));
        entries++;
        await walk(path);
      } else if (info.isFile()) {
        const bytes = await readFile(join(dir, ...path.split('/')));
        parts.push(u16(encoded.length), encoded, Buffer.from([FILE]), u32(bytes.length), bytes);
        entries++;
      }
    }
  };
  await walk('');
  const packed = gzipSync(Buffer.concat(parts), { level: 9 });
  await writeFile(file, packed);
  return { entries, bytes: packed.length };
}

/**
 * Reads the template as a stream and writes each entry as it arrives (the largest file, a
 * 16 MB WAL segment, never sits in memory whole): `PG_VERSION` last. Synchronous writes: about
 * a thousand small files, before the node serves anything. Resolves false, writing
 * nothing, when the template was made by another PGlite release.
 */
async function extract(template: URL, dataDir: string, version: string): Promise<boolean> {
  // 1 MiB pieces: the default 16 KiB made ~2,600 thread-pool round trips of 42 MB (0.5 s of a first start).
  const input = createReadStream(template, { highWaterMark: 1 << 20 }).pipe(createGunzip({ chunkSize: 1 << 20 }));
  let pending: Buffer = Buffer.alloc(0);
  let header = false;
  let pgVersion: Buffer | undefined;
  /** The file being written: its handle, its size, and the bytes it still expects. */
  let file: { fd: number; size: number; left: number; path: string } | undefined;
  const take = (n: number): Buffer | undefined => {
    if (pending.length < n) return undefined;
    const out = pending.subarray(0, n);
    pending = pending.subarray(n);
    return out;
  };
  /** A u16-prefixed string, or undefined until all of it has arrived. */
  const text = (): string | undefined => {
    if (pending.length < 2 || pending.length < 2 + pending.readUInt16BE(0)) return undefined;
    return take(2 + pending.readUInt16BE(0))!.subarray(2).toString();
  };
  try {
    for await (const chunk of input as AsyncIterable<Buffer>) {
      pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
      for (;;) {
        if (file) {
          const part = take(Math.min(file.left, pending.length))!;
          file.left -= part.length;
          if (file.path === 'PG_VERSION') pgVersion = Buffer.concat([pgVersion ?? Buffer.alloc(0), part]);
          else writeSparse(file.fd, part, file.size - file.left - part.length);
          if (file.left > 0) break;
          if (file.fd !== NO_FILE) {
            // Holes at the end: the length comes from the size, not from the last write.
            ftruncateSync(file.fd, file.size);
            closeSync(file.fd);
          }
          file = undefined;
          continue;
        }
        if (!header) {
          if (pending.length < MAGIC.length + 2 || pending.length < MAGIC.length + 2 + pending.readUInt16BE(MAGIC.length)) break;
          if (!take(MAGIC.length)!.equals(MAGIC)) throw new Error('PGlite template: bad header');
          if (text() !== version) return false;
          header = true;
          mkdirSync(dataDir, { recursive: true, mode: 0o700 });
          continue;
        }
        const start = pending;
        const path = text();
        if (path === undefined || pending.length < 1) {
          pending = start;
          break;
        }
        const kind = pending.readUInt8(0);
        if (kind === FILE && pending.length < 5) {
          pending = start;
          break;
        }
        if (path.includes('\\') || path.split('/').some((p) => p === '' || p === '.' || p === '..')) throw new Error(`PGlite template: bad path ${path}`);
        const target = join(dataDir, ...path.split('/'));
        if (kind === DIR) {
          take(1);
          mkdirSync(target, { recursive: true, mode: 0o700 });
          continue;
        }
        const size = take(5)!.readUInt32BE(1);
        file = { fd: path === 'PG_VERSION' ? NO_FILE : openSync(target, 'w', 0o600), size, left: size, path };
      }
    }
  } finally {
    if (file && file.fd !== NO_FILE) closeSync(file.fd);
  }
  if (file || pending.length > 0 || !header) throw new Error('PGlite template: truncated');
  if (pgVersion === undefined) throw new Error('PGlite template: no PG_VERSION');
  writeFileSync(join(dataDir, 'PG_VERSION'), pgVersion, { mode: 0o600 });
  return true;
}

/** Stands for `PG_VERSION`'s descriptor: its bytes are kept and written last. */
const NO_FILE = -1;

/** PostgreSQL's page size: all-zero pages of the template are not written. */
const PAGE = 8192;
const ZERO_PAGE = Buffer.alloc(PAGE);

/**
 * Writes `part` at `position` of a file just created empty (opened with O_TRUNC), leaving
 * every all-zero page-aligned block as a hole: it reads back as zeros, so the file holds the
 * same bytes, but a new data directory takes ~25 MB of disk instead of ~41 MB (the WAL segment
 * after the template's checkpoint is zeros, like a segment PostgreSQL creates with
 * `wal_init_zero = off`, and so are many unused relation pages). Each run of non-zero blocks
 * is one write.
 */
function writeSparse(fd: number, part: Buffer, position: number): void {
  let start = -1;
  let at = 0;
  while (at < part.length) {
    // Blocks are aligned to the file's offsets, whatever the piece boundaries.
    const end = Math.min(part.length, at + PAGE - ((position + at) % PAGE));
    const zero = part.subarray(at, end).equals(ZERO_PAGE.subarray(0, end - at));
    if (!zero && start < 0) start = at;
    if (zero && start >= 0) {
      writeSync(fd, part, start, at - start, position + start);
      start = -1;
    }
    at = end;
  }
  if (start >= 0) writeSync(fd, part, start, part.length - start, position + start);
}

/**
 * When `dataDir` holds no database yet (no `PG_VERSION`), writes the template into it
 * (directories 0700, files 0600; `PG_VERSION`, which PGlite takes for "a database is here",
 * last) and returns true; false when there is a database already or no usable template.
 *
 * @example
 * await restorePgliteTemplate(dataDir); // then PGlite resumes instead of running initdb
 */
export async function restorePgliteTemplate(dataDir: string, template: URL = PGLITE_TEMPLATE_URL): Promise<boolean> {
  try {
    await stat(join(dataDir, 'PG_VERSION'));
    return false;
  } catch {
    /* no database yet */
  }
  try {
    await stat(template);
  } catch {
    return false;
  }
  return extract(template, dataDir, await pgliteVersion());
}
