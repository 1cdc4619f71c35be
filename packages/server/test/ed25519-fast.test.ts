/** The server's node:crypto Ed25519 verifier agrees with RFC 8032 and with the core's verifier. */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ed25519 } from '@noble/curves/ed25519.js';
import { verifyEd25519Fast } from '../src/crypto/ed25519.js';

const hex = (s: string) => new Uint8Array(Buffer.from(s, 'hex'));

describe('verifyEd25519Fast', () => {
  it('accepts RFC 8032 §7.1 TEST 1 and refuses it altered', () => {
    const publicKey = hex('d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a');
    const signature = hex('e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b');
    expect(verifyEd25519Fast(publicKey, new Uint8Array(), signature)).toBe(true);
    expect(verifyEd25519Fast(publicKey, new Uint8Array([0]), signature)).toBe(false);
    const bad = signature.slice();
    bad[10]! ^= 1;
    expect(verifyEd25519Fast(publicKey, new Uint8Array(), bad)).toBe(false);
    expect(verifyEd25519Fast(publicKey.slice(0, 31), new Uint8Array(), signature)).toBe(false);
    expect(verifyEd25519Fast(publicKey, new Uint8Array(), signature.slice(0, 63))).toBe(false);
  });

  it('agrees with the core verifier on valid and mutated signatures', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.uint8Array({ maxLength: 200 }), fc.nat(63), (seed, message, flip) => {
        const publicKey = ed25519.getPublicKey(seed);
        const signature = ed25519.sign(message, seed);
        expect(verifyEd25519Fast(publicKey, message, signature)).toBe(true);
        const mutated = signature.slice();
        mutated[flip]! ^= 0x40;
        expect(verifyEd25519Fast(publicKey, message, mutated)).toBe(ed25519.verify(mutated, message, publicKey));
      }),
      { numRuns: 100 },
    );
  });
});
