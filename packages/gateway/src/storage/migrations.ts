/**
 * The gateway's own schema: numbered SQL files in `migrations/`, applied with the server's
 * migration runner but recorded in their own table under their own advisory lock, so a
 * gateway may share a PostgreSQL database (or schema) with a Parley server without clashes.
 * Every gateway table is named `gateway_*`.
 */
import { migrate, type Database, type MigrationSet } from '@parley/server';

/** Arbitrary constant naming the gateway's migration lock (the server's is 7_302_115_001). */
const GATEWAY_MIGRATION_LOCK_KEY = 7_302_115_012;

export const GATEWAY_MIGRATIONS: MigrationSet = {
  dir: new URL('./migrations/', import.meta.url),
  table: 'gateway_schema_migrations',
  lockKey: GATEWAY_MIGRATION_LOCK_KEY,
};

/**
 * Applies the gateway's migrations not yet applied; safe from several instances at once.
 *
 * @example
 * await migrateGateway(db)
 */
export function migrateGateway(db: Database): Promise<number[]> {
  return migrate(db, GATEWAY_MIGRATIONS);
}
