/**
 * Cipher suites (RFC 9420 §5.1, §17.1): which ones Parley offers, and loading one backed by
 * a crypto provider (node:crypto, WebCrypto, or ts-mls's default).
 */
import { ciphersuites, getCiphersuiteFromName, getCiphersuiteImpl, type CiphersuiteImpl, type CiphersuiteName, type CryptoProvider } from './ts-mls.js';
import { InvalidInputError } from '../errors.js';

/**
 * The crypto a suite runs on (ts-mls's provider interface). Parley's are
 * `nodeCryptoProvider` (`@parley/core/mls/node`) and `webCryptoProvider` (`@parley/core/mls/web`).
 *
 * @example
 * const options: { crypto?: CryptoProvider } = { crypto: nodeCryptoProvider };
 */
export type { CryptoProvider };

/**
 * Cipher suites Parley offers. The first is the default (RFC 9420 §17.1).
 *
 * @example
 * if (!SUITES.includes(name as SuiteName)) throw new Error('unsupported suite');
 */
export const SUITES = ['MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519', 'MLS_256_XWING_AES256GCM_SHA512_Ed25519'] as const;

/**
 * The name of a suite Parley offers.
 *
 * @example
 * const name: SuiteName = 'MLS_256_XWING_AES256GCM_SHA512_Ed25519';
 */
export type SuiteName = (typeof SUITES)[number];

/**
 * The classic suite (RFC 9420 §17.1, suite 1): X25519, AES-128-GCM, SHA-256, Ed25519.
 *
 * @example
 * const classic = await loadSuite(CLASSIC_SUITE);
 */
export const CLASSIC_SUITE = 'MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519' satisfies SuiteName;

/**
 * The hybrid post-quantum suite: X-Wing (ML-KEM-768 + X25519, draft-connolly-cfrg-xwing-kem)
 * as the HPKE KEM, AES-256-GCM, SHA-512, Ed25519 signatures (docs/post-quantum.md).
 *
 * @example
 * if (conversation.suite === XWING_SUITE) showPostQuantumBadge();
 */
export const XWING_SUITE = 'MLS_256_XWING_AES256GCM_SHA512_Ed25519' satisfies SuiteName;

/**
 * The wire value (RFC 9420 §5.1 `CipherSuite`, uint16) of each suite — the ONE place Parley
 * states them. Suite 1 is IANA-assigned; X-Wing suites are not yet (drafts say TBD): 83 is
 * ts-mls 1.x's provisional value, ts-mls 2.x moved its PQ suites to 0xF007–0xF012 and OpenMLS
 * uses others. Above the MLS layer (key log, registry, API, store) suites travel by NAME only,
 * so a new value means: a new name in {@link SUITES} with its value here, advertised next to the
 * old one, conversations moved to it by a successor group (client conversation-upgrade.ts;
 * docs/post-quantum.md). {@link loadSuite} refuses to run
 * a suite whose value the MLS library disagrees with (`suite_code_point_mismatch`).
 *
 * @example
 * SUITE_CODE_POINTS[XWING_SUITE] // 83
 */
export const SUITE_CODE_POINTS: Readonly<Record<SuiteName, number>> = {
  MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519: 0x0001,
  MLS_256_XWING_AES256GCM_SHA512_Ed25519: 83,
};

/**
 * Whether a suite's confidentiality is (hybrid) post-quantum.
 *
 * @example
 * isPostQuantum('MLS_256_XWING_AES256GCM_SHA512_Ed25519') // true
 */
export function isPostQuantum(name: string): boolean {
  return name === XWING_SUITE;
}

/**
 * The suite named by `value`, or undefined when Parley does not offer it.
 *
 * @example
 * const suite = parseSuiteName(body.suite) ?? reject('unsupported_suite');
 */
export function parseSuiteName(value: string): SuiteName | undefined {
  return (SUITES as readonly string[]).includes(value) ? (value as SuiteName) : undefined;
}

/**
 * The suite used when none is named: X25519, AES-128-GCM, SHA-256, Ed25519 (RFC 9420 §17.1, suite 1).
 *
 * @example
 * const suite = await loadSuite(DEFAULT_SUITE);
 */
export const DEFAULT_SUITE: SuiteName = CLASSIC_SUITE;

/**
 * A loaded cipher suite: the algorithms ts-mls runs, backed by one crypto provider.
 *
 * @example
 * const suite: MlsSuite = await loadSuite();
 * suite.name; // 'MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519'
 */
export interface MlsSuite {
  readonly name: SuiteName;
  /** @internal ts-mls implementation object; do not use outside `packages/core/src/mls/`. */
  readonly impl: CiphersuiteImpl;
}

/**
 * Loads a cipher suite backed by `provider` (node:crypto in Node, WebCrypto in
 * browsers; defaults to ts-mls's own provider). Throws `unsupported_suite` for a suite
 * not in {@link SUITES}.
 *
 * @example
 * const suite = await loadSuite(DEFAULT_SUITE, nodeCryptoProvider)
 */
export async function loadSuite(name: SuiteName = DEFAULT_SUITE, provider?: CryptoProvider): Promise<MlsSuite> {
  if (!SUITES.includes(name)) throw new InvalidInputError('unsupported cipher suite', { code: 'unsupported_suite' });
  if (ciphersuites[name as CiphersuiteName] !== SUITE_CODE_POINTS[name]) {
    throw new InvalidInputError(`the MLS library encodes ${name} as ${ciphersuites[name as CiphersuiteName]}, Parley as ${SUITE_CODE_POINTS[name]}`, {
      code: 'suite_code_point_mismatch',
    });
  }
  const cs = getCiphersuiteFromName(name as CiphersuiteName);
  const impl = provider ? await provider.getCiphersuiteImpl(cs) : await getCiphersuiteImpl(cs);
  return { name, impl };
}
