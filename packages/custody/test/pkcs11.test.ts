/**
 * PKCS#11 custody on a real SoftHSM2 token: Ed25519 keys generated inside the token
 * (never extractable, CKA_VALUE unreadable), signatures that node:crypto verifies, a
 * wrong PIN refused without the PIN in the error, the AES key wrapper's round trip,
 * tamper, wrong context and wrong key, and creation races that end with one key.
 */
import { createPublicKey, randomBytes, verify } from 'node:crypto';
import { createRequire } from 'node:module';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CustodyError, KeyFileSigner, Pkcs11KeyWrapper, Pkcs11Signer, verifyEd25519 } from '@parley/custody';
import { softHsmStatus, startSoftHsm, type SoftHsm } from '@parley/test-kit/softhsm';

const hsm = softHsmStatus();
if (!hsm.ok) console.log(hsm.note);

function spki(publicKey: Uint8Array) {
  return createPublicKey({ key: Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), publicKey]), format: 'der', type: 'spki' });
}

describe('KeyFileSigner', () => {
  it('signs pure Ed25519 that node:crypto verifies (RFC 8032 test vector 1)', async () => {
    // RFC 8032 §7.1, TEST 1: empty message.
    const seed = Buffer.from('9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60', 'hex');
    const signer = KeyFileSigner.fromSeed(seed);
    expect(Buffer.from(signer.publicKey).toString('hex')).toBe('d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a');
    const signature = await signer.sign(new Uint8Array(0));
    expect(Buffer.from(signature).toString('hex')).toBe(
      'e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b',
    );
    expect(verify(null, new Uint8Array(0), spki(signer.publicKey), signature)).toBe(true);
    expect(JSON.stringify(signer)).not.toContain('9d61b1');
  });
});

