/**
 * Signed receipts of business messages: once a device has decrypted a message
 * and checked its content against the sender's signed commitment, it signs a
 * receipt (`delivered`, `read`, or `commitment-mismatch`) that the server
 * records in the audit log. Receipts wait in the KeyStore until the server has
 * them, so a crash or an outage delays a receipt but never loses it.
 */
import { toBase64, type Ed25519Signer } from '@parley/core';
import { signReceiptWith, type Receipt, type ReceiptStatus } from '@parley/core/audit';
import type { ApiClient } from './api-client.js';
import { isRetryable } from './errors.js';
import type { KeyStore, KeyStoreOp } from './key-store.js';
import { getJson, putJson } from './records.js';

const PREFIX = 'receipts/';

interface PendingReceipt {
  v: 1;
  receipt: Receipt;
  signature: string;
}

/** @internal Receipts waiting for the server; not part of the SDK's API. */
export class ReceiptOutbox {
  private flushing: Promise<void> | undefined;
  /** A flush was asked for while one ran: receipts written since then still need a pass. */
  private again = false;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private closed = false;

  constructor(
    private readonly api: Pick<ApiClient, 'postReceipt'>,
    private readonly store: KeyStore,
    private readonly identity: Ed25519Signer,
    private readonly self: { identityId: string; deviceId: string },
    private readonly onRejected: (receipt: Receipt, code: string) => void,
  ) {}

  /** Signs a receipt and keeps it until the server has it. Returns the store operation (write it with the message). */
  async prepare(messageId: string, commitmentHash: string, status: ReceiptStatus, now: Date): Promise<KeyStoreOp> {
    const receipt: Receipt = {
      v: 1,
      messageId,
      commitmentHash,
      identityId: this.self.identityId,
      deviceId: this.self.deviceId,
      status,
      time: now.toISOString(),
    };
    const pending: PendingReceipt = { v: 1, receipt, signature: toBase64(await signReceiptWith(this.identity, receipt)) };
    return putJson(`${PREFIX}${messageId}.${status}`, pending);
  }

  /** Sends what is pending (soon, batched). */
  kick(delayMs = 0): void {
    if (this.closed || this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      // Failures leave the receipts pending for the next pass; none may go unhandled.
      this.flush().catch(() => {});
    }, delayMs);
  }

  flush(): Promise<void> {
    if (this.flushing) {
      this.again = true;
      return this.flushing;
    }
    this.flushing = (async () => {
      do {
        this.again = false;
        if (!(await this.flushNow())) break;
      } while (this.again && !this.closed);
    })().finally(() => (this.flushing = undefined));
    return this.flushing;
  }

  /** One pass over the pending receipts; false when the server is unreachable (a retry is scheduled). */
  private async flushNow(): Promise<boolean> {
    for (const name of await this.store.list(PREFIX)) {
      // Closed: the device is going away (and its store may be next); the rest stay pending.
      if (this.closed) return false;
      const pending = await getJson<PendingReceipt>(this.store, name);
      if (!pending) continue;
      try {
        await this.api.postReceipt({ receipt: pending.receipt, signature: pending.signature });
      } catch (error) {
        if (isRetryable(error)) {
          this.kick(2000);
          return false;
        }
        this.onRejected(pending.receipt, (error as { code?: string }).code ?? 'rejected');
      }
      await this.store.write([{ op: 'delete', name }]);
    }
    return true;
  }

  /** Stops sending; resolves once a pass in progress has finished (receipts it did not send stay pending). */
  close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    return (this.flushing ?? Promise.resolve()).catch(() => {});
  }
}
