/**
 * A device replaces its own identity and MLS signature keys (docs/key-rotation.md):
 *
 * 1. new keys (generated, or from the new external signers given) and KeyPackages under them;
 * 2. the rotation message signed by the current identity key (authority) and the new one
 *    (possession); the new private halves are persisted as a pending rotation *before* the
 *    server hears of it, so a crash after the server logged it cannot lose them;
 * 3. the server logs a `device-rotated` entry; the device record then takes the new keys and
 *    the running device switches to them;
 * 4. every conversation is re-keyed: an external commit that replaces this device's leaf with
 *    one carrying the new credential key (RFC 9420 §12.4.3.2), so no group keeps the old key.
 *
 * Contacts replay the entry: the chain old key → new key is signed, so a verified contact stays
 * verified (`DeviceKeys.verificationState`) and their SDK reports `member-rekeyed`, never a
 * key change they cannot explain. Compromise is another matter: revoke, do not rotate.
 */
import { equalBytes, fromBase64, isParleyError, toBase64, toBase64Url, type IdentityId } from '@parley/core';
import { rotationMessage } from '@parley/core/keylog';
import type { ApiClient } from './api-client.js';
import type { KeyLogAuthenticator } from './authenticator.js';
import type { ConversationRegistry } from './conversations.js';
import { newKeyring, openKeyring, type DeviceSigners } from './device-signers.js';
import { DeviceKeysError, SignerError } from './errors.js';
import type { EventHub } from './event-hub.js';
import type { DeviceEvent } from './events.js';
import type { KeyStore } from './key-store.js';
import { generateKeyPackages, type GeneratedBatch } from './key-packages.js';
import type { LiveKeyring } from './live-keyring.js';
import type { Receiver } from './receiver.js';
import { RECORDS, getJson, putJson, statedSuites, type DeviceRecordV1 } from './records.js';

/**
 * What `device.keys.rotate()` may be given: new external signers for keys an HSM or KMS holds
 * (a key kept in the store is replaced by a generated one; an external one needs its successor).
 *
 * @example
 * await sender.device.keys.rotate({ signers: { identity: nextHsmIdentity, mls: nextHsmMls } })
 */
export interface KeyRotationOptions {
  readonly signers?: DeviceSigners;
}

/**
 * The outcome of a rotation: where the key log recorded it and which conversations were re-keyed
 * (`failed`: conversations whose re-key must be retried — `rotate()` again, or the next `connect()`).
 *
 * @example
 * const { index, rekeyed, failed } = await phone.keys.rotate()
 */
export interface KeyRotationResult {
  readonly index: number;
  readonly rekeyed: number;
  readonly failed: readonly string[];
}

/**
 * What `resumeRotation` did: `adopted` is the key-log index of an interrupted rotation it found
 * logged and took over (undefined if there was none); then the conversations it re-keyed.
 *
 * @example
 * const { adopted, rekeyed } = await phone.keys.resumeRotation()
 */
export interface ResumedRotation {
  readonly adopted: number | undefined;
  readonly rekeyed: number;
  readonly failed: readonly string[];
}

/** @internal What a rotation needs from its device. */
export interface KeyRotationContext {
  readonly record: DeviceRecordV1;
  readonly ring: LiveKeyring;
  readonly store: KeyStore;
  readonly api: ApiClient;
  readonly authenticator: KeyLogAuthenticator;
  readonly hub: EventHub<DeviceEvent>;
  readonly conversations: ConversationRegistry;
  readonly receiver: Receiver;
  /** Submits what waits in the outboxes (signed with the key being replaced) before it goes. */
  drain(): Promise<void>;
  /** Fetches and processes the whole mailbox (after losing an epoch race). */
  sync(): Promise<void>;
  readonly keyPackageBatch: number;
  /** Lifetime of the new KeyPackages (default: key-packages.ts). */
  readonly keyPackageLifetimeMs?: number;
  now(): Date;
}

