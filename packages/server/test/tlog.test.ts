/**
 * The transparency-log engine against the database selected by PARLEY_TEST_ENGINE:
 * batching, concurrency, crash safety (a failed batch leaves nothing behind), restart,
 * heartbeats, proofs and tiles from stored hashes, and — on PostgreSQL — two engine
 * instances sequencing the same log concurrently without forking it.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { pino } from 'pino';
import { randomBytes, toHex, utf8 } from '@parley/core';
import {
  decodeEntryBundle,
  emptyRoot,
  generateSignerKey,
  leafHash,
  openNote,
  parseCheckpoint,
  parseSignerKey,
  parseVerifierKey,
  rootOfLeaves,
  storedHashCount,
  verifyConsistency,
  verifyInclusion,
  type LocalSigner,
} from '@parley/core/tlog';
import { PgliteDatabase, migrate, type Database } from '../src/index.js';
import { PostgresDatabase } from '../src/storage/postgres.js';
import { TransparencyLog, type LogSigner, type TransparencyLogOptions } from '../src/tlog/index.js';
import { frontierIndexes } from '../src/tlog/sequence-batch.js';
import { DATABASE_URL, ENGINE, openTestDatabase } from '@parley/test-kit/server';

const ORIGIN = 'test.parley.localhost/logs/keys';
const silent = pino({ level: 'silent' });
const KEY = generateSignerKey(ORIGIN).signerKey;

function newSigner(): LocalSigner {
  return parseSignerKey(KEY);
}

it('refuses a signer that is not named after the origin', async () => {
  await expect(TransparencyLog.open(db, { name: 'wrongkey', origin: 'test.parley.localhost/logs/other', signer: newSigner(), log: silent })).rejects.toMatchObject({ code: 'tlog_key_mismatch' });
});

let db: Database;
let schema: string | undefined;
let close: () => Promise<void>;
let counter = 0;

beforeAll(async () => {
  ({ db, close, schema } = await openTestDatabase());
});
afterAll(async () => close?.());

/** A fresh log (its own name and origin) on the shared test database. */
async function freshLog(opts: Partial<TransparencyLogOptions> = {}, on: Database = db): Promise<{ log: TransparencyLog; name: string; origin: string; signer: LogSigner }> {
  const name = `t${++counter}-${toHex(randomBytes(3))}`;
  const origin = `test.parley.localhost/logs/${name}`;
  const signer = parseSignerKey(generateSignerKey(origin).signerKey);
  const log = await TransparencyLog.open(on, { name, origin, signer, log: silent, ...opts });
  return { log, name, origin, signer };
}

function entryOf(i: number, tag = 'e'): Uint8Array {
  return utf8(`${tag}-${i}-${toHex(randomBytes(4))}`);
}

async function drain(log: TransparencyLog): Promise<void> {
  while ((await log.sequence()) > 0);
}

async function count(sql: string, params: unknown[]): Promise<number> {
  const rows = await db.query<{ n: string }>(sql, params as never);
  return Number(rows[0]!.n);
}

/** Every checkpoint the log ever published verifies, and its root is the root of that prefix of today's entries: no fork. */
async function expectHistoryConsistent(log: TransparencyLog, verifierKey: string, entries: readonly Uint8Array[], on: Database = db): Promise<void> {
  const v = parseVerifierKey(verifierKey);
  const rows = await on.query<{ tree_size: string; note: string }>('SELECT tree_size, note FROM tlog_checkpoints WHERE log = $1 ORDER BY id', [log.name]);
  const leaves = entries.map((e) => leafHash(e));
  let last = -1;
  for (const r of rows) {
    const cp = parseCheckpoint(openNote(r.note, [v]).text);
    expect(cp.treeSize).toBe(Number(r.tree_size));
    expect(cp.treeSize).toBeGreaterThanOrEqual(last); // equal only for heartbeats
    last = cp.treeSize;
    expect(toHex(cp.rootHash)).toBe(toHex(rootOfLeaves(leaves.slice(0, cp.treeSize))));
  }
}

