/**
 * The clean end of a revoked device. When a device that was revoked (by its owner, by the
 * business, or by a reset after a lost phone) proves its key to open a session, the server
 * refuses with `device_revoked` and a notice: its identity's key-log lookup (entries, inclusion
 * proofs, a signed checkpoint). The device verifies that notice like any lookup
 * (`KeyLogVerifier.verifyLookup`: VRF label, checkpoint signature and consistency with what it
 * saw before, inclusion, replay). Only when the verified log shows this very device revoked does
 * it act: it stops sending, discards its outbox (an `outbox-discarded` event names the messages
 * that were never sent), wipes every record of its KeyStore (identity and MLS keys, group states,
 * KeyPackages, history), tells the app (`device-revoked`) and refuses every further call
 * (`DeviceRevokedError`). A refusal whose notice does not verify wipes nothing: a server (or
 * anyone in between) cannot make a device destroy itself without the log showing it.
 */
import { Compile } from '@parley/core/typebox';
import { KeyLookupResponseSchema, equalBytes, isParleyError } from '@parley/core';
import { ApiError, ClientError } from './errors.js';
import type { EventHub } from './event-hub.js';
import type { DeviceEvent } from './events.js';
import type { KeyStore, KeyStoreOp } from './key-store.js';
import type { KeyLogVerifier } from './key-transparency.js';
import { RECORDS, getJson, type OutboxRecordV1 } from './records.js';

const checkNotice = Compile(KeyLookupResponseSchema);
/** Records deleted per store batch while wiping. */
const WIPE_BATCH = 500;

/**
 * This device was revoked and has wiped itself (`device_revoked`), or a server said it was
 * revoked without a notice the key log confirms (`revocation_unverified`; nothing was wiped,
 * the device keeps trying to connect).
 *
 * @example
 * try { await phone.send(conversationId, 'hi') } catch (e) { if (e instanceof DeviceRevokedError && e.code === 'device_revoked') showSignedOut() }
 */
export class DeviceRevokedError extends ClientError {
  declare readonly code: 'device_revoked' | 'revocation_unverified';

  constructor(code: 'device_revoked' | 'revocation_unverified', message: string, options: { cause?: unknown; details?: Record<string, unknown> } = {}) {
    super(code, message, options);
    this.name = 'DeviceRevokedError';
  }
}

/** @internal What the revocation handler needs from its device. */
export interface RevocationContext {
  readonly store: KeyStore;
  readonly verifier: Pick<KeyLogVerifier, 'verifyLookup'>;
  readonly hub: EventHub<DeviceEvent>;
  readonly identityId: string;
  readonly deviceId: string;
  /** The device's current identity public key. */
  identityKey(): Uint8Array;
  /** Stops the outbox, the receiver and the connection (nothing is sent or written after it). */
  stop(): Promise<void>;
}

/** @internal Turns a verified `device_revoked` refusal into the device's end; not part of the SDK's API. */
export class RevocationHandler {
  #revoked: DeviceRevokedError | undefined;
  #handling: Promise<never> | undefined;

  constructor(private readonly ctx: RevocationContext) {}

  /** The error every call gets once the device has ended, if it has. */
  get revoked(): DeviceRevokedError | undefined {
    return this.#revoked;
  }

  /** Throws when the device has ended (after a revocation under way has finished). */
  async assertActive(): Promise<void> {
    await this.#handling?.catch(() => {});
    if (this.#revoked) throw this.#revoked;
  }

  /**
   * Handles an error the server answered a session request with: a `device_revoked` refusal
   * ends the device when its notice verifies (always throws). Other errors pass through.
   */
  async onSessionRefused(error: unknown): Promise<never> {
    if (this.#revoked) throw this.#revoked;
    if (!(error instanceof ApiError) || error.code !== 'device_revoked') throw error;
    this.#handling ??= this.handle(error).finally(() => (this.#handling = undefined));
    return this.#handling;
  }

  private async handle(error: ApiError): Promise<never> {
    const notice = error.details?.['notice'];
    if (!checkNotice.Check(notice)) {
      throw new DeviceRevokedError('revocation_unverified', 'the server says this device was revoked but sent no key-log notice', { cause: error });
    }
    const { identityId, deviceId } = this.ctx;
    let verified;
    try {
      verified = await this.ctx.verifier.verifyLookup(identityId, notice);
    } catch (cause) {
      throw new DeviceRevokedError('revocation_unverified', 'the revocation notice does not verify against the key log', {
        cause,
        details: { reason: isParleyError(cause) ? cause.code : 'invalid' },
      });
    }
    const self = verified.devices.get(deviceId);
    if (!self || self.status !== 'revoked' || !equalBytes(self.identityKey, this.ctx.identityKey())) {
      throw new DeviceRevokedError('revocation_unverified', 'the verified key log does not show this device revoked');
    }
    await this.ctx.stop();
    const discarded = await this.discardedMessages();
    await this.wipe();
    this.#revoked = new DeviceRevokedError('device_revoked', 'this device was revoked; its keys and records are wiped', {
      details: { revokedBy: self.revokedBy ?? 'unknown', checkpointSize: verified.checkpoint.size },
    });
    if (discarded.length > 0) this.ctx.hub.emit({ type: 'outbox-discarded', reason: 'device-revoked', messageIds: discarded });
    this.ctx.hub.emit({ type: 'device-revoked', deviceId, revokedBy: self.revokedBy ?? 'unknown', checkpointSize: verified.checkpoint.size });
    throw this.#revoked;
  }

  /** The ids of the messages waiting in the outbox (never sent now). */
  private async discardedMessages(): Promise<string[]> {
    const ids = new Set<string>();
    for (const name of await this.ctx.store.list(RECORDS.outboxPrefix)) {
      const record = await getJson<OutboxRecordV1>(this.ctx.store, name).catch(() => undefined);
      if (record?.messageId) ids.add(record.messageId);
    }
    return [...ids];
  }

  /** Deletes every record of the store, in batches. */
  private async wipe(): Promise<void> {
    const names = await this.ctx.store.list('');
    for (let i = 0; i < names.length; i += WIPE_BATCH) {
      const ops: KeyStoreOp[] = names.slice(i, i + WIPE_BATCH).map((name) => ({ op: 'delete', name }));
      await this.ctx.store.write(ops);
    }
  }
}
