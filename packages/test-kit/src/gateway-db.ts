/**
 * A fresh database with the gateway's schema, on the engine the tests run on (server.ts's
 * `openTestDatabase`: PGlite by default; PARLEY_TEST_ENGINE=postgres uses
 * PARLEY_TEST_DATABASE_URL, each database in its own schema, dropped at close).
 */
import { migrateGateway } from '@parley/gateway';
import type { Database } from '@parley/server';
import { openTestDatabase } from './server.js';

/**
 * Opens a migrated gateway database; `close()` closes it (and drops its schema).
 *
 * @example
 * const { db, close } = await openGatewayTestDatabase()
 * try { await appendEvent(db, event, [url]) } finally { await close() }
 */
export function openGatewayTestDatabase(): Promise<{ db: Database; schema: string | undefined; close(): Promise<void> }> {
  return openTestDatabase(migrateGateway);
}