/** A rotation persisted before the server was asked: the new key fields (private halves included). */
interface PendingRotationV1 {
  v: 1;
  fields: Pick<DeviceRecordV1, 'identityPublicKey' | 'identityPrivateKey' | 'identityKeyRef' | 'signaturePublicKey' | 'signaturePrivateKey' | 'signatureKeyRef'>;
}

const PENDING = RECORDS.rotationPending;
/** Set with the new keys, cleared once every conversation carries them: `connect` has nothing to do without it. */
const REKEY = RECORDS.rekeyPending;
const REKEY_ATTEMPTS = 3;

/** @internal Rotates the device's keys and re-keys its conversations (see the module comment). */
export async function rotateKeys(ctx: KeyRotationContext, options: KeyRotationOptions = {}): Promise<KeyRotationResult> {
  const signers = options.signers ?? {};
  const { record } = ctx;
  // Custody does not change by accident: a key held outside needs its successor held outside too.
  if (record.identityKeyRef !== undefined && !signers.identity) throw new SignerError('signer_required', 'identity', 'this device keeps its identity key in an external signer: pass signers.identity for the new key');
  if (record.signatureKeyRef !== undefined && !signers.mls) throw new SignerError('signer_required', 'mls', 'this device keeps its MLS key in an external signer: pass signers.mls for the new key');
  const identityId = record.identityId as IdentityId;
  const keys = await ctx.authenticator.keysOf(identityId, true);
  const self = keys.devices.get(record.deviceId);
  if (!self || self.status !== 'approved') throw new DeviceKeysError('device_not_active', 'only an approved device rotates its keys');
  await ctx.drain();

  const current = ctx.ring.current;
  // The new keyring wraps the current suite: groups not yet re-keyed keep signing with the old key.
  const { keyring, fields } = await newKeyring([...current.suites.values()], signers);
  const member = { identityId, deviceId: record.deviceId };
  // KeyPackages under the new key for every suite the log states for this device (the server withdraws the old ones).
  const stated = statedSuites(record);
  const batches: GeneratedBatch[] = [];
  for (const suite of keyring.suites.values()) {
    if (stated.includes(suite.name)) batches.push(await generateKeyPackages(suite, member, keyring.signatureKeys, ctx.keyPackageBatch, true, ctx.now(), ctx.keyPackageLifetimeMs));
  }
  const [batch, ...others] = batches as [GeneratedBatch, ...GeneratedBatch[]];
  const message = rotationMessage({
    label: toBase64Url(keys.identity.label),
    deviceId: record.deviceId,
    previousIdentityKey: toBase64Url(current.identity.publicKey),
    identityKey: toBase64Url(keyring.identity.publicKey),
    signatureKey: toBase64Url(keyring.signatureKeys.publicKey),
  });
  const signature = await current.identity.sign(message);
  const proof = await keyring.identity.sign(message);
  const pending: PendingRotationV1 = { v: 1, fields };
  await ctx.store.write([putJson(PENDING, pending), ...batches.flatMap((b) => b.ops)]);
  let index: number;
  try {
    ({ index } = await ctx.api.rotateKeys(record.deviceId, {
      identityKey: toBase64(keyring.identity.publicKey),
      signatureKey: toBase64(keyring.signatureKeys.publicKey),
      signature: toBase64(signature),
      proof: toBase64(proof),
      keyPackages: batches.flatMap((b) => b.oneTime),
      lastResortKeyPackage: batch.lastResort!,
      ...(others.length > 0 ? { lastResortKeyPackages: others.map((b) => b.lastResort!) } : {}),
    }));
  } catch (error) {
    // Refused: nothing changed on the server, the pending keys are void. Any other failure
    // leaves them pending until `resumeRotation` learns from the key log what happened.
    if (isParleyError(error) && error.status !== undefined && error.status >= 400 && error.status < 500 && error.status !== 408 && error.status !== 429) {
      await ctx.store.write([{ op: 'delete', name: PENDING }]);
    }
    throw error;
  }
  await adopt(ctx, fields, signers);
  ctx.hub.emit({ type: 'keys-rotated', deviceId: record.deviceId, index });
  return { index, ...(await rekeyConversations(ctx)) };
}

