/**
 * The gateway's DbKeyStore passes the KeyStore contract every store passes, on the engine of
 * the run; and what it adds: records are sealed (no plaintext in the table, a record moved to
 * another name does not open), and a fenced store refuses every write once its lease is lost.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keyStoreContract, put, expectCode } from '@parley/test-kit/key-store-contract';
import { openGatewayTestDatabase } from '@parley/test-kit/gateway-db';
import type { Database } from '@parley/server';
import { DbKeyStore } from '../src/storage/db-key-store.js';
import { acquireLease } from '../src/leadership/lease.js';
import { GatewayError } from '../src/errors.js';

let db: Database;
let close: () => Promise<void>;

beforeAll(async () => {
  ({ db, close } = await openGatewayTestDatabase());
});
afterAll(async () => {
  await close?.();
});

keyStoreContract('DbKeyStore', async () => {
  // One fresh namespace per store: the contract expects an empty store.
  await db.query('DELETE FROM gateway_records');
  return new DbKeyStore(db, new Uint8Array(randomBytes(32)));
});

describe('DbKeyStore: sealed and fenced', () => {
  it('keeps no plaintext and binds each record to its name', async () => {
    await db.query('DELETE FROM gateway_records');
    const store = new DbKeyStore(db, new Uint8Array(randomBytes(32)));
    await store.write([put('conv/a/state', 'SECRET-STATE-0001'), put('conv/b/state', 'other')]);
    const rows = await db.query<{ name: string; value: Uint8Array }>('SELECT name, value FROM gateway_records');
    for (const r of rows) expect(Buffer.from(r.value).toString('latin1')).not.toContain('SECRET-STATE');
    // Swap the two sealed values: neither opens under the other's name.
    await db.query(`UPDATE gateway_records SET value = (SELECT value FROM gateway_records WHERE name = 'conv/b/state') WHERE name = 'conv/a/state'`);
    await expectCode(store.get('conv/a/state'), 'key_store_corrupt');
    // Another data key does not open them either.
    await expectCode(new DbKeyStore(db, new Uint8Array(randomBytes(32))).get('conv/b/state'), 'key_store_corrupt');
  });

  it('refuses writes after another instance took the lease over (fencing)', async () => {
    const store = new DbKeyStore(db, new Uint8Array(randomBytes(32)));
    const mine = (await acquireLease(db, 'fence-test', 'instance-a', 200))!;
    store.fence(mine);
    await store.write([put('x', '1')]);
    await new Promise((r) => setTimeout(r, 300));
    const theirs = await acquireLease(db, 'fence-test', 'instance-b', 5000);
    expect(Number(theirs!.fence)).toBeGreaterThan(Number(mine.fence));
    const error = await store.write([put('x', '2')]).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(GatewayError);
    expect((error as GatewayError).code).toBe('lease_lost');
    // Nothing of the refused batch was written.
    expect(Buffer.from((await store.get('x'))!).toString()).toBe('1');
  });
});
