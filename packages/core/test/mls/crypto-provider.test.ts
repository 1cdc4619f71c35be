/**
 * The node:crypto and WebCrypto providers for ts-mls, checked against the official
 * RFC 9420 test vectors (with ts-mls's default provider as the reference), plus property
 * tests for signatures, AEAD and MACs, and interoperability between the providers.
 */
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  createApplicationMessage,
  createCommit,
  createGroup,
  defaultCapabilities,
  defaultCryptoProvider,
  defaultLifetime,
  emptyPskIndex,
  generateKeyPackage,
  getCiphersuiteFromName,
  joinGroup,
  processPrivateMessage,
  type CiphersuiteImpl,
  type CryptoProvider,
} from 'ts-mls';
import { getCiphersuiteFromId, type CiphersuiteId } from 'ts-mls/crypto/ciphersuite.js';
import { DependencyError } from 'ts-mls/mlsError.js';
import { createNodeCryptoProvider } from '../../src/mls/crypto-provider.node.js';
import { createWebCryptoProvider } from '../../src/mls/crypto-provider.web.js';
import { KeyCache } from '../../src/mls/key-cache.js';
import {
  runCryptoBasics,
  runKeySchedule,
  runMessageProtection,
  runPassiveClient,
  runSecretTree,
  runTreeKem,
  runWelcome,
  type SuiteVector,
} from './vector-runners.js';

interface ProviderUnderTest {
  readonly name: string;
  readonly provider: CryptoProvider;
  /** Suites that must work; others run when the provider can build them here. */
  readonly required: readonly number[];
  /**
   * Which cases of the slow files (treekem, passive-client-*) run. To keep this file
   * under ~3 minutes on two cores: the node provider runs every case; the reference and
   * web providers run a deterministic quarter (index % 4 === 0) of the P-384/P-521
   * cases (suites 5 and 7), which spend their time in @hpke/core's KEM, the same code
   * under all providers; the web variant with noble digests runs the default suite only.
   */
  readonly heavyCase: (suite: number, index: number) => boolean;
}

const everyCase = (): boolean => true;
const quarterOfP384P521 = (suite: number, index: number): boolean => (suite !== 5 && suite !== 7) || index % 4 === 0;
const PROVIDERS: readonly ProviderUnderTest[] = [
  // Reference. Suites 3, 4 and 6 need ts-mls's optional @hpke/chacha20poly1305 and
  // @hpke/dhkem-x448, which Parley does not install.
  { name: 'ts-mls default', provider: defaultCryptoProvider, required: [1, 2, 5, 7], heavyCase: quarterOfP384P521 },
  { name: 'node', provider: createNodeCryptoProvider(), required: [1, 2, 3, 4, 5, 6, 7], heavyCase: everyCase },
  // ChaCha20-Poly1305 and X448 are not WebCrypto algorithms in browsers: those suites
  // fall back to ts-mls's default components and need the same optional packages.
  { name: 'web', provider: createWebCryptoProvider(), required: [1, 2, 5, 7], heavyCase: quarterOfP384P521 },
  {
    name: 'web (noble digest)',
    provider: createWebCryptoProvider({ digest: 'noble' }),
    required: [1, 2, 5, 7],
    heavyCase: (suite) => suite === 1,
  },
];
const ALL_SUITES = [1, 2, 3, 4, 5, 6, 7] as const;

/** Which suites each provider can build in this install (missing optional packages → skipped). */
async function supportedSuites(p: ProviderUnderTest): Promise<Set<number>> {
  const supported = new Set<number>();
  for (const id of ALL_SUITES) {
    try {
      await p.provider.getCiphersuiteImpl(getCiphersuiteFromId(id as CiphersuiteId));
      supported.add(id);
    } catch (err) {
      if (!(err instanceof DependencyError)) throw err;
    }
  }
  return supported;
}
const SUPPORTED = new Map<string, Set<number>>();
for (const p of PROVIDERS) SUPPORTED.set(p.name, await supportedSuites(p));

const implFor = (p: ProviderUnderTest, suite: number): Promise<CiphersuiteImpl> =>
  p.provider.getCiphersuiteImpl(getCiphersuiteFromId(suite as CiphersuiteId));

