/**
 * A fresh database with the gateway's schema, on the engine the tests run on (see server.ts:
 * PGlite by default; PARLEY_TEST_ENGINE=postgres uses PARLEY_TEST_DATABASE_URL, each database
 * in its own schema, dropped at close).
 */
import { randomBytes, toBase64Url } from '@parley/core';
import { migrateGateway } from '@parley/gateway';
import { PgliteDatabase, PostgresDatabase, type Database } from '@parley/server';
import { DATABASE_URL, ENGINE } from './server.js';

/**
 * Opens a migrated gateway database; `close()` closes it (and drops its schema).
 *
 * @example
 * const { db, close } = await openGatewayTestDatabase()
 * try { await appendEvent(db, event, [url]) } finally { await close() }
 */
export async function openGatewayTestDatabase(): Promise<{ db: Database; schema: string | undefined; close(): Promise<void> }> {
  if (ENGINE === 'postgres') {
    const schema = `g_${toBase64Url(randomBytes(9)).toLowerCase().replace(/[^a-z0-9]/g, '_')}`;
    const admin = new PostgresDatabase({ connectionString: DATABASE_URL });
    await admin.exec(`CREATE SCHEMA ${schema}`);
    const db = new PostgresDatabase({ connectionString: DATABASE_URL, schema });
    await migrateGateway(db);
    return {
      db,
      schema,
      async close() {
        await db.close();
        await admin.exec(`DROP SCHEMA ${schema} CASCADE`);
        await admin.close();
      },
    };
  }
  const db = await PgliteDatabase.open();
  await migrateGateway(db);
  return { db, schema: undefined, close: () => db.close() };
}