describe.skipIf(!hsm.ok)('PKCS#11 on SoftHSM2', () => {
  let token: SoftHsm;
  let other: SoftHsm;
  beforeAll(async () => {
    // Both tokens exist before the module is first initialised in this process.
    token = await startSoftHsm();
    other = await startSoftHsm();
  });
  afterAll(async () => {
    await token?.cleanup();
    await other?.cleanup();
  });

  it('generates an Ed25519 key in the token and signs; node:crypto verifies', async () => {
    const signer = await Pkcs11Signer.open(token.uri('tlog-test'), { create: true });
    try {
      expect(signer.created).toBe(true);
      expect(signer.publicKey).toHaveLength(32);
      expect(signer.description).toBe(`pkcs11:token=${token.tokenLabel};object=tlog-test`);
      const message = new TextEncoder().encode('example.com/log\n42\nq6yrq6yrq6yrq6yrq6yrq6yrq6yrq6yrq6yrq6yrq6s=\n');
      const signature = await signer.sign(message);
      expect(signature).toHaveLength(64);
      expect(verify(null, message, spki(signer.publicKey), signature)).toBe(true);
      expect(verifyEd25519(signer.publicKey, new TextEncoder().encode('other'), signature)).toBe(false);
      // Concurrent callers are serialised on the session.
      const many = await Promise.all(Array.from({ length: 16 }, (_v, i) => signer.sign(new TextEncoder().encode(`m${i}`))));
      many.forEach((s, i) => expect(verify(null, new TextEncoder().encode(`m${i}`), spki(signer.publicKey), s)).toBe(true));
    } finally {
      await signer.close();
    }
    // Opened again (without create): the same key.
    const again = await Pkcs11Signer.open(token.uri('tlog-test'));
    const first = again.publicKey;
    await again.close();
    const third = await Pkcs11Signer.open(token.uri(), { object: 'tlog-test', create: true });
    expect(third.created).toBe(false);
    expect(Buffer.from(third.publicKey).equals(Buffer.from(first))).toBe(true);
    await third.close();
  });

  it('the private key is sensitive, never extractable, and its value cannot be read', async () => {
    const signer = await Pkcs11Signer.open(token.uri('inspect-me'), { create: true });
    await signer.close();
    // Inspect with pkcs11js directly, as any other PKCS#11 application would.
    const ck = createRequire(import.meta.url)('pkcs11js') as typeof import('pkcs11js');
    const p = new ck.PKCS11();
    p.load(token.modulePath);
    p.C_Initialize({ flags: ck.CKF_OS_LOCKING_OK });
    try {
      const slot = p.C_GetSlotList(true).find((s) => p.C_GetTokenInfo(s).label.trim() === token.tokenLabel)!;
      const session = p.C_OpenSession(slot, ck.CKF_SERIAL_SESSION);
      p.C_Login(session, ck.CKU_USER, token.pin);
      p.C_FindObjectsInit(session, [
        { type: ck.CKA_CLASS, value: ck.CKO_PRIVATE_KEY },
        { type: ck.CKA_LABEL, value: 'inspect-me' },
      ]);
      const [key] = p.C_FindObjects(session, 2);
      p.C_FindObjectsFinal(session);
      const attrs = p.C_GetAttributeValue(session, key!, [
        { type: ck.CKA_EXTRACTABLE },
        { type: ck.CKA_SENSITIVE },
        { type: ck.CKA_NEVER_EXTRACTABLE },
        { type: ck.CKA_ALWAYS_SENSITIVE },
        { type: ck.CKA_TOKEN },
        { type: ck.CKA_KEY_TYPE },
      ]);
      expect(attrs.map((a) => a.value[0])).toEqual([0, 1, 1, 1, 1, 0x40]);
      expect(() => p.C_GetAttributeValue(session, key!, [{ type: ck.CKA_VALUE }])).toThrow(/CKR_ATTRIBUTE_SENSITIVE/);
      p.C_CloseSession(session);
    } finally {
      p.C_Finalize();
    }
  });

  it('a wrong PIN is pkcs11_login_failed, and the PIN is in no message or detail', async () => {
    const wrongPin = 'wrong-pin-5551234';
    // The URI's pin-source would win over the environment: a URI without one.
    const uriNoPin = `pkcs11:token=${other.tokenLabel};object=any?module-path=${other.modulePath}`;
    const refused = await Pkcs11Signer.open(uriNoPin, { env: { PARLEY_PKCS11_PIN: wrongPin } }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(CustodyError);
    expect(refused).toMatchObject({ code: 'pkcs11_login_failed' });
    const text = JSON.stringify({ message: (refused as Error).message, details: (refused as CustodyError).details, stack: (refused as Error).stack });
    expect(text).not.toContain(wrongPin);
    expect(text).not.toContain(other.pin);
  });

  it('a missing key, an unknown token, a missing PIN', async () => {
    await expect(Pkcs11Signer.open(token.uri('nobody'))).rejects.toMatchObject({ code: 'pkcs11_key_not_found' });
    await expect(Pkcs11Signer.open(`pkcs11:token=no-such-token;object=x?module-path=${token.modulePath}&pin-source=file:${token.pinFile}`)).rejects.toMatchObject({
      code: 'pkcs11_token_not_found',
    });
    await expect(Pkcs11Signer.open(`pkcs11:token=${token.tokenLabel};object=x?module-path=${token.modulePath}`, { env: {} })).rejects.toMatchObject({ code: 'pkcs11_pin_missing' });
    await expect(Pkcs11Signer.open(`pkcs11:token=${token.tokenLabel};object=x?module-path=/nonexistent/lib.so&pin-source=file:${token.pinFile}`)).rejects.toMatchObject({
      code: 'pkcs11_module_failed',
    });
  });

  it('several openers racing to create one label end with one key', async () => {
    const signers = await Promise.all(Array.from({ length: 4 }, () => Pkcs11Signer.open(token.uri('raced'), { create: true })));
    try {
      const keys = new Set(signers.map((s) => Buffer.from(s.publicKey).toString('hex')));
      expect(keys.size).toBe(1);
      expect(signers.filter((s) => s.created).length).toBeLessThanOrEqual(1);
    } finally {
      for (const s of signers) await s.close();
    }
    const wrappers = await Promise.all(Array.from({ length: 4 }, () => Pkcs11KeyWrapper.open(token.uri('raced-wrap'), { create: true })));
    try {
      expect(new Set(wrappers.map((w) => w.id)).size).toBe(1);
      const wrapped = await wrappers[0]!.wrap(randomBytes(32), 'race');
      for (const w of wrappers) await w.unwrap(wrapped, 'race');
    } finally {
      for (const w of wrappers) await w.close();
    }
  });

  it('Pkcs11KeyWrapper: round trip, tamper, wrong context, wrong key', async () => {
    const wrapper = await Pkcs11KeyWrapper.open(token.uri('wrap-a'), { create: true });
    const otherKey = await Pkcs11KeyWrapper.open(token.uri('wrap-b'), { create: true });
    try {
      expect(wrapper.id).toMatch(/^pkcs11:object=wrap-a;id=[0-9a-f]{32}$/);
      const secret = new Uint8Array(randomBytes(32));
      const wrapped = await wrapper.wrap(secret, 'server/vrf-key');
      expect(wrapped[0]).toBe(1);
      expect(wrapped).toHaveLength(1 + 12 + 32 + 16);
      expect(Buffer.from(wrapped).includes(Buffer.from(secret))).toBe(false);
      expect(Buffer.from(await wrapper.unwrap(wrapped, 'server/vrf-key')).equals(Buffer.from(secret))).toBe(true);
      // A fresh IV every time.
      const again = await wrapper.wrap(secret, 'server/vrf-key');
      expect(Buffer.from(again).equals(Buffer.from(wrapped))).toBe(false);

      for (const i of [1, 13, 20, wrapped.length - 1]) {
        const tampered = Uint8Array.from(wrapped);
        tampered[i]! ^= 0x01;
        await expect(wrapper.unwrap(tampered, 'server/vrf-key')).rejects.toMatchObject({ code: 'unwrap_failed' });
      }
      await expect(wrapper.unwrap(wrapped, 'gateway/data-key')).rejects.toMatchObject({ code: 'unwrap_failed' });
      await expect(otherKey.unwrap(wrapped, 'server/vrf-key')).rejects.toMatchObject({ code: 'unwrap_failed' });
      const wrongVersion = Uint8Array.from(wrapped);
      wrongVersion[0] = 2;
      await expect(wrapper.unwrap(wrongVersion, 'server/vrf-key')).rejects.toMatchObject({ code: 'wrapped_format' });
      await expect(wrapper.unwrap(wrapped.subarray(0, 20), 'server/vrf-key')).rejects.toMatchObject({ code: 'wrapped_format' });
    } finally {
      await wrapper.close();
      await otherKey.close();
    }
    await expect(wrapper.wrap(new Uint8Array(32), 'x')).rejects.toMatchObject({ code: 'custody_closed' });
  });
});
