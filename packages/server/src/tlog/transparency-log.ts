/**
 * The transparency-log engine: one RFC 6962/9162 Merkle tree per log, stored in the
 * server's database, checkpointed as C2SP tlog-checkpoint signed notes (Ed25519) and
 * read as C2SP tlog-tiles. The same class serves the key log and the audit log.
 *
 * Life of an entry: `append(tx, …)` stores it as pending inside the caller's transaction
 * (durable once that commits); the sequencer takes pending entries in batches, assigns
 * consecutive indexes, stores them with their tree hashes and signs a new checkpoint —
 * one transaction per batch, under the log row's lock, so any number of nodes may share
 * the database. Tiles, entry bundles and proofs are read from stored hashes only
 * (log-reader.ts, which this class extends).
 */
import type { Logger } from 'pino';
import { InvalidInputError, ParleyError } from '@parley/core';
import { MAX_ENTRY_SIZE, emptyRoot, formatCheckpoint, openNote, parseCheckpoint, parseVerifierKey, signNote, type Signer } from '@parley/core/tlog';
import type { Database, Sql } from '../storage/database.js';
import { isLabel, positiveInt } from './argument-checks.js';
import { TransparencyLogReader } from './log-reader.js';
import { publishHeartbeat, sequenceBatch, type BatchParams, type BatchResult } from './sequence-batch.js';
import { SequenceWaiters } from './sequence-waiters.js';
import { FrontierCache, sequenceDirect } from './sequence-direct.js';
import { SequencerLoop } from './sequencer-loop.js';
import { createLogIfAbsent, hasPending, insertPending } from './store.js';
import { acceptStoredKey, announceKey, listKeyRotations } from './rotation.js';
import { nodeVerifier } from './node-signer.js';

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
  /**
   * The next key while a key rotation is in progress (docs/log-key-rotation.md): every
   * checkpoint is signed by `signer` and then by this key, and the announcement (signed by
   * both) is stored at open. Any `LogSigner`: a key file or a key in an HSM.
   */
  readonly nextSigner?: LogSigner;
  /** Former keys of this log this node still holds, to announce a rotation finished before any node signed with both keys. */
  readonly retiredSigners?: readonly LogSigner[];
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
 * const d: LogDescriptor = { name: 'keys', origin: 'parley.localhost/logs/keys', prefix: '/logs/keys', verifierKey: 'parley.localhost/logs/keys+1a2b3c4d+A…', verifierKeys: ['parley.localhost/logs/keys+1a2b3c4d+A…'] };
 */
export interface LogDescriptor {
  readonly name: string;
  readonly origin: string;
  readonly prefix: string;
  /** The key monitors trust today (the current key; during a rotation still the old one). */
  readonly verifierKey: string;
  /** Every key that signs checkpoints now: the current key, then the next key during a rotation. */
  readonly verifierKeys: readonly string[];
}

const NAME = /^[a-z][a-z0-9-]{0,31}$/;

/** Entries are 1 to 65535 bytes (the tlog-tiles entry-bundle limit); labels 1 to 255 bytes. */
function checkItems(items: readonly { entry: Uint8Array; label?: Uint8Array }[]): void {
  for (const [i, { entry, label }] of items.entries()) {
    if (!(entry instanceof Uint8Array) || entry.length < 1 || entry.length > MAX_ENTRY_SIZE) {
      throw new InvalidInputError('a log entry is 1 to 65535 bytes', { code: 'tlog_bad_entry', details: { item: i } });
    }
    if (label !== undefined && !isLabel(label)) {
      throw new InvalidInputError('a log label is 1 to 255 bytes', { code: 'tlog_bad_entry', details: { item: i } });
    }
  }
}
const PENDING_ID = /^[1-9][0-9]{0,18}$/;

/**
 * @example
 * const keyLog = await TransparencyLog.open(db, { name: 'keys', origin, signer, log });
 * keyLog.start();
 * const pendingId = await db.transaction((tx) => keyLog.append(tx, entryBytes, label));
 * keyLog.kick();
 * const { index } = await keyLog.waitSequenced(pendingId);
 * const proof = await keyLog.inclusionProof(index, (await keyLog.latestCheckpoint()).size);
 */
export class TransparencyLog extends TransparencyLogReader {
  readonly origin: string;
  /** Signed-note verifier key of the log's checkpoints (the current key). */
  readonly verifierKey: string;
  /** The next key's verifier key while a rotation is in progress. */
  readonly nextVerifierKey: string | undefined;
  /** URL path prefix of the tlog-tiles resources (`/logs/<name>`). */
  readonly prefix: string;
  readonly batchSize: number;
  readonly heartbeatMs: number;
  readonly #db: Database;
  readonly #params: BatchParams;
  readonly #log: Logger;
  readonly #loop: SequencerLoop;
  readonly #waiters: SequenceWaiters;
  /** Frontier hashes of the heads this node computed (direct appends skip reading them). */
  readonly #frontiers = new FrontierCache();
  #stopped = false;

