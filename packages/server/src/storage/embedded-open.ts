/**
 * Opening the embedded engine (PGlite) on a data directory: created private (0700) or refused
 * when others can read it, locked against a second server, then opened; the lock is released
 * when the open fails. `parley serve` calls this before it loads the server's modules (boot.ts),
 * so that PGlite's WebAssembly boots on the worker thread while the main thread loads them;
 * `startServer` takes the database it opened (app.ts).
 */
import { PgliteDatabase } from './pglite.js';
import { ensurePrivateDir, lockDataDir, type DataDirLock } from './private-dir.js';

/** An opened embedded database and the lock on its data directory (none in memory). */
export interface EmbeddedDatabase {
  readonly db: PgliteDatabase;
  readonly lock?: DataDirLock;
  /** The data directory it was opened on (none: in memory). */
  readonly dataDir?: string;
}

/**
 * Opens PGlite on `dataDir` (in memory without one).
 *
 * @example
 * const { db, lock } = await openEmbeddedDatabase('/var/lib/parley/data');
 */
export async function openEmbeddedDatabase(dataDir: string | undefined): Promise<EmbeddedDatabase> {
  if (!dataDir) return { db: await PgliteDatabase.open({}) };
  await ensurePrivateDir(dataDir, 'data directory');
  const lock = await lockDataDir(dataDir);
  try {
    return { db: await PgliteDatabase.open({ dataDir }), lock, dataDir };
  } catch (error) {
    await lock.release();
    throw error;
  }
}

/**
 * Closes an embedded database that was opened early but not taken (the start failed before):
 * the worker ends and the lock is released, so the process can exit.
 */
export async function closeEmbeddedDatabase(opening: Promise<EmbeddedDatabase>): Promise<void> {
  const opened = await opening.catch(() => undefined);
  if (!opened) return;
  await opened.db.close().catch(() => undefined);
  await opened.lock?.release().catch(() => undefined);
}
