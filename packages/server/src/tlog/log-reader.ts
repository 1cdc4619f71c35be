/**
 * Reading a transparency log from its stored hashes and entries only: the latest
 * checkpoint, entries (by range or label), RFC 9162 inclusion and consistency proofs, and
 * the C2SP tlog-tiles resources (tiles and entry bundles). Any node can serve these; the
 * writing side is transparency-log.ts.
 */
import { InvalidInputError, NotFoundError, ParleyError } from '@parley/core';
import { TILE_WIDTH, encodeEntryBundle, proveRecord, proveTree, tileStoredHashIndexes, type ReadHashes } from '@parley/core/tlog';
import type { Database } from '../storage/database.js';
import { beyondTree, checkIndex, isLabel, positiveInt } from './argument-checks.js';
import { entriesWithLabel, getLog, missingHash, readEntries, readHashes, type LogRow } from './store.js';

/** Most entries `entries()` returns at once. */
export const MAX_ENTRIES_READ = 10_000;

/**
 * A signed tree head.
 *
 * @example
 * const { size, rootHash, note } = await log.latestCheckpoint();
 */
export interface LatestCheckpoint {
  readonly size: number;
  readonly rootHash: Uint8Array;
  /** The checkpoint as a signed note (what `<prefix>/checkpoint` serves). */
  readonly note: string;
}

/**
 * The read side of {@link TransparencyLog} (which extends it).
 *
 * @example
 * const cp = await keyLog.latestCheckpoint();
 * const proof = await keyLog.inclusionProof(index, cp.size);
 */
export class TransparencyLogReader {
  /** Short name: URL segment and row key (`keys`, `audit`). */
  readonly name: string;
  readonly #db: Database;
  readonly #readHashes: ReadHashes;

  protected constructor(db: Database, name: string) {
    this.#db = db;
    this.name = name;
    this.#readHashes = async (indexes) => {
      const hashes = await readHashes(this.#db, this.name, indexes);
      return hashes.map((h, i) => {
        if (h === undefined) throw missingHash(indexes[i]);
        return h;
      });
    };
  }

  async #head(): Promise<LogRow> {
    const row = await getLog(this.#db, this.name);
    if (row === undefined) throw new ParleyError('tlog_corrupt', 'transparency log row is missing', { status: 500 });
    return row;
  }

  /**
   * The latest checkpoint: tree size, root hash and the signed note.
   *
   * @example
   * const cp = await keyLog.latestCheckpoint();
   */
  async latestCheckpoint(): Promise<LatestCheckpoint> {
    const row = await this.#head();
    return { size: row.treeSize, rootHash: row.rootHash, note: row.checkpoint };
  }

