/**
 * The web message format (AES-256-GCM, NIST SP 800-38D): a round trip, and every
 * tampering or wrong key refused. The browser side runs the same file in Chromium
 * (server/test/web-retrieval.test.ts).
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { openWebMessage, sealWebMessage, WEB_MESSAGE_IV_BYTES } from '../../src/web/web-message.js';

describe('web message format', () => {
  it('opens what it sealed, for any text', async () => {
    await fc.assert(
      fc.asyncProperty(fc.string({ unit: 'grapheme', maxLength: 200 }), async (text) => {
        const { ciphertext, key } = await sealWebMessage(text);
        expect(ciphertext.length).toBe(WEB_MESSAGE_IV_BYTES + new TextEncoder().encode(text).length + 16);
        expect(await openWebMessage(ciphertext, key)).toBe(text);
      }),
      { numRuns: 50, seed: 7 },
    );
  });

  it('refuses a changed byte anywhere, a wrong key and a truncated message', async () => {
    const { ciphertext, key } = await sealWebMessage('Your code is 123456');
    for (let i = 0; i < ciphertext.length; i++) {
      const bad = ciphertext.slice();
      bad[i]! ^= 1;
      await expect(openWebMessage(bad, key)).rejects.toThrow();
    }
    const other = key.slice();
    other[0]! ^= 1;
    await expect(openWebMessage(ciphertext, other)).rejects.toThrow();
    await expect(openWebMessage(ciphertext.slice(0, 20), key)).rejects.toThrow();
    await expect(openWebMessage(ciphertext, key.slice(0, 16))).rejects.toThrow();
  });
});
