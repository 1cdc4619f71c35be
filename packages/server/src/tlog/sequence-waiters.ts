/**
 * Callers waiting for their pending entries to be sequenced, by this node or any other:
 * resolved at once by a local batch, and found by polling the table (with backoff) when
 * another node sequenced them. Timeouts, aborts and the log's stop reject them.
 */
import { ParleyError } from '@parley/core';
import type { Database } from '../storage/database.js';
import { indexesOfPending } from './store.js';

/**
 * @example
 * const waiters = new SequenceWaiters(db, 'keys', () => loop.kick());
 * const { index } = await waiters.wait(pendingId, { timeoutMs: 30_000 });
 * waiters.sequenced(result.indexes); // after a local batch
 */
export class SequenceWaiters {
  readonly #waiters = new Map<string, Set<(index: number) => void>>();

  constructor(
    private readonly db: Database,
    private readonly log: string,
    /** Asks the sequencer to run soon (a waiter that polls in vain nudges it). */
    private readonly kick: () => void,
  ) {}

  /** A local batch sequenced these pending ids: their waiters resolve. */
  sequenced(indexes: ReadonlyMap<string, number>): void {
    for (const [id, index] of indexes) {
      const waiting = this.#waiters.get(id);
      if (waiting !== undefined) for (const resolve of waiting) resolve(index);
    }
  }

  /** The log stopped: every waiter left is rejected with `tlog_stopped`. */
  stopAll(): void {
    for (const waiting of this.#waiters.values()) for (const resolve of waiting) resolve(-1);
    this.#waiters.clear();
  }

  /** Resolves with the leaf index of `pendingId` once it is sequenced (see TransparencyLog.waitSequenced). */
  wait(pendingId: string, options: { timeoutMs?: number; signal?: AbortSignal } = {}): Promise<{ index: number }> {
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
        indexesOfPending(this.db, this.log, [pendingId]).then(
          (found) => {
            const index = found.get(pendingId);
            if (index !== undefined) return onIndex(index);
            if (settled) return;
            this.kick();
            delay = Math.min(delay * 2, 500);
            pollTimer = setTimeout(poll, delay);
          },
          (error: unknown) => finish(() => reject(error)),
        );
      };
      poll();
    });
  }
}