/** The record takes the new keys (one write, the pending rotation dropped) and the device switches to them. */
async function adopt(ctx: KeyRotationContext, fields: PendingRotationV1['fields'], signers: DeviceSigners): Promise<void> {
  const next: DeviceRecordV1 = { ...ctx.record };
  for (const key of ['identityPrivateKey', 'identityKeyRef', 'signaturePrivateKey', 'signatureKeyRef'] as const) delete next[key];
  Object.assign(next, fields);
  const keyring = await openKeyring(next, [...ctx.ring.current.suites.values()], signers);
  await ctx.store.write([putJson(RECORDS.device, next), putJson(REKEY, { v: 1 }), { op: 'delete', name: PENDING }]);
  Object.assign(ctx.record, next);
  for (const key of ['identityPrivateKey', 'identityKeyRef', 'signaturePrivateKey', 'signatureKeyRef'] as const) {
    if (next[key] === undefined) delete ctx.record[key];
  }
  ctx.ring.replace(keyring);
  ctx.authenticator.forget(ctx.record.identityId);
}

/**
 * @internal Finishes what a rotation left: a pending rotation the server logged (the device
 * crashed or lost the answer) is adopted, one it did not is dropped; then every conversation
 * whose leaf still has an old key is re-keyed. Runs at `connect()` and before a new rotation.
 */
export async function resumeRotation(ctx: KeyRotationContext, signers: DeviceSigners = {}): Promise<ResumedRotation> {
  const pending = await getJson<PendingRotationV1>(ctx.store, PENDING);
  let adopted: number | undefined;
  if (pending) {
    const keys = await ctx.authenticator.keysOf(ctx.record.identityId, true);
    const self = keys.devices.get(ctx.record.deviceId);
    const logged = self !== undefined && equalBytes(self.identityKey, fromBase64(pending.fields.identityPublicKey));
    if (logged) {
      await adopt(ctx, pending.fields, signers);
      adopted = self.previousKeys.at(-1)?.rotatedAt ?? self.addedAt;
      ctx.hub.emit({ type: 'keys-rotated', deviceId: ctx.record.deviceId, index: adopted });
    } else {
      await ctx.store.write([{ op: 'delete', name: PENDING }]);
    }
  }
  // Nothing pending and no conversation left on an old key: no need to look at every conversation.
  if (adopted === undefined && (await ctx.store.get(REKEY)) === undefined) return { adopted, rekeyed: 0, failed: [] };
  return { adopted, ...(await rekeyConversations(ctx)) };
}

/** Re-keys every active conversation whose leaf for this device does not carry the current key. */
async function rekeyConversations(ctx: KeyRotationContext): Promise<{ rekeyed: number; failed: string[] }> {
  let rekeyed = 0;
  const failed: string[] = [];
  const current = ctx.ring.current.signatureKeys.publicKey;
  for (const conversation of [...ctx.conversations.all()]) {
    if (!conversation.meta.active) continue;
    const leaf = conversation.group.members().find((m) => m.member.deviceId === ctx.record.deviceId);
    if (leaf && equalBytes(leaf.signaturePublicKey, current)) continue;
    for (let attempt = 1; ; attempt++) {
      try {
        if (await ctx.receiver.rekey(conversation.id)) rekeyed++;
        break;
      } catch (error) {
        // Another member's commit won the epoch: catch up, then try again from the newer GroupInfo.
        if (attempt >= REKEY_ATTEMPTS) {
          failed.push(conversation.id);
          break;
        }
        if (!(isParleyError(error) && error.code === 'epoch_conflict')) await new Promise((r) => setTimeout(r, 100 * attempt));
        await ctx.sync().catch(() => {});
      }
    }
  }
  if (failed.length === 0) await ctx.store.write([{ op: 'delete', name: REKEY }]);
  return { rekeyed, failed };
}
