/** The recovery key as Shamir shares: its 27-byte encoding, any k of n shares rebuild it, k−1 do not. */
import { describe, expect, it } from 'vitest';
import { combineRecoveryShares, toHex } from '@parley/core';
import { generateRecoveryKey } from '../src/index.js';
import { combineRecoveryKey, recoveryKeyBytes, recoveryKeyFromBytes, splitRecoveryKey } from '../src/recovery-shares.js';

describe('recovery key shares', () => {
  it('encodes the 64 digits as 27 bytes and back, and refuses values of 10^64 and above', () => {
    for (const key of [generateRecoveryKey(), '0'.repeat(64), '9'.repeat(64)]) {
      const bytes = recoveryKeyBytes(key);
      expect(bytes).toHaveLength(27);
      expect(recoveryKeyFromBytes(bytes).replaceAll(' ', '')).toBe(key.replaceAll(' ', ''));
    }
    expect(() => recoveryKeyFromBytes(new Uint8Array(27).fill(0xff))).toThrow(expect.objectContaining({ code: 'recovery_share_invalid' }));
    expect(() => recoveryKeyFromBytes(new Uint8Array(26))).toThrow(expect.objectContaining({ code: 'recovery_share_invalid' }));
  });

  it('any 3 of 5 shares rebuild the key; 2 do not', async () => {
    const key = generateRecoveryKey();
    const shares = await splitRecoveryKey(key, 5, 3);
    expect(shares.every((s) => s.length === 28)).toBe(true);
    for (const [a, b, c] of [[0, 1, 2], [4, 2, 0], [1, 3, 4]] as const) expect(await combineRecoveryKey([shares[a]!, shares[b]!, shares[c]!])).toBe(key);
    const two = await combineRecoveryShares([shares[0]!, shares[3]!]);
    expect(toHex(two)).not.toBe(toHex(recoveryKeyBytes(key)));
  });
});
