/**
 * Which instance runs the sender identity. Every instance serves the REST API and
 * delivers webhooks; exactly one — the holder of the `sender` lease — opens the sender
 * device and sends, so an MLS group is never advanced from two places (no forked
 * epochs). When the leader dies its lease expires (ttl) and another instance takes over
 * with a higher fence; a deposed leader that still runs fails its next fenced write and
 * stops. See ARCHITECTURE.md § gateway.
 */
import type { Database } from '@parley/server';
import { acquireLease, releaseLease, renewLease, type FenceToken } from './lease.js';

/** What the leader runs; `stop` ends it (called on loss of the lease or shutdown). */
export interface LeaderWork {
  stop(): Promise<void>;
}

export interface LeadershipOptions {
  readonly db: Database;
  readonly holder: string;
  readonly name?: string;
  readonly ttlMs?: number;
  readonly renewMs?: number;
  /** Starts the leader's work under `token`; throwing gives the lease up (another instance may try). */
  readonly onElected: (token: FenceToken) => Promise<LeaderWork>;
  readonly log: { info(o: object, m: string): void; warn(o: object, m: string): void };
}

/**
 * @example
 * const leadership = new Leadership({ db, holder: instanceId, onElected: async (token) => startSending(token), log })
 * leadership.start()
 */
export class Leadership {
  readonly #o: Required<Omit<LeadershipOptions, 'onElected' | 'log' | 'db' | 'holder'>> & LeadershipOptions;
  #token: FenceToken | undefined;
  #work: LeaderWork | undefined;
  /** The leader's work while it starts (opening the device can outlast a lease period: renewals go on meanwhile). */
  #starting: Promise<void> | undefined;
  #lastRenewed = 0;
  #timer: NodeJS.Timeout | undefined;
  #tick: Promise<void> = Promise.resolve();
  #stopped = false;

  constructor(options: LeadershipOptions) {
    this.#o = { name: 'sender', ttlMs: 5000, renewMs: 1000, ...options };
  }

  /** True while this instance leads. */
  get leading(): boolean {
    return this.#work !== undefined;
  }

  get token(): FenceToken | undefined {
    return this.#token;
  }

  start(): void {
    const loop = () => {
      if (this.#stopped) return;
      this.#tick = this.#step().finally(() => {
        if (!this.#stopped) this.#timer = setTimeout(loop, this.#o.renewMs);
      });
    };
    loop();
  }

  /** Stops leading (releasing the lease at once) and stops trying. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#tick;
    const token = this.#token;
    await this.#demote('shutdown');
    if (token) await releaseLease(this.#o.db, token).catch(() => {});
  }

  async #step(): Promise<void> {
    const { db, holder, name, ttlMs, renewMs, log } = this.#o;
    try {
      if (this.#token) {
        if (await renewLease(db, this.#token, ttlMs)) {
          this.#lastRenewed = Date.now();
          return;
        }
        log.warn({ fence: this.#token.fence }, 'gateway: the sender lease was lost');
        await this.#demote('lease lost');
        return;
      }
      const token = await acquireLease(db, name, holder, ttlMs);
      if (!token) return;
      this.#token = token;
      this.#lastRenewed = Date.now();
      log.info({ fence: token.fence }, 'gateway: this instance now runs the sender');
      this.#starting = this.#o.onElected(token).then(
        async (work) => {
          if (this.#token === token && !this.#stopped) this.#work = work;
          else await work.stop().catch(() => {});
        },
        async (error: unknown) => {
          log.warn({ err: error instanceof Error ? error.message : String(error) }, 'gateway: could not start the sender; giving the lease up');
          if (this.#token === token) this.#token = undefined;
          await releaseLease(db, token).catch(() => {});
        },
      );
    } catch (error) {
      // The database is unreachable: stop acting before the lease could have passed to another.
      if (this.#token && Date.now() - this.#lastRenewed > ttlMs - renewMs) await this.#demote('database unreachable');
      log.warn({ err: error instanceof Error ? error.message : String(error) }, 'gateway: lease check failed');
    }
  }

  async #demote(why: string): Promise<void> {
    this.#token = undefined;
    await this.#starting;
    const work = this.#work;
    this.#work = undefined;
    this.#token = undefined;
    if (work) {
      this.#o.log.info({ why }, 'gateway: stopping the sender');
      await work.stop().catch(() => {});
    }
  }
}
