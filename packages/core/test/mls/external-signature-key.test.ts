/**
 * `withExternalSignatureKey`: a member whose MLS signature key is held by an external Ed25519
 * signer (here a closure over a seed, counting its calls) runs a group with a member whose
 * key is local, on one shared suite; ts-mls holds only the 32-byte key reference.
 */
import { ed25519 } from '@noble/curves/ed25519.js';
import { describe, expect, it } from 'vitest';
import {
  EXTERNAL_KEY_REF_LENGTH,
  commitChanges,
  createGroup,
  createKeyPackage,
  decodeGroup,
  encodeGroup,
  encryptApplication,
  generateSignatureKeyPair,
  inspectKeyPackage,
  joinFromWelcome,
  loadSuite,
  processIncoming,
  withExternalSignatureKey,
  type AuthenticateMember,
  type MemberRef,
} from '../../src/mls/index.js';
import { nodeCryptoProvider } from '../../src/mls/crypto-provider.node.js';
import { equalBytes, fromUtf8, randomBytes, utf8 } from '../../src/bytes.js';
import type { Ed25519Signer } from '../../src/identity-keys.js';
import type { DeviceId, IdentityId } from '../../src/ids.js';

function externalKey(): Ed25519Signer & { calls: Uint8Array[]; seed: Uint8Array } {
  const seed = ed25519.utils.randomSecretKey();
  const calls: Uint8Array[] = [];
  return {
    publicKey: ed25519.getPublicKey(seed),
    calls,
    seed,
    async sign(message) {
      calls.push(message);
      return ed25519.sign(message, seed);
    },
  };
}

function contains(haystack: Uint8Array, needle: Uint8Array): boolean {
  outer: for (let i = 0; i + needle.length <= haystack.length; i++) {
    for (let j = 0; j < needle.length; j++) if (haystack[i + j] !== needle[j]) continue outer;
    return true;
  }
  return false;
}

const bankRef: MemberRef = { identityId: 'bank:sender' as IdentityId, deviceId: 'device-1-aaaaaaaaaaaaaaaa' as DeviceId };
const phoneRef: MemberRef = { identityId: 'bank:alice' as IdentityId, deviceId: 'device-2-aaaaaaaaaaaaaaaa' as DeviceId };

describe('withExternalSignatureKey', () => {
  for (const provider of [undefined, nodeCryptoProvider]) {
    it(`routes the key reference's signatures to the signer, every other key to the provider (${provider ? 'node:crypto' : 'ts-mls default'})`, async () => {
      const base = await loadSuite(undefined, provider);
      const hsm = externalKey();
      const keyRef = randomBytes(EXTERNAL_KEY_REF_LENGTH);
      const suite = withExternalSignatureKey(base, keyRef, hsm);
      const bankKeys = { publicKey: hsm.publicKey, privateKey: keyRef };
      const phoneKeys = await generateSignatureKeyPair(suite);
      const auth: AuthenticateMember = async (member, key) =>
        (member.deviceId === bankRef.deviceId && equalBytes(key, hsm.publicKey)) || (member.deviceId === phoneRef.deviceId && equalBytes(key, phoneKeys.publicKey));

      // The bank's KeyPackage verifies under the signer's public key.
      const bankKp = await createKeyPackage(suite, bankRef, bankKeys);
      expect((await inspectKeyPackage(base, bankKp.keyPackage)).signaturePublicKey).toEqual(hsm.publicKey);
      const afterKp = hsm.calls.length;
      expect(afterKp).toBe(2); // LeafNodeTBS and KeyPackageTBS (RFC 9420 §10)
      // The phone's, made through the same wrapped suite, never reaches the signer.
      const phoneKp = await createKeyPackage(suite, phoneRef, phoneKeys);
      expect(hsm.calls.length).toBe(afterKp);

      let bank = await createGroup(suite, randomBytes(32), bankRef, bankKeys, auth);
      const add = await commitChanges(suite, bank, { add: [phoneKp.keyPackage] });
      bank = add.group;
      const { group: phone } = await joinFromWelcome(base, add.welcome!, phoneKeys.privateKey, async () => ({ keyPackage: phoneKp.keyPackage, privateKey: phoneKp.privateKey }), auth);
      const enc = await encryptApplication(suite, bank, utf8('card charged EUR 12.00'));
      const got = await processIncoming(base, phone, enc.message);
      expect(got.kind).toBe('application');
      if (got.kind !== 'application') throw new Error('unreachable');
      expect(fromUtf8(got.plaintext)).toBe('card charged EUR 12.00');
      expect(got.sender.member).toEqual(bankRef);
      // What the signer saw is SignWithLabel content (RFC 9420 §5.1.2): "MLS 1.0 " || label.
      const labels = hsm.calls.map((m) => new TextDecoder().decode(m).match(/MLS 1\.0 ([A-Za-z]+)/)?.[1]);
      expect(labels).toContain('FramedContentTBS');
      expect(labels.every((l) => l !== undefined)).toBe(true);

      // The phone answers; the bank (wrapped suite) verifies with the provider as before.
      const reply = await encryptApplication(suite, got.group, utf8('thanks'));
      const callsBefore = hsm.calls.length;
      const answered = await processIncoming(suite, enc.group, reply.message);
      expect(answered.kind).toBe('application');
      if (answered.kind !== 'application') throw new Error('unreachable');
      expect(hsm.calls.length).toBe(callsBefore);

      // Group state keeps the reference, never the key.
      const state = encodeGroup(answered.group);
      expect(contains(state, keyRef)).toBe(true);
      expect(contains(state, hsm.seed)).toBe(false);
      const restored = decodeGroup(state, auth);
      const more = await encryptApplication(suite, restored, utf8('again'));
      expect((await processIncoming(base, reply.group, more.message)).kind).toBe('application');
    });
  }

  it('accepts only a 32-byte reference and a 32-byte public key', async () => {
    const base = await loadSuite();
    const hsm = externalKey();
    expect(() => withExternalSignatureKey(base, randomBytes(16), hsm)).toThrow(expect.objectContaining({ code: 'invalid_signature_key' }));
    expect(() => withExternalSignatureKey(base, randomBytes(32), { publicKey: new Uint8Array(31), sign: hsm.sign })).toThrow(
      expect.objectContaining({ code: 'invalid_signature_key' }),
    );
  });

  it('a signer answering with anything but 64 bytes fails with signer_failed', async () => {
    const base = await loadSuite();
    const keyRef = randomBytes(32);
    const suite = withExternalSignatureKey(base, keyRef, { publicKey: externalKey().publicKey, sign: async () => new Uint8Array(63) });
    await expect(createKeyPackage(suite, bankRef, { publicKey: new Uint8Array(32), privateKey: keyRef })).rejects.toMatchObject({ code: 'signer_failed' });
  });
});
