/**
 * The storage suite: the repository layer against the engine selected by
 * PARLEY_TEST_ENGINE (PGlite by default; CI runs it again on PostgreSQL).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from '@parley/core';
import { DatabaseError, migrate, type Database } from '../src/index.js';
import { PostgresDatabase } from '../src/storage/postgres.js';
import { latestMigrationVersion } from '../src/storage/migrate.js';
import {
  acknowledge,
  appendEnvelopes,
  classifyNotPending,
  createGroupRow,
  findSubmissions,
  insertEnvelopes,
  pendingEnvelopePages,
  pendingEnvelopes,
  setGroupMembers,
  sweepEnvelopes,
  type NewEnvelope,
} from '../src/repos/mailbox.js';
import { toBase64 } from '@parley/core';
import { claimKeyPackage, insertKeyPackages, keyPackageStock } from '../src/repos/key-packages.js';
import { takeToken } from '../src/repos/rate-limits.js';
import { insertBusiness } from '../src/repos/businesses.js';
import { upsertIdentity } from '../src/repos/identities.js';
import { insertDevice } from '../src/repos/devices.js';
import { DATABASE_URL, ENGINE, openTestDatabase } from '@parley/test-kit/server';

let db: Database;
let close: () => Promise<void>;
let schema: string | undefined;

beforeAll(async () => {
  ({ db, close, schema } = await openTestDatabase());
  await insertBusiness(db, { id: 'b', name: 'B', keys: [] });
  await upsertIdentity(db, { id: 'b:alice', businessId: 'b', kind: 'customer' });
  for (const id of ['dev-sender-0000000', 'dev-alice-00000000', 'dev-alice-11111111']) {
    await insertDevice(db, { id, identityId: 'b:alice', identityKey: randomBytes(32), signatureKey: randomBytes(32), suite: 's' });
  }
});
afterAll(async () => close?.());

function envelope(key: string, recipients: string[], overrides: Partial<NewEnvelope> = {}): NewEnvelope {
  return {
    senderDeviceId: 'dev-sender-0000000',
    idempotencyKey: key,
    part: 0,
    groupId: 'group-aaaaaaaaaaaaaa',
    kind: 'application',
    epoch: 1n,
    payload: toBase64(randomBytes(100)),
    payloadBytes: 100,
    expiresAt: new Date(Date.now() + 60_000),
    recipients,
    ...overrides,
  };
}

describe(`storage on ${ENGINE}`, () => {
  it('applies migrations once, also when several nodes start together', async () => {
    expect(await migrate(db)).toEqual([]);
    if (ENGINE === 'postgres') {
      const others = [0, 1, 2].map(() => new PostgresDatabase({ connectionString: DATABASE_URL, schema: schema! }));
      const results = await Promise.all(others.map((o) => migrate(o)));
      expect(results.flat()).toEqual([]);
      await Promise.all(others.map((o) => o.close()));
    } else {
      expect((await Promise.all([migrate(db), migrate(db)])).flat()).toEqual([]);
    }
    const rows = await db.query<{ version: number }>('SELECT version FROM schema_migrations ORDER BY version');
    const latest = await latestMigrationVersion();
    expect(rows.map((r) => Number(r.version))).toEqual(Array.from({ length: latest }, (_, i) => i + 1));
  });

  it('maps values the same way on both engines', async () => {
    await db.exec('CREATE TABLE IF NOT EXISTS t_values (b bytea, n bigint, ts timestamptz, j jsonb, s text)');
    const big = randomBytes(1 << 20);
    const when = new Date('2026-11-22T10:00:00.123Z');
    await db.query('INSERT INTO t_values VALUES ($1, $2, $3, $4, $5)', [big, '4611686018427387904', when, JSON.stringify({ a: 1 }), 'é']);
    await db.query('INSERT INTO t_values VALUES ($1, NULL, NULL, NULL, NULL)', [new Uint8Array(0)]);
    const rows = await db.query<{ b: Uint8Array; n: string | null; ts: Date | null; j: unknown; s: string | null }>('SELECT * FROM t_values ORDER BY n NULLS LAST');
    expect(Buffer.from(rows[0]!.b).equals(Buffer.from(big))).toBe(true);
    expect(rows[0]!.n).toBe('4611686018427387904');
    expect(new Date(rows[0]!.ts!).toISOString()).toBe(when.toISOString());
    expect(rows[0]!.j).toEqual({ a: 1 });
    expect(rows[0]!.s).toBe('é');
    expect(rows[1]!.b).toHaveLength(0);
  });

  it('rolls a transaction back entirely and reports SQLSTATE', async () => {
    await db.exec('CREATE TABLE IF NOT EXISTS t_tx (id text PRIMARY KEY)');
    await expect(
      db.transaction(async (tx) => {
        await tx.query("INSERT INTO t_tx VALUES ('a')");
        await tx.query("INSERT INTO t_tx VALUES ('a')");
      }),
    ).rejects.toSatisfy((e: unknown) => e instanceof DatabaseError && e.sqlState === '23505');
    expect(await db.query('SELECT * FROM t_tx')).toEqual([]);
    await expect(db.transaction(async (tx) => {
      await tx.query("INSERT INTO t_tx VALUES ('b')");
      throw new Error('app error');
    })).rejects.toThrow('app error');
    expect(await db.query('SELECT * FROM t_tx')).toEqual([]);
    await db.transaction(async (tx) => tx.transaction((inner) => inner.query("INSERT INTO t_tx VALUES ('c')")));
    expect(await db.query('SELECT id FROM t_tx')).toEqual([{ id: 'c' }]);
  });

  it('stores envelopes once per idempotency key and hands out mailboxes in order', async () => {
    const a = 'dev-alice-00000000';
    const b = 'dev-alice-11111111';
    const first = await insertEnvelopes(db, [envelope('k1', [a, b]), envelope('k2', [a])]);
    expect(first.size).toBe(2);
    const again = await insertEnvelopes(db, [envelope('k1', [a, b]), envelope('k3', [b])]);
    expect([...again.keys()].map((k) => k.split('\n')[1])).toEqual(['k3']);
    const prior = await findSubmissions(db, [{ senderDeviceId: 'dev-sender-0000000', idempotencyKey: 'k1' }]);
    expect(prior.get('dev-sender-0000000\nk1')![0]).toMatchObject({ part: 0, recipient_count: 2 });
    const mailA = await pendingEnvelopes(db, a, '0', 10);
    expect(mailA.map((e) => e.id)).toEqual([...first.values()]);
    expect(Buffer.from(mailA[0]!.payload.replace(/\n/g, ''), 'base64')).toHaveLength(100);
    expect((await pendingEnvelopes(db, a, mailA[0]!.id, 10)).map((e) => e.id)).toEqual([mailA[1]!.id]);
    expect(await pendingEnvelopes(db, b, '0', 1)).toHaveLength(1);
    // Several devices' pages in one statement: each request keeps its own cursor and limit, in order.
    const pages = await pendingEnvelopePages(db, [
      { deviceId: a, after: '0', limit: 10 },
      { deviceId: b, after: '0', limit: 1 },
      { deviceId: 'dev-nobody-00000000', after: '0', limit: 10 },
      { deviceId: a, after: mailA[0]!.id, limit: 10 },
    ]);
    expect(pages.map((p) => p.map((e) => e.id))).toEqual([
      mailA.map((e) => e.id),
      [(await pendingEnvelopes(db, b, '0', 1))[0]!.id],
      [],
      [mailA[1]!.id],
    ]);
    expect(await pendingEnvelopePages(db, [])).toEqual([]);
  });

  it('appends only for members, to the other members, once per key, in one statement', async () => {
    const a = 'dev-alice-00000000';
    const b = 'dev-alice-11111111';
    const sender = 'dev-sender-0000000';
    await createGroupRow(db, 'grp-append-000000000', 1n, randomBytes(10), sender);
    await setGroupMembers(db, 'grp-append-000000000', [sender, a, b]);
    const item = (key: string, from = sender) => ({
      senderDeviceId: from,
      idempotencyKey: key,
      groupId: 'grp-append-000000000',
      kind: 'application' as const,
      epoch: 1n,
      payload: toBase64(randomBytes(50)),
      payloadBytes: 50,
      expiresAt: new Date(Date.now() + 60_000),
    });
    const res = await appendEnvelopes(db, [item('x1'), item('x2'), item('x3', 'not-a-member-0000000')]);
    expect(res.size).toBe(2);
    expect([...res.values()][0]!.recipients.sort()).toEqual([a, b].sort());
    expect((await appendEnvelopes(db, [item('x1')])).size).toBe(0);
    const pending = await pendingEnvelopes(db, b, '0', 100);
    expect(pending.filter((e) => e.group_id === 'grp-append-000000000')).toHaveLength(2);
  });

  it('acknowledges in one statement, clears ciphertext after the last recipient, classifies the rest, and sweeps expired mail', async () => {
    const a = 'dev-alice-00000000';
    const b = 'dev-alice-11111111';
    const ids = await insertEnvelopes(db, [envelope('ack-1', [a, b]), envelope('ack-2', [b], { expiresAt: new Date(Date.now() - 1000) })]);
    const [id1, id2] = [...ids.values()];
    const payload = async (id: string) => (await db.query<{ payload: Uint8Array | null }>('SELECT payload FROM envelopes WHERE id = $1', [id]))[0]?.payload;
    const pairs = [
      { deviceId: a, envelopeId: id1! },
      { deviceId: a, envelopeId: id2! },
      { deviceId: a, envelopeId: '987654321' },
    ];
    const done = await acknowledge(db, pairs);
    expect([...done]).toEqual([`${a}\n${id1}`]);
    expect([...(await classifyNotPending(db, pairs)).values()]).toEqual(['repeated', 'forbidden', 'unknown']);
    expect(await payload(id1!)).not.toBeNull();
    // the same ack twice at once: counted once; the payload goes when the last recipient is in
    await Promise.all([acknowledge(db, [{ deviceId: b, envelopeId: id1! }]), acknowledge(db, [{ deviceId: b, envelopeId: id1! }])]);
    expect(await payload(id1!)).toBeNull();
    expect((await db.query<{ pending: number }>('SELECT pending FROM envelopes WHERE id = $1', [id1!]))[0]!.pending).toBe(0);
    const swept = await sweepEnvelopes(db, 3600);
    expect(swept.expired).toBeGreaterThanOrEqual(1);
    expect(await payload(id2!)).toBeUndefined();
    expect((await db.query('SELECT 1 FROM deliveries WHERE envelope_id = $1', [id2!])).length).toBe(0);
  });

  it('claims every one-time KeyPackage exactly once under concurrency', async () => {
    const device = 'dev-alice-11111111';
    const suite = 'MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519';
    const oneTime = Array.from({ length: 10 }, () => ({ suite, ref: randomBytes(32), keyPackage: randomBytes(200), notAfter: new Date(Date.now() + 3600_000) }));
    const lastResort = { suite, ref: randomBytes(32), keyPackage: randomBytes(200), notAfter: new Date(Date.now() + 3600_000) };
    await insertKeyPackages(db, device, oneTime, [lastResort]);
    // Another suite's stock is apart: never handed out for this one.
    const other = 'MLS_256_XWING_AES256GCM_SHA512_Ed25519';
    await insertKeyPackages(db, device, [{ suite: other, ref: randomBytes(32), keyPackage: randomBytes(200), notAfter: new Date(Date.now() + 3600_000) }], []);
    expect(await keyPackageStock(db, device, other)).toMatchObject({ suite: other, oneTime: 1, lastResort: false });
    expect(await keyPackageStock(db, device, suite)).toEqual({ suite, oneTime: 10, lastResort: true, oldestNotAfter: oneTime[0]!.notAfter });
    const claims = await Promise.all(Array.from({ length: 25 }, () => db.transaction((tx) => claimKeyPackage(tx, device, suite))));
    const one = claims.filter((c) => c && !c.lastResort).map((c) => Buffer.from(c!.keyPackage).toString('hex'));
    expect(one).toHaveLength(10);
    expect(new Set(one).size).toBe(10);
    expect(claims.filter((c) => c?.lastResort)).toHaveLength(15);
    expect(await keyPackageStock(db, device, suite)).toEqual({ suite, oneTime: 0, lastResort: true, oldestNotAfter: lastResort.notAfter });
  });

  it('enforces token buckets shared through the database', async () => {
    const results = [];
    for (let i = 0; i < 4; i++) results.push(await takeToken(db, 'bucket-1', 3, 0.5));
    expect(results.map((r) => r.allowed)).toEqual([true, true, true, false]);
    expect(results[3]!.retryAfterMs).toBeGreaterThan(0);
    expect(results[3]!.retryAfterMs).toBeLessThanOrEqual(2000);
    expect((await takeToken(db, 'bucket-2', 3, 0.5)).allowed).toBe(true);
  });
});
