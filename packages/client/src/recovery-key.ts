/**
 * The 64-digit recovery key a device shows once when backups are set up (as Signal and
 * WhatsApp do): 64 uniformly random decimal digits, about 212.6 bits — beyond any guessing,
 * so it needs no stretching (docs/backup-format.md). Shown in 16 groups of 4.
 */
import { randomBytes } from '@parley/core';
import { BackupError } from './errors.js';

const DIGITS = 64;

/**
 * A new recovery key: 64 random digits in groups of four (rejection sampling over random
 * bytes, so every digit is uniform).
 *
 * @example
 * const key = generateRecoveryKey() // '0381 7734 … 5521' (show it once; the user writes it down)
 */
export function generateRecoveryKey(): string {
  const digits: number[] = [];
  while (digits.length < DIGITS) {
    for (const byte of randomBytes(DIGITS)) {
      // 250 = 25 × 10: bytes 250–255 would favour the digits 0–5.
      if (byte < 250 && digits.length < DIGITS) digits.push(byte % 10);
    }
  }
  return digits.join('').replace(/(\d{4})(?=\d)/g, '$1 ');
}

/**
 * The key's 64 digits without the spaces or dashes people type between groups;
 * `backup_invalid_secret` for anything else.
 *
 * @example
 * normalizeRecoveryKey('0381-7734 …') // '03817734…'
 */
export function normalizeRecoveryKey(text: string): string {
  const digits = typeof text === 'string' ? text.replace(/[\s-]/g, '') : '';
  if (!/^\d{64}$/.test(digits)) throw new BackupError('backup_invalid_secret', 'a recovery key is 64 digits');
  return digits;
}