  /**
   * Sequenced entries with this label, by ascending index (at most `limit`, default 10,000).
   *
   * @example
   * const history = await keyLog.entriesByLabel(labelOf(identityId));
   */
  async entriesByLabel(label: Uint8Array, limit = MAX_ENTRIES_READ): Promise<{ index: number; entry: Uint8Array }[]> {
    if (!isLabel(label)) {
      throw new InvalidInputError('a log label is 1 to 255 bytes', { code: 'tlog_invalid_input', details: { field: 'label' } });
    }
    return entriesWithLabel(this.#db, this.name, label, positiveInt(limit, MAX_ENTRIES_READ, 'limit'));
  }

  /**
   * Entries [from, to) of the current tree (at most 10,000 at once).
   *
   * @example
   * const [first] = await keyLog.entries(0, 1);
   */
  async entries(from: number, to: number): Promise<Uint8Array[]> {
    checkIndex(from, 'from');
    checkIndex(to, 'to');
    if (from > to || to - from > MAX_ENTRIES_READ) {
      throw new InvalidInputError('entries are read in ranges of up to 10000', { code: 'tlog_invalid_input', details: { field: 'to' } });
    }
    if (from === to) return [];
    const head = await this.#head();
    if (to > head.treeSize) throw beyondTree('to', head.treeSize);
    const out = await readEntries(this.#db, this.name, from, to);
    if (out.length !== to - from) throw new ParleyError('tlog_corrupt', 'sequenced entries are missing', { status: 500 });
    return out;
  }

  /**
   * RFC 9162 §2.1.3 inclusion proof of leaf `index` in the tree of `treeSize` leaves (any
   * size up to the current one), from stored hashes.
   *
   * @example
   * const proof = await keyLog.inclusionProof(index, cp.size);
   * verifyInclusion(leafHash(entry), index, cp.size, proof, cp.rootHash) // true
   */
  async inclusionProof(index: number, treeSize: number): Promise<Uint8Array[]> {
    checkIndex(index, 'index');
    checkIndex(treeSize, 'treeSize');
    if (index >= treeSize) throw new InvalidInputError('index must be below the tree size', { code: 'tlog_invalid_input', details: { field: 'index' } });
    const head = await this.#head();
    if (treeSize > head.treeSize) throw beyondTree('treeSize', head.treeSize);
    return proveRecord(treeSize, index, this.#readHashes);
  }

  /**
   * RFC 9162 §2.1.4 consistency proof from the tree of `from` leaves to the tree of `to`
   * leaves (1 ≤ from ≤ to ≤ current size), from stored hashes.
   *
   * @example
   * const proof = await keyLog.consistencyProof(old.size, now.size);
   * verifyConsistency(old.size, now.size, proof, old.rootHash, now.rootHash) // true
   */
  async consistencyProof(from: number, to: number): Promise<Uint8Array[]> {
    checkIndex(from, 'from');
    checkIndex(to, 'to');
    if (from < 1 || from > to) throw new InvalidInputError('consistency proofs need 1 ≤ from ≤ to', { code: 'tlog_invalid_input', details: { field: 'from' } });
    const head = await this.#head();
    if (to > head.treeSize) throw beyondTree('to', head.treeSize);
    return proveTree(to, from, this.#readHashes);
  }

  /**
   * The data of tile (level, index, width) — `width` × 32 bytes — if the current tree has
   * that tile at least that wide (narrower partial tiles of earlier checkpoints stay
   * available: a tile's first W hashes never change). Throws `tlog_tile_not_found` (404).
   *
   * @example
   * const data = await keyLog.readTile(0, 3, 256);
   */
  async readTile(level: number, index: number, width: number): Promise<Uint8Array> {
    const indexes = tileStoredHashIndexes({ level, index, width }); // validates the coordinates
    // A stored hash exists exactly when its subtree is complete in the committed tree.
    const hashes = await readHashes(this.#db, this.name, indexes);
    if (hashes.some((h) => h === undefined)) throw new NotFoundError('tlog_tile_not_found', 'the log has no such tile', { details: { level, index, width } });
    return Buffer.concat(hashes as Uint8Array[]);
  }

  /**
   * Entry bundle `index` of `width` entries (tlog-tiles: uint16 length-prefixed entries),
   * if the current tree has that many entries in it. Throws `tlog_tile_not_found` (404).
   *
   * @example
   * const bundle = await keyLog.readEntryBundle(0, 256);
   */
  async readEntryBundle(index: number, width: number): Promise<Uint8Array> {
    checkIndex(index, 'index');
    if (!Number.isInteger(width) || width < 1 || width > TILE_WIDTH) throw new InvalidInputError('tile width must be 1 to 256', { code: 'tlog_invalid_input', details: { field: 'width' } });
    const from = index * TILE_WIDTH;
    if (!Number.isSafeInteger(from + width)) throw new NotFoundError('tlog_tile_not_found', 'the log has no such entry bundle', { details: { index, width } });
    const entries = await readEntries(this.#db, this.name, from, from + width);
    if (entries.length < width) throw new NotFoundError('tlog_tile_not_found', 'the log has no such entry bundle', { details: { index, width } });
    return encodeEntryBundle(entries);
  }
}
