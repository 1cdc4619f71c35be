/**
 * The gateway's database: the business's PostgreSQL (`postgres://…`), or embedded PGlite in
 * a data directory for development. Migrated on open.
 */
import { mkdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { PgliteDatabase, PostgresDatabase, type Database } from '@parley/server';
import { GatewayError } from '../errors.js';
import { migrateGateway } from './migrations.js';

/**
 * @example
 * const db = await openGatewayDatabase({ databaseUrl: process.env.DATABASE_URL })
 */
export async function openGatewayDatabase(options: { databaseUrl?: string; dataDir?: string; schema?: string }): Promise<Database> {
  let db: Database;
  if (options.databaseUrl) {
    db = new PostgresDatabase({ connectionString: options.databaseUrl, ...(options.schema ? { schema: options.schema } : {}) });
  } else if (options.dataDir) {
    await mkdir(options.dataDir, { recursive: true, mode: 0o700 });
    // PGlite writes its files readable by others: only a private directory keeps them private.
    if (process.platform !== 'win32' && ((await stat(options.dataDir)).mode & 0o077) !== 0) {
      throw new GatewayError('data_dir_insecure', `${options.dataDir} is open to other users: chmod 700 it`);
    }
    db = await PgliteDatabase.open({ dataDir: join(options.dataDir, 'db') });
  } else {
    throw new Error('openGatewayDatabase needs a database URL or a data directory');
  }
  try {
    await migrateGateway(db);
  } catch (error) {
    await db.close();
    throw error;
  }
  return db;
}
