/** The relay's native base64 decoder accepts and refuses exactly what core's portable one does. */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { fromBase64, toBase64, toBase64Url } from '@parley/core';
import { decodeBase64Fast } from '../src/util/base64-node.js';

const outcome = (f: () => Uint8Array): string => {
  try {
    return `ok ${Buffer.from(f()).toString('hex')}`;
  } catch (error) {
    return `err ${(error as { code?: string }).code}`;
  }
};

describe('decodeBase64Fast', () => {
  it('matches fromBase64 on any text over the base64 characters and some others', () => {
    const chars = fc.constantFrom(...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/-_= .\n*é'.split(''));
    fc.assert(
      fc.property(fc.array(chars, { maxLength: 40 }).map((a) => a.join('')), (text) => {
        expect(outcome(() => decodeBase64Fast(text, 'x'))).toBe(outcome(() => fromBase64(text, 'x')));
      }),
      { numRuns: 20_000, seed: 11 },
    );
  });

  it('decodes every encoding of random bytes (padded, base64url) like fromBase64', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        for (const text of [toBase64(bytes), toBase64Url(bytes), toBase64(bytes).replace(/=+$/, '')]) {
          expect(Buffer.from(decodeBase64Fast(text, 'x')).equals(Buffer.from(bytes))).toBe(true);
        }
      }),
      { numRuns: 2_000, seed: 12 },
    );
  });
});