describe('provider suite coverage', () => {
  for (const p of PROVIDERS) {
    it(`${p.name} builds every required suite`, () => {
      const supported = SUPPORTED.get(p.name) ?? new Set<number>();
      expect(p.required.filter((id) => !supported.has(id))).toEqual([]);
    });
  }
});

// ------------------------------------------------------------------ official vectors

const VECTOR_DIR = new URL('../../../../../shared/vectors/mls/', import.meta.url);
const HAVE_VECTORS = existsSync(fileURLToPath(VECTOR_DIR));
if (!HAVE_VECTORS) console.warn(`RFC 9420 test vectors not found at ${fileURLToPath(VECTOR_DIR)}; skipping vector suites`);

function loadVectors(file: string): SuiteVector[] {
  if (!HAVE_VECTORS) return [];
  const parsed: unknown = JSON.parse(readFileSync(new URL(file, VECTOR_DIR), 'utf8'));
  return (Array.isArray(parsed) ? parsed : [parsed]) as SuiteVector[];
}

// The runners take the vector shape they know; the JSON is trusted test data.
type Runner = (vector: never, impl: CiphersuiteImpl) => Promise<void>;

interface VectorFile {
  readonly file: string;
  readonly run: Runner;
  /** Seconds per case on the P-384/P-521 suites; see `ProviderUnderTest.heavyCase`. */
  readonly heavy?: boolean;
  readonly timeoutMs?: number;
}

const VECTOR_FILES: readonly VectorFile[] = [
  { file: 'crypto-basics.json', run: runCryptoBasics },
  { file: 'secret-tree.json', run: runSecretTree },
  { file: 'message-protection.json', run: runMessageProtection },
  { file: 'key-schedule.json', run: runKeySchedule },
  { file: 'welcome.json', run: runWelcome },
  { file: 'treekem.json', run: runTreeKem, heavy: true, timeoutMs: 120_000 },
  { file: 'passive-client-welcome.json', run: runPassiveClient, heavy: true, timeoutMs: 120_000 },
  { file: 'passive-client-handling-commit.json', run: runPassiveClient, heavy: true, timeoutMs: 120_000 },
  { file: 'passive-client-random.json', run: runPassiveClient, timeoutMs: 180_000 },
];

for (const vf of VECTOR_FILES) {
  const vectors = loadVectors(vf.file);
  describe.skipIf(!HAVE_VECTORS)(`RFC 9420 vectors: ${vf.file}`, () => {
    for (const p of PROVIDERS) {
      const supported = SUPPORTED.get(p.name) ?? new Set<number>();
      const cases = vectors
        .map((vector, index) => ({ vector, index }))
        .filter(({ vector, index }) => supported.has(vector.cipher_suite) && (vf.heavy !== true || p.heavyCase(vector.cipher_suite, index)));
      const skipped = [...new Set(vectors.map((v) => v.cipher_suite))].filter((s) => !supported.has(s));
      describe(`${p.name}${skipped.length > 0 ? ` (suites ${skipped.join(', ')} unavailable)` : ''}`, () => {
        it.each(cases)('suite $vector.cipher_suite, case $index', async ({ vector }) => {
          await (vf.run as (v: SuiteVector, impl: CiphersuiteImpl) => Promise<void>)(vector, await implFor(p, vector.cipher_suite));
        }, vf.timeoutMs);
      });
    }
  });
}

// ------------------------------------------------------------------ properties and interop

const byName = (name: string): ProviderUnderTest => {
  const p = PROVIDERS.find((x) => x.name === name);
  if (p === undefined) throw new Error(`no provider ${name}`);
  return p;
};
/** Providers that can build `suite` here. */
const providersFor = (suite: number): ProviderUnderTest[] => PROVIDERS.filter((p) => SUPPORTED.get(p.name)?.has(suite) === true);

function flipBit(bytes: Uint8Array, bit: number): Uint8Array {
  const out = bytes.slice();
  const i = Math.floor(bit / 8) % out.length;
  out[i] = out[i]! ^ (1 << bit % 8);
  return out;
}

const SIGNATURE_SUITES = [
  { suite: 1, alg: 'Ed25519' },
  { suite: 2, alg: 'P-256' },
  { suite: 5, alg: 'P-521' },
] as const;

