/**
 * An app update brings a cipher suite (X-Wing) to an enrolled device: the device states its
 * new list of suites in the key log, signed by its identity key (`suitesMessage`, the next
 * `seq`), with KeyPackages of each added suite, persisted first like every KeyPackage. From
 * then on contacts' clients read the suites from the verified log and may put the device in
 * post-quantum conversations (docs/post-quantum.md).
 */
import { toBase64, toBase64Url } from '@parley/core';
import { suitesMessage } from '@parley/core/keylog';
import type { ApiClient } from './api-client.js';
import { ApiError } from './errors.js';
import type { EventHub } from './event-hub.js';
import type { DeviceEvent } from './events.js';
import { generateKeyPackages, type GeneratedBatch } from './key-packages.js';
import type { KeyStore } from './key-store.js';
import type { LiveKeyring } from './live-keyring.js';
import type { MlsSelf } from './mls-self.js';
import { RECORDS, putJson, statedSuites, type DeviceRecordV1 } from './records.js';

/** @internal What stating new suites needs from its device. */
export interface SuiteStatementContext {
  readonly store: KeyStore;
  /** The device record (updated in place once the server logged the statement). */
  readonly record: DeviceRecordV1;
  readonly ring: LiveKeyring;
  readonly mls: MlsSelf;
  readonly api: Pick<ApiClient, 'announceSuites'>;
  readonly hub: EventHub<DeviceEvent>;
  readonly batchSize?: number;
  readonly lifetimeMs?: number;
  now(): Date;
}

/** @internal States the suites this device runs but its record has not stated yet; not part of the SDK's API. */
export class SuiteStatement {
  constructor(private readonly ctx: SuiteStatementContext) {}

  /** The suites the key log states for this device. */
  stated(): readonly string[] {
    return statedSuites(this.ctx.record);
  }

  /**
   * States every loaded suite when one is not stated yet; returns the key-log index of the
   * statement (undefined: nothing to state). The record changes only after the server logged it.
   */
  async stateNew(): Promise<number | undefined> {
    const { record, mls } = this.ctx;
    const stated = this.stated();
    const all = [...mls.suites.keys()];
    const added = all.filter((name) => !stated.includes(name));
    if (added.length === 0 || record.status === 'pending' || record.kind === undefined) return undefined;
    const suites = [...stated, ...added];
    const batches: GeneratedBatch[] = [];
    for (const name of added) {
      batches.push(await generateKeyPackages(mls.suites.get(name)!, mls.member, mls.signatureKeys, this.ctx.batchSize ?? 50, true, this.ctx.now(), this.ctx.lifetimeMs));
    }
    // Private halves first: a crash after the server accepted must not lose them.
    await this.ctx.store.write(batches.flatMap((batch) => batch.ops));
    const identity = this.ctx.ring.identity;
    const announce = async (seq: number) => {
      const signature = await identity.sign(suitesMessage({ deviceId: record.deviceId, identityKey: toBase64Url(identity.publicKey), seq, suites }));
      const body = { suites, seq, signature: toBase64(signature), keyPackages: batches.flatMap((batch) => batch.oneTime), lastResortKeyPackages: batches.map((batch) => batch.lastResort!) };
      return { seq, ...(await this.ctx.api.announceSuites(body)) };
    };
    let seq = (record.suitesSeq ?? 0) + 1;
    let result;
    try {
      result = await announce(seq);
    } catch (error) {
      // The server logged a later statement than the record knows (a crash after it accepted one,
      // before the record was written): state the list again, after the one it holds.
      const logged = error instanceof ApiError && error.code === 'suites_stale' ? (error.details as { seq?: unknown } | undefined)?.seq : undefined;
      if (typeof logged !== 'number') throw error;
      result = await announce(logged + 1);
    }
    ({ seq } = result);
    const { keyLog } = result;
    const next: DeviceRecordV1 = { ...record, suites, suitesSeq: seq };
    await this.ctx.store.write([putJson(RECORDS.device, next)]);
    Object.assign(record, next);
    this.ctx.hub.emit({ type: 'suites-stated', suites, index: keyLog.index });
    return keyLog.index;
  }
}
