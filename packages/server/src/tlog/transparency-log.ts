/**
 * The transparency-log engine: one RFC 6962/9162 Merkle tree per log, stored in the
 * server's database, checkpointed as C2SP tlog-checkpoint signed notes (Ed25519) and
 * read as C2SP tlog-tiles. The same class serves the key log and, later, the audit log.
 *
 * Life of an entry: `append(tx, …)` stores it as pending inside the caller's transaction
 * (durable once that commits); the sequencer takes pending entries in batches, assigns
 * consecutive indexes, stores them with their tree hashes and signs a new checkpoint —
 * one transaction per batch, under the log row's lock, so any number of nodes may share
 * the database. Tiles, entry bundles and proofs are read from stored hashes only.
 */
import type { Logger } from 'pino';
import { InvalidInputError, NotFoundError, ParleyError } from '@parley/core';
import {
  MAX_ENTRY_SIZE,
  TILE_WIDTH,
  emptyRoot,
  encodeEntryBundle,
  formatCheckpoint,
  openNote,
  parseCheckpoint,
  parseVerifierKey,
  proveRecord,
  proveTree,
  signNote,
  tileStoredHashIndexes,
  type ReadHashes,
  type Signer,
} from '@parley/core/tlog';
import type { Database, Sql } from '../storage/database.js';
import { publishHeartbeat, sequenceBatch, type BatchParams, type BatchResult } from './sequence-batch.js';
import { SequencerLoop } from './sequencer-loop.js';
import { createLogIfAbsent, entriesWithLabel, getLog, hasPending, indexesOfPending, insertPending, readEntries, readHashes, type LogRow } from './store.js';

/**
 * A {@link Signer} that also knows its public verifier key (signed-note format), which
 * the log publishes. `parseSignerKey` returns one; an HSM-backed signer provides its own.
 *
 * @example
 * const signer: LogSigner = parseSignerKey(await readFile(keyFile, 'utf8'));
 */
export type LogSigner = Signer & { readonly verifierKey: string };

/**
 * Options of {@link TransparencyLog.open}.
 *
 * @example
 * const opts: TransparencyLogOptions = { name: 'keys', origin: 'parley.example.com/logs/keys', signer, log };
 */
export interface TransparencyLogOptions {
  /** Short name: URL segment and row key (`keys`, `audit`). */
  readonly name: string;
  /** Checkpoint origin line; must equal the signer's key name. Fixed for the log's lifetime. */
  readonly origin: string;
  readonly signer: LogSigner;
  /** Most entries per sequencing batch (default 1000). */
  readonly batchSize?: number;
  /** Re-sign the unchanged tree head this often (default 60 s). */
  readonly heartbeatMs?: number;
  /** Delay between an append's kick and the batch (default 2 ms). */
  readonly debounceMs?: number;
  /** Poll for other nodes' pending entries and a due heartbeat this often (default min(1 s, heartbeat)). */
  readonly pollMs?: number;
  readonly log: Logger;
}

/**
 * The log's public description, as `GET /v1/logs` lists it.
 *
 * @example
 * const d: LogDescriptor = { name: 'keys', origin: 'parley.localhost/logs/keys', prefix: '/logs/keys', verifierKey: 'parley.localhost/logs/keys+1a2b3c4d+A…' };
 */
export interface LogDescriptor {
  readonly name: string;
  readonly origin: string;
  readonly prefix: string;
  readonly verifierKey: string;
}

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

const NAME = /^[a-z][a-z0-9-]{0,31}$/;
const PENDING_ID = /^[1-9][0-9]{0,18}$/;
const MAX_LABEL_BYTES = 255;
/** Most entries `entries()` returns at once. */
export const MAX_ENTRIES_READ = 10_000;

function positiveInt(value: number | undefined, fallback: number, field: string): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < 1) throw new InvalidInputError(`${field} must be a positive integer`, { code: 'tlog_invalid_input', details: { field } });
  return value;
}

function checkIndex(value: unknown, field: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new InvalidInputError(`${field} must be a non-negative integer`, { code: 'tlog_invalid_input', details: { field } });
  }
  return value;
}

function beyondTree(field: string, treeSize: number): InvalidInputError {
  return new InvalidInputError('the log has no tree of that size yet', { code: 'tlog_bad_tree_size', details: { field, treeSize } });
}

