/**
 * An identity's devices as its key-log entries say, replayed in log order with
 * every signature checked: the directory's attestation on each entry, the
 * approving device's signature on each approval, the previous and the new identity
 * key's signatures on each rotation, the owner's signature on each owner revocation. A log that breaks these rules for an identity is an attack
 * or a bug, and is reported as such, never papered over.
 */
import { CryptoError } from '../errors.js';
import { equalBytes, fromBase64, toBase64Url } from '../bytes.js';
import { verifyEd25519 } from '../identity-keys.js';
import type { IdentityKind } from '../wire/common.js';
import { approvalMessage, attestationMessage, revocationMessage, rotationMessage, suitesMessage, type KeyLogEntry } from './entry.js';

export type DeviceKeyStatus = 'approved' | 'pending' | 'revoked';

/**
 * Keys a device held before a rotation replaced them (`DeviceKeyState.previousKeys`).
 *
 * @example
 * for (const old of device.previousKeys) console.log(`replaced at key-log #${old.rotatedAt} (${old.rotatedTime})`)
 */
export interface RotatedKeys {
  readonly identityKey: Uint8Array;
  readonly signatureKey: Uint8Array;
  /** Log index of the `device-rotated` entry that replaced them. */
  readonly rotatedAt: number;
  /** That entry's time (RFC 3339, the directory's clock). */
  readonly rotatedTime: string;
}

export interface DeviceKeyState {
  readonly deviceId: string;
  readonly kind: IdentityKind;
  /** The current identity key (after every rotation). */
  identityKey: Uint8Array;
  /** The current MLS signature key. */
  signatureKey: Uint8Array;
  /** Keys replaced by rotations, oldest first: each step was signed by the key it replaced. */
  readonly previousKeys: RotatedKeys[];
  readonly suite: string;
  /** The suites the device supports, as it signed them (`[suite]` for a device that never did). */
  suites: readonly string[];
  /** The sequence number of the device's last suites statement (0: the one at enrollment, or none). */
  suitesSeq: number;
  status: DeviceKeyStatus;
  /** Log index of the `device-added` entry. */
  readonly addedAt: number;
  approvedBy: string | undefined;
  revokedBy: 'owner' | 'business' | 'reset' | undefined;
}

export interface LoggedEntry {
  /** Position in the log. */
  readonly index: number;
  readonly entry: KeyLogEntry;
}

function fail(message: string, index: number): never {
  throw new CryptoError('key_log_inconsistent', message, { details: { index } });
}

/**
 * One key of the directory's attestation-key chain (docs/log-key-rotation.md): it attests
 * entries at log index `fromIndex` (the `start` of the announcement that introduced it; 0 for
 * the first key) and later.
 *
 * @example
 * const keys: AttestationKey[] = [{ publicKey: pinned, fromIndex: 0 }, { publicKey: announced, fromIndex: 1200 }];
 */
export interface AttestationKey {
  readonly publicKey: Uint8Array;
  readonly fromIndex: number;
}

/**
 * Replays one label's entries (ascending index). `attestationKey` is the
 * directory's Ed25519 public key, or the chain of its keys across log-key rotations (an
 * entry at index i must be attested by a key with `fromIndex` ≤ i). Throws
 * `key_log_inconsistent` on any entry that is not properly attested, signed, or in sequence.
 *
 * @example
 * const devices = replayIdentity(label, logged, [{ publicKey: oldKey, fromIndex: 0 }, { publicKey: newKey, fromIndex: 1200 }]);
 */
