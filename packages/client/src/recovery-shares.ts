/**
 * The recovery key as Shamir shares (core's `splitRecoverySecret`, on the audited
 * `shamir-secret-sharing`): the 64 digits are read as one number below 10^64 and split as its
 * 27 bytes (big-endian), so the secret is close to uniform as the library asks; a share is
 * those 27 bytes and its x-coordinate. The library does not check what it combines: each
 * share is checked against the owner's signed manifest (its hash) before it is used.
 */
import { combineRecoveryShares, splitRecoverySecret } from '@parley/core';
import { normalizeRecoveryKey } from './recovery-key.js';
import { RecoveryError } from './recovery-error.js';

/** 10^64 < 2^213: 27 bytes. */
const KEY_BYTES = 27;
const LIMIT = 10n ** 64n;

/** The recovery key (any spacing) as 27 big-endian bytes. */
export function recoveryKeyBytes(recoveryKey: string): Uint8Array {
  let n = BigInt(normalizeRecoveryKey(recoveryKey));
  const out = new Uint8Array(KEY_BYTES);
  for (let i = KEY_BYTES - 1; i >= 0; i--) {
    out[i] = Number(n & 0xffn);
    n >>= 8n;
  }
  return out;
}

/** The 64 digits in groups of four, from 27 bytes; `recovery_share_invalid` when they are no recovery key. */
export function recoveryKeyFromBytes(bytes: Uint8Array): string {
  if (bytes.length !== KEY_BYTES) throw new RecoveryError('recovery_share_invalid', 'the shares do not combine to a recovery key');
  let n = 0n;
  for (const b of bytes) n = (n << 8n) | BigInt(b);
  if (n >= LIMIT) throw new RecoveryError('recovery_share_invalid', 'the shares do not combine to a recovery key');
  return n.toString().padStart(64, '0').replace(/(\d{4})(?=\d)/g, '$1 ');
}

/** `holders` shares of the key, any `threshold` of which rebuild it. */
export async function splitRecoveryKey(recoveryKey: string, holders: number, threshold: number): Promise<Uint8Array[]> {
  const secret = recoveryKeyBytes(recoveryKey);
  try {
    return await splitRecoverySecret(secret, holders, threshold);
  } finally {
    secret.fill(0);
  }
}

/** The recovery key from checked, distinct shares (at least the threshold). */
export async function combineRecoveryKey(shares: readonly Uint8Array[]): Promise<string> {
  let secret: Uint8Array;
  try {
    secret = await combineRecoveryShares(shares);
  } catch (cause) {
    throw new RecoveryError('recovery_share_invalid', 'the shares do not combine', { cause });
  }
  try {
    return recoveryKeyFromBytes(secret);
  } finally {
    secret.fill(0);
  }
}
