import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { equalBytes, fromBase64, fromHex, toBase64, toBase64Url, toHex } from '../src/bytes.js';

describe('RFC 4648 encodings', () => {
  it('round-trips base64, base64url and hex', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        expect(fromBase64(toBase64(bytes))).toEqual(bytes);
        expect(fromBase64(toBase64Url(bytes))).toEqual(bytes);
        expect(fromHex(toHex(bytes))).toEqual(bytes);
      }),
    );
  });

  it('agrees with Node and rejects what is not canonical base64', () => {
    fc.assert(
      fc.property(fc.string({ unit: fc.constantFrom(...'AQZaz09+/-_=.! \n'.split('')), maxLength: 24 }), (text) => {
        let ours: Uint8Array | undefined;
        try {
          ours = fromBase64(text);
        } catch (error) {
          expect((error as { code?: string }).code).toBe('invalid_encoding');
          return;
        }
        // Accepted text must be canonical: re-encoding gives the same symbols.
        const unpadded = text.replace(/=+$/, '').replace(/-/g, '+').replace(/_/g, '/');
        expect(toBase64(ours).replace(/=+$/, '')).toBe(unpadded);
        expect(equalBytes(ours, new Uint8Array(Buffer.from(unpadded, 'base64')))).toBe(true);
      }),
      { numRuns: 3000 },
    );
    for (const bad of ['A', 'AB=C', 'AB!=', 'AQ==A', 'AR==', 'AAB=', 'A A=', 'AA===']) {
      expect(() => fromBase64(bad), bad).toThrow(expect.objectContaining({ code: 'invalid_encoding' }));
    }
  });
});
