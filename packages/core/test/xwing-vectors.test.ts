/**
 * X-Wing (draft-connolly-cfrg-xwing-kem), the KEM of MLS_256_XWING_AES256GCM_SHA512_Ed25519:
 * the KEM Parley's providers use (`xwingKem()`, @hpke/hybridkem-x-wing) against the draft's
 * published vectors (../shared/vectors/xwing/test-vectors.json, read in place), then the whole
 * suite end to end through Parley's MLS layer with the node:crypto and WebCrypto providers.
 */
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { XWing } from '@hpke/hybridkem-x-wing';
import { describe, expect, it } from 'vitest';
import { equalBytes, fromHex, fromUtf8, randomBytes, toHex, utf8 } from '../src/bytes.js';
import type { DeviceId, IdentityId } from '../src/ids.js';
import { xwingKem } from '../src/mls/crypto-provider-common.js';
import { nodeCryptoProvider } from '../src/mls/crypto-provider.node.js';
import { webCryptoProvider } from '../src/mls/crypto-provider.web.js';
import {
  commitChanges,
  createGroup,
  createKeyPackage,
  encryptApplication,
  generateSignatureKeyPair,
  inspectKeyPackage,
  joinFromWelcome,
  loadSuite,
  processIncoming,
  type AuthenticateMember,
  type CryptoProvider,
  type MemberRef,
  type MlsGroup,
  type MlsSuite,
  type SuiteName,
} from '../src/mls/index.js';
import { decodeKeyPackageMessage } from '../src/mls/key-package.js';
import { decodeMessage } from '../src/mls/wire-inspect.js';

const XWING: SuiteName = 'MLS_256_XWING_AES256GCM_SHA512_Ed25519';
/** X-Wing sizes (draft §5): public key (ML-KEM-768 1184 + X25519 32), ciphertext (1088 + 32). */
const PUBLIC_KEY_BYTES = 1216;
const CIPHERTEXT_BYTES = 1120;

// ------------------------------------------------------------------ published vectors

const VECTOR_FILE = new URL('../../../../shared/vectors/xwing/test-vectors.json', import.meta.url);
const HAVE_VECTORS = existsSync(fileURLToPath(VECTOR_FILE));
if (!HAVE_VECTORS) console.warn(`X-Wing vectors not found at ${fileURLToPath(VECTOR_FILE)}; skipping vector tests`);

/** One vector of the draft's repository (spec/test-vectors.json), every field hex. */
interface XWingVector {
  readonly seed: string;
  readonly sk: string;
  readonly pk: string;
  readonly eseed: string;
  readonly ct: string;
  readonly ss: string;
}

function loadVectors(): XWingVector[] {
  if (!HAVE_VECTORS) return [];
  const parsed: unknown = JSON.parse(readFileSync(VECTOR_FILE, 'utf8'));
  if (!Array.isArray(parsed)) throw new Error('X-Wing vectors: expected a JSON array');
  return parsed.map((v: unknown, i) => {
    const o = (v ?? {}) as Record<string, unknown>;
    const field = (name: keyof XWingVector): string => {
      const value = o[name];
      if (typeof value !== 'string') throw new Error(`X-Wing vector ${i}: ${name} is missing`);
      return value;
    };
    return { seed: field('seed'), sk: field('sk'), pk: field('pk'), eseed: field('eseed'), ct: field('ct'), ss: field('ss') };
  });
}

/** @hpke returns ArrayBuffers; compare as hex for readable failures. */
const hexOf = (buf: ArrayBuffer): string => toHex(new Uint8Array(buf));

describe.skipIf(!HAVE_VECTORS)('X-Wing vectors (draft-connolly-cfrg-xwing-kem)', () => {
  const vectors = loadVectors();

  it('has vectors of the documented sizes', () => {
    expect(vectors.length).toBeGreaterThan(0);
    for (const v of vectors) {
      expect(v.sk).toBe(v.seed);
      expect([v.seed.length, v.pk.length, v.eseed.length, v.ct.length, v.ss.length].map((n) => n / 2)).toEqual([
        32,
        PUBLIC_KEY_BYTES,
        64,
        CIPHERTEXT_BYTES,
        32,
      ]);
    }
  });

  vectors.forEach((v, i) => {
    it(`vector ${i}: keygen(seed) → pk, encaps(pk, eseed) → (ct, ss), decaps(sk, ct) → ss`, async () => {
      // The provider's KEM (both providers build it with xwingKem()).
      const kem = await xwingKem();
      expect(kem.publicKeySize).toBe(PUBLIC_KEY_BYTES);
      expect(kem.encSize).toBe(CIPHERTEXT_BYTES);

      // keygen: KemInterface has no seed → key pair step (its deriveKeyPair first hashes the
      // ikm, SHAKE256(ikm, 32), as HPKE's DeriveKeyPair does), so use XWing's public
      // generateKeyPairDerand, the draft's GenerateKeyPairDerand(sk).
      if (!(kem instanceof XWing)) throw new Error('xwingKem() is not @hpke/hybridkem-x-wing XWing');
      const pair = await kem.generateKeyPairDerand(fromHex(v.seed));
      expect(hexOf(await kem.serializePublicKey(pair.publicKey))).toBe(v.pk);
      expect(hexOf(await kem.serializePrivateKey(pair.privateKey))).toBe(v.sk);

      // encaps: `ekm` is @hpke's public SenderContextParams field for derandomized
      // encapsulation; for X-Wing it is the draft's 64-byte eseed (ML-KEM m || X25519 ek).
      const recipientPublicKey = await kem.deserializePublicKey(fromHex(v.pk));
      const sent = await kem.encap({ recipientPublicKey, ekm: fromHex(v.eseed) });
      expect(hexOf(sent.enc)).toBe(v.ct);
      expect(hexOf(sent.sharedSecret)).toBe(v.ss);

      // decaps, through the same calls ts-mls's HPKE makes (importPrivateKey → deserializePrivateKey).
      const recipientKey = await kem.deserializePrivateKey(fromHex(v.sk));
      expect(hexOf(await kem.decap({ recipientKey, enc: fromHex(v.ct) }))).toBe(v.ss);
    });
  });
});

