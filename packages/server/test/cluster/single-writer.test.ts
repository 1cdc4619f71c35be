/**
 * Single-writer work across nodes, on the machine's PostgreSQL (a schema per test):
 * three "nodes" (own connection pools, own TransparencyLog engines, one shared key)
 * sequence one log concurrently; a node dies in the middle of a batch (its socket is
 * cut while it holds the log lock with entries moved); heartbeats and the retention
 * sweep run once per interval across the nodes. After each, the log is checked from
 * the database alone: contiguous indexes, every accepted entry exactly once, and every
 * checkpoint ever signed is a prefix of the final tree (no fork).
 */
import { afterAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import pino from 'pino';
import { randomBytes, utf8 } from '@parley/core';
import { leafHash, openNote, parseCheckpoint, parseVerifierKey, rootOfLeaves } from '@parley/core/tlog';
import { migrate } from '../../src/storage/migrate.js';
import { PostgresDatabase } from '../../src/storage/postgres.js';
import { claimJob, finishJob } from '../../src/storage/cluster-jobs.js';
import { TransparencyLog, loadLogSigner } from '../../src/tlog/index.js';
import { lockLog, sequencePending } from '../../src/tlog/store.js';
import { MACHINE_PG, cleanup, eventually, freshSchema, openSchema, reachable, sleep, tempDir } from './cluster-helpers.js';

const pgUrl = new URL(MACHINE_PG);
const pgUp = await reachable(pgUrl.hostname, Number(pgUrl.port || 5432));
if (!pgUp) console.log(`single-writer tests skipped: PostgreSQL at ${pgUrl.host} unreachable`);
const silent = pino({ level: 'silent' });
const ORIGIN = 'parley.test/logs/cluster';

afterAll(cleanup, 30_000);

interface Nodes {
  schema: string;
  dbs: PostgresDatabase[];
  logs: TransparencyLog[];
  verifierKey: string;
}

async function nodes(n: number, opts: { heartbeatMs?: number; batchSize?: number } = {}): Promise<Nodes> {
  const { schema } = await freshSchema(MACHINE_PG);
  const dbs = Array.from({ length: n }, () => openSchema(MACHINE_PG, schema));
  await Promise.all(dbs.map((db) => migrate(db))); // concurrent migrations: advisory lock
  const signer = await loadLogSigner({ dir: tempDir('parley-sw-keys-'), logName: 'cluster', origin: ORIGIN, log: silent });
  const logs: TransparencyLog[] = [];
  for (const db of dbs) {
    logs.push(await TransparencyLog.open(db, { name: 'cluster', origin: ORIGIN, signer, log: silent, pollMs: 20, debounceMs: 1, batchSize: opts.batchSize ?? 64, heartbeatMs: opts.heartbeatMs ?? 60_000 }));
  }
  return { schema, dbs, logs, verifierKey: signer.verifierKey };
}

async function close(n: Nodes): Promise<void> {
  await Promise.all(n.logs.map((l) => l.stop()));
  await Promise.all(n.dbs.map((d) => d.close()));
}

/** Checks the stored log against the accepted entries: no gap, no duplicate, no fork. */
async function checkLog(db: PostgresDatabase, verifierKey: string, accepted: Map<string, string>): Promise<{ size: number; checkpoints: number }> {
  const pending = await db.query<{ n: string }>("SELECT count(*) AS n FROM tlog_pending WHERE log = 'cluster'");
  expect(Number(pending[0]!.n)).toBe(0);
  const rows = await db.query<{ idx: string; entry: Uint8Array; pending_id: string }>("SELECT idx, entry, pending_id FROM tlog_entries WHERE log = 'cluster' ORDER BY idx");
  // Contiguous indexes 0..n-1.
  rows.forEach((r, i) => expect(Number(r.idx)).toBe(i));
  // Every accepted entry exactly once, under the pending id it was accepted with, and nothing else.
  expect(rows.length).toBe(accepted.size);
  const byPending = new Map(rows.map((r) => [r.pending_id, Buffer.from(r.entry).toString('utf8')]));
  expect(byPending.size).toBe(rows.length);
  for (const [id, text] of accepted) expect(byPending.get(id)).toBe(text);
  // The head and every checkpoint ever published: signed by the key, and the root of a prefix of this tree.
  const leaves = rows.map((r) => leafHash(new Uint8Array(r.entry)));
  const head = (await db.query<{ tree_size: string; root_hash: Uint8Array }>("SELECT tree_size, root_hash FROM tlogs WHERE name = 'cluster'"))[0]!;
  expect(Number(head.tree_size)).toBe(rows.length);
  expect(Buffer.from(head.root_hash).equals(Buffer.from(rootOfLeaves(leaves)))).toBe(true);
  const verifier = parseVerifierKey(verifierKey);
  const history = await db.query<{ tree_size: string; note: string }>("SELECT tree_size, note FROM tlog_checkpoints WHERE log = 'cluster' ORDER BY id");
  let last = 0;
  const roots = new Map<number, string>();
  for (const h of history) {
    const cp = parseCheckpoint(openNote(h.note, [verifier]).text);
    expect(cp.treeSize).toBe(Number(h.tree_size));
    expect(cp.treeSize).toBeGreaterThanOrEqual(last); // the history never goes back
    last = cp.treeSize;
    let root = roots.get(cp.treeSize);
    if (root === undefined) roots.set(cp.treeSize, (root = Buffer.from(rootOfLeaves(leaves.slice(0, cp.treeSize))).toString('hex')));
    expect(Buffer.from(cp.rootHash).toString('hex')).toBe(root);
  }
  return { size: rows.length, checkpoints: history.length };
}

describe.skipIf(!pgUp)('single writer across nodes', () => {
  it('three nodes sequencing one log concurrently: no gap, no duplicate, no fork', async () => {
    const n = await nodes(3, { batchSize: 16 });
    try {
      n.logs.forEach((l) => l.start());
      const accepted = new Map<string, string>();
      let stop = false;
      // An extra sequencer per node, hammering the lock outside the loops.
      const hammer = n.logs.map(async (l) => {
        while (!stop) await l.sequence();
      });
      await Promise.all(
        n.logs.map(async (log, node) => {
          const db = n.dbs[node]!;
          for (let i = 0; i < 40; i++) {
            const texts = Array.from({ length: 1 + (i % 5) }, (_x, k) => `node ${node} tx ${i} entry ${k} ${Buffer.from(randomBytes(4)).toString('hex')}`);
            const ids = await db.transaction((tx) => log.appendMany(tx, texts.map((t) => ({ entry: utf8(t) }))));
            ids.forEach((id, k) => accepted.set(id, texts[k]!));
            log.kick();
          }
        }),
      );
      await eventually('every entry sequenced', async () => (await n.dbs[0]!.query("SELECT 1 FROM tlog_pending WHERE log = 'cluster' LIMIT 1")).length === 0);
      stop = true;
      await Promise.all(hammer);
      const { size, checkpoints } = await checkLog(n.dbs[0]!, n.verifierKey, accepted);
      expect(size).toBe(accepted.size);
      expect(checkpoints).toBeGreaterThan(3);
    } finally {
      await close(n);
    }
  });

  it('a node that dies mid-batch (holding the lock, entries moved) leaves no gap, no duplicate and no fork', async () => {
    const n = await nodes(2);
    try {
      const accepted = new Map<string, string>();
      for (let i = 0; i < 30; i++) {
        const text = `before ${i}`;
        accepted.set(await n.logs[0]!.appendNow(utf8(text)), text);
      }
      // The dying node: its own connection, mid-batch: lock held, pending entries moved into the tree.
      const url = new URL(MACHINE_PG);
      url.searchParams.set('options', `-c search_path=${n.schema}`);
      const dying = new pg.Client({ connectionString: url.toString() });
      dying.on('error', () => {});
      await dying.connect();
      const dyingSql = { query: async <R extends object>(text: string, params?: readonly unknown[]) => (await dying.query(text, params as unknown[])).rows as R[], transaction: () => Promise.reject(new Error('no')) };
      await dying.query('BEGIN');
      const head = await lockLog(dyingSql, 'cluster', 60_000);
      const moved = await sequencePending(dyingSql, 'cluster', head.treeSize, 1000);
      expect(moved.length).toBe(30);
      // Meanwhile the other node wants the lock (and more entries arrive).
      for (let i = 0; i < 10; i++) {
        const text = `during ${i}`;
        accepted.set(await n.logs[1]!.appendNow(utf8(text)), text);
      }
      const other = n.logs[1]!.sequence();
      await sleep(100);
      // kill -9: the TCP connection drops without COMMIT or ROLLBACK.
      (dying as unknown as { connection: { stream: { destroy(): void } } }).connection.stream.destroy();
      const count = await other;
      expect(count).toBe(40); // the survivor sequenced everything, the dead batch included
      const { size } = await checkLog(n.dbs[1]!, n.verifierKey, accepted);
      expect(size).toBe(40);
    } finally {
      await close(n);
    }
  });

  it('heartbeat checkpoints: one per interval across three nodes, not one per node', async () => {
    const heartbeatMs = 300;
    const n = await nodes(3, { heartbeatMs });
    try {
      const before = Number((await n.dbs[0]!.query<{ n: string }>("SELECT count(*) AS n FROM tlog_checkpoints WHERE log = 'cluster'"))[0]!.n);
      n.logs.forEach((l) => l.start());
      const ran = 2100;
      await sleep(ran);
      await Promise.all(n.logs.map((l) => l.stop()));
      const rows = await n.dbs[0]!.query<{ at: Date }>("SELECT created_at AS at FROM tlog_checkpoints WHERE log = 'cluster' ORDER BY id");
      const beats = rows.length - before;
      expect(beats).toBeGreaterThanOrEqual(3);
      expect(beats).toBeLessThanOrEqual(Math.ceil(ran / heartbeatMs) + 1);
      // Spaced by the interval on the database clock.
      for (let i = 2; i < rows.length; i++) expect(rows[i]!.at.getTime() - rows[i - 1]!.at.getTime()).toBeGreaterThanOrEqual(heartbeatMs - 5);
      await checkLog(n.dbs[0]!, n.verifierKey, new Map());
    } finally {
      await close(n);
    }
  });

  it('the retention sweep is claimed by exactly one node per interval (fenced runs)', async () => {
    const { schema } = await freshSchema(MACHINE_PG);
    const dbs = Array.from({ length: 3 }, () => openSchema(MACHINE_PG, schema));
    try {
      await Promise.all(dbs.map((db) => migrate(db)));
      const intervalMs = 200;
      const wins: { node: number; fence: string }[] = [];
      const deadline = Date.now() + 1500;
      await Promise.all(
        dbs.map(async (db, node) => {
          while (Date.now() < deadline) {
            const claim = await claimJob(db, 'retention-sweep', intervalMs, `node-${node}`);
            if (claim) {
              wins.push({ node, fence: claim.fence });
              expect(await finishJob(db, claim)).toBe(true);
            }
            await sleep(5);
          }
        }),
      );
      const fences = wins.map((w) => Number(w.fence));
      expect(new Set(fences).size).toBe(fences.length); // no run claimed twice
      expect(fences.length).toBeGreaterThanOrEqual(5);
      expect(fences.length).toBeLessThanOrEqual(Math.ceil(1500 / intervalMs) + 1);
      // A stale claimant cannot finish a later run.
      const late = await claimJob(dbs[0]!, 'retention-sweep', 0, 'node-0');
      const later = await claimJob(dbs[1]!, 'retention-sweep', 0, 'node-1');
      expect(await finishJob(dbs[0]!, late!)).toBe(false);
      expect(await finishJob(dbs[1]!, later!)).toBe(true);
    } finally {
      await Promise.all(dbs.map((d) => d.close()));
    }
  });
});
