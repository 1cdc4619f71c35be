/**
 * What a person does with keys, on top of the verified key log: see a
 * contact's safety number and verify it by scanning a QR code; approve a new
 * device of their own from an existing one; revoke a lost device; rotate this
 * device's keys; and be told when the log shows a key for their identity that
 * they did not add.
 */
import { sha256 } from '@noble/hashes/sha2.js';
import {
  concatBytes,
  equalBytes,
  fromBase64,
  parseDeviceId,
  signWith,
  toBase64,
  toBase64Url,
  utf8,
  type DeviceId,
  type Ed25519Signer,
  type IdentityId,
} from '@parley/core';
import { approvalMessage, revocationMessage, type DeviceKeyState } from '@parley/core/keylog';
import {
  compareScanned,
  encodeQrPayload,
  parleyFingerprintParty,
  safetyNumber,
  type ScanResult,
} from '@parley/core/verification';
import type { ApiClient } from './api-client.js';
import type { KeyLogAuthenticator } from './authenticator.js';
import { DeviceKeysError } from './errors.js';
import type { EventHub } from './event-hub.js';
import type { DeviceEvent } from './events.js';
import type { KeyLogVerifier } from './key-transparency.js';
import type { DeviceSigners } from './device-signers.js';
import type { KeyRotationOptions, KeyRotationResult, ResumedRotation } from './key-rotation.js';
import type { KeyStore } from './key-store.js';
import { getJson, putJson } from './records.js';

export interface DeviceKeysContext {
  readonly api: ApiClient;
  readonly store: KeyStore;
  readonly verifier: KeyLogVerifier;
  readonly authenticator: KeyLogAuthenticator;
  readonly hub: EventHub<DeviceEvent>;
  readonly deviceId: DeviceId;
  readonly identityId: IdentityId;
  readonly identityKey: Uint8Array;
  /** Signs approvals and revocations with this device's identity key. */
  readonly identity: Ed25519Signer;
  readonly signatureKey: Uint8Array;
  /** The suites this device stated (its record): the log must show exactly these. */
  statedSuites?(): readonly string[];
  /** Rotates this device's keys (key-rotation.ts). */
  rotate(options?: KeyRotationOptions): Promise<KeyRotationResult>;
  /** Finishes an interrupted rotation and re-keys what still has an old key. */
  resumeRotation(signers?: DeviceSigners): Promise<ResumedRotation>;
  /** A contact was verified (diagnostics.ts reports a customer's verification of their business). */
  onVerified?(identityId: string, method: 'qr'): void;
}

/**
 * Whether a contact's keys were verified by a QR scan (`DeviceKeys.verificationState`).
 *
 * @example
 * const state: VerificationState = await phone.keys.verificationState('acme:agent-7')
 * if (state === 'changed') warn('the contact has new keys: verify again')
 */
export type VerificationState = 'unverified' | 'verified' | 'changed';
type KeyChange = Extract<DeviceEvent, { type: 'key-change-alert' }>['change'];

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((name, i) => name === b[i]);
}

/**
 * A device of this identity waiting for approval, with the short code its screen shows.
 *
 * @example
 * for (const { deviceId, shortCode } of await phone.keys.pendingDevices()) console.log(deviceId, shortCode)
 */
export interface PendingDevice {
  readonly deviceId: string;
  readonly shortCode: string;
  readonly addedAt: number;
}

const KNOWN = 'keylog/known-devices';
/** Identity ids contain ':', which record names do not allow: name the record by base64url. */
const verifiedRecord = (identityId: string) => `verified/${toBase64Url(utf8(identityId))}`;
const APPROVAL_QR_PREFIX = 'parley-approve:1:';

/**
 * 10 digits (two groups of five) committing to a device's keys, for typing instead of scanning.
 *
 * @example
 * approvalShortCode(deviceId, identityKey, signatureKey) // e.g. '48213 07759'
 */
export function approvalShortCode(deviceId: string, identityKey: Uint8Array, signatureKey: Uint8Array): string {
  const h = sha256(concatBytes(utf8('parley/v1/approval-code\0'), utf8(deviceId), identityKey, signatureKey));
  let n = 0n;
  for (const b of h.slice(0, 8)) n = (n << 8n) | BigInt(b);
  const digits = (n % 10_000_000_000n).toString().padStart(10, '0');
  return `${digits.slice(0, 5)} ${digits.slice(5)}`;
}

function approvalDigest(identityKey: Uint8Array, signatureKey: Uint8Array): string {
  return toBase64Url(sha256(concatBytes(utf8('parley/v1/approval-qr\0'), identityKey, signatureKey)));
}

