/**
 * This device's KeyPackages: generated in batches, private halves kept in the
 * KeyStore (by KeyPackageRef) before the public halves are published.
 */
import { toBase64 } from '@parley/core';
import { createKeyPackage, type MemberRef, type MlsSuite, type SignatureKeyPair } from '@parley/core/mls';
import type { ApiClient } from './api-client.js';
import type { EventHub } from './event-hub.js';
import type { DeviceEvent } from './events.js';
import type { KeyStore, KeyStoreOp } from './key-store.js';
import type { MlsSelf } from './mls-self.js';
import { RECORDS, putJson, type KeyPackageRecordV1 } from './records.js';

export interface GeneratedBatch {
  /** Store operations that persist the private halves. */
  ops: KeyStoreOp[];
  /** Published halves (base64). */
  oneTime: string[];
  lastResort: string | undefined;
}

export async function generateKeyPackages(
  suite: MlsSuite,
  member: MemberRef,
  signatureKeys: SignatureKeyPair,
  count: number,
  withLastResort: boolean,
  now: Date,
): Promise<GeneratedBatch> {
  const ops: KeyStoreOp[] = [];
  const oneTime: string[] = [];
  let lastResort: string | undefined;
  const total = count + (withLastResort ? 1 : 0);
  for (let i = 0; i < total; i++) {
    const isLastResort = withLastResort && i === count;
    const kp = await createKeyPackage(suite, member, signatureKeys, { now });
    const record: KeyPackageRecordV1 = {
      v: 1,
      keyPackage: toBase64(kp.keyPackage),
      privateKey: toBase64(kp.privateKey),
      lastResort: isLastResort,
      createdAt: now.toISOString(),
    };
    ops.push(putJson(RECORDS.keyPackage(kp.ref), record));
    if (isLastResort) lastResort = record.keyPackage;
    else oneTime.push(record.keyPackage);
  }
  return { ops, oneTime, lastResort };
}

/** @internal What topping up the server's KeyPackage stock needs from its device. */
export interface KeyPackageStockContext {
  readonly store: KeyStore;
  readonly mls: MlsSelf;
  readonly api: Pick<ApiClient, 'keyPackageStock' | 'uploadKeyPackages'>;
  readonly hub: EventHub<DeviceEvent>;
  /** One-time KeyPackages per batch (default 50). */
  readonly batchSize?: number;
  now(): Date;
}

/** @internal Keeps the server's stock of this device's KeyPackages topped up; not part of the SDK's API. */
export class KeyPackageStock {
  private replenishing: Promise<void> | undefined;

  constructor(private readonly ctx: KeyPackageStockContext) {}

  /** Uploads fresh KeyPackages when the server's stock is low (or always, with `force`); one run at a time. */
  replenish(force: boolean): Promise<void> {
    this.replenishing ??= (async () => {
      try {
        const stock = await this.ctx.api.keyPackageStock();
        if (!force && !stock.low) return;
        // Top up to twice the server's low watermark (at least one batch).
        const target = Math.max(this.ctx.batchSize ?? 50, stock.lowWatermark * 2);
        const count = Math.max(0, target - stock.oneTime);
        const { suite, member, signatureKeys } = this.ctx.mls;
        const batch = await generateKeyPackages(suite, member, signatureKeys, count, !stock.lastResort, this.ctx.now());
        if (batch.ops.length === 0) return;
        // Private halves first, as at enrollment.
        await this.ctx.store.write(batch.ops);
        await this.ctx.api.uploadKeyPackages({
          keyPackages: batch.oneTime,
          ...(batch.lastResort ? { lastResortKeyPackage: batch.lastResort } : {}),
        });
        this.ctx.hub.emit({ type: 'key-packages-replenished', uploaded: batch.oneTime.length });
      } finally {
        this.replenishing = undefined;
      }
    })();
    return this.replenishing;
  }
}
