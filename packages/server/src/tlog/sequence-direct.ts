/**
 * Sequencing inside the appending transaction: the caller's transaction puts its entries
 * straight into the tree at the next indexes with their hashes, and publishes the signed
 * checkpoint, so the entries are sequenced the moment that transaction commits: no pending
 * row, no second transaction, no wait. A rollback takes everything back. The log's row lock
 * (the one sequencer batches take) orders appenders; the log's order is the commit order.
 *
 * Usually ONE statement: the batch is computed on top of the head this node computed last
 * ({@link FrontierCache.latest}, which may belong to a transaction still running; this
 * node's direct appends take turns from computing to the written statement), and the
 * statement moves the head only if it is still that one: its UPDATE waits for the row lock
 * of a running appender, then compares the committed head (READ COMMITTED applies SET to
 * the row version the wait ends on), and every insert of the statement depends on it. If another node, a sequencer batch or a rollback moved
 * the head elsewhere, nothing was written and the batch is computed again under the lock
 * (`lockLog`, then the same statement unconditionally).
 */
import { createHash } from 'node:crypto';
import { treeHash, formatCheckpoint, signNote } from '@parley/core/tlog';
import type { Sql } from '../storage/database.js';
import { appendLeaves, frontierIndexes, type BatchParams } from './sequence-batch.js';
import { lockLog, missingHash, readHashes, toB64 } from './store.js';

/** RFC 6962 leaf hash SHA-256(0x00 ‖ entry), through node:crypto. */
function leafHashFast(entry: Uint8Array): Uint8Array {
  const digest = createHash('sha256').update(new Uint8Array([0])).update(entry).digest();
  return new Uint8Array(digest.buffer, digest.byteOffset, digest.byteLength);
}

interface Head {
  readonly size: number;
  readonly root: Uint8Array;
  /** The head's frontier: stored hash index → hash. */
  readonly frontier: ReadonlyMap<number, Uint8Array>;
}

/**
 * The frontier hashes of the last tree heads this node computed, by (size, root). A head
 * with this size and root hash has exactly these complete subtrees (the root commits to
 * every leaf), whether or not the batch that computed them committed, so a hit is sound.
 */
export class FrontierCache {
  #heads: Head[] = [];
  #turn: Promise<void> = Promise.resolve();

  /**
   * Runs `fn` after the direct appends of this node that came before it: each computes on
   * the head the previous one wrote (or locked), so none guesses a head that a concurrent
   * fallback is about to replace.
   */
  async exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const previous = this.#turn;
    let done!: () => void;
    this.#turn = new Promise<void>((resolve) => (done = resolve));
    try {
      await previous;
      return await fn();
    } finally {
      done();
    }
  }

  /** The head this node computed last (its transaction may still run, or have rolled back). */
  get latest(): Head | undefined {
    return this.#heads[0];
  }

  get(size: number, root: Uint8Array): ReadonlyMap<number, Uint8Array> | undefined {
    const key = toB64(root);
    return this.#heads.find((e) => e.size === size && toB64(e.root) === key)?.frontier;
  }

  set(head: Head): void {
    this.#heads = [head, ...this.#heads].slice(0, 4);
  }
}

export interface DirectResult {
  readonly treeSize: number;
  /** Leaf index of each item, in input order. */
  readonly indexes: readonly number[];
}

type Items = readonly { entry: Uint8Array; label?: Uint8Array | undefined }[];

interface Computed {
  readonly from: number;
  readonly firstHashIndex: number;
  readonly hashes: readonly Uint8Array[];
  readonly head: Head;
  readonly checkpoint: string;
}

/** The batch's stored hashes, new root and signed checkpoint on top of `size` with `known` frontier hashes. */
async function compute(p: BatchParams, size: number, known: Map<number, Uint8Array>, items: Items): Promise<Computed> {
  const { firstHashIndex, hashes, read } = await appendLeaves(size, items.map((item) => leafHashFast(item.entry)), known);
  const treeSize = size + items.length;
  const rootHash = await treeHash(treeSize, read);
  const frontier = new Map<number, Uint8Array>();
  for (const x of frontierIndexes(treeSize)) frontier.set(x, (await read([x]))[0]!);
  const checkpoint = await signNote(formatCheckpoint({ origin: p.origin, treeSize, rootHash }), p.signers);
  return { from: size, firstHashIndex, hashes, head: { size: treeSize, root: rootHash, frontier }, checkpoint };
}

/**
 * Writes a computed batch in ONE statement. With `expected`, only if the log's head is still
 * `expected` (after waiting for a running appender): resolves whether it wrote.
 */
