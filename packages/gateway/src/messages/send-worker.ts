/**
 * The leader's sending loop: claims due messages, sends each through the sender identity
 * with the gateway's message id as both the content id and the idempotency key (a resend
 * after a crash is the same message end to end: the server keeps the first, the customer
 * sees one), and records the outcome with its event. Messages to one customer go in the
 * order they were accepted; customers are served in parallel.
 */
import { identityIdOf, isParleyError } from '@parley/core';
import { isRetryable, type Sender } from '@parley/client';
import type { Channel, Database } from '@parley/server';
import { isTransientError, smsDeliver } from '@parley/server';
import type { ClaimedMessage, MessageStore } from './message-store.js';

export interface SendWorkerOptions {
  readonly db: Database;
  readonly messages: MessageStore;
  readonly sender: Sender;
  /** The business's own SMS provider: web links are sent through it (the Parley server never sees their key). */
  readonly sms?: Channel;
  readonly brand: string;
  readonly log: { info(o: object, m: string): void; warn(o: object, m: string): void };
  readonly batchSize?: number;
  readonly concurrency?: number;
  readonly idleMs?: number;
  /** Attempts before a message that keeps failing transiently is given up. */
  readonly maxAttempts?: number;
}

/** Codes after which trying again cannot help. */
const PERMANENT = new Set(['lease_lost']);

/**
 * @example
 * const worker = new SendWorker({ db, messages, sender, brand: 'Example Bank', log })
 * worker.start(); …; await worker.stop()
 */
export class SendWorker {
  readonly #o: SendWorkerOptions;
  #running = false;
  #loop: Promise<void> = Promise.resolve();
  #wake: (() => void) | undefined;

  constructor(options: SendWorkerOptions) {
    this.#o = options;
  }

  start(): void {
    this.#running = true;
    this.#loop = this.#run();
  }

  /** New work arrived: claim now instead of after the idle pause. */
  poke(): void {
    this.#wake?.();
  }

  async stop(): Promise<void> {
    this.#running = false;
    this.#wake?.();
    await this.#loop;
  }