  private constructor(db: Database, opts: TransparencyLogOptions, batchSize: number, heartbeatMs: number) {
    super(db, opts.name);
    this.#db = db;
    this.origin = opts.origin;
    this.verifierKey = opts.signer.verifierKey;
    this.nextVerifierKey = opts.nextSigner?.verifierKey;
    this.prefix = `/logs/${opts.name}`;
    this.batchSize = batchSize;
    this.heartbeatMs = heartbeatMs;
    this.#log = opts.log.child({ tlog: opts.name });
    this.#params = { log: opts.name, origin: opts.origin, signers: opts.nextSigner === undefined ? [opts.signer] : [opts.signer, opts.nextSigner], batchSize, heartbeatMs };
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
    this.#waiters = new SequenceWaiters(db, opts.name, () => this.#loop.kick());
  }

  /**
   * Opens the log, creating it (empty tree, signed size-0 checkpoint) on first use. Throws
   * `tlog_origin_mismatch` when the stored log has another origin and `tlog_key_mismatch`
   * when its latest checkpoint verifies neither under this signer's key nor under a key
   * the stored rotation announcements chain to it: a log's identity and key never change
   * silently. With `nextSigner`, stores the announcement of the next key (once).
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
    const next = opts.nextSigner;
    if (next !== undefined) {
      const nextVerifier = parseVerifierKey(next.verifierKey);
      if (next.name !== opts.origin || nextVerifier.name !== opts.origin || nextVerifier.keyHash !== next.keyHash || next.keyHash === opts.signer.keyHash) {
        throw new InvalidInputError('the next key must be another key named after the log origin', { code: 'tlog_key_mismatch', details: { origin: opts.origin } });
      }
    }
    const batchSize = positiveInt(opts.batchSize, 1000, 'batchSize');
    const heartbeatMs = positiveInt(opts.heartbeatMs, 60_000, 'heartbeatMs');
    const tlog = new TransparencyLog(db, opts, batchSize, heartbeatMs);

    const rootHash = emptyRoot();
    const initial = await signNote(formatCheckpoint({ origin: opts.origin, treeSize: 0, rootHash }), tlog.#params.signers);
    const row = await createLogIfAbsent(db, { name: opts.name, origin: opts.origin, rootHash, checkpoint: initial });
    if (row.origin !== opts.origin) {
      throw new ParleyError('tlog_origin_mismatch', 'the stored log has another origin; a log keeps its origin for life', {
        status: 500,
        details: { log: opts.name, storedOrigin: row.origin, configuredOrigin: opts.origin },
      });
    }
    // The stored checkpoint: by this key, or by an earlier one the announcements chain to it.
    const storedKey = await acceptStoredKey(db, {
      log: opts.name,
      origin: opts.origin,
      signer: opts.signer,
      retired: opts.retiredSigners ?? [],
      checkpoint: row.checkpoint,
      treeSize: row.treeSize,
      logger: tlog.#log,
    });
    const cp = parseCheckpoint(openNote(row.checkpoint, [nodeVerifier(storedKey)]).text);
    if (cp.origin !== opts.origin || cp.treeSize !== row.treeSize) throw new ParleyError('tlog_corrupt', 'the stored checkpoint does not match the stored tree head', { status: 500 });
    if (next !== undefined && (await announceKey(db, { log: opts.name, origin: opts.origin, current: opts.signer, next, startSize: row.treeSize }))) {
      tlog.#log.info({ verifierKey: opts.signer.verifierKey, nextVerifierKey: next.verifierKey, startSize: row.treeSize }, 'announced the next log key');
    }
    tlog.#log.info({ origin: opts.origin, treeSize: row.treeSize, verifierKey: tlog.verifierKey }, 'transparency log open');
    return tlog;
  }

  /** The log's public description (`GET /v1/logs`). */
  describe(): LogDescriptor {
    const verifierKeys = this.nextVerifierKey === undefined ? [this.verifierKey] : [this.verifierKey, this.nextVerifierKey];
    return { name: this.name, origin: this.origin, prefix: this.prefix, verifierKey: this.verifierKey, verifierKeys };
  }

  /**
   * The log's key-rotation announcements (signed notes), oldest first, as
   * `GET <prefix>/key-rotations` serves them.
   *
   * @example
   * const notes = await auditLog.keyRotations();
   */
  async keyRotations(): Promise<string[]> {
    return listKeyRotations(this.#db, this.name);
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
    checkItems(items);
    const ids = await insertPending(tx, this.name, items);
    this.#loop.kick();
    return ids;
  }

  /**
   * Appends AND sequences inside the caller's transaction (sequence-direct.ts): takes the
   * log's lock for the rest of it, so keep what follows short. Resolves with the entries'
   * leaf indexes, final once the transaction commits (with the checkpoint that covers them).
   *
   * @example
   * const [index] = await db.transaction((tx) => auditLog.appendSequenced(tx, [{ entry, label }]));
   */
  async appendSequenced(tx: Sql, items: readonly { entry: Uint8Array; label?: Uint8Array }[]): Promise<readonly number[]> {
    if (items.length === 0) return [];
    if (this.#stopped) throw new ParleyError('tlog_stopped', 'the transparency log is stopping', { status: 503 });
    checkItems(items);
    const { indexes } = await sequenceDirect(tx, this.#params, items, this.#frontiers);
    this.#loop.published();
    return indexes;
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
      this.#waiters.sequenced(result.indexes);
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
    this.#waiters.stopAll();
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
    return this.#waiters.wait(pendingId, options);
  }
}
