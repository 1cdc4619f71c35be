/**
 * One sequencing batch: pending entries become leaves of the tree, with their stored
 * hashes, the new root and a signed checkpoint, in the caller's (single) transaction.
 *
 * The hashes a batch needs from earlier batches are exactly the old tree's "frontier":
 * the maximal complete subtrees that make up leaves [0, size) (at most log2(size)+1 of
 * them). Every sibling a new leaf completes a subtree with, and every part of the new
 * root's decomposition, is either one of those or a hash the batch itself computes. So
 * a batch reads the frontier in one query and computes everything else in memory.
 */
import { storedHashCount, storedHashIndex, storedHashesForRecordHash, treeHash, formatCheckpoint, signNote, type ReadHashes, type Signer } from '@parley/core/tlog';
import type { Sql } from '../storage/database.js';
import { lockLog, missingHash, readHashes, sequencePending, storeBatchHead, storeHeartbeat } from './store.js';

/**
 * Stored-hash indexes of the complete subtrees that make up leaves [0, size), largest first
 * (RFC 6962 §2.1's decomposition of the tree into perfect subtrees).
 *
 * @example
 * frontierIndexes(3) // [storedHashIndex(1, 0), storedHashIndex(0, 2)] = [2, 3]
 */
export function frontierIndexes(size: number): number[] {
  const out: number[] = [];
  let lo = 0;
  while (lo < size) {
    let k = 1;
    let level = 0;
    while (k * 2 <= size - lo) {
      k *= 2;
      level++;
    }
    out.push(storedHashIndex(level, lo / k));
    lo += k;
  }
  return out;
}

export interface BatchParams {
  readonly log: string;
  readonly origin: string;
  /** Every checkpoint is signed by these, in order: the current key, then the next key during a rotation. */
  readonly signers: readonly Signer[];
  readonly batchSize: number;
  readonly heartbeatMs: number;
}

export interface BatchResult {
  /** Entries sequenced (0 when nothing was pending). */
  readonly count: number;
  readonly treeSize: number;
  /** Pending id → leaf index, for the entries of this batch. */
  readonly indexes: ReadonlyMap<string, number>;
}

/**
 * Adds leaves (their RFC 6962 leaf hashes) to a tree of `size` leaves whose frontier hashes
 * are in `known`: the stored hashes they complete, from index `storedHashCount(size)` on, are
 * computed in memory and added to `known`; `read` serves any of them (the new root, the new
 * frontier) and fails on a hash that was never known.
 *
 * @example
 * const { hashes, read } = await appendLeaves(size, [leafHash], known);
 */
export async function appendLeaves(
  size: number,
  leafHashes: readonly Uint8Array[],
  known: Map<number, Uint8Array>,
): Promise<{ firstHashIndex: number; hashes: Uint8Array[]; read: ReadHashes }> {
  const read: ReadHashes = (indexes) =>
    Promise.resolve(
      indexes.map((x) => {
        const h = known.get(x);
        if (h === undefined) throw missingHash(x);
        return h;
      }),
    );
  const firstHashIndex = storedHashCount(size);
  let next = firstHashIndex;
  const hashes: Uint8Array[] = [];
  for (const [i, leafHash] of leafHashes.entries()) {
    for (const h of await storedHashesForRecordHash(size + i, leafHash, read)) {
      known.set(next++, h);
      hashes.push(h);
    }
  }
  return { firstHashIndex, hashes, read };
}

/**
 * Runs one batch inside `tx` (which must be a transaction: the lock, the deletes and the
 * writes commit or roll back together, so a crash leaves no gap, duplicate or fork).
 * Round trips: lock, move pending entries into the tree (the database returns their leaf
 * hashes), read the frontier, store hashes and checkpoint.
 *
 * @example
 * const { count } = await db.transaction((tx) => sequenceBatch(tx, params));
 */
export async function sequenceBatch(tx: Sql, p: BatchParams): Promise<BatchResult> {
  const head = await lockLog(tx, p.log, p.heartbeatMs);
  const size = head.treeSize;
  const taken = await sequencePending(tx, p.log, size, p.batchSize);
  if (taken.length === 0) return { count: 0, treeSize: size, indexes: new Map() };

  const frontier = frontierIndexes(size);
  const known = new Map<number, Uint8Array>();
  const stored = await readHashes(tx, p.log, frontier);
  frontier.forEach((x, i) => {
    const h = stored[i];
    if (h === undefined) throw missingHash(x);
    known.set(x, h);
  });
  const { firstHashIndex, hashes, read } = await appendLeaves(size, taken.map((e) => e.leafHash), known);
  const indexes = new Map(taken.map((e) => [e.id, e.index] as const));
  const treeSize = size + taken.length;
  const rootHash = await treeHash(treeSize, read);
  const checkpoint = await signNote(formatCheckpoint({ origin: p.origin, treeSize, rootHash }), p.signers);
  await storeBatchHead(tx, { log: p.log, firstHashIndex, hashes, treeSize, rootHash, checkpoint });
  return { count: taken.length, treeSize, indexes };
}

/**
 * Re-signs the current tree head when the last checkpoint is older than the heartbeat
 * (on the database clock, so nodes agree). Changes nothing but the checkpoint's time
 * and the history. Returns whether it published.
 *
 * @example
 * await db.transaction((tx) => publishHeartbeat(tx, params));
 */
export async function publishHeartbeat(tx: Sql, p: BatchParams): Promise<boolean> {
  const head = await lockLog(tx, p.log, p.heartbeatMs);
  if (!head.heartbeatDue) return false;
  const checkpoint = await signNote(formatCheckpoint({ origin: p.origin, treeSize: head.treeSize, rootHash: head.rootHash }), p.signers);
  await storeHeartbeat(tx, p.log, head.treeSize, checkpoint);
  return true;
}
