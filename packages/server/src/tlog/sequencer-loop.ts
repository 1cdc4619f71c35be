/**
 * The background loop of one transparency log on one node: sequences soon after appends
 * (a kick, debounced by a few ms so that concurrent appends share a batch), keeps going
 * while full batches come out, picks up entries other nodes accepted but did not
 * sequence (a periodic poll), and publishes a heartbeat checkpoint when the last one is
 * older than the heartbeat interval. Several nodes may run it on one database: the log's
 * row lock makes each batch and heartbeat exclusive (see sequence-batch.ts).
 */
import type { Logger } from 'pino';

export interface SequencerLoopOptions {
  /** Runs one batch; resolves with the number of entries sequenced. */
  readonly sequence: () => Promise<number>;
  /** Publishes a heartbeat checkpoint if one is due; resolves whether it did. */
  readonly heartbeat: () => Promise<boolean>;
  readonly hasPending: () => Promise<boolean>;
  readonly batchSize: number;
  readonly heartbeatMs: number;
  /** Delay between a kick and the batch it starts. */
  readonly debounceMs: number;
  /** Interval of the poll for pending entries and for a due heartbeat. */
  readonly pollMs: number;
  readonly log: Logger;
}

const MAX_BACKOFF_MS = 5_000;

/**
 * @example
 * const loop = new SequencerLoop({ sequence, heartbeat, hasPending, batchSize: 1000, heartbeatMs: 60_000, debounceMs: 2, pollMs: 1000, log });
 * loop.start();
 * loop.kick(); // after a transaction that appended entries commits
 * await loop.stop(); // sequences what is pending, then stops
 */
export class SequencerLoop {
  readonly #o: SequencerLoopOptions;
  #state: 'idle' | 'started' | 'stopping' | 'stopped' = 'idle';
  #debounce: NodeJS.Timeout | undefined;
  #poll: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #polling: Promise<void> | undefined;
  #again = false;
  #failures = 0;
  #lastPublishAt = Date.now();

  constructor(options: SequencerLoopOptions) {
    this.#o = options;
  }

  get started(): boolean {
    return this.#state === 'started';
  }

  start(): void {
    if (this.#state !== 'idle') return;
    this.#state = 'started';
    this.#poll = setInterval(() => {
      this.#polling ??= this.#pollOnce().finally(() => {
        this.#polling = undefined;
      });
    }, this.#o.pollMs);
    this.#poll.unref();
    this.kick(); // entries left pending by an earlier run
  }

  /** Schedules a batch soon; coalesces with one that is scheduled or running. */
  kick(): void {
    if (this.#state !== 'started') return;
    if (this.#running !== undefined) {
      this.#again = true;
      return;
    }
    if (this.#debounce !== undefined) return;
    this.#schedule(this.#o.debounceMs);
  }

  /** Records that a checkpoint was just published (resets the local heartbeat clock). */
  published(): void {
    this.#lastPublishAt = Date.now();
  }

  #schedule(delayMs: number): void {
    this.#debounce = setTimeout(() => {
      this.#debounce = undefined;
      this.#run();
    }, delayMs);
  }

  #run(): void {
    this.#running = (async () => {
      try {
        do {
          this.#again = false;
          const n = await this.#o.sequence();
          // A full batch suggests more is waiting.
          if (n >= this.#o.batchSize) this.#again = true;
        } while (this.#again && this.#state === 'started');
        this.#failures = 0;
      } catch (error) {
        this.#failures++;
        const backoff = Math.min(MAX_BACKOFF_MS, 50 * 2 ** this.#failures);
        this.#o.log.warn({ err: error, retryInMs: backoff }, 'transparency log batch failed');
        if (this.#state === 'started' && this.#debounce === undefined) this.#schedule(backoff);
      }
    })().finally(() => {
      this.#running = undefined;
    });
  }

  async #pollOnce(): Promise<void> {
    if (this.#state !== 'started' || this.#running !== undefined || this.#debounce !== undefined) return;
    try {
      if (await this.#o.hasPending()) {
        this.kick();
        return;
      }
      if (Date.now() - this.#lastPublishAt >= this.#o.heartbeatMs) {
        // Due by our clock; the database decides (another node may have published).
        if (await this.#o.heartbeat()) this.#o.log.debug('heartbeat checkpoint published');
        this.#lastPublishAt = Date.now();
      }
    } catch (error) {
      this.#o.log.warn({ err: error }, 'transparency log poll failed');
    }
  }

  /** Stops the timers, waits for the running batch, then sequences what is still pending. */
  async stop(): Promise<void> {
    if (this.#state === 'stopped' || this.#state === 'stopping') return;
    const wasStarted = this.#state === 'started';
    this.#state = 'stopping';
    clearTimeout(this.#debounce);
    this.#debounce = undefined;
    clearInterval(this.#poll);
    await this.#running;
    await this.#polling;
    if (wasStarted) {
      // Drain: at most a bounded number of batches, so a stream from other nodes cannot hold us.
      for (let i = 0; i < 100; i++) {
        try {
          if ((await this.#o.sequence()) < this.#o.batchSize) break;
        } catch (error) {
          this.#o.log.warn({ err: error }, 'transparency log drain failed; pending entries stay for the next start');
          break;
        }
      }
    }
    this.#state = 'stopped';
  }
}
