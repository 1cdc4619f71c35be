/**
 * Group commit: callers submit items one by one; items that arrive while a
 * flush is running are written together by the next flush, in one transaction.
 * One commit (one WAL flush) then acknowledges many messages, which is what lets
 * durable-before-ack keep up with the network (PostgreSQL: ~8.7k single-row
 * commits/s vs ~100k rows/s in batches on this hardware).
 *
 * One bad item must not fail its neighbours (another tenant's messages may share the
 * batch): when a flush throws, the batch is split in halves and each half is written
 * again, down to single items, so only the items that fail on their own get the error.
 * Retrying is safe because a flush is one transaction (all or nothing) and every item is
 * idempotent (submissions by idempotency key, acks by envelope id).
 */
export type FlushResult<R> = { ok: true; value: R } | { ok: false; error: unknown };

/**
 * How a {@link GroupCommitter} batches.
 *
 * @example
 * const batching: Batching = { maxBatch: 512, concurrency: 4, isolate: (e) => !isUnavailableError(e) };
 */
export interface Batching {
  /** Most items per flush. */
  readonly maxBatch: number;
  /** Flushes running at once. */
  readonly concurrency: number;
  /** Whether a failed batch is split to isolate the failing items (default: always; not when the store is down). */
  readonly isolate?: (error: unknown) => boolean;
}

interface Pending<I, R> {
  item: I;
  resolve: (r: R) => void;
  reject: (e: unknown) => void;
}

export class GroupCommitter<I, R> {
  private queue: Pending<I, R>[] = [];
  private running = 0;
  private scheduled = false;
  private idleWaiters: (() => void)[] = [];

  constructor(
    private readonly flush: (items: readonly I[]) => Promise<FlushResult<R>[]>,
    private readonly options: Batching,
  ) {}

  /** Resolves once the item is durably written (or rejects with its own error). */
  submit(item: I): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      this.schedule();
    });
  }

  /** Resolves when nothing is queued or being written. */
  drain(): Promise<void> {
    if (this.queue.length === 0 && this.running === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private schedule(): void {
    if (this.scheduled || this.running >= this.options.concurrency) return;
    this.scheduled = true;
    // Let every item submitted in this turn of the event loop join the batch.
    setImmediate(() => {
      this.scheduled = false;
      this.startFlush();
    });
  }

  private startFlush(): void {
    while (this.running < this.options.concurrency && this.queue.length > 0) {
      const batch = this.queue.splice(0, this.options.maxBatch);
      this.running++;
      void this.run(batch);
    }
  }

  private async run(batch: Pending<I, R>[]): Promise<void> {
    try {
      await this.write(batch);
    } finally {
      this.running--;
      if (this.queue.length > 0) this.startFlush();
      else if (this.running === 0) this.idleWaiters.splice(0).forEach((w) => w());
    }
  }

  /** Writes a batch; if it throws, writes each half on its own, so an error reaches only the items that cause it. */
  private async write(batch: Pending<I, R>[]): Promise<void> {
    let results: FlushResult<R>[];
    try {
      results = await this.flush(batch.map((b) => b.item));
    } catch (error) {
      if (batch.length === 1 || this.options.isolate?.(error) === false) {
        for (const b of batch) b.reject(error);
        return;
      }
      const half = Math.ceil(batch.length / 2);
      await this.write(batch.slice(0, half));
      await this.write(batch.slice(half));
      return;
    }
    batch.forEach((b, i) => {
      const r = results[i];
      if (r === undefined) b.reject(new Error('group commit returned no result'));
      else if (r.ok) b.resolve(r.value);
      else b.reject(r.error);
    });
  }
}
