/**
 * A device's periodic upkeep (docs/maintenance.md). It runs about a second after the
 * WebSocket comes up (connect and every reconnect; KeyPackage checks at most every 6 h), then on a timer while connected
 * (unref'd; stopped when the connection drops and at close), and on `Device.maintain`.
 * One run at a time, each task on its own:
 *
 * - **KeyPackages** (key-packages.ts): the server's stock is replaced once its oldest
 *   KeyPackage is past the rotation age, and private halves expired longer than the grace
 *   period are deleted (on connect, then at most every 6 hours);
 * - **self-updates**: in every active conversation where this device's own leaf was last
 *   updated longer than `selfUpdateIntervalMs` ago (default 7 days; since it joined or
 *   created it, if never), an update commit: an UpdatePath with fresh keys (post-compromise
 *   security, RFC 9420 §12.4). One conversation at a time, each under its lock (commits.ts),
 *   never on top of an interrupted commit that `recoverPending` has yet to resubmit.
 *
 * - **automatic backups** (device-backups.ts): an increment when one is due.
 *
 * A failure becomes a `maintenance-failed` event (a backup's: `backup-failed`) and is tried again on the next run.
 */
import { isParleyError, type ConversationId } from '@parley/core';
import type { Committer } from './commits.js';
import type { ConversationRegistry } from './conversations.js';
import type { EventHub } from './event-hub.js';
import type { DeviceEvent } from './events.js';
import type { KeyPackageStock } from './key-packages.js';
import type { KeyStore } from './key-store.js';
import { RECORDS, getJson, putJson, type SelfUpdateRecordV1 } from './records.js';

/**
 * What one maintenance run did (`Device.maintain`).
 *
 * @example
 * const { selfUpdated, keyPackagesRotated, failed }: MaintenanceReport = await phone.maintain()
 */
export interface MaintenanceReport {
  /** Conversations where this device committed an update of its own leaf. */
  readonly selfUpdated: readonly ConversationId[];
  /** One-time KeyPackages uploaded to replace the stock (0: no rotation was due). */
  readonly keyPackagesRotated: number;
  /** Private halves of expired KeyPackages deleted from the store. */
  readonly keyPackagesDeleted: number;
  /** Tasks that failed (each also reported as a `maintenance-failed` event). */
  readonly failed: number;
}

/** @internal What maintenance needs from its device. */
export interface MaintenanceContext {
  readonly store: KeyStore;
  readonly conversations: ConversationRegistry;
  readonly committer: Pick<Committer, 'commit'>;
  readonly hub: EventHub<DeviceEvent>;
  readonly keyPackages: Pick<KeyPackageStock, 'rotate' | 'deleteExpired'>;
  /** Suites this app version runs but the key log does not state for the device yet (suite-statement.ts). */
  readonly suites?: { stateNew(): Promise<unknown> };
  /** Automatic backups: one runs when due (it reports its own `backup-stored` / `backup-failed`). */
  readonly backups?: { runDue(): Promise<unknown> };
  /** Default 7 days; `0` or `false`: no self-updates. */
  readonly selfUpdateIntervalMs?: number | false;
  now(): Date;
}

const HOUR_MS = 3_600_000;
export const DEFAULT_SELF_UPDATE_INTERVAL_MS = 7 * 24 * HOUR_MS;
/** The timer's period: the self-update interval, within these bounds. */
const MIN_PERIOD_MS = 1000;
const MAX_PERIOD_MS = HOUR_MS;
/** KeyPackage tasks on a timer tick at most this often (each asks the server for the stock). */
const KEY_PACKAGE_CHECK_MS = 6 * HOUR_MS;
/** Delay after the connection comes up, so that the mailbox is processed before anything is committed. */
const SETTLE_MS = 1000;

type Timer = ReturnType<typeof setTimeout>;

/** Lets the process exit while a timer is pending (Node); browsers' numeric timers have nothing to unref. */
function unref(timer: Timer): Timer {
  (timer as { unref?: () => void }).unref?.();
  return timer;
}

/** @internal The device's periodic upkeep; not part of the SDK's API. */
export class Maintenance {
  #settle: Timer | undefined;
  #timer: ReturnType<typeof setInterval> | undefined;
  #running: Promise<MaintenanceReport> | undefined;
  #stopped = false;
  /** Real time (not the device clock) of the last KeyPackage check; 0: due at the next run. */
  #keyPackagesChecked = 0;
  /** Last own-leaf update per conversation (ms on the device clock), as read from or written to the store. */
  readonly #lastUpdate = new Map<string, number>();

  constructor(private readonly ctx: MaintenanceContext) {}

  /** The self-update interval; undefined when self-updates are off. */
  private get interval(): number | undefined {
    const value = this.ctx.selfUpdateIntervalMs ?? DEFAULT_SELF_UPDATE_INTERVAL_MS;
    return value === false || !(value > 0) ? undefined : value;
  }

