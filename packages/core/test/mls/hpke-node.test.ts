/**
 * The node provider's HPKE components (src/mls/hpke.node.ts, `hpkeKdf`) against
 * `@hpke/core`'s own: the same keys from the same seed, byte-identical KDF outputs, and
 * ciphertexts each side opens for the other. The RFC 9420 vectors (crypto-basics
 * `derive_key_pair` and `encrypt_with_label`, treekem, welcome) run through the node
 * provider in crypto-provider.test.ts; these tests pin the components one by one.
 * ChaCha20-Poly1305 has no `@hpke/core` counterpart; the MLS vectors of suite 3 cover it.
 */
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  Aes128Gcm,
  Aes256Gcm,
  CipherSuite,
  DhkemX25519HkdfSha256,
  HkdfSha256,
  HkdfSha384,
  HkdfSha512,
  type AeadInterface,
  type KdfInterface,
} from '@hpke/core';
import { hpkeKdf } from '../../src/mls/crypto-provider-common.js';
import { NodeDhkemX25519, nodeHpkeAead } from '../../src/mls/hpke.node.js';

const text = (s: string): Uint8Array => new TextEncoder().encode(s);

describe('hpkeKdf (noble HKDF under @hpke/core labels)', () => {
  const pairs: [string, KdfInterface, KdfInterface][] = [
    ['HKDF-SHA256', hpkeKdf('HKDF-SHA256'), new HkdfSha256()],
    ['HKDF-SHA384', hpkeKdf('HKDF-SHA384'), new HkdfSha384()],
    ['HKDF-SHA512', hpkeKdf('HKDF-SHA512'), new HkdfSha512()],
  ];
  for (const [name, ours, theirs] of pairs) {
    it(`${name}: extract, expand, extractAndExpand and the labelled forms equal @hpke/core's`, async () => {
      const suiteId = text('HPKE\x00\x20\x00\x01\x00\x01');
      ours.init(suiteId);
      theirs.init(suiteId);
      expect(ours.id).toBe(theirs.id);
      expect(ours.hashSize).toBe(theirs.hashSize);
      await fc.assert(
        fc.asyncProperty(
          fc.oneof(fc.constant(new Uint8Array(0)), fc.uint8Array({ minLength: ours.hashSize, maxLength: ours.hashSize })),
          fc.uint8Array({ maxLength: 80 }),
          fc.uint8Array({ maxLength: 80 }),
          fc.integer({ min: 1, max: 3 * ours.hashSize }),
          async (salt, ikm, info, len) => {
            const prk = await ours.extract(salt, ikm);
            expect(new Uint8Array(prk)).toEqual(new Uint8Array(await theirs.extract(salt, ikm)));
            expect(new Uint8Array(await ours.expand(prk, info, len))).toEqual(new Uint8Array(await theirs.expand(prk, info, len)));
            expect(new Uint8Array(await ours.extractAndExpand(salt, ikm, info, len))).toEqual(
              new Uint8Array(await theirs.extractAndExpand(salt, ikm, info, len)),
            );
            expect(new Uint8Array(await ours.labeledExpand(prk, text('key'), info, len))).toEqual(
              new Uint8Array(await theirs.labeledExpand(prk, text('key'), info, len)),
            );
          },
        ),
        { numRuns: 40 },
      );
    });
  }
});

