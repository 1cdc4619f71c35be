/**
 * The exact bytes of social recovery (docs/social-recovery.md), shared by the SDK and the
 * server: what a device's identity key signs (its holder key, the owner's manifest, a
 * request), the HPKE `info` and `aad` of a sealed and of a released share, a share's hash,
 * the confirmation code a holder compares with the person asking, and the Shamir step
 * (`shamir-secret-sharing`, audited by Cure53 and Zellic). Each signed message is a context
 * string, a zero byte, and the canonical JSON (RFC 8785) of its fields.
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { combine, split } from 'shamir-secret-sharing';
import { concatBytes, toBase64Url, utf8 } from './bytes.js';
import { hpkeInfo } from './escrow/hpke.js';
import { canonicalJson } from './keylog/entry.js';
import type { RecoveryManifest, RecoveryRequestBinding } from './wire/recovery.js';

const HOLDER_KEY_CONTEXT = 'parley/recovery-holder-key/v1';
const SET_CONTEXT = 'parley/recovery-set/v1';
const REQUEST_CONTEXT = 'parley/recovery-request/v1';
const SHARE_HASH_CONTEXT = 'parley/recovery-share-hash/v1';
const CODE_CONTEXT = 'parley/recovery-code/v1';
/** HPKE `info` contexts (RFC 9180 §5.1): a share sealed to a holder; a share released to a requester. */
const SHARE_INFO = 'parley recovery share v1';
const RELEASE_INFO = 'parley recovery release v1';

function signed(context: string, fields: unknown): Uint8Array {
  return concatBytes(utf8(context), new Uint8Array([0]), canonicalJson(fields));
}

/**
 * What a device signs with its identity key to publish its X25519 holder key.
 *
 * @example
 * const signature = await signWith(identity, recoveryHolderKeyMessage({ identityId, deviceId, hpkeKey }));
 */
export function recoveryHolderKeyMessage(input: { identityId: string; deviceId: string; hpkeKey: string }): Uint8Array {
  return signed(HOLDER_KEY_CONTEXT, { v: 1, identityId: input.identityId, deviceId: input.deviceId, hpkeKey: input.hpkeKey });
}

/**
 * What the owner's device signs over a recovery set's manifest.
 *
 * @example
 * const signature = await signWith(identity, recoverySetMessage(manifest));
 */
export function recoverySetMessage(manifest: RecoveryManifest): Uint8Array {
  return signed(SET_CONTEXT, manifest);
}

/**
 * What the requesting device signs over its request (binding its ephemeral HPKE key to itself).
 *
 * @example
 * const signature = await signWith(identity, recoveryRequestMessage(binding));
 */
export function recoveryRequestMessage(binding: RecoveryRequestBinding): Uint8Array {
  return signed(REQUEST_CONTEXT, binding);
}

/**
 * SHA-256 of one share, bound to its set and index (base64url): the manifest's `shareHash`.
 *
 * @example
 * if (recoveryShareHash(setId, 2, share) !== entry.shareHash) throw new Error('not the owner’s share');
 */
export function recoveryShareHash(setId: string, index: number, share: Uint8Array): string {
  return toBase64Url(sha256(concatBytes(signed(SHARE_HASH_CONTEXT, { setId, index }), share)));
}

/**
 * HPKE `info` and `aad` of a share sealed to its holder device: bind the owner identity, the
 * set, the share's index and the holder device.
 *
 * @example
 * const { info, aad } = recoveryShareContext({ setId, identityId, index: 1, holderDeviceId });
 * const sealed = await hpkeSeal(holderKey, info, aad, share);
 */
export function recoveryShareContext(input: { setId: string; identityId: string; index: number; holderDeviceId: string }): { info: Uint8Array; aad: Uint8Array } {
  return {
    info: hpkeInfo(SHARE_INFO, input.setId),
    aad: canonicalJson({ v: 1, setId: input.setId, identityId: input.identityId, index: input.index, holderDeviceId: input.holderDeviceId }),
  };
}

/**
 * HPKE `info` and `aad` of a share a holder releases to a request's ephemeral key: bind the
 * request, its set and owner identity, the requesting device, the share's index and the holder device.
 *
 * @example
 * const { info, aad } = recoveryReleaseContext(binding, index, holderDeviceId);
 */
export function recoveryReleaseContext(binding: RecoveryRequestBinding, index: number, holderDeviceId: string): { info: Uint8Array; aad: Uint8Array } {
  return {
    info: hpkeInfo(RELEASE_INFO, binding.requestId),
    aad: canonicalJson({
      v: 1,
      requestId: binding.requestId,
      setId: binding.setId,
      identityId: binding.identityId,
      requesterDeviceId: binding.deviceId,
      index,
      holderDeviceId,
    }),
  };
}

/**
 * Ten digits (two groups of five) over a request and the requesting device's identity key:
 * the requester reads them out, each holder's device shows the same digits only for that
 * request, that key and that ephemeral key.
 *
 * @example
 * recoveryConfirmationCode(binding, requesterIdentityKey) // e.g. '30517 88214'
 */
export function recoveryConfirmationCode(binding: RecoveryRequestBinding, requesterIdentityKey: Uint8Array): string {
  const h = sha256(concatBytes(signed(CODE_CONTEXT, binding), requesterIdentityKey));
  let n = 0n;
  for (const b of h.slice(0, 8)) n = (n << 8n) | BigInt(b);
  const digits = (n % 10_000_000_000n).toString().padStart(10, '0');
  return `${digits.slice(0, 5)} ${digits.slice(5)}`;
}

/**
 * Splits a secret into `shares` Shamir shares over GF(2^8), any `threshold` of which rebuild it
 * (each share: the secret's length plus one byte, its x-coordinate).
 *
 * @example
 * const shares = await splitRecoverySecret(secret, 4, 3);
 */
export function splitRecoverySecret(secret: Uint8Array, shares: number, threshold: number): Promise<Uint8Array[]> {
  return split(secret, shares, threshold);
}

/**
 * Combines Shamir shares. The library checks nothing: fewer than the threshold, or a wrong
 * share, gives a wrong value without an error, so the caller checks every share first.
 *
 * @example
 * const secret = await combineRecoveryShares(checkedShares);
 */
export function combineRecoveryShares(shares: readonly Uint8Array[]): Promise<Uint8Array> {
  return combine([...shares]);
}