export function replayIdentity(label: string, entries: readonly LoggedEntry[], attestationKey: Uint8Array | readonly AttestationKey[]): Map<string, DeviceKeyState> {
  const keys: readonly AttestationKey[] = attestationKey instanceof Uint8Array ? [{ publicKey: attestationKey, fromIndex: 0 }] : attestationKey;
  const devices = new Map<string, DeviceKeyState>();
  let last = -1;
  for (const { index, entry } of entries) {
    if (index <= last) fail('entries out of order', index);
    last = index;
    if (entry.label !== label) fail('entry belongs to another label', index);
    const attested = attestationMessage(entry);
    const attestation = fromBase64(entry.attestation);
    if (!keys.some((k) => index >= k.fromIndex && verifyEd25519(k.publicKey, attested, attestation))) fail('entry attestation does not verify', index);
    switch (entry.type) {
      case 'device-added': {
        if (devices.has(entry.deviceId)) fail('device added twice', index);
        if ((entry.suites === undefined) !== (entry.suitesProof === undefined)) fail('suites without their proof', index);
        if (entry.suites !== undefined) {
          if (!entry.suites.includes(entry.suite)) fail('suites do not include the device suite', index);
          const message = suitesMessage({ deviceId: entry.deviceId, identityKey: entry.identityKey, seq: 0, suites: entry.suites });
          if (!verifyEd25519(fromBase64(entry.identityKey), message, fromBase64(entry.suitesProof!))) fail('suites not signed by the device', index);
        }
        devices.set(entry.deviceId, {
          deviceId: entry.deviceId,
          kind: entry.kind,
          identityKey: fromBase64(entry.identityKey),
          signatureKey: fromBase64(entry.signatureKey),
          suite: entry.suite,
          suites: entry.suites ?? [entry.suite],
          suitesSeq: 0,
          status: entry.approval === 'enrollment' ? 'approved' : 'pending',
          previousKeys: [],
          addedAt: index,
          approvedBy: undefined,
          revokedBy: undefined,
        });
        break;
      }
      case 'device-approved': {
        const device = devices.get(entry.deviceId);
        const approver = devices.get(entry.approvedBy);
        if (!device || device.status !== 'pending') fail('approval of a device that is not pending', index);
        if (!approver || approver.status !== 'approved') fail('approval by a device that is not approved', index);
        const message = approvalMessage({
          label,
          deviceId: device.deviceId,
          identityKey: toBase64Url(device.identityKey),
          signatureKey: toBase64Url(device.signatureKey),
        });
        if (!verifyEd25519(approver.identityKey, message, fromBase64(entry.signature))) fail('approval signature does not verify', index);
        device.status = 'approved';
        device.approvedBy = approver.deviceId;
        break;
      }
      case 'device-rotated': {
        const device = devices.get(entry.deviceId);
        if (!device || device.status !== 'approved') fail('rotation of a device that is not approved', index);
        const identityKey = fromBase64(entry.identityKey);
        const signatureKey = fromBase64(entry.signatureKey);
        const used = [device.identityKey, ...device.previousKeys.map((k) => k.identityKey)];
        if (used.some((k) => equalBytes(k, identityKey))) fail('rotation to an identity key the device held before', index);
        const message = rotationMessage({
          label,
          deviceId: device.deviceId,
          previousIdentityKey: toBase64Url(device.identityKey),
          identityKey: toBase64Url(identityKey),
          signatureKey: toBase64Url(signatureKey),
        });
        if (!verifyEd25519(device.identityKey, message, fromBase64(entry.signature))) fail('rotation not signed by the previous identity key', index);
        if (!verifyEd25519(identityKey, message, fromBase64(entry.proof))) fail('rotation not signed by the new identity key', index);
        device.previousKeys.push({ identityKey: device.identityKey, signatureKey: device.signatureKey, rotatedAt: index, rotatedTime: entry.time });
        device.identityKey = identityKey;
        device.signatureKey = signatureKey;
        break;
      }
      case 'device-suites': {
        const device = devices.get(entry.deviceId);
        if (!device || device.status === 'revoked') fail('suites of an unknown or revoked device', index);
        if (entry.seq <= device.suitesSeq) fail('suites statement replayed or out of order', index);
        const message = suitesMessage({ deviceId: device.deviceId, identityKey: toBase64Url(device.identityKey), seq: entry.seq, suites: entry.suites });
        if (!verifyEd25519(device.identityKey, message, fromBase64(entry.signature))) fail('suites not signed by the device', index);
        device.suites = entry.suites;
        device.suitesSeq = entry.seq;
        break;
      }
      case 'device-revoked': {
        const device = devices.get(entry.deviceId);
        if (!device || device.status === 'revoked') fail('revocation of an unknown or revoked device', index);
        if (entry.by === 'owner') {
          const by = entry.byDevice === undefined ? undefined : devices.get(entry.byDevice);
          if (!by || by.status !== 'approved' || entry.signature === undefined) fail('owner revocation without an approved signer', index);
          const message = revocationMessage({ label, deviceId: entry.deviceId, byDevice: by.deviceId });
          if (!verifyEd25519(by.identityKey, message, fromBase64(entry.signature))) fail('revocation signature does not verify', index);
        }
        device.status = 'revoked';
        device.revokedBy = entry.by;
        break;
      }
    }
  }
  return devices;
}

/**
 * Orders two RFC 3339 UTC times as key-log entries, commitments and receipts write them
 * (optional 1–9 fraction digits): negative, zero or positive.
 *
 * @example
 * compareLogTimes('2026-12-06T10:00:00Z', '2026-12-06T10:00:00.5Z') // < 0
 */
export function compareLogTimes(a: string, b: string): number {
  const split = (t: string): [string, string] => [t.slice(0, 19), (t[19] === '.' ? t.slice(20, -1) : '').padEnd(9, '0')];
  const [sa, fa] = split(a);
  const [sb, fb] = split(b);
  if (sa !== sb) return sa < sb ? -1 : 1;
  return fa === fb ? 0 : fa < fb ? -1 : 1;
}

/**
 * The identity keys that may have signed a statement the device dated `time`: the key in
 * effect then and every later one (a newer key dating a statement a little early, clocks being
 * what they are, is still the device's own), never a key a rotation had replaced by `time`.
 *
 * @example
 * const ok = identityKeysAt(device, commitment.createdAt).some((key) => verifyCommitmentSignature(key, commitment, sig))
 */
export function identityKeysAt(device: DeviceKeyState, time: string): Uint8Array[] {
  return [...device.previousKeys.filter((k) => compareLogTimes(time, k.rotatedTime) < 0).map((k) => k.identityKey), device.identityKey];
}

/**
 * Whether an MLS leaf's signature key is one the log gave this device: its current key, or one a
 * signed rotation replaced (a leaf keeps the old key until the device re-keys that conversation;
 * revocation, not rotation, is what takes a device out).
 *
 * @example
 * if (!holdsSignatureKey(device, leaf.signaturePublicKey)) removeFromConversation(leaf)
 */
export function holdsSignatureKey(device: DeviceKeyState, signatureKey: Uint8Array): boolean {
  return equalBytes(device.signatureKey, signatureKey) || device.previousKeys.some((k) => equalBytes(k.signatureKey, signatureKey));
}