/**
 * @example
 * const keyLog = await TransparencyLog.open(db, { name: 'keys', origin, signer, log });
 * keyLog.start();
 * const pendingId = await db.transaction((tx) => keyLog.append(tx, entryBytes, label));
 * keyLog.kick();
 * const { index } = await keyLog.waitSequenced(pendingId);
 * const proof = await keyLog.inclusionProof(index, (await keyLog.latestCheckpoint()).size);
 */
export class TransparencyLog {
  readonly name: string;
  readonly origin: string;
  /** Signed-note verifier key of the log's checkpoints. */
  readonly verifierKey: string;
  /** URL path prefix of the tlog-tiles resources (`/logs/<name>`). */
  readonly prefix: string;
  readonly batchSize: number;
  readonly heartbeatMs: number;
  readonly #db: Database;
  readonly #params: BatchParams;
  readonly #log: Logger;
  readonly #loop: SequencerLoop;
  readonly #waiters = new Map<string, Set<(index: number) => void>>();
  readonly #readHashes: ReadHashes;
  #stopped = false;

  private constructor(db: Database, opts: TransparencyLogOptions, batchSize: number, heartbeatMs: number) {
    this.#db = db;
    this.name = opts.name;
    this.origin = opts.origin;
    this.verifierKey = opts.signer.verifierKey;
    this.prefix = `/logs/${opts.name}`;
    this.batchSize = batchSize;
    this.heartbeatMs = heartbeatMs;
    this.#log = opts.log.child({ tlog: opts.name });
    this.#params = { log: opts.name, origin: opts.origin, signer: opts.signer, batchSize, heartbeatMs };
    this.#readHashes = async (indexes) => {
      const hashes = await readHashes(this.#db, this.name, indexes);
      return hashes.map((h, i) => {
        if (h === undefined) throw new ParleyError('tlog_corrupt', 'a stored hash the tree needs is missing', { status: 500, details: { storedHashIndex: indexes[i] } });
        return h;
      });
    };
    this.#loop = new SequencerLoop({
      sequence: async () => (await this.#batch()).count,
      heartbeat: () => this.#db.transaction((tx) => publishHeartbeat(tx, this.#params)),
      hasPending: () => hasPending(this.#db, this.name),
      batchSize,
      heartbeatMs,
      debounceMs: opts.debounceMs ?? 2,
      pollMs: opts.pollMs ?? Math.min(1000, heartbeatMs),
      log: this.#log,
    });
  }

  /**
   * Opens the log, creating it (empty tree, signed size-0 checkpoint) on first use. Throws
   * `tlog_origin_mismatch` when the stored log has another origin and `tlog_key_mismatch`
   * when its latest checkpoint does not verify under this signer's key: a log's identity
   * and key never change silently.
   *
   * @example
   * const keyLog = await TransparencyLog.open(db, { name: 'keys', origin: 'parley.example.com/logs/keys', signer, log });
   */
  static async open(db: Database, opts: TransparencyLogOptions): Promise<TransparencyLog> {
    if (typeof opts.name !== 'string' || !NAME.test(opts.name)) throw new InvalidInputError('log name must match [a-z][a-z0-9-]{0,31}', { code: 'tlog_invalid_input', details: { field: 'name' } });
    const verifier = parseVerifierKey(opts.signer.verifierKey);
    // tlog-checkpoint: the log's signature is by a key named like the origin line.
    if (opts.signer.name !== opts.origin || verifier.name !== opts.origin || verifier.keyHash !== opts.signer.keyHash) {
      throw new InvalidInputError('the signer key must be named after the log origin and match its verifier key', { code: 'tlog_key_mismatch', details: { origin: opts.origin } });
    }
    const batchSize = positiveInt(opts.batchSize, 1000, 'batchSize');
    const heartbeatMs = positiveInt(opts.heartbeatMs, 60_000, 'heartbeatMs');
    const tlog = new TransparencyLog(db, opts, batchSize, heartbeatMs);

    const rootHash = emptyRoot();
    const initial = await signNote(formatCheckpoint({ origin: opts.origin, treeSize: 0, rootHash }), [opts.signer]);
    const row = await createLogIfAbsent(db, { name: opts.name, origin: opts.origin, rootHash, checkpoint: initial });
    if (row.origin !== opts.origin) {
      throw new ParleyError('tlog_origin_mismatch', 'the stored log has another origin; a log keeps its origin for life', {
        status: 500,
        details: { log: opts.name, storedOrigin: row.origin, configuredOrigin: opts.origin },
      });
    }
    let cp;
    try {
      cp = parseCheckpoint(openNote(row.checkpoint, [verifier]).text);
    } catch (error) {
      throw new ParleyError('tlog_key_mismatch', 'the stored checkpoint is not signed by the configured log key (wrong or lost key file?)', {
        status: 500,
        cause: error,
        details: { log: opts.name, verifierKey: opts.signer.verifierKey },
      });
    }
    if (cp.origin !== opts.origin || cp.treeSize !== row.treeSize) throw new ParleyError('tlog_corrupt', 'the stored checkpoint does not match the stored tree head', { status: 500 });
    tlog.#log.info({ origin: opts.origin, treeSize: row.treeSize, verifierKey: tlog.verifierKey }, 'transparency log open');
    return tlog;
  }