/**
 * Keys as people handle them (`device.keys`): safety numbers and QR verification of contacts, approving and revoking
 * this identity's own devices, and alerts about keys the owner did not add.
 *
 * @example
 * const { qr } = tablet.keys.approvalRequest() // shown on the new device
 * await phone.keys.approveDevice(qr) // scanned on an approved one
 */
export class DeviceKeys {
  constructor(private readonly ctx: DeviceKeysContext) {}

  /**
   * The identity's devices as the verified key log shows them.
   *
   * @example
   * const devices = await phone.keys.devicesOf(phone.identityId)
   * console.log(devices.map((d) => `${d.deviceId} ${d.status}`))
   */
  async devicesOf(identityId: string, fresh = true): Promise<DeviceKeyState[]> {
    const keys = await this.ctx.authenticator.keysOf(identityId, fresh);
    return [...keys.devices.values()];
  }

  // --- Monitoring ---------------------------------------------------------------

  /**
   * Checks this identity's own log entries for keys its owner did not add:
   * a device waiting for approval, a device approved without any of the
   * owner's devices (a re-enrollment — or a server adding keys), or this very
   * device revoked. Emits one `key-change-alert` per finding (once).
   *
   * @example
   * for (const alert of await phone.keys.checkOwnKeys()) console.warn(alert.change, alert.deviceId)
   */
  async checkOwnKeys(): Promise<Extract<DeviceEvent, { type: 'key-change-alert' }>[]> {
    const devices = await this.devicesOf(this.ctx.identityId);
    const self = devices.find((d) => d.deviceId === this.ctx.deviceId);
    let known = await getJson<Record<string, string>>(this.ctx.store, KNOWN);
    if (!known) {
      // First check: what was there before this device joined is the owner's doing.
      known = {};
      for (const d of devices) if (self && d.addedAt <= self.addedAt) known[d.deviceId] = d.status;
    }
    const alerts: Extract<DeviceEvent, { type: 'key-change-alert' }>[] = [];
    const alert = (deviceId: string, change: KeyChange) =>
      alerts.push({ type: 'key-change-alert', identityId: this.ctx.identityId, deviceId, change });
    if (!self || !equalBytes(self.signatureKey, this.ctx.signatureKey) || !equalBytes(self.identityKey, this.ctx.identityKey)) {
      alert(this.ctx.deviceId, 'this-device-not-logged');
    } else if (self.status === 'revoked' && known[self.deviceId] !== 'revoked') {
      alert(self.deviceId, 'this-device-revoked');
    } else if (this.ctx.statedSuites && !sameList(self.suites, this.ctx.statedSuites())) {
      // The server logged other suites than this device signed (it cannot forge the signature,
      // but it could log an older statement): contacts would not see its post-quantum support.
      alert(this.ctx.deviceId, 'this-device-suites-not-logged');
    }
    for (const d of devices) {
      if (d.deviceId === this.ctx.deviceId || known[d.deviceId] === d.status) continue;
      const approvedByOwner = d.status === 'approved' && d.approvedBy !== undefined && known[d.approvedBy] === 'approved';
      if (d.status === 'pending') alert(d.deviceId, 'pending-device');
      // A business enrolls the devices of its own identities (senders, agents, bots) itself.
      else if (d.status === 'approved' && !approvedByOwner && d.kind === 'customer' && known[d.deviceId] === undefined) {
        alert(d.deviceId, 'added-without-approval');
      }
      known[d.deviceId] = d.status;
    }
    if (self) known[self.deviceId] = self.status;
    await this.ctx.store.write([putJson(KNOWN, known)]);
    for (const a of alerts) this.ctx.hub.emit(a);
    return alerts;
  }

  // --- Adding and removing own devices --------------------------------------------

  /**
   * On a new device waiting for approval: the QR text and short code to show.
   *
   * @example
   * const { qr, shortCode } = tablet.keys.approvalRequest()
   * renderQr(qr); showText(shortCode)
   */
  approvalRequest(): { qr: string; shortCode: string } {
    return {
      qr: `${APPROVAL_QR_PREFIX}${this.ctx.deviceId}:${approvalDigest(this.ctx.identityKey, this.ctx.signatureKey)}`,
      shortCode: approvalShortCode(this.ctx.deviceId, this.ctx.identityKey, this.ctx.signatureKey),
    };
  }