  async #run(): Promise<void> {
    const { db, messages, log } = this.#o;
    while (this.#running) {
      let claimed: ClaimedMessage[] = [];
      try {
        claimed = await messages.claimDue(db, this.#o.batchSize ?? 200);
      } catch (error) {
        log.warn({ err: describe(error) }, 'gateway: claiming messages failed');
      }
      if (claimed.length === 0) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, this.#o.idleMs ?? 200);
          this.#wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        this.#wake = undefined;
        continue;
      }
      await this.#sendAll(claimed);
    }
  }

  /** One queue per customer (in order), `concurrency` customers at a time. */
  async #sendAll(claimed: readonly ClaimedMessage[]): Promise<void> {
    const byCustomer = new Map<string, ClaimedMessage[]>();
    for (const m of claimed) byCustomer.set(m.customerId, [...(byCustomer.get(m.customerId) ?? []), m]);
    const queues = [...byCustomer.values()];
    const lanes = Array.from({ length: Math.min(this.#o.concurrency ?? 32, queues.length) }, async () => {
      for (let q = queues.shift(); q && this.#running; q = queues.shift()) {
        for (const m of q) {
          if (!this.#running) return;
          await this.#sendOne(m);
        }
      }
    });
    await Promise.all(lanes);
  }

  async #sendOne(m: ClaimedMessage): Promise<void> {
    const { db, messages, sender } = this.#o;
    try {
      const existing = await sender.conversationWith(m.customerId);
      if (existing === undefined) {
        if ((await this.#activeDevices(m.customerId)) === 0) return await this.#sendToWeb(m);
      }
      const sent = await sender.send(m.customerId, m.body, { class: m.class, messageId: m.id, idempotencyKey: m.id });
      if (sent.customerDevices.length === 0) {
        await messages.transition(db, m.id, { status: 'failed', reason: 'no_active_devices', mode: 'app', erase: true, settled: true }, { type: 'message.failed', data: { reason: 'no_active_devices' } });
        return;
      }
      await messages.transition(
        db,
        m.id,
        { status: 'sent', mode: 'app', erase: true },
        {
          type: 'message.sent',
          data: {
            mode: 'app',
            devices: sent.customerDevices.length,
            // The MLS suite (docs/post-quantum.md) and the devices a post-quantum-only class did not reach.
            suite: sent.suite,
            ...(sent.withheldFrom.length > 0 ? { withheld: sent.withheldFrom.length } : {}),
            ...(sent.audit ? { auditIndex: String(sent.audit.index) } : {}),
          },
        },
      );
    } catch (error) {
      await this.#failed(m, error);
    }
  }

  /** How many approved devices the customer has in the verified key log (0 for an identity never enrolled). */
  async #activeDevices(customerId: string): Promise<number> {
    const { sender } = this.#o;
    try {
      return (await sender.device.activeDevices([identityIdOf(sender.device.businessId, customerId)])).length;
    } catch (error) {
      if (isParleyError(error) && error.code === 'unknown_identity') return 0;
      throw error;
    }
  }

  /** A customer without the app: the server's policy decides (block, invite, or a web link this gateway sends). */
  async #sendToWeb(m: ClaimedMessage): Promise<void> {
    const { db, messages, sender, sms, brand } = this.#o;
    if (!m.phone) {
      await messages.transition(db, m.id, { status: 'failed', reason: 'customer_unknown', erase: true, settled: true }, { type: 'message.failed', data: { reason: 'customer_unknown' } });
      return;
    }
    const result = await sender.sendToWeb(m.customerId, m.phone, m.body, {
      class: m.class,
      messageId: m.id,
      // The business's own SMS account (server/src/channels/sender-sms.ts): the link's key never reaches Parley.
      deliver: sms ? smsDeliver(sms, brand) : async () => ({ ok: false, reason: 'no_sms_provider' }),
    });
    if (result.state === 'invited') {
      await messages.transition(db, m.id, { status: 'invited', path: 'invited', mode: 'web', erase: true, reportedState: 'invited' }, { type: 'message.fallback', data: { path: 'invited', decision: 'invited' } });
    } else if (result.state === 'blocked' || result.state === 'failed') {
      const reason = result.state === 'blocked' ? 'policy_blocked' : 'web_link_failed';
      await messages.transition(db, m.id, { status: 'failed', path: result.path === 'pending' ? null : result.path, reason, mode: 'web', erase: true, reportedState: result.state }, { type: 'message.failed', data: { reason, path: result.path } });
    } else {
      await messages.transition(db, m.id, { status: 'sent', mode: 'web', erase: true, reportedState: 'active' }, { type: 'message.sent', data: { mode: 'web', channel: 'sms', ...(result.expiresAt ? { expiresAt: result.expiresAt } : {}) } });
    }
  }

  async #failed(m: ClaimedMessage, error: unknown): Promise<void> {
    const { db, messages, log } = this.#o;
    const code = isParleyError(error) ? error.code : 'internal_error';
    if (PERMANENT.has(code)) {
      // Deposed: the message stays claimed; the new leader resends it with the same id.
      this.#running = false;
      return;
    }
    const retryable = isRetryable(error) || isTransientError(error) || !isParleyError(error);
    if (retryable && m.attempts < (this.#o.maxAttempts ?? 12)) {
      const delay = Math.min(2 ** m.attempts, 300);
      log.warn({ messageId: m.id, code, attempt: m.attempts, retryInSeconds: delay }, 'gateway: send failed; will retry');
      await messages.transition(db, m.id, { status: 'queued', reason: code, retryInSeconds: delay }).catch(() => {});
      return;
    }
    log.warn({ messageId: m.id, code }, 'gateway: send failed for good');
    await messages.transition(db, m.id, { status: 'failed', reason: code, erase: true, settled: true }, { type: 'message.failed', data: { reason: code } }).catch(() => {});
  }
}

function describe(error: unknown): string {
  return isParleyError(error) ? error.code : error instanceof Error ? error.name : 'error';
}
