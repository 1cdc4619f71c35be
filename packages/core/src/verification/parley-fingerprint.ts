/**
 * Parley's binding of the safety-number construction (`safety-number.ts`): what
 * `keyBytes` and `stableId` are for a Parley identity.
 *
 * - `keyBytes` = `0x45 ‖ publicKey`: the device's 32-byte Ed25519 identity public key
 *   (RFC 8032) after one type byte 0x45 ('E' for Ed25519). Signal hashes its Curve25519
 *   keys as `0x05 ‖ key` ("DJB" type); Parley keys are not Curve25519 keys, and the
 *   distinct type byte keeps a Parley fingerprint from ever equalling a Signal one for
 *   the same 32 key bytes.
 * - `stableId` = the UTF-8 bytes of the identity id, `<businessId>:<subject>`
 *   (e.g. `example-bank:c-1001`).
 * - The scannable version is `PARLEY_FINGERPRINT_VERSION` (1); a future change to this
 *   binding gets a new version, so an old and a new client report `version-mismatch`
 *   instead of a false `mismatch`.
 *
 * Keys are per device, so the safety number is too: a new device of the peer changes it.
 */
import { assertBytes, concatBytes } from '../bytes.js';
import { parseIdentityId } from '../ids.js';
import type { FingerprintParty } from './safety-number.js';

/** Type byte before a Parley Ed25519 identity key in the hashed `keyBytes` ('E'). */
export const PARLEY_KEY_TYPE_ED25519 = 0x45;

/** Scannable version of Parley's binding (this file). */
export const PARLEY_FINGERPRINT_VERSION = 1;

/**
 * The construction's `keyBytes` for a Parley identity key: `0x45 ‖ publicKey` (33 bytes).
 *
 * @example
 * parleyKeyBytes(publicKey) // Uint8Array(33) [0x45, …publicKey]
 */
export function parleyKeyBytes(identityKey: Uint8Array): Uint8Array {
  return concatBytes(new Uint8Array([PARLEY_KEY_TYPE_ED25519]), assertBytes(identityKey, 'identityKey', 32));
}

/**
 * A Parley device identity as a fingerprint party: `parleyKeyBytes(identityKey)` and the
 * identity id (validated; throws `invalid_identity_id`) as the stable id.
 *
 * @example
 * const me = parleyFingerprintParty(device.identityKey.publicKey, 'example-bank:staff-7');
 * const them = parleyFingerprintParty(peerIdentityKey, 'example-bank:c-1001');
 * safetyNumber({ local: me, remote: them }).groups
 */
export function parleyFingerprintParty(identityKey: Uint8Array, identityId: string): FingerprintParty {
  return { identityKey: parleyKeyBytes(identityKey), stableId: parseIdentityId(identityId) };
}