describe('NodeDhkemX25519 (OpenSSL X25519 under @hpke/common DHKEM)', () => {
  const ours = new NodeDhkemX25519();
  const theirs = new DhkemX25519HkdfSha256();

  it('derives the same key pair from the same seed (RFC 9180 §7.1.3) and keeps the sizes', async () => {
    expect([ours.id, ours.secretSize, ours.encSize, ours.publicKeySize, ours.privateKeySize]).toEqual([
      theirs.id,
      theirs.secretSize,
      theirs.encSize,
      theirs.publicKeySize,
      theirs.privateKeySize,
    ]);
    for (let i = 0; i < 8; i++) {
      const ikm = randomBytes(32);
      const a = await ours.deriveKeyPair(ikm);
      const b = await theirs.deriveKeyPair(ikm);
      expect(new Uint8Array(await ours.serializePublicKey(a.publicKey))).toEqual(new Uint8Array(await theirs.serializePublicKey(b.publicKey)));
      expect(new Uint8Array(await ours.serializePrivateKey(a.privateKey))).toEqual(new Uint8Array(await theirs.serializePrivateKey(b.privateKey)));
    }
  });

  const aeads: [string, () => AeadInterface, () => AeadInterface][] = [
    ['AES-128-GCM', () => nodeHpkeAead('AES128GCM'), () => new Aes128Gcm()],
    ['AES-256-GCM', () => nodeHpkeAead('AES256GCM'), () => new Aes256Gcm()],
  ];
  for (const [name, ourAead, theirAead] of aeads) {
    it(`${name}: what one side seals the other opens, both ways; a flipped bit is refused`, async () => {
      const mine = new CipherSuite({ kem: new NodeDhkemX25519(), kdf: hpkeKdf('HKDF-SHA256'), aead: ourAead() });
      const reference = new CipherSuite({ kem: new DhkemX25519HkdfSha256(), kdf: new HkdfSha256(), aead: theirAead() });
      for (const [from, to] of [
        [mine, reference],
        [reference, mine],
      ] as const) {
        const recipient = await to.kem.deriveKeyPair(randomBytes(32));
        const recipientPublic = await from.kem.deserializePublicKey(await to.kem.serializePublicKey(recipient.publicKey));
        const recipientPrivate = await to.kem.deserializePrivateKey(await to.kem.serializePrivateKey(recipient.privateKey));
        const info = text('MLS 1.0 path secret');
        const { ct, enc } = await from.seal({ recipientPublicKey: recipientPublic, info }, text('path secret'), text('aad'));
        expect(new Uint8Array(await to.open({ recipientKey: recipientPrivate, enc, info }, ct, text('aad')))).toEqual(text('path secret'));
        const flipped = new Uint8Array(ct);
        flipped[0]! ^= 1;
        await expect(to.open({ recipientKey: recipientPrivate, enc, info }, flipped, text('aad'))).rejects.toThrow();
        await expect(to.open({ recipientKey: recipientPrivate, enc, info }, ct, text('other aad'))).rejects.toThrow();
      }
    });
  }

  it('ChaCha20-Poly1305: seals and opens under the node KEM; a flipped bit is refused', async () => {
    const suite = new CipherSuite({ kem: new NodeDhkemX25519(), kdf: hpkeKdf('HKDF-SHA256'), aead: nodeHpkeAead('CHACHA20POLY1305') });
    const recipient = await suite.kem.generateKeyPair();
    const { ct, enc } = await suite.seal({ recipientPublicKey: recipient.publicKey }, text('path secret'));
    expect(new Uint8Array(await suite.open({ recipientKey: recipient, enc }, ct))).toEqual(text('path secret'));
    const flipped = new Uint8Array(ct);
    flipped[flipped.length - 1]! ^= 1;
    await expect(suite.open({ recipientKey: recipient, enc }, flipped)).rejects.toThrow();
  });

  it('refuses a small-order public key: the all-zero shared secret (RFC 9180 §7.1.4)', async () => {
    const suite = new CipherSuite({ kem: new NodeDhkemX25519(), kdf: hpkeKdf('HKDF-SHA256'), aead: new Aes128Gcm() });
    const zero = await suite.kem.deserializePublicKey(new Uint8Array(32));
    await expect(suite.seal({ recipientPublicKey: zero }, text('x'))).rejects.toThrow();
  });

  it('refuses keys of the wrong length', async () => {
    await expect(ours.deserializePublicKey(new Uint8Array(31))).rejects.toThrow();
    await expect(ours.deserializePrivateKey(new Uint8Array(33))).rejects.toThrow();
  });
});