async function write(tx: Sql, p: BatchParams, c: Computed, items: Items, expected?: { size: number; root: Uint8Array }): Promise<boolean> {
  const rows = await tx.query<{ n: string }>(
    `WITH updated AS (
       -- The condition sits in SET, not WHERE: WHERE is checked on this statement's snapshot
       -- (before a running appender commits), SET on the row version the lock wait ends on.
       UPDATE tlogs SET
         tree_size = CASE WHEN $10::boolean OR (tree_size = $9::bigint AND root_hash = $11) THEN $4::bigint ELSE tree_size END,
         root_hash = CASE WHEN $10::boolean OR (tree_size = $9::bigint AND root_hash = $11) THEN $6 ELSE root_hash END,
         checkpoint = CASE WHEN $10::boolean OR (tree_size = $9::bigint AND root_hash = $11) THEN $5 ELSE checkpoint END,
         checkpoint_at = CASE WHEN $10::boolean OR (tree_size = $9::bigint AND root_hash = $11) THEN clock_timestamp() ELSE checkpoint_at END
       WHERE name = $1
       RETURNING tree_size = $4::bigint AND root_hash = $6 AS applied
     ), head AS (
       SELECT 1 FROM updated WHERE applied
     ), input AS (
       SELECT e, l, ord, nextval('tlog_pending_id_seq') AS id
       FROM unnest(string_to_array($7, ','), string_to_array($8, ',')) WITH ORDINALITY AS t(e, l, ord)
       WHERE EXISTS (SELECT 1 FROM head)
     ), entries AS (
       INSERT INTO tlog_entries (log, idx, entry, label, pending_id)
       SELECT $1, $9::bigint + ord - 1, decode(e, 'base64'), decode(NULLIF(l, ''), 'base64'), id FROM input
     ), hashes AS (
       INSERT INTO tlog_hashes (log, idx, hash)
       SELECT $1, $2::bigint + ord - 1, decode(h, 'base64')
       FROM unnest(string_to_array($3, ',')) WITH ORDINALITY AS t(h, ord)
       WHERE EXISTS (SELECT 1 FROM head)
     ), history AS (
       INSERT INTO tlog_checkpoints (log, tree_size, note) SELECT $1, $4::bigint, $5 FROM head
     )
     SELECT count(*) AS n FROM head`,
    [
      p.log,
      String(c.firstHashIndex),
      c.hashes.map(toB64).join(','),
      String(c.head.size),
      c.checkpoint,
      c.head.root,
      // Entries are never empty, so no element is; an absent label is ''.
      items.map((i) => toB64(i.entry)).join(','),
      items.map((i) => (i.label === undefined ? '' : toB64(i.label))).join(','),
      String(c.from),
      expected === undefined,
      expected?.root ?? c.head.root,
    ],
  );
  return Number(rows[0]?.n ?? 0) === 1;
}

/**
 * Appends `items` to the log's tree inside `tx` (a transaction) and publishes the
 * checkpoint that covers them; resolves with their indexes. Holds the log's row lock
 * until `tx` ends.
 *
 * @example
 * const { indexes } = await sequenceDirect(tx, params, [{ entry, label }], cache);
 */
export function sequenceDirect(tx: Sql, p: BatchParams, items: Items, cache: FrontierCache): Promise<DirectResult> {
  // One at a time per node, from computing to the written statement (not to the commit).
  return cache.exclusive(() => sequenceDirectNow(tx, p, items, cache));
}

async function sequenceDirectNow(tx: Sql, p: BatchParams, items: Items, cache: FrontierCache): Promise<DirectResult> {
  const guess = cache.latest;
  if (guess !== undefined) {
    const c = await compute(p, guess.size, new Map(guess.frontier), items);
    cache.set(c.head);
    if (await write(tx, p, c, items, guess)) return { treeSize: c.head.size, indexes: items.map((_i, k) => guess.size + k) };
  }
  // The head moved elsewhere (or this node never wrote one): under the lock, from the stored head.
  const head = await lockLog(tx, p.log, p.heartbeatMs);
  const size = head.treeSize;
  const known = new Map<number, Uint8Array>(cache.get(size, head.rootHash));
  const absent = frontierIndexes(size).filter((x) => !known.has(x));
  if (absent.length > 0) {
    const stored = await readHashes(tx, p.log, absent);
    absent.forEach((x, i) => {
      const h = stored[i];
      if (h === undefined) throw missingHash(x);
      known.set(x, h);
    });
  }
  const c = await compute(p, size, known, items);
  cache.set(c.head);
  await write(tx, p, c, items);
  return { treeSize: c.head.size, indexes: items.map((_i, k) => size + k) };
}
