/**
 * The way out of a device: every request to the delivery service goes through
 * `submit` (WebSocket when online, else HTTP; transient failures retried with
 * the same idempotency key, so a retry never delivers twice). A message waits
 * in the outbox record until the server has accepted it; `flush` resubmits what
 * an interruption or a restart left there.
 */
import { parseConversationId, toBase64Url, type SubmitRequest, type SubmitResponse } from '@parley/core';
import { commitmentHash } from '@parley/core/audit';
import type { ApiClient } from './api-client.js';
import type { SendResult } from './device-options.js';
import { ApiError, TransportError, isRetryable } from './errors.js';
import type { KeyStore, KeyStoreOp } from './key-store.js';
import { RECORDS, getJson, putJson, type OutboxRecordV1 } from './records.js';

/** The WebSocket as the outbox uses it (`RealtimeChannel`). */
export interface SubmitChannel {
  readonly online: boolean;
  submit(request: SubmitRequest): Promise<SubmitResponse>;
}

/** How `submit` retries transient failures (defaults: 6 retries, 200 ms doubling to 5 s, jittered). */
export interface RetryPolicy {
  readonly retries?: number;
  readonly initialDelayMs?: number;
  readonly maxDelayMs?: number;
  /** Waits `ms` (tests replace it). */
  readonly sleep?: (ms: number) => Promise<void>;
}

/** @internal What the outbox needs from its device. */
export interface OutboxContext {
  readonly store: KeyStore;
  readonly api: Pick<ApiClient, 'submit'>;
  /** The device's WebSocket, when it has one. */
  readonly channel: () => SubmitChannel | undefined;
  readonly retry?: RetryPolicy;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** @internal The device's outbox and submission path; not part of the SDK's API. */
export class Outbox {
  #closed = false;

  constructor(private readonly ctx: OutboxContext) {}

  /** Stops retrying: a submission failing after this throws at once. */
  close(): void {
    this.#closed = true;
  }

  /** Submits over the WebSocket when online, else HTTP; retries transient failures with the same key. */
  async submit(request: SubmitRequest): Promise<SubmitResponse> {
    const retries = this.ctx.retry?.retries ?? 6;
    const wait = this.ctx.retry?.sleep ?? sleep;
    let delay = this.ctx.retry?.initialDelayMs ?? 200;
    for (let attempt = 0; ; attempt++) {
      try {
        const channel = this.ctx.channel();
        if (channel?.online) {
          try {
            return await channel.submit(request);
          } catch (error) {
            if (!(error instanceof TransportError)) throw error;
          }
        }
        return await this.ctx.api.submit(request);
      } catch (error) {
        if (!isRetryable(error) || attempt >= retries || this.#closed) throw error;
        const hinted = error instanceof ApiError ? Number(error.details?.['retryAfterMs'] ?? 0) : 0;
        await wait(Math.max(hinted, delay / 2 + Math.random() * delay));
        delay = Math.min(delay * 2, this.ctx.retry?.maxDelayMs ?? 5000);
      }
    }
  }

  /** The outbox record of an earlier send with this idempotency key, if it still waits. */
  pending(idempotencyKey: string): Promise<OutboxRecordV1 | undefined> {
    return getJson<OutboxRecordV1>(this.ctx.store, RECORDS.outbox(idempotencyKey));
  }

  /** The store operation that puts `record` in the outbox (written with the ratchet it used). */
  putOp(record: OutboxRecordV1): KeyStoreOp {
    return putJson(RECORDS.outbox(record.request.idempotencyKey), record);
  }

  /** Submits an outbox record and, once the server has it, removes it. */
  async deliver(record: OutboxRecordV1): Promise<SendResult> {
    const res = await this.submit(record.request);
    await this.ctx.store.write([{ op: 'delete', name: RECORDS.outbox(record.request.idempotencyKey) }]);
    return {
      // The request was built from this device's conversation (a parsed id): this parse cannot fail.
      conversationId: parseConversationId(record.request.conversationId),
      messageId: record.messageId,
      envelopeId: res.id,
      duplicate: res.duplicate,
      recipients: res.recipients,
      storedBytes: res.storedBytes,
      epoch: record.epoch,
      ...(record.request.commitment && res.audit
        ? { audit: { commitmentHash: res.audit.commitmentHash ?? toBase64Url(commitmentHash(record.request.commitment.body)), index: res.audit.index } }
        : {}),
    };
  }

  /** Resubmits every message still in the outbox; one that fails stays for the next flush. */
  async flush(): Promise<void> {
    for (const name of await this.ctx.store.list(RECORDS.outboxPrefix)) {
      const record = await getJson<OutboxRecordV1>(this.ctx.store, name);
      if (record) await this.deliver(record).catch(() => {});
    }
  }
}
