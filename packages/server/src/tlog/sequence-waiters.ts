/**
 * Callers waiting for their pending entries to be sequenced, by this node or any other:
 * resolved at once by a local batch (or from the record of recent local batches, when the
 * batch landed before the caller started waiting), and found by polling the table when
 * another node sequenced them. Timeouts, aborts and the log's stop reject them.
 *
 * Polling is shared: one timer (a tick of {@link FIRST_POLL_MS} while anyone waits) and ONE
 * query per round for every waiter that is due (each backs off from {@link FIRST_POLL_MS} to
 * {@link MAX_POLL_MS}), so a busy node does not spend a query per entry while its own
 * sequencer answers nearly everyone first.
 */
import { ParleyError } from '@parley/core';
import type { Database } from '../storage/database.js';
import { indexesOfPending } from './store.js';

/** A waiter's first look in the table (its own node's batch usually answers sooner). */
const FIRST_POLL_MS = 20;
const MAX_POLL_MS = 500;
/** Pending ids of recent local batches remembered for late waiters. */
const RECENT_LIMIT = 16_384;
/** Most ids per poll query. */
const POLL_CHUNK = 1_000;

interface Waiter {
  readonly onIndex: (index: number) => void;
  readonly onError: (error: unknown) => void;
  nextPollAt: number;
  delay: number;
}

/**
 * @example
 * const waiters = new SequenceWaiters(db, 'keys', () => loop.kick());
 * const { index } = await waiters.wait(pendingId, { timeoutMs: 30_000 });
 * waiters.sequenced(result.indexes); // after a local batch
 */
export class SequenceWaiters {
  readonly #waiters = new Map<string, Set<Waiter>>();
  /** Pending id → index of entries recent local batches sequenced (insertion order, bounded). */
  readonly #recent = new Map<string, number>();
  #pollTimer: NodeJS.Timeout | undefined;
  #polling = false;

  constructor(
    private readonly db: Database,
    private readonly log: string,
    /** Asks the sequencer to run soon (a waiter that polls in vain nudges it). */
    private readonly kick: () => void,
  ) {}

  /** A local batch sequenced these pending ids: their waiters resolve. */
  sequenced(indexes: ReadonlyMap<string, number>): void {
    for (const [id, index] of indexes) {
      this.#recent.set(id, index);
      const waiting = this.#waiters.get(id);
      if (waiting !== undefined) for (const w of [...waiting]) w.onIndex(index);
    }
    for (const id of this.#recent.keys()) {
      if (this.#recent.size <= RECENT_LIMIT) break;
      this.#recent.delete(id);
    }
  }

  /** The log stopped: every waiter left is rejected with `tlog_stopped`. */
  stopAll(): void {
    for (const waiting of [...this.#waiters.values()]) for (const w of [...waiting]) w.onIndex(-1);
    this.#waiters.clear();
    clearTimeout(this.#pollTimer);
    this.#pollTimer = undefined;
  }

  /** Resolves with the leaf index of `pendingId` once it is sequenced (see TransparencyLog.waitSequenced). */
  wait(pendingId: string, options: { timeoutMs?: number; signal?: AbortSignal } = {}): Promise<{ index: number }> {
    const known = this.#recent.get(pendingId);
    if (known !== undefined && !options.signal?.aborted) return Promise.resolve({ index: known });
    const timeoutMs = options.timeoutMs ?? 30_000;
    return new Promise((resolve, reject) => {
      let settled = false;
      const set = this.#waiters.get(pendingId) ?? new Set<Waiter>();
      this.#waiters.set(pendingId, set);
      const finish = (fn: () => void) => {
        if (settled) return;
        settled = true;
        clearTimeout(timeout);
        options.signal?.removeEventListener('abort', onAbort);
        set.delete(waiter);
        if (set.size === 0 && this.#waiters.get(pendingId) === set) this.#waiters.delete(pendingId);
        fn();
      };
      const waiter: Waiter = {
        onIndex: (index: number) =>
          finish(() => (index < 0 ? reject(new ParleyError('tlog_stopped', 'the transparency log stopped', { status: 503 })) : resolve({ index }))),
        onError: (error: unknown) => finish(() => reject(error)),
        nextPollAt: Date.now() + FIRST_POLL_MS,
        delay: FIRST_POLL_MS,
      };
      const onAbort = () => finish(() => reject(options.signal?.reason));
      const timeout = setTimeout(
        () => finish(() => reject(new ParleyError('tlog_sequence_timeout', 'the entry was not sequenced in time', { status: 503, details: { timeoutMs } }))),
        timeoutMs,
      );
      set.add(waiter);
      if (options.signal?.aborted) return onAbort();
      options.signal?.addEventListener('abort', onAbort, { once: true });
      // Another node may sequence it: the shared poll looks in the table now and then.
      this.#schedulePoll(FIRST_POLL_MS);
    });
  }

  #schedulePoll(delayMs: number): void {
    if (this.#pollTimer !== undefined || this.#polling || this.#waiters.size === 0) return;
    this.#pollTimer = setTimeout(() => {
      this.#pollTimer = undefined;
      void this.#poll();
    }, delayMs);
  }

  /** One round: the due waiters' ids in one query (per chunk); the found resolve, the rest back off. */
  async #poll(): Promise<void> {
    this.#polling = true;
    try {
      const now = Date.now();
      const due: string[] = [];
      for (const [id, set] of this.#waiters) {
        let isDue = false;
        for (const w of set) {
          if (w.nextPollAt <= now) {
            isDue = true;
            w.delay = Math.min(w.delay * 2, MAX_POLL_MS);
            w.nextPollAt = now + w.delay;
          }
        }
        if (isDue) due.push(id);
      }
      let missing = false;
      for (let i = 0; i < due.length; i += POLL_CHUNK) {
        const chunk = due.slice(i, i + POLL_CHUNK);
        let found: Map<string, number>;
        try {
          found = await indexesOfPending(this.db, this.log, chunk);
        } catch (error) {
          // The store failed: the waiters of this chunk get the error (as a lone poll did).
          for (const id of chunk) for (const w of [...(this.#waiters.get(id) ?? [])]) w.onError(error);
          continue;
        }
        for (const id of chunk) {
          const index = found.get(id);
          if (index === undefined) missing = true;
          else for (const w of [...(this.#waiters.get(id) ?? [])]) w.onIndex(index);
        }
      }
      if (missing) this.kick();
    } finally {
      this.#polling = false;
    }
    this.#schedulePoll(FIRST_POLL_MS);
  }
}
