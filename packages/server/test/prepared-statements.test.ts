/**
 * Hot statements travel as named prepared statements on PostgreSQL (storage/prepared.ts):
 * parsed once per connection, and the mailbox read (also the cross-node read after a
 * notice) keeps an index plan when PostgreSQL switches to its generic plan.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes, toBase64 } from '@parley/core';
import type { Database, Sql } from '../src/index.js';
import { preparedName, preparedStatement } from '../src/storage/prepared.js';
import { acknowledge, insertEnvelopes, pendingEnvelopes } from '../src/repos/mailbox.js';
import { insertBusiness } from '../src/repos/businesses.js';
import { upsertIdentity } from '../src/repos/identities.js';
import { insertDevice } from '../src/repos/devices.js';
import { ENGINE, openTestDatabase } from '@parley/test-kit/server';

describe('prepared statement registry', () => {
  it('names registered texts only, and refuses a name reused for another text or a malformed name', () => {
    const text = preparedStatement('test_registry_one', 'SELECT 1 AS one');
    expect(preparedName(text)).toBe('parley_test_registry_one');
    expect(preparedStatement('test_registry_one', 'SELECT 1 AS one')).toBe(text);
    expect(() => preparedStatement('test_registry_one', 'SELECT 2')).toThrow(/another text/);
    expect(() => preparedStatement('Bad-Name', 'SELECT 3')).toThrow(/invalid/);
    expect(preparedName('SELECT 4')).toBeUndefined();
  });
});

// The plan cache and pg_prepared_statements exist on a PostgreSQL server only; PGlite runs the same texts unnamed.
if (ENGINE !== 'postgres') console.log('prepared statements: plan-cache checks skipped on embedded PGlite (it has no pg_prepared_statements and runs the texts unnamed; the PostgreSQL leg runs them)');
describe.skipIf(ENGINE !== 'postgres')('prepared hot statements on PostgreSQL', () => {
  let db: Database;
  let close: () => Promise<void>;
  const recipient = 'dev-prep-recipient00';

  beforeAll(async () => {
    ({ db, close } = await openTestDatabase());
    await insertBusiness(db, { id: 'p', name: 'P', keys: [] });
    await upsertIdentity(db, { id: 'p:bob', businessId: 'p', kind: 'customer' });
    for (const id of ['dev-prep-sender00000', recipient]) {
      await insertDevice(db, { id, identityId: 'p:bob', identityKey: randomBytes(32), signatureKey: randomBytes(32), suite: 's' });
    }
  });
  afterAll(async () => close?.());

  const envelope = (key: string) => ({
    senderDeviceId: 'dev-prep-sender00000', idempotencyKey: key, part: 0 as const, groupId: 'group-prep-aaaaaaaa', kind: 'application' as const,
    epoch: 1n, payload: toBase64(randomBytes(64)), payloadBytes: 64, expiresAt: new Date(Date.now() + 60_000), recipients: [recipient],
  });

  it('parses each hot statement once per connection and reuses it', async () => {
    // One transaction pins one pooled connection, so its session's statements are visible.
    const seen = await db.transaction(async (tx: Sql) => {
      for (let i = 0; i < 8; i++) {
        const stored = await insertEnvelopes(tx, [envelope(`prep-${i}`)]);
        const page = await pendingEnvelopes(tx, recipient, '0', 100);
        expect(page.map((e) => e.id)).toContain([...stored.values()][0]);
        await acknowledge(tx, [{ deviceId: recipient, envelopeId: [...stored.values()][0]! }]);
      }
      return tx.query<{ name: string; generic_plans: string; custom_plans: string }>(
        "SELECT name, generic_plans, custom_plans FROM pg_prepared_statements WHERE name LIKE 'parley_%' ORDER BY name",
      );
    });
    const byName = new Map(seen.map((r) => [r.name, Number(r.generic_plans) + Number(r.custom_plans)]));
    expect(byName.get('parley_mailbox_insert')).toBe(8);
    expect(byName.get('parley_mailbox_pages')).toBe(8);
    expect(byName.get('parley_mailbox_ack')).toBe(8);
  });

  it('keeps index plans for the mailbox read under the generic plan', async () => {
    // A mailbox table of some size, with statistics, so that a sequential scan would be chosen only if the plan were wrong.
    const others = Array.from({ length: 3000 }, (_, i) => ({ ...envelope(`bulk-${i}`), recipients: ['dev-prep-sender00000'] }));
    await insertEnvelopes(db, others);
    await db.exec('ANALYZE envelopes; ANALYZE deliveries');
    const plan = await db.transaction(async (tx: Sql) => {
      await pendingEnvelopes(tx, recipient, '0', 10);
      await tx.query('SET LOCAL plan_cache_mode = force_generic_plan');
      const rows = await tx.query<{ 'QUERY PLAN': string }>(`EXPLAIN EXECUTE parley_mailbox_pages('{${recipient}}', '{0}', '{10}')`);
      return rows.map((r) => r['QUERY PLAN']).join('\n');
    });
    expect(plan).toMatch(/Scan (using|on) deliveries_pkey/);
    expect(plan).toMatch(/Scan using envelopes_pkey/);
    expect(plan).not.toMatch(/Seq Scan/);
  });
});