describe('signatures', () => {
  for (const { suite, alg } of SIGNATURE_SUITES) {
    for (const p of providersFor(suite)) {
      it(`${p.name} ${alg}: sign→verify round-trips; a flipped signature or message bit is rejected`, async () => {
        const impl = await implFor(p, suite);
        const { signKey, publicKey } = await impl.signature.keygen();
        await fc.assert(
          fc.asyncProperty(fc.uint8Array({ maxLength: 512 }), fc.nat(), async (message, bit) => {
            const signature = await impl.signature.sign(signKey, message);
            expect(await impl.signature.verify(publicKey, message, signature)).toBe(true);
            expect(await impl.signature.verify(publicKey, message, flipBit(signature, bit))).toBe(false);
            if (message.length > 0) expect(await impl.signature.verify(publicKey, flipBit(message, bit), signature)).toBe(false);
          }),
          { numRuns: 25 },
        );
      });
    }

    it(`${alg}: keys and signatures interoperate between every pair of providers`, async () => {
      const impls = await Promise.all(providersFor(suite).map(async (p) => ({ name: p.name, impl: await implFor(p, suite) })));
      const keys = await Promise.all(impls.map(async ({ name, impl }) => ({ name, ...(await impl.signature.keygen()) })));
      await fc.assert(
        fc.asyncProperty(fc.uint8Array({ maxLength: 256 }), async (message) => {
          for (const key of keys) {
            const signatures: Uint8Array[] = [];
            for (const signer of impls) {
              const signature = await signer.impl.signature.sign(key.signKey, message);
              signatures.push(signature);
              for (const verifier of impls) {
                expect(await verifier.impl.signature.verify(key.publicKey, message, signature), `${key.name} key, ${signer.name} → ${verifier.name}`).toBe(true);
              }
            }
            // Ed25519 is deterministic (RFC 8032): every provider produces the same bytes.
            if (alg === 'Ed25519') for (const s of signatures) expect(s).toEqual(signatures[0]);
          }
        }),
        { numRuns: 5 },
      );
    });
  }

  it('node and web keygen return RFC 8032 seeds; the PKCS#8 keys of ts-mls default keygen are accepted', async () => {
    const reference = await implFor(byName('ts-mls default'), 1);
    const pkcs8 = await reference.signature.keygen();
    expect(pkcs8.signKey.length).toBe(48);
    for (const name of ['node', 'web']) {
      const impl = await implFor(byName(name), 1);
      const generated = await impl.signature.keygen();
      expect(generated.signKey.length).toBe(32);
      expect(generated.publicKey.length).toBe(32);
      const message = new TextEncoder().encode('key format');
      const signature = await impl.signature.sign(pkcs8.signKey, message);
      expect(await reference.signature.verify(pkcs8.publicKey, message, signature)).toBe(true);
      // The seed inside the PKCS#8 signs identically.
      expect(await impl.signature.sign(pkcs8.signKey.subarray(16), message)).toEqual(signature);
    }
  });

  for (const name of ['node', 'web']) {
    it(`${name}: malformed keys throw with a code, a malformed signature verifies false`, async () => {
      const impl = await implFor(byName(name), 1);
      const { signKey, publicKey } = await impl.signature.keygen();
      const message = new Uint8Array([1, 2, 3]);
      await expect(impl.signature.sign(signKey.subarray(1), message)).rejects.toMatchObject({ code: 'invalid_signature_key' });
      const signature = await impl.signature.sign(signKey, message);
      await expect(impl.signature.verify(publicKey.subarray(1), message, signature)).rejects.toMatchObject({ code: 'invalid_bytes' });
      expect(await impl.signature.verify(publicKey, message, signature.subarray(1))).toBe(false);
      expect(await impl.signature.verify(publicKey, message, new Uint8Array(64))).toBe(false);
    });
  }

  it('node: signing with more keys than the cache holds still works (entries are evicted)', async () => {
    const small = createNodeCryptoProvider({ privateKeyCacheSize: 2, publicKeyCacheSize: 2 });
    const impl = await small.getCiphersuiteImpl(getCiphersuiteFromName('MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519'));
    const pairs = await Promise.all(Array.from({ length: 5 }, () => impl.signature.keygen()));
    const message = new TextEncoder().encode('eviction');
    for (let round = 0; round < 2; round++) {
      for (const { signKey, publicKey } of pairs) {
        expect(await impl.signature.verify(publicKey, message, await impl.signature.sign(signKey, message))).toBe(true);
      }
    }
    small.clearKeyCaches();
    const [first] = pairs;
    if (first === undefined) throw new Error('no key');
    expect(await impl.signature.verify(first.publicKey, message, await impl.signature.sign(first.signKey, message))).toBe(true);
  });
});