  /** The log's public description (`GET /v1/logs`). */
  describe(): LogDescriptor {
    return { name: this.name, origin: this.origin, prefix: this.prefix, verifierKey: this.verifierKey };
  }

  // ------------------------------------------------------------------------- writing

  /**
   * Accepts an entry durably as part of the caller's transaction (so a directory change
   * and its log entry commit together) and returns its pending id. The entry is
   * sequenced after that transaction commits: call {@link kick} then (this call also
   * kicks, which suffices when the commit follows within a few ms). Entries are 1 to
   * 65535 bytes (the tlog-tiles entry-bundle limit); labels 1 to 255 bytes.
   *
   * @example
   * const pendingId = await db.transaction(async (tx) => {
   *   await insertDevice(tx, device);
   *   return keyLog.append(tx, entryBytes, labelOf(device.identityId));
   * });
   * keyLog.kick();
   */
  async append(tx: Sql, entry: Uint8Array, label?: Uint8Array): Promise<string> {
    const [id] = await this.appendMany(tx, [{ entry, ...(label === undefined ? {} : { label }) }]);
    return id!;
  }

  /**
   * {@link append} for several entries in one statement; ids in input order.
   *
   * @example
   * const ids = await db.transaction((tx) => keyLog.appendMany(tx, [{ entry: a }, { entry: b, label }]));
   */
  async appendMany(tx: Sql, items: readonly { entry: Uint8Array; label?: Uint8Array }[]): Promise<string[]> {
    if (this.#stopped) throw new ParleyError('tlog_stopped', 'the transparency log is stopping', { status: 503 });
    for (const [i, { entry, label }] of items.entries()) {
      if (!(entry instanceof Uint8Array) || entry.length < 1 || entry.length > MAX_ENTRY_SIZE) {
        throw new InvalidInputError('a log entry is 1 to 65535 bytes', { code: 'tlog_bad_entry', details: { item: i } });
      }
      if (label !== undefined && (!(label instanceof Uint8Array) || label.length < 1 || label.length > MAX_LABEL_BYTES)) {
        throw new InvalidInputError('a log label is 1 to 255 bytes', { code: 'tlog_bad_entry', details: { item: i } });
      }
    }
    const ids = await insertPending(tx, this.name, items);
    this.#loop.kick();
    return ids;
  }

  /**
   * Appends on its own: one statement that commits by itself (no BEGIN/COMMIT round
   * trips), then kicks the sequencer.
   *
   * @example
   * const pendingId = await auditLog.appendNow(commitmentBytes);
   */
  async appendNow(entry: Uint8Array, label?: Uint8Array): Promise<string> {
    return this.append(this.#db, entry, label);
  }

  /** Asks the background loop to sequence soon (after a transaction that appended commits). */
  kick(): void {
    this.#loop.kick();
  }

  /**
   * Sequences one batch — lock, take up to `batchSize` pending entries, store them with
   * their hashes, sign the new checkpoint — in one transaction. Returns how many entries
   * it sequenced. Safe to call from any node at any time.
   *
   * @example
   * while ((await log.sequence()) > 0);
   */
  async sequence(): Promise<number> {
    return (await this.#batch()).count;
  }

  async #batch(): Promise<BatchResult> {
    const result = await this.#db.transaction((tx) => sequenceBatch(tx, this.#params));
    if (result.count > 0) {
      this.#loop.published();
      this.#log.debug({ count: result.count, treeSize: result.treeSize }, 'sequenced');
      for (const [id, index] of result.indexes) {
        const waiting = this.#waiters.get(id);
        if (waiting !== undefined) for (const resolve of waiting) resolve(index);
      }
    }
    return result;
  }

  /**
   * Publishes a heartbeat checkpoint now if the last one is older than the heartbeat
   * interval; resolves whether it did.
   *
   * @example
   * await log.heartbeat();
   */
  async heartbeat(): Promise<boolean> {
    const done = await this.#db.transaction((tx) => publishHeartbeat(tx, this.#params));
    if (done) this.#loop.published();
    return done;
  }

  /**
   * Starts the background loop (sequencing after kicks, polling, heartbeats).
   *
   * @example
   * log.start();
   */
  start(): void {
    this.#loop.start();
  }

  /**
   * Stops the loop after sequencing what is pending; later appends are refused and
   * waiters that remain are rejected with `tlog_stopped`.
   *
   * @example
   * await log.stop();
   */
  async stop(): Promise<void> {
    this.#stopped = true;
    await this.#loop.stop();
    for (const waiting of this.#waiters.values()) for (const resolve of waiting) resolve(-1);
    this.#waiters.clear();
  }

  /**
   * Resolves with the leaf index of a pending entry once it is sequenced, by this node or
   * any other. Rejects with `tlog_sequence_timeout` (503) after `timeoutMs` (default 30 s)
   * and `tlog_stopped` when the log stops. Never call it inside a transaction that has
   * not committed the entry.
   *
   * @example
   * const { index } = await keyLog.waitSequenced(pendingId);
   */
  waitSequenced(pendingId: string, options: { timeoutMs?: number; signal?: AbortSignal } = {}): Promise<{ index: number }> {
    if (typeof pendingId !== 'string' || !PENDING_ID.test(pendingId)) {
      return Promise.reject(new InvalidInputError('not a pending entry id', { code: 'tlog_invalid_input', details: { field: 'pendingId' } }));
    }
    if (this.#stopped) return Promise.reject(new ParleyError('tlog_stopped', 'the transparency log is stopping', { status: 503 }));
    const timeoutMs = options.timeoutMs ?? 30_000;
    return new Promise((resolve, reject) => {
      let settled = false;
      let pollTimer: NodeJS.Timeout | undefined;
      const set = this.#waiters.get(pendingId) ?? new Set();
      this.#waiters.set(pendingId, set);
      const finish = (fn: () => void) => {
        if (settled) return;
        settled = true;
        clearTimeout(pollTimer);
        clearTimeout(timeout);
        options.signal?.removeEventListener('abort', onAbort);
        set.delete(onIndex);
        if (set.size === 0 && this.#waiters.get(pendingId) === set) this.#waiters.delete(pendingId);
        fn();
      };
      const onIndex = (index: number) =>
        finish(() => (index < 0 ? reject(new ParleyError('tlog_stopped', 'the transparency log stopped', { status: 503 })) : resolve({ index })));
      const onAbort = () => finish(() => reject(options.signal?.reason));
      const timeout = setTimeout(
        () => finish(() => reject(new ParleyError('tlog_sequence_timeout', 'the entry was not sequenced in time', { status: 503, details: { timeoutMs } }))),
        timeoutMs,
      );
      set.add(onIndex);
      if (options.signal?.aborted) return onAbort();
      options.signal?.addEventListener('abort', onAbort, { once: true });
      // Another node may sequence it: look in the table now and then (after registering, so
      // a local batch that lands in between is not missed).
      let delay = 20;
      const poll = () => {
        indexesOfPending(this.#db, this.name, [pendingId]).then(
          (found) => {
            const index = found.get(pendingId);
            if (index !== undefined) return onIndex(index);
            if (settled) return;
            this.#loop.kick();
            delay = Math.min(delay * 2, 500);
            pollTimer = setTimeout(poll, delay);
          },
          (error: unknown) => finish(() => reject(error)),
        );
      };
      poll();
    });
  }

  // ------------------------------------------------------------------------- reading

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
    if (!(label instanceof Uint8Array) || label.length < 1 || label.length > MAX_LABEL_BYTES) {
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
