/**
 * This device's KeyPackages: generated in batches, private halves kept in the
 * KeyStore (by KeyPackageRef) before the public halves are published. Each has a
 * bounded lifetime (RFC 9420 §7.2; default 30 days). The server never hands out
 * one whose lifetime ended and stops counting it, so the stock runs low and is
 * topped up; before that, once the oldest published one is past the rotation age,
 * the device replaces the whole stock (`replace`), and it deletes private halves
 * a grace period after their lifetime ended (docs/maintenance.md).
 */
import { toBase64 } from '@parley/core';
import { createKeyPackage, type MemberRef, type MlsSuite, type SignatureKeyPair } from '@parley/core/mls';
import type { ApiClient } from './api-client.js';
import type { EventHub } from './event-hub.js';
import type { DeviceEvent } from './events.js';
import type { KeyStore, KeyStoreOp } from './key-store.js';
import type { MlsSelf } from './mls-self.js';
import { KeyedMutex } from './mutex.js';
import { RECORDS, getJson, putJson, type KeyPackageRecordV1 } from './records.js';

const DAY_MS = 86_400_000;
/** Lifetime of a KeyPackage, one-time and last-resort alike (the `keyPackageLifetimeMs` device option). */
export const DEFAULT_KEY_PACKAGE_LIFETIME_MS = 30 * DAY_MS;
/** How long a private half is kept after its KeyPackage expired, for Welcomes still in flight (`keyPackageGraceMs`). */
export const DEFAULT_KEY_PACKAGE_GRACE_MS = 7 * DAY_MS;
/** The lifetime of KeyPackages whose records predate `notAfter` (createKeyPackage's default when they were made). */
const LEGACY_LIFETIME_MS = 28 * DAY_MS;

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
  lifetimeMs: number = DEFAULT_KEY_PACKAGE_LIFETIME_MS,
): Promise<GeneratedBatch> {
  const ops: KeyStoreOp[] = [];
  const oneTime: string[] = [];
  let lastResort: string | undefined;
  const total = count + (withLastResort ? 1 : 0);
  const lifetimeSeconds = Math.max(1, Math.ceil(lifetimeMs / 1000));
  for (let i = 0; i < total; i++) {
    const isLastResort = withLastResort && i === count;
    const kp = await createKeyPackage(suite, member, signatureKeys, { now, lifetimeSeconds });
    const record: KeyPackageRecordV1 = {
      v: 1,
      keyPackage: toBase64(kp.keyPackage),
      privateKey: toBase64(kp.privateKey),
      lastResort: isLastResort,
      createdAt: now.toISOString(),
      notAfter: new Date(Number(kp.notAfter) * 1000).toISOString(),
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
  /** Lifetime of new KeyPackages (default 30 days). */
  readonly lifetimeMs?: number;
  /** Age of the oldest published KeyPackage at which the stock is replaced (default: half the lifetime). */
  readonly rotateAfterMs?: number;
  /** Private halves are deleted this long after their KeyPackage expired (default 7 days). */
  readonly graceMs?: number;
  /** The suites the key log states for this device: one stock on the server per suite. */
  statedSuites(): readonly string[];
  now(): Date;
}

/** @internal Keeps the server's stock of this device's KeyPackages topped up and fresh; not part of the SDK's API. */
export class KeyPackageStock {
  private replenishing: Promise<void> | undefined;
  /** Uploads (top-up and rotation) run one at a time: a rotation must not withdraw a top-up racing it. */
  private readonly uploads = new KeyedMutex();

  constructor(private readonly ctx: KeyPackageStockContext) {}

  private get lifetimeMs(): number {
    return this.ctx.lifetimeMs ?? DEFAULT_KEY_PACKAGE_LIFETIME_MS;
  }

  /** Uploads fresh KeyPackages, per stated suite, where the server's stock is low (or always, with `force`); one run at a time. */
  replenish(force: boolean): Promise<void> {
    this.replenishing ??= this.uploads
      .run('stock', async () => {
        let uploaded: number | undefined;
        for (const suite of this.suites()) {
          const stock = await this.ctx.api.keyPackageStock(suite.name);
          if (!force && !stock.low) continue;
          const added = await this.upload(suite, Math.max(0, this.target(stock.lowWatermark) - stock.oneTime), !stock.lastResort, false);
          if (added !== undefined) uploaded = (uploaded ?? 0) + added;
        }
        if (uploaded !== undefined) this.ctx.hub.emit({ type: 'key-packages-replenished', uploaded });
      })
      .finally(() => {
        this.replenishing = undefined;
      });
    return this.replenishing;
  }

  /**
   * Replaces a suite's stock on the server when the first of its KeyPackages to expire was made
   * longer than the rotation age ago (its remaining lifetime is below lifetime − rotation age): a
   * full batch and a new last-resort KeyPackage, uploaded with `replace`. Returns how many one-time
   * KeyPackages it uploaded (0: not due). When not due, a low stock (KeyPackages expired while
   * connected: no claim told the device) is topped up as by `replenish`.
   */
  rotate(): Promise<number> {
    return this.uploads.run('stock', async () => {
      let rotated = 0;
      let due = false;
      const rotateAfterMs = this.ctx.rotateAfterMs ?? this.lifetimeMs / 2;
      for (const suite of this.suites()) {
        const stock = await this.ctx.api.keyPackageStock(suite.name);
        const remainingMs = stock.oldestNotAfter === undefined ? Infinity : Date.parse(stock.oldestNotAfter) - this.ctx.now().getTime();
        if (!(remainingMs < this.lifetimeMs - rotateAfterMs)) {
          if (!stock.low) continue;
          const added = await this.upload(suite, Math.max(0, this.target(stock.lowWatermark) - stock.oneTime), !stock.lastResort, false);
          if (added !== undefined) this.ctx.hub.emit({ type: 'key-packages-replenished', uploaded: added });
          continue;
        }
        due = true;
        rotated += (await this.upload(suite, this.target(stock.lowWatermark), true, true)) ?? 0;
      }
      if (due) this.ctx.hub.emit({ type: 'key-packages-rotated', uploaded: rotated });
      return rotated;
    });
  }

  /** The loaded suites the key log states for this device (a suite not yet stated has no stock to keep). */
  private suites(): MlsSuite[] {
    const stated = this.ctx.statedSuites();
    return [...this.ctx.mls.suites.values()].filter((suite) => stated.includes(suite.name));
  }

  /**
   * Deletes the private halves of KeyPackages whose lifetime ended more than the grace period
   * ago (a Welcome naming one can no longer be valid); returns how many.
   */
  async deleteExpired(): Promise<number> {
    const { store } = this.ctx;
    const cutoff = this.ctx.now().getTime() - (this.ctx.graceMs ?? DEFAULT_KEY_PACKAGE_GRACE_MS);
    const ops: KeyStoreOp[] = [];
    for (const name of await store.list(RECORDS.keyPackagePrefix)) {
      const record = await getJson<KeyPackageRecordV1>(store, name);
      if (!record) continue;
      const notAfter = record.notAfter !== undefined ? Date.parse(record.notAfter) : Date.parse(record.createdAt) + LEGACY_LIFETIME_MS;
      if (Number.isFinite(notAfter) && notAfter < cutoff) ops.push({ op: 'delete', name });
    }
    if (ops.length > 0) await store.write(ops);
    return ops.length;
  }

  /** One-time KeyPackages a full stock holds: twice the server's low watermark, at least one batch. */
  private target(lowWatermark: number): number {
    return Math.max(this.ctx.batchSize ?? 50, lowWatermark * 2);
  }

  /** Generates, persists (private halves first, as at enrollment) and uploads; undefined when there was nothing to upload. */
  private async upload(suite: MlsSuite, count: number, withLastResort: boolean, replace: boolean): Promise<number | undefined> {
    const { member, signatureKeys } = this.ctx.mls;
    const batch = await generateKeyPackages(suite, member, signatureKeys, count, withLastResort, this.ctx.now(), this.lifetimeMs);
    if (batch.ops.length === 0) return undefined;
    await this.ctx.store.write(batch.ops);
    await this.ctx.api.uploadKeyPackages({
      keyPackages: batch.oneTime,
      ...(batch.lastResort ? { lastResortKeyPackage: batch.lastResort } : {}),
      ...(replace ? { replace: true } : {}),
    });
    return batch.oneTime.length;
  }
}