// ------------------------------------------------------------------ the suite end to end

const acceptAll: AuthenticateMember = async () => true;

async function device(suite: MlsSuite, identity: string, n: number) {
  const ref: MemberRef = { identityId: identity as IdentityId, deviceId: `device-${n}-aaaaaaaaaaaaaaaa` as DeviceId };
  const keys = await generateSignatureKeyPair(suite);
  return { ref, keys, kp: await createKeyPackage(suite, ref, keys) };
}

/** Alice creates a group, adds Bob from his KeyPackage; Bob joins; one message each way. */
async function twoMemberExchange(provider: CryptoProvider): Promise<void> {
  const suite = await loadSuite(XWING, provider);
  expect(suite.name).toBe(XWING);
  const alice = await device(suite, 'bank:sender', 1);
  const bob = await device(suite, 'bank:customer', 2);

  // Bob's KeyPackage: the X-Wing suite, with X-Wing init and leaf HPKE keys.
  const info = await inspectKeyPackage(suite, bob.kp.keyPackage);
  expect(info.suite).toBe(XWING);
  expect(info.member).toEqual(bob.ref);
  const kp = decodeKeyPackageMessage(bob.kp.keyPackage);
  expect(kp.cipherSuite).toBe(XWING);
  expect(kp.initKey.length).toBe(PUBLIC_KEY_BYTES);
  expect(kp.leafNode.hpkePublicKey.length).toBe(PUBLIC_KEY_BYTES);
  expect(bob.kp.keyPackage.length).toBeGreaterThan(2 * PUBLIC_KEY_BYTES);
  // The private half holds the two 32-byte X-Wing seeds (1 + 2 + 32 + 2 + 32 bytes).
  expect(bob.kp.privateKey.length).toBe(69);

  let a: MlsGroup = await createGroup(suite, randomBytes(32), alice.ref, alice.keys, acceptAll);
  const added = await commitChanges(suite, a, { add: [bob.kp.keyPackage] });
  a = added.group;
  if (added.welcome === undefined) throw new Error('the add commit has no Welcome');
  const welcome = decodeMessage(added.welcome, 'invalid_mls_message', 'Welcome');
  if (welcome.wireformat !== 'mls_welcome') throw new Error('expected a Welcome');
  expect(welcome.welcome.cipherSuite).toBe(XWING);
  expect(welcome.welcome.secrets.map((s) => s.encryptedGroupSecrets.kemOutput.length)).toEqual([CIPHERTEXT_BYTES]);

  const joined = await joinFromWelcome(
    suite,
    added.welcome,
    bob.keys.privateKey,
    async (ref) => (equalBytes(ref, bob.kp.ref) ? { keyPackage: bob.kp.keyPackage, privateKey: bob.kp.privateKey } : undefined),
    acceptAll,
  );
  let b = joined.group;
  expect(b.epoch).toBe(a.epoch);
  expect(b.members().map((m) => m.member)).toEqual([alice.ref, bob.ref]);

  const toBob = await encryptApplication(suite, a, utf8('post-quantum hello'));
  a = toBob.group;
  const atBob = await processIncoming(suite, b, toBob.message);
  if (atBob.kind !== 'application') throw new Error(`Bob got ${atBob.kind}`);
  expect(fromUtf8(atBob.plaintext)).toBe('post-quantum hello');
  expect(atBob.sender.member).toEqual(alice.ref);
  b = atBob.group;

  const toAlice = await encryptApplication(suite, b, utf8('and back'));
  const atAlice = await processIncoming(suite, a, toAlice.message);
  if (atAlice.kind !== 'application') throw new Error(`Alice got ${atAlice.kind}`);
  expect(fromUtf8(atAlice.plaintext)).toBe('and back');
  expect(atAlice.sender.member).toEqual(bob.ref);
}

describe('MLS_256_XWING_AES256GCM_SHA512_Ed25519 end to end', () => {
  it('node:crypto provider: two members make a group and exchange application messages', async () => {
    await twoMemberExchange(nodeCryptoProvider);
  });

  it("WebCrypto provider (Node's globalThis.crypto): the same exchange", async () => {
    await twoMemberExchange(webCryptoProvider);
  });
});