const AEAD_SUITES = [
  { suite: 1, alg: 'AES-128-GCM', keyLength: 16 },
  { suite: 7, alg: 'AES-256-GCM', keyLength: 32 },
  { suite: 3, alg: 'ChaCha20-Poly1305', keyLength: 32 },
] as const;

describe('AEAD (MLS message protection)', () => {
  for (const { suite, alg, keyLength } of AEAD_SUITES) {
    it(`${alg}: round-trips, is byte-identical across providers, rejects tampering`, async () => {
      const impls = await Promise.all(providersFor(suite).map(async (p) => ({ name: p.name, impl: await implFor(p, suite) })));
      expect(impls.map((i) => i.name)).toContain('node');
      await fc.assert(
        fc.asyncProperty(
          fc.uint8Array({ minLength: keyLength, maxLength: keyLength }),
          fc.uint8Array({ minLength: 12, maxLength: 12 }),
          fc.uint8Array({ maxLength: 64 }),
          fc.uint8Array({ maxLength: 1024 }),
          fc.nat(),
          async (key, nonce, aad, plaintext, bit) => {
            const sealed = await Promise.all(impls.map(({ impl }) => impl.hpke.encryptAead(key, nonce, aad, plaintext)));
            for (const ct of sealed) expect(ct).toEqual(sealed[0]);
            const ciphertext = sealed[0]!;
            expect(ciphertext.length).toBe(plaintext.length + 16);
            for (const { impl } of impls) {
              expect(await impl.hpke.decryptAead(key, nonce, aad, ciphertext)).toEqual(plaintext);
              await expect(impl.hpke.decryptAead(key, nonce, aad, flipBit(ciphertext, bit))).rejects.toThrow();
              await expect(impl.hpke.decryptAead(key, flipBit(nonce, bit), aad, ciphertext)).rejects.toThrow();
              const otherAad = aad.length > 0 ? flipBit(aad, bit) : new Uint8Array([0]);
              await expect(impl.hpke.decryptAead(key, nonce, otherAad, ciphertext)).rejects.toThrow();
            }
          },
        ),
        { numRuns: 40 },
      );
    });
  }

  it('node and web reject a wrong key or nonce length and a ciphertext shorter than the tag', async () => {
    for (const name of ['node', 'web']) {
      const impl = await implFor(byName(name), 1);
      const key = new Uint8Array(16);
      const nonce = new Uint8Array(12);
      await expect(impl.hpke.encryptAead(new Uint8Array(15), nonce, undefined, new Uint8Array(1))).rejects.toThrow();
      await expect(impl.hpke.encryptAead(key, new Uint8Array(11), undefined, new Uint8Array(1))).rejects.toThrow();
      await expect(impl.hpke.decryptAead(key, nonce, undefined, new Uint8Array(15))).rejects.toThrow();
    }
  });
});

describe('hash, MAC and KDF', () => {
  it('digests, MACs and HKDF agree across providers; a tampered MAC is rejected', async () => {
    const impls = await Promise.all(providersFor(1).map((p) => implFor(p, 1)));
    await fc.assert(
      fc.asyncProperty(
        fc.uint8Array({ minLength: 1, maxLength: 64 }),
        fc.uint8Array({ maxLength: 512 }),
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.integer({ min: 1, max: 255 }),
        fc.nat(),
        // @hpke/core's HKDF (the reference) only takes salts and PRKs of exactly Nh bytes, as MLS uses.
        async (key, data, prk, salt, length, bit) => {
          const results = await Promise.all(
            impls.map(async (impl) => ({
              digest: await impl.hash.digest(data),
              mac: await impl.hash.mac(key, data),
              extract: await impl.kdf.extract(salt, data),
              expand: await impl.kdf.expand(prk, data, length),
            })),
          );
          for (const r of results) expect(r).toEqual(results[0]);
          const mac = results[0]!.mac;
          for (const impl of impls) {
            expect(await impl.hash.verifyMac(key, mac, data)).toBe(true);
            expect(await impl.hash.verifyMac(key, flipBit(mac, bit), data)).toBe(false);
            expect(await impl.hash.verifyMac(key, mac.subarray(1), data)).toBe(false);
          }
        },
      ),
      { numRuns: 40 },
    );
  });
});