  /**
   * Devices of this identity waiting for approval (from the verified log).
   *
   * @example
   * const waiting = await phone.keys.pendingDevices()
   */
  async pendingDevices(): Promise<PendingDevice[]> {
    return (await this.devicesOf(this.ctx.identityId))
      .filter((d) => d.status === 'pending')
      .map((d) => ({ deviceId: d.deviceId, addedAt: d.addedAt, shortCode: approvalShortCode(d.deviceId, d.identityKey, d.signatureKey) }));
  }

  /**
   * On an existing device: approves the pending device whose QR code was
   * scanned (or whose short code was typed). The approval is this device's
   * signature over the new device's logged keys, so the server cannot
   * substitute other keys.
   *
   * @example
   * const { deviceId } = await phone.keys.approveDevice('48213 07759') // or the scanned QR text
   */
  async approveDevice(scannedOrTyped: string): Promise<{ deviceId: DeviceId; index: number }> {
    const pending = (await this.devicesOf(this.ctx.identityId)).filter((d) => d.status === 'pending');
    const input = scannedOrTyped.trim();
    const match = input.startsWith(APPROVAL_QR_PREFIX)
      ? pending.find((d) => {
          const [deviceId, digest] = input.slice(APPROVAL_QR_PREFIX.length).split(':');
          return d.deviceId === deviceId && digest !== undefined && equalBytes(utf8(digest), utf8(approvalDigest(d.identityKey, d.signatureKey)));
        })
      : pending.find((d) => approvalShortCode(d.deviceId, d.identityKey, d.signatureKey).replace(' ', '') === input.replace(/\s/g, ''));
    if (!match) throw new DeviceKeysError('no_matching_device', 'no device waiting for approval matches this code');
    const keys = await this.ctx.authenticator.keysOf(this.ctx.identityId);
    const message = approvalMessage({
      label: toBase64Url(keys.identity.label),
      deviceId: match.deviceId,
      identityKey: toBase64Url(match.identityKey),
      signatureKey: toBase64Url(match.signatureKey),
    });
    const res = await this.ctx.api.approveDevice(match.deviceId, toBase64(await signWith(this.ctx.identity, message)));
    this.ctx.authenticator.forget(this.ctx.identityId);
    await this.rememberKnown(match.deviceId, 'approved');
    // Checked against the wire schema (device-id pattern): this parse cannot fail.
    return { deviceId: parseDeviceId(res.deviceId), index: res.index };
  }

  /**
   * Revokes a device of this identity (a lost phone), signed by this device.
   *
   * @example
   * await laptop.keys.revokeDevice(lostPhoneDeviceId)
   */
  async revokeDevice(deviceId: string): Promise<{ index: number }> {
    const keys = await this.ctx.authenticator.keysOf(this.ctx.identityId);
    const target = keys.devices.get(deviceId);
    if (!target) throw new DeviceKeysError('unknown_device', 'no such device of this identity');
    if (target.status === 'revoked') throw new DeviceKeysError('already_revoked', 'the device is already revoked');
    const message = revocationMessage({ label: toBase64Url(keys.identity.label), deviceId, byDevice: this.ctx.deviceId });
    const res = await this.ctx.api.revokeDevice(deviceId, toBase64(await signWith(this.ctx.identity, message)));
    this.ctx.authenticator.forget(this.ctx.identityId);
    await this.rememberKnown(deviceId, 'revoked');
    return { index: res.index };
  }

  private async rememberKnown(deviceId: string, status: string): Promise<void> {
    const known = (await getJson<Record<string, string>>(this.ctx.store, KNOWN)) ?? {};
    known[deviceId] = status;
    await this.ctx.store.write([putJson(KNOWN, known)]);
  }

  /**
   * Replaces this device's identity and MLS signature keys: the key log records the change signed
   * by the old key and the new one, and every conversation is re-keyed. Contacts who verified this
   * device stay verified. Keys held by an external signer need `signers` for their successors.
   * For a device that may be compromised, revoke it instead (`revokeDevice`).
   *
   * @example
   * const { index, rekeyed, failed } = await phone.keys.rotate()
   */
  async rotate(options: KeyRotationOptions = {}): Promise<KeyRotationResult> {
    // A rotation whose answer was lost but which the log shows is the one asked for again.
    const resumed = await this.ctx.resumeRotation(options.signers);
    if (resumed.adopted !== undefined) return { index: resumed.adopted, rekeyed: resumed.rekeyed, failed: resumed.failed };
    return this.ctx.rotate(options);
  }

