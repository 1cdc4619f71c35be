/**
 * Forward-only, numbered SQL migrations (`migrations/NNN_name.sql`), shared by
 * both engines. Safe to run from several nodes at once: the whole run holds a
 * transaction-scoped advisory lock, and each migration applies in that transaction.
 */
import { readdir, readFile } from 'node:fs/promises';
import type { Database } from './database.js';

const MIGRATIONS_DIR = new URL('./migrations/', import.meta.url);
/** Arbitrary constant naming Parley's migration lock. */
const MIGRATION_LOCK_KEY = 7_302_115_001;

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

/** Where a set of migrations lives and what records it: the server's by default; the gateway has its own. */
export interface MigrationSet {
  /** Folder of `NNN_name.sql` files. */
  readonly dir: URL;
  /** The table that records applied versions. */
  readonly table: string;
  /** The advisory lock that serializes concurrent runs. */
  readonly lockKey: number;
}

const SERVER_MIGRATIONS: MigrationSet = { dir: MIGRATIONS_DIR, table: 'schema_migrations', lockKey: MIGRATION_LOCK_KEY };

export async function loadMigrations(set: MigrationSet = SERVER_MIGRATIONS): Promise<Migration[]> {
  const dir = set.dir;
  const files = (await readdir(dir)).filter((f) => /^\d{3}_[a-z0-9_]+\.sql$/.test(f)).sort();
  return Promise.all(
    files.map(async (file) => ({
      version: Number(file.slice(0, 3)),
      name: file.slice(4, -4),
      sql: await readFile(new URL(file, dir), 'utf8'),
    })),
  );
}

/** Applies every migration not yet applied; returns the versions applied now. */
export async function migrate(db: Database, set: MigrationSet = SERVER_MIGRATIONS): Promise<number[]> {
  if (!/^[a-z_]{1,40}$/.test(set.table)) throw new Error('invalid migrations table name');
  const migrations = await loadMigrations(set);
  return db.transaction(async (tx) => {
    await tx.query('SELECT pg_advisory_xact_lock($1)', [String(set.lockKey)]);
    await tx.query(
      `CREATE TABLE IF NOT EXISTS ${set.table} (
         version integer PRIMARY KEY,
         name text NOT NULL,
         applied_at timestamptz NOT NULL DEFAULT now()
       )`,
    );
    const done = new Set((await tx.query<{ version: number }>(`SELECT version FROM ${set.table}`)).map((r) => Number(r.version)));
    const applied: number[] = [];
    for (const m of migrations) {
      if (done.has(m.version)) continue;
      for (const statement of splitStatements(m.sql)) await tx.query(statement);
      await tx.query(`INSERT INTO ${set.table} (version, name) VALUES ($1, $2)`, [m.version, m.name]);
      applied.push(m.version);
    }
    return applied;
  });
}

/** The highest migration version known to this build. */
export async function latestMigrationVersion(): Promise<number> {
  const all = await loadMigrations();
  return all.length === 0 ? 0 : all[all.length - 1]!.version;
}

/** Splits a migration script on semicolons at line ends (our migrations use no procedural bodies). */
function splitStatements(sql: string): string[] {
  return sql
    .split(/;\s*(?:\n|$)/)
    .map((s) => s.replace(/^\s*--.*$/gm, '').trim())
    .filter((s) => s.length > 0);
}