describe('an MLS group whose members use different providers', () => {
  it('node creates, web and ts-mls default join; messages and an update commit flow between them', async () => {
    const suite = getCiphersuiteFromName('MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519');
    const [alice, bob, carol] = await Promise.all(['node', 'web', 'ts-mls default'].map((n) => byName(n).provider.getCiphersuiteImpl(suite)));
    if (alice === undefined || bob === undefined || carol === undefined) throw new Error('missing provider');
    const member = (name: string, impl: CiphersuiteImpl) =>
      generateKeyPackage({ credentialType: 'basic', identity: new TextEncoder().encode(name) }, defaultCapabilities(), defaultLifetime, [], impl);
    const [a, b, c] = await Promise.all([member('alice', alice), member('bob', bob), member('carol', carol)]);
    let aliceState = await createGroup(new TextEncoder().encode('mixed'), a.publicPackage, a.privatePackage, [], alice);
    const added = await createCommit(
      { state: aliceState, cipherSuite: alice },
      {
        extraProposals: [
          { proposalType: 'add', add: { keyPackage: b.publicPackage } },
          { proposalType: 'add', add: { keyPackage: c.publicPackage } },
        ],
      },
    );
    aliceState = added.newState;
    if (added.welcome === undefined) throw new Error('no Welcome');
    let bobState = await joinGroup(added.welcome, b.publicPackage, b.privatePackage, emptyPskIndex, bob, aliceState.ratchetTree);
    let carolState = await joinGroup(added.welcome, c.publicPackage, c.privatePackage, emptyPskIndex, carol, aliceState.ratchetTree);

    const text = new TextEncoder().encode('hello from node');
    const sent = await createApplicationMessage(aliceState, text, alice);
    aliceState = sent.newState;
    for (const [state, impl] of [[bobState, bob], [carolState, carol]] as const) {
      const got = await processPrivateMessage(state, sent.privateMessage, emptyPskIndex, impl);
      expect(got.kind).toBe('applicationMessage');
      if (got.kind === 'applicationMessage') expect(got.message).toEqual(text);
    }

    const update = await createCommit({ state: bobState, cipherSuite: bob });
    bobState = update.newState;
    if (update.commit.wireformat !== 'mls_private_message') throw new Error('expected a PrivateMessage commit');
    const aliceNext = await processPrivateMessage(aliceState, update.commit.privateMessage, emptyPskIndex, alice);
    const carolNext = await processPrivateMessage(carolState, update.commit.privateMessage, emptyPskIndex, carol);
    aliceState = aliceNext.newState;
    carolState = carolNext.newState;
    expect(aliceState.keySchedule.epochAuthenticator).toEqual(bobState.keySchedule.epochAuthenticator);
    expect(carolState.keySchedule.epochAuthenticator).toEqual(bobState.keySchedule.epochAuthenticator);

    const reply = await createApplicationMessage(carolState, new TextEncoder().encode('hi from default'), carol);
    const atBob = await processPrivateMessage(bobState, reply.privateMessage, emptyPskIndex, bob);
    expect(atBob.kind).toBe('applicationMessage');
  });
});

describe('KeyCache', () => {
  it('evicts the least recently used entry and refreshes on get', () => {
    const cache = new KeyCache<number>(2);
    cache.set('a', 1);
    cache.set('b', 2);
    expect(cache.get('a')).toBe(1);
    cache.set('c', 3);
    expect(cache.get('b')).toBeUndefined();
    expect(cache.get('a')).toBe(1);
    expect(cache.get('c')).toBe(3);
    expect(cache.size).toBe(2);
    const off = new KeyCache<number>(0);
    expect(off.set('x', 1)).toBe(1);
    expect(off.get('x')).toBeUndefined();
  });
});
