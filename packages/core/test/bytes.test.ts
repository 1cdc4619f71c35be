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
      fc.property(fc.string({ unit: fc.constantFrom(...'AQZaz09+/-_=.! \nŁé'.split('')), maxLength: 24 }), (text) => {
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
    // Padding, when present, must complete the last group (the old browser-only path accepted 'aGk==' and 'aG=').
    for (const bad of ['A', 'AB=C', 'AB!=', 'AQ==A', 'AR==', 'AAB=', 'A A=', 'AA===', 'aGk==', 'aG=', '=', '==', '====', 'aGk=\n', 'é===']) {
      expect(() => fromBase64(bad), bad).toThrow(expect.objectContaining({ code: 'invalid_encoding' }));
    }
    for (const [good, hex] of [['', ''], ['aGk=', '6869'], ['aGk', '6869'], ['aA==', '68'], ['aA', '68'], ['-_8', 'fbff'], ['+/8=', 'fbff'], ['+_8', 'fbff']] as const) {
      expect(toHex(fromBase64(good)), good).toBe(hex);
    }
  });

  it('encodes exactly as Node does, at every length up to a few tiles', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 5000 }), (bytes) => {
        const node = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
        expect(toBase64(bytes)).toBe(node.toString('base64'));
        expect(toBase64Url(bytes)).toBe(node.toString('base64url'));
        expect(fromBase64(node.toString('base64'))).toEqual(bytes);
        expect(fromBase64(node.toString('base64url'))).toEqual(bytes);
      }),
      { numRuns: 300 },
    );
    const big = new Uint8Array(1 << 20).map((_, i) => (i * 7919) & 0xff);
    expect(toBase64(big)).toBe(Buffer.from(big).toString('base64'));
    expect(equalBytes(fromBase64(Buffer.from(big).toString('base64')), big)).toBe(true);
  });

  it('accepts exactly what the former Node-only path accepted', () => {
    // The rules of the Buffer-backed decoder that core used in Node until it became runtime-free.
    const LOOKUP = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
    const accepted = (text: string): boolean => {
      const clean = text.endsWith('==') ? text.slice(0, -2) : text.endsWith('=') ? text.slice(0, -1) : text;
      if (clean.length % 4 === 1) return false;
      if (!/^[A-Za-z0-9+/_-]*$/.test(clean) || (clean.length !== text.length && text.length % 4 !== 0)) return false;
      const rem = clean.length % 4;
      const last = rem === 0 ? 0 : LOOKUP.indexOf(clean.at(-1)!.replace('-', '+').replace('_', '/'));
      return !((rem === 2 && (last & 0x0f) !== 0) || (rem === 3 && (last & 0x03) !== 0));
    };
    fc.assert(
      fc.property(fc.string({ unit: fc.constantFrom(...'AQgwBCDaz09+/-_=Łé\u0141'.split('')), maxLength: 13 }), (text) => {
        let ok = true;
        try {
          fromBase64(text);
        } catch {
          ok = false;
        }
        expect(ok, JSON.stringify(text)).toBe(accepted(text));
      }),
      { numRuns: 5000 },
    );
  });

  it('decodes subarrays and returns independent bytes', () => {
    const backing = new Uint8Array([9, 104, 105, 9]);
    expect(toBase64(backing.subarray(1, 3))).toBe('aGk=');
    const decoded = fromBase64('aGk=');
    expect(decoded.byteOffset).toBe(0);
    expect(decoded.buffer.byteLength).toBe(2);
  });
});