  /** The connection went up (a run soon, then one per period) or down (the timers stop). */
  onConnection(online: boolean): void {
    this.clearTimers();
    if (!online || this.#stopped) return;
    // A reconnect does not reset the KeyPackage check (at most every 6 h): a flaky network
    // reconnects often, and each check asks the server.
    const tick = () => void this.run(false).catch(() => {});
    this.#settle = unref(setTimeout(tick, SETTLE_MS));
    const period = Math.min(MAX_PERIOD_MS, Math.max(MIN_PERIOD_MS, this.interval ?? MAX_PERIOD_MS));
    this.#timer = unref(setInterval(tick, period));
  }

  /**
   * One run. `all`: the KeyPackage tasks too, however recently they ran (after the run under
   * way, if any); otherwise a run under way is joined. Never rejects.
   */
  run(all = true): Promise<MaintenanceReport> {
    if (all && this.#running) return this.#running.then(() => this.run(true));
    if (all) this.#keyPackagesChecked = 0;
    this.#running ??= this.runOnce().finally(() => {
      this.#running = undefined;
    });
    return this.#running;
  }

  /** No more runs; resolves when the one under way, if any, has finished. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.clearTimers();
    await this.#running?.catch(() => undefined);
  }

  private clearTimers(): void {
    if (this.#settle !== undefined) clearTimeout(this.#settle);
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#settle = this.#timer = undefined;
  }

  private async runOnce(): Promise<MaintenanceReport> {
    const report = { selfUpdated: [] as ConversationId[], keyPackagesRotated: 0, keyPackagesDeleted: 0, failed: 0 };
    if (this.#stopped) return report;
    const fail = (task: 'self-update' | 'key-package-rotation' | 'key-package-cleanup' | 'suites-statement', error: unknown, conversationId?: ConversationId) => {
      report.failed++;
      const code = isParleyError(error) ? error.code : 'maintenance_failed';
      this.ctx.hub.emit({ type: 'maintenance-failed', task, ...(conversationId === undefined ? {} : { conversationId }), code });
    };
    try {
      await this.ctx.suites?.stateNew();
    } catch (error) {
      fail('suites-statement', error);
    }
    if (Date.now() - this.#keyPackagesChecked >= KEY_PACKAGE_CHECK_MS) {
      this.#keyPackagesChecked = Date.now();
      try {
        report.keyPackagesRotated = await this.ctx.keyPackages.rotate();
      } catch (error) {
        fail('key-package-rotation', error);
      }
      try {
        report.keyPackagesDeleted = await this.ctx.keyPackages.deleteExpired();
      } catch (error) {
        fail('key-package-cleanup', error);
      }
    }
    // A failed automatic backup is reported by its own event and tried again at the next run.
    await this.ctx.backups?.runDue().catch(() => undefined);
    const interval = this.interval;
    if (interval === undefined) return report;
    for (const state of [...this.ctx.conversations.all()]) {
      if (this.#stopped) break;
      if (!state.meta.active) continue;
      const id = state.id;
      try {
        if (await this.selfUpdate(id, interval)) report.selfUpdated.push(id);
      } catch (error) {
        // Removed meanwhile: nothing to update.
        if (isParleyError(error) && (error.code === 'not_a_member' || error.code === 'unknown_conversation')) continue;
        fail('self-update', error, id);
      }
    }
    return report;
  }

  /** Commits an update of this device's leaf in the conversation if one is due; true if it did. */
  private async selfUpdate(id: ConversationId, interval: number): Promise<boolean> {
    if (!(await this.due(id, interval))) return false;
    let committed = false;
    await this.ctx.committer.commit(id, async () => {
      committed = false;
      // Under the lock: an interrupted commit is resubmitted first (recoverPending), and a
      // concurrent run may have updated the leaf meanwhile.
      if ((await this.ctx.store.get(RECORDS.pendingCommit(id))) !== undefined) return undefined;
      if (!(await this.due(id, interval))) return undefined;
      committed = true;
      return {};
    });
    if (!committed) return false;
    const at = this.ctx.now();
    const epoch = this.ctx.conversations.require(id).group.epoch.toString();
    const record: SelfUpdateRecordV1 = { v: 1, at: at.toISOString(), epoch };
    await this.ctx.store.write([putJson(RECORDS.selfUpdate(id), record)]);
    this.#lastUpdate.set(id, at.getTime());
    this.ctx.hub.emit({ type: 'self-updated', conversationId: id, epoch });
    return true;
  }

  /** True when this device's leaf in the conversation was last updated (or, if never, the conversation joined) `interval` ago or longer. */
  private async due(id: ConversationId, interval: number): Promise<boolean> {
    let last = this.#lastUpdate.get(id);
    if (last === undefined) {
      const record = await getJson<SelfUpdateRecordV1>(this.ctx.store, RECORDS.selfUpdate(id));
      last = Date.parse(record?.at ?? this.ctx.conversations.require(id).meta.createdAt);
      if (!Number.isFinite(last)) last = 0;
      this.#lastUpdate.set(id, last);
    }
    return this.ctx.now().getTime() - last >= interval;
  }
}