  /**
   * Finishes an interrupted rotation (the answer was lost, or the device stopped before every
   * conversation was re-keyed). `connect()` calls it; an app that passes new external signers calls it with them.
   *
   * @example
   * await sender.device.keys.resumeRotation({ identity: nextHsmIdentity, mls: nextHsmMls })
   */
  resumeRotation(signers?: DeviceSigners): Promise<ResumedRotation> {
    return this.ctx.resumeRotation(signers);
  }

  // --- Verifying contacts ---------------------------------------------------------

  private async contactDevice(identityId: string, deviceId?: string): Promise<DeviceKeyState> {
    const approved = (await this.devicesOf(identityId)).filter((d) => d.status === 'approved');
    const device = deviceId === undefined ? approved[0] : approved.find((d) => d.deviceId === deviceId);
    if (!device) throw new DeviceKeysError('unknown_device', 'the contact has no such approved device');
    return device;
  }

  /**
   * The safety number between this device and a contact's device (Signal's
   * numeric fingerprint: 60 digits in 12 groups of 5), both keys taken from the
   * verified key log.
   *
   * @example
   * const { groups } = await phone.keys.safetyNumber('acme:agent-7')
   * console.log(groups.join(' '))
   */
  async safetyNumber(identityId: string, deviceId?: string): Promise<{ deviceId: string; digits: string; groups: readonly string[] }> {
    const remote = await this.contactDevice(identityId, deviceId);
    const number = safetyNumber({
      local: parleyFingerprintParty(this.ctx.identityKey, this.ctx.identityId),
      remote: parleyFingerprintParty(remote.identityKey, identityId),
    });
    return { deviceId: remote.deviceId, digits: number.digits, groups: number.groups };
  }

  /**
   * The QR text this device shows so the contact can scan it.
   *
   * @example
   * renderQr(await phone.keys.verificationQr('acme:agent-7'))
   */
  async verificationQr(identityId: string, deviceId?: string): Promise<string> {
    const remote = await this.contactDevice(identityId, deviceId);
    return encodeQrPayload(
      parleyFingerprintParty(this.ctx.identityKey, this.ctx.identityId),
      parleyFingerprintParty(remote.identityKey, identityId),
    );
  }

  /**
   * After scanning the contact's QR code: compares it (constant time) with the
   * keys from the verified log; on a match, remembers the contact as verified.
   *
   * @example
   * if ((await agent.keys.verifyScanned('acme:c-1001', scannedText)) === 'match') showVerifiedBadge()
   */
  async verifyScanned(identityId: string, payload: string): Promise<ScanResult> {
    const candidates = (await this.devicesOf(identityId)).filter((d) => d.status === 'approved');
    let result: ScanResult = 'mismatch';
    for (const d of candidates) {
      const r = compareScanned(
        parleyFingerprintParty(this.ctx.identityKey, this.ctx.identityId),
        parleyFingerprintParty(d.identityKey, identityId),
        payload,
      );
      if (r === 'match') {
        const verified = (await getJson<Record<string, string>>(this.ctx.store, verifiedRecord(identityId))) ?? {};
        verified[d.deviceId] = toBase64(d.identityKey);
        await this.ctx.store.write([putJson(verifiedRecord(identityId), verified)]);
        this.ctx.onVerified?.(identityId, 'qr');
        return 'match';
      }
      if (r === 'version-mismatch') result = r;
    }
    return result;
  }

  /**
   * `verified` once a QR scan matched (and still when a verified device has
   * since rotated its keys: each step signed by the key it replaced);
   * `changed` when a verified contact's keys have changed otherwise (a
   * verified device revoked, or a new device added); `unverified` otherwise.
   *
   * @example
   * const state = await phone.keys.verificationState('acme:agent-7') // 'unverified' | 'verified' | 'changed'
   */
  async verificationState(identityId: string): Promise<VerificationState> {
    const verified = await getJson<Record<string, string>>(this.ctx.store, verifiedRecord(identityId));
    if (!verified || Object.keys(verified).length === 0) return 'unverified';
    const approved = (await this.devicesOf(identityId)).filter((d) => d.status === 'approved');
    for (const [deviceId, key] of Object.entries(verified)) {
      const d = approved.find((x) => x.deviceId === deviceId);
      // A verified key that a signed rotation chain leads from is still the contact's.
      const verifiedKey = fromBase64(key);
      if (!d || !(equalBytes(d.identityKey, verifiedKey) || d.previousKeys.some((k) => equalBytes(k.identityKey, verifiedKey)))) return 'changed';
    }
    return approved.every((d) => verified[d.deviceId] !== undefined) ? 'verified' : 'changed';
  }
}