describe(`transparency log engine on ${ENGINE}`, () => {
  it('creates a log with a signed checkpoint of the empty tree', async () => {
    const { log, origin, signer } = await freshLog();
    const cp = await log.latestCheckpoint();
    expect(cp.size).toBe(0);
    expect(toHex(cp.rootHash)).toBe(toHex(emptyRoot()));
    const parsed = parseCheckpoint(openNote(cp.note, [parseVerifierKey(signer.verifierKey)]).text);
    expect(parsed).toMatchObject({ origin, treeSize: 0 });
    expect(log.describe()).toEqual({ name: log.name, origin, prefix: `/logs/${log.name}`, verifierKey: signer.verifierKey, verifierKeys: [signer.verifierKey] });
  });

  it('computes the frontier of a tree', () => {
    expect(frontierIndexes(0)).toEqual([]);
    expect(frontierIndexes(1)).toEqual([0]);
    expect(frontierIndexes(3)).toEqual([2, 3]);
    expect(frontierIndexes(8)).toEqual([14]);
  });

  it('sequences many concurrent appends in batches: no gap, no duplicate, the root of all leaves', async () => {
    const { log, signer } = await freshLog({ batchSize: 37, debounceMs: 1 });
    log.start();
    const appended: { id: string; entry: Uint8Array }[] = [];
    // 25 writers × 24 appends, each in its own transaction, while the loop sequences.
    await Promise.all(
      Array.from({ length: 25 }, async (_, w) => {
        for (let i = 0; i < 24; i++) {
          const entry = entryOf(w * 100 + i);
          const id = await db.transaction((tx) => log.append(tx, entry));
          log.kick();
          appended.push({ id, entry });
        }
      }),
    );
    // Direct calls race the background loop: the row lock keeps them exclusive.
    await Promise.all([drain(log), drain(log)]);
    const indexes = await Promise.all(appended.map((a) => log.waitSequenced(a.id, { timeoutMs: 20_000 })));
    await log.stop();

    const n = appended.length;
    const cp = await log.latestCheckpoint();
    expect(cp.size).toBe(n);
    expect(new Set(indexes.map((x) => x.index)).size).toBe(n);
    expect(Math.max(...indexes.map((x) => x.index))).toBe(n - 1);
    const entries = await log.entries(0, n);
    appended.forEach((a, i) => expect(toHex(entries[indexes[i]!.index]!)).toBe(toHex(a.entry)));
    expect(toHex(cp.rootHash)).toBe(toHex(rootOfLeaves(entries.map((e) => leafHash(e)))));
    expect(await count('SELECT count(*) AS n FROM tlog_hashes WHERE log = $1', [log.name])).toBe(storedHashCount(n));
    expect(await count('SELECT count(*) AS n FROM tlog_pending WHERE log = $1', [log.name])).toBe(0);
    const batches = await count('SELECT count(*) AS n FROM tlog_checkpoints WHERE log = $1 AND tree_size > 0', [log.name]);
    expect(batches).toBeGreaterThanOrEqual(Math.ceil(n / 37));
    expect(batches).toBeLessThan(n); // batched, not one checkpoint per entry
    await expectHistoryConsistent(log, signer.verifierKey, entries);
  });

  it('takes at most batchSize entries per batch, oldest first', async () => {
    const { log } = await freshLog({ batchSize: 100 });
    const entries = Array.from({ length: 250 }, (_, i) => entryOf(i));
    const ids = await db.transaction((tx) => log.appendMany(tx, entries.map((entry) => ({ entry }))));
    expect(ids).toHaveLength(250);
    expect([await log.sequence(), await log.sequence(), await log.sequence(), await log.sequence()]).toEqual([100, 100, 50, 0]);
    expect((await log.entries(0, 250)).map(toHex)).toEqual(entries.map(toHex));
    expect((await log.waitSequenced(ids[137]!)).index).toBe(137);
  });

  it('refuses entries a tile bundle cannot carry', async () => {
    const { log } = await freshLog();
    for (const [entry, label] of [
      [new Uint8Array(0), undefined],
      [new Uint8Array(65536), undefined],
      [utf8('x'), new Uint8Array(0)],
      [utf8('x'), new Uint8Array(256)],
    ] as const) {
      await expect(db.transaction((tx) => log.append(tx, entry, label))).rejects.toMatchObject({ code: 'tlog_bad_entry' });
    }
    await db.transaction((tx) => log.append(tx, new Uint8Array(65535).fill(7)));
    expect(await log.sequence()).toBe(1);
    expect((await log.entries(0, 1))[0]!.length).toBe(65535);
  });

  it('leaves no trace of a batch that fails midway (one transaction), then resumes without a gap', async () => {
    const name = `crash-${toHex(randomBytes(3))}`;
    const origin = `test.parley.localhost/logs/${name}`;
    const key = parseSignerKey(generateSignerKey(origin).signerKey);
    let failing = false;
    const flakyOwn: LogSigner = {
      name: key.name,
      keyHash: key.keyHash,
      verifierKey: key.verifierKey,
      sign: (m) => (failing ? Promise.reject(new Error('HSM unavailable')) : key.sign(m)),
    };
    const tlog = await TransparencyLog.open(db, { name, origin, signer: flakyOwn, log: silent, batchSize: 10 });
    const first = Array.from({ length: 15 }, (_, i) => entryOf(i, 'a'));
    await db.transaction((tx) => tlog.appendMany(tx, first.map((entry) => ({ entry }))));
    expect(await tlog.sequence()).toBe(10);
    const before = await tlog.latestCheckpoint();

    failing = true; // the batch dies after hashing, before its write: the whole transaction rolls back
    await expect(tlog.sequence()).rejects.toThrow('HSM unavailable');
    expect(await tlog.latestCheckpoint()).toEqual(before);
    expect(await count('SELECT count(*) AS n FROM tlog_pending WHERE log = $1', [name])).toBe(5);
    expect(await count('SELECT count(*) AS n FROM tlog_entries WHERE log = $1', [name])).toBe(10);
    expect(await count('SELECT count(*) AS n FROM tlog_hashes WHERE log = $1', [name])).toBe(storedHashCount(10));

    failing = false;
    expect(await tlog.sequence()).toBe(5);
    const entries = await tlog.entries(0, 15);
    expect(entries.map(toHex)).toEqual(first.map(toHex));
    await expectHistoryConsistent(tlog, key.verifierKey, entries);
  });

  it('proves inclusion and consistency from stored hashes for any sizes', async () => {
    const { log } = await freshLog({ batchSize: 97 });
    const entries = Array.from({ length: 700 }, (_, i) => entryOf(i));
    await db.transaction((tx) => log.appendMany(tx, entries.map((entry) => ({ entry }))));
    await drain(log);
    const leaves = entries.map((e) => leafHash(e));
    const roots = new Map<number, Uint8Array>();
    const rootOf = (n: number) => roots.get(n) ?? roots.set(n, rootOfLeaves(leaves.slice(0, n))).get(n)!;
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 700 }), fc.integer({ min: 0, max: 699 }), async (size, i) => {
        const index = i % size;
        const proof = await log.inclusionProof(index, size);
        expect(verifyInclusion(leaves[index]!, index, size, proof, rootOf(size))).toBe(true);
      }),
      { numRuns: 60 },
    );
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 700 }), fc.integer({ min: 1, max: 700 }), async (a, b) => {
        const [m, n] = a <= b ? [a, b] : [b, a];
        const proof = await log.consistencyProof(m, n);
        expect(verifyConsistency(m, n, proof, rootOf(m), rootOf(n))).toBe(true);
      }),
      { numRuns: 60 },
    );
    await expect(log.inclusionProof(0, 701)).rejects.toMatchObject({ code: 'tlog_bad_tree_size' });
    await expect(log.inclusionProof(5, 5)).rejects.toMatchObject({ code: 'tlog_invalid_input' });
    await expect(log.consistencyProof(0, 5)).rejects.toMatchObject({ code: 'tlog_invalid_input' });
    await expect(log.consistencyProof(3, 701)).rejects.toMatchObject({ code: 'tlog_bad_tree_size' });
    await expect(log.entries(690, 701)).rejects.toMatchObject({ code: 'tlog_bad_tree_size' });
  });

  it('serves tiles and entry bundles that exist in the tree, at any width up to the current one', async () => {
    const { log } = await freshLog({ batchSize: 500 });
    const entries = Array.from({ length: 600 }, (_, i) => entryOf(i));
    await db.transaction((tx) => log.appendMany(tx, entries.map((entry) => ({ entry }))));
    await drain(log);
    const leaves = entries.map((e) => leafHash(e));
    const hex = (b: Uint8Array) => toHex(b);
    expect(hex(await log.readTile(0, 0, 256))).toBe(leaves.slice(0, 256).map(hex).join(''));
    expect(hex(await log.readTile(0, 2, 88))).toBe(leaves.slice(512, 600).map(hex).join(''));
    expect(hex(await log.readTile(0, 2, 10))).toBe(leaves.slice(512, 522).map(hex).join('')); // an earlier checkpoint's partial tile
    expect(hex(await log.readTile(1, 0, 2))).toBe([rootOfLeaves(leaves.slice(0, 256)), rootOfLeaves(leaves.slice(256, 512))].map(hex).join(''));
    await expect(log.readTile(0, 2, 89)).rejects.toMatchObject({ code: 'tlog_tile_not_found', status: 404 });
    await expect(log.readTile(0, 3, 1)).rejects.toMatchObject({ code: 'tlog_tile_not_found' });
    await expect(log.readTile(1, 0, 3)).rejects.toMatchObject({ code: 'tlog_tile_not_found' });
    await expect(log.readTile(2, 0, 1)).rejects.toMatchObject({ code: 'tlog_tile_not_found' });
    expect(decodeEntryBundle(await log.readEntryBundle(1, 256), 256).map(hex)).toEqual(entries.slice(256, 512).map(hex));
    expect(decodeEntryBundle(await log.readEntryBundle(2, 88), 88).map(hex)).toEqual(entries.slice(512).map(hex));
    await expect(log.readEntryBundle(2, 89)).rejects.toMatchObject({ code: 'tlog_tile_not_found' });
  });

  it('finds sequenced entries by label, in index order', async () => {
    const { log } = await freshLog();
    const alice = utf8('label:alice');
    const bob = utf8('label:bob');
    await db.transaction(async (tx) => {
      await log.append(tx, utf8('a1'), alice);
      await log.append(tx, utf8('b1'), bob);
      await log.append(tx, utf8('none'));
      await log.append(tx, utf8('a2'), alice);
    });
    await drain(log);
    await db.transaction((tx) => log.append(tx, utf8('a3-pending'), alice));
    expect((await log.entriesByLabel(alice)).map((e) => [e.index, new TextDecoder().decode(e.entry)])).toEqual([
      [0, 'a1'],
      [3, 'a2'],
    ]);
    expect((await log.entriesByLabel(bob)).map((e) => e.index)).toEqual([1]);
    expect(await log.entriesByLabel(utf8('label:nobody'))).toEqual([]);
  });

  it('publishes a heartbeat checkpoint of the unchanged tree', async () => {
    const { log, signer } = await freshLog({ heartbeatMs: 150, pollMs: 20 });
    await db.transaction((tx) => log.append(tx, utf8('one')));
    await log.sequence();
    const before = await log.latestCheckpoint();
    expect(await log.heartbeat()).toBe(false); // just published
    log.start();
    await new Promise((r) => setTimeout(r, 700));
    await log.stop();
    const after = await log.latestCheckpoint();
    expect(after.size).toBe(1);
    expect(toHex(after.rootHash)).toBe(toHex(before.rootHash));
    parseCheckpoint(openNote(after.note, [parseVerifierKey(signer.verifierKey)]).text);
    const beats = await count('SELECT count(*) AS n FROM tlog_checkpoints WHERE log = $1 AND tree_size = 1', [log.name]);
    expect(beats).toBeGreaterThanOrEqual(3);
    expect(await count('SELECT count(*) AS n FROM tlog_entries WHERE log = $1', [log.name])).toBe(1);
  });

  it('drains on stop, then refuses appends and pending waits', async () => {
    const { log } = await freshLog();
    const id = await db.transaction((tx) => log.append(tx, utf8('before stop')));
    log.start();
    const waiting = log.waitSequenced(id);
    await log.stop();
    expect(await waiting).toEqual({ index: 0 });
    expect((await log.latestCheckpoint()).size).toBe(1);
    await expect(db.transaction((tx) => log.append(tx, utf8('after')))).rejects.toMatchObject({ code: 'tlog_stopped' });
    await expect(log.waitSequenced(id)).rejects.toMatchObject({ code: 'tlog_stopped' });
  });

  it('times out a wait for an entry nobody sequences', async () => {
    const { log } = await freshLog();
    const id = await db.transaction((tx) => log.append(tx, utf8('never')));
    await expect(log.waitSequenced(id, { timeoutMs: 100 })).rejects.toMatchObject({ code: 'tlog_sequence_timeout', status: 503 });
    await expect(log.waitSequenced('12x')).rejects.toMatchObject({ code: 'tlog_invalid_input' });
  });

  it('keeps its tree across a restart and refuses another origin or key', async () => {
    const dir = ENGINE === 'pglite' ? await mkdtemp(join(tmpdir(), 'parley-tlog-')) : undefined;
    const open = async (): Promise<Database> => {
      if (ENGINE === 'postgres') return new PostgresDatabase({ connectionString: DATABASE_URL, schema: schema! });
      const d = await PgliteDatabase.open({ dataDir: dir! });
      await migrate(d);
      return d;
    };
    try {
      const origin = `test.parley.localhost/logs/restart`;
      const key = generateSignerKey(origin).signerKey;
      const opts = { name: 'restart', origin, log: silent };
      let d = await open();
      let log = await TransparencyLog.open(d, { ...opts, signer: parseSignerKey(key) });
      const entries = Array.from({ length: 300 }, (_, i) => entryOf(i));
      await d.transaction((tx) => log.appendMany(tx, entries.slice(0, 280).map((entry) => ({ entry }))));
      await drain(log);
      const pendingId = await d.transaction((tx) => log.append(tx, entries[280]!)); // accepted, not sequenced
      const first = await log.latestCheckpoint();
      await d.close();

      d = await open();
      await expect(TransparencyLog.open(d, { ...opts, origin: 'test.parley.localhost/logs/other', signer: parseSignerKey(generateSignerKey('test.parley.localhost/logs/other').signerKey) })).rejects.toMatchObject({
        code: 'tlog_origin_mismatch',
      });
      await expect(TransparencyLog.open(d, { ...opts, signer: parseSignerKey(generateSignerKey(origin).signerKey) })).rejects.toMatchObject({ code: 'tlog_key_mismatch' });
      log = await TransparencyLog.open(d, { ...opts, signer: parseSignerKey(key) });
      expect(await log.latestCheckpoint()).toEqual(first);
      log.start(); // picks up the entry accepted before the restart
      expect(await log.waitSequenced(pendingId)).toEqual({ index: 280 });
      await d.transaction((tx) => log.appendMany(tx, entries.slice(281).map((entry) => ({ entry }))));
      log.kick();
      await log.stop();
      const now = await log.latestCheckpoint();
      expect(now.size).toBe(300);
      expect(verifyConsistency(first.size, now.size, await log.consistencyProof(first.size, now.size), first.rootHash, now.rootHash)).toBe(true);
      expect(toHex(now.rootHash)).toBe(toHex(rootOfLeaves(entries.map((e) => leafHash(e)))));
      if (ENGINE === 'postgres') await d.query('DELETE FROM tlogs WHERE name = $1', ['restart']);
      await d.close();
    } finally {
      if (dir) await rm(dir, { recursive: true, force: true });
    }
  });

  // Skipped on PGlite, with a note: an embedded database belongs to one process, so two engine
  // instances cannot share it; the CI PostgreSQL leg runs this test.
  if (ENGINE !== 'postgres') console.log('tlog: two engine instances on one database: skipped on embedded PGlite (one process only; the PostgreSQL leg runs it)');
  it.runIf(ENGINE === 'postgres')('two engine instances on one PostgreSQL sequence concurrently without gaps, duplicates or forks', async () => {
    const nodes = [0, 1].map(() => new PostgresDatabase({ connectionString: DATABASE_URL, schema: schema! }));
    try {
      const name = `multi-${toHex(randomBytes(3))}`;
      const origin = `test.parley.localhost/logs/${name}`;
      const key = generateSignerKey(origin).signerKey;
      // Both open at once: the log row is created exactly once.
      const logs = await Promise.all(nodes.map((d) => TransparencyLog.open(d, { name, origin, signer: parseSignerKey(key), log: silent, batchSize: 25, debounceMs: 1, heartbeatMs: 200, pollMs: 30 })));
      logs.forEach((l) => l.start());
      const appended: { id: string; entry: Uint8Array; node: number }[] = [];
      await Promise.all(
        Array.from({ length: 20 }, async (_, w) => {
          const node = w % 2;
          for (let i = 0; i < 30; i++) {
            const entry = entryOf(w * 100 + i, `n${node}`);
            const id = await nodes[node]!.transaction((tx) => logs[node]!.append(tx, entry));
            logs[node]!.kick();
            appended.push({ id, entry, node });
          }
        }),
      );
      // Waits on the OTHER node: it learns the index from the table.
      const indexes = await Promise.all(appended.map((a) => logs[1 - a.node]!.waitSequenced(a.id, { timeoutMs: 20_000 })));
      await Promise.all(logs.map((l) => l.stop()));
      const n = appended.length;
      expect(new Set(indexes.map((x) => x.index)).size).toBe(n);
      const cp = await logs[0]!.latestCheckpoint();
      expect(cp.size).toBe(n);
      const entries = await logs[0]!.entries(0, n);
      appended.forEach((a, i) => expect(toHex(entries[indexes[i]!.index]!)).toBe(toHex(a.entry)));
      expect(toHex(cp.rootHash)).toBe(toHex(rootOfLeaves(entries.map((e) => leafHash(e)))));
      await expectHistoryConsistent(logs[0]!, parseSignerKey(key).verifierKey, entries);
      const creators = await count('SELECT count(*) AS n FROM tlog_checkpoints WHERE log = $1 AND tree_size = 0', [name]);
      expect(creators).toBe(1);
    } finally {
      await Promise.all(nodes.map((d) => d.close()));
    }
  });
});
