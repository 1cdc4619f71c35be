/**
 * Acknowledgements: a device's acks are batched with everyone's into ONE statement that
 * deletes the delivery rows, counts the envelopes down (clearing the ciphertext at zero)
 * and, with routing, marks the routes their recipient acknowledged (`routes.acked_at`).
 * The router then finishes those routes off the ack's path (the ack hook).
 */
import type { Logger } from 'pino';
import { ForbiddenError, type AckResponse } from '@parley/core';
import { acknowledge, classifyNotPending } from '../repos/mailbox.js';
import { retryTransient, type Database } from '../storage/database.js';
import type { Router } from '../routing/router.js';
import { GroupCommitter, type Batching, type FlushResult } from './group-commit.js';

interface AckRequest {
  readonly deviceId: string;
  readonly ids: readonly string[];
}

/** Longest wait for routing ack hooks on shutdown. */
const ACK_HOOK_DRAIN_MS = 5_000;

/**
 * @example
 * const acks = new AckWriter(db, batching, log, router);
 * const { acked, unknown } = await acks.submit(deviceId, ['17', '18']);
 */
export class AckWriter {
  private readonly committer: GroupCommitter<AckRequest, AckResponse>;
  /** Routing ack hooks in flight (awaited by `drainHooks`). */
  private readonly hooks = new Set<Promise<void>>();

  constructor(
    private readonly db: Database,
    batching: Batching,
    private readonly log: Logger,
    private readonly router?: Router,
  ) {
    this.committer = new GroupCommitter((items) => this.flush(items), batching);
  }

  /**
   * Acknowledges envelopes of `deviceId` (they leave its mailbox; the ciphertext goes once
   * every recipient acknowledged). Repeated acks and ids that no longer exist are reported,
   * not refused. Ids of envelopes never addressed to this device are refused with 403
   * `ack_forbidden`; the device's own ids in the same request are still acknowledged, and
   * nothing of another device changes.
   */
  submit(deviceId: string, ids: readonly string[]): Promise<AckResponse> {
    return this.committer.submit({ deviceId, ids });
  }

  /** Waits for queued acks to commit. */
  drainWrites(): Promise<void> {
    return this.committer.drain();
  }

  /** Waits (bounded) for the routing hooks of committed acks: one cut off is redone by the next start's reconciliation. */
  async drainHooks(): Promise<void> {
    const deadline = Date.now() + ACK_HOOK_DRAIN_MS;
    while (this.hooks.size > 0 && Date.now() < deadline) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([Promise.all([...this.hooks]), new Promise((r) => (timer = setTimeout(r, deadline - Date.now())))]);
      clearTimeout(timer);
    }
  }

  private async flush(requests: readonly AckRequest[]): Promise<FlushResult<AckResponse>[]> {
    const pairs = requests.flatMap((r) => r.ids.map((envelopeId) => ({ deviceId: r.deviceId, envelopeId })));
    // With routing, the same statement marks the routes their recipient acknowledged
    // (routes.acked_at): from its commit on, no fallback step hands anything to a provider.
    let routed = new Set<string>();
    const done = await retryTransient(() => {
      routed = new Set<string>();
      return acknowledge(this.db, pairs, this.router ? routed : undefined);
    });
    if (this.router && routed.size > 0) this.startHook(this.router, [...routed]);
    const leftovers = pairs.filter((p) => !done.has(`${p.deviceId}\n${p.envelopeId}`));
    const classes = await classifyNotPending(this.db, leftovers);
    return requests.map((r): FlushResult<AckResponse> => {
      let acked = 0;
      const unknown: string[] = [];
      const forbidden: string[] = [];
      for (const id of r.ids) {
        const key = `${r.deviceId}\n${id}`;
        if (done.has(key)) acked++;
        else {
          const c = classes.get(key);
          if (c === 'unknown') unknown.push(id);
          else if (c === 'forbidden') forbidden.push(id);
        }
      }
      if (forbidden.length > 0) {
        return {
          ok: false,
          error: new ForbiddenError('ack_forbidden', 'some ids are not addressed to this device', { details: { ids: forbidden, acked } }),
        };
      }
      return { ok: true, value: { acked, unknown } };
    });
  }

  /**
   * Off the ack's path: the router finishes those routes (revokes, confirms, records the path).
   * Tracked so that a graceful stop waits for it; after a crash, the start-up reconciliation does it.
   */
  private startHook(router: Router, envelopeIds: string[]): void {
    const hook: Promise<void> = router
      .onAcked(envelopeIds)
      .catch((error: unknown) => this.log.warn({ err: error instanceof Error ? error.message : 'error' }, 'routing ack hook failed; the route is finished at its next step'))
      .finally(() => this.hooks.delete(hook));
    this.hooks.add(hook);
  }
}
