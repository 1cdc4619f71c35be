/**
 * Cipher suites (RFC 9420 §5.1, §17.1): which ones Parley offers, and loading one backed by
 * a crypto provider (node:crypto, WebCrypto, or ts-mls's default).
 */
import { getCiphersuiteFromName, getCiphersuiteImpl, type CiphersuiteImpl, type CiphersuiteName, type CryptoProvider } from 'ts-mls';
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
 * The suite used when none is named: X25519, AES-128-GCM, SHA-256, Ed25519 (RFC 9420 §17.1, suite 1).
 *
 * @example
 * const suite = await loadSuite(DEFAULT_SUITE);
 */
export const DEFAULT_SUITE: SuiteName = 'MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519';

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
  const cs = getCiphersuiteFromName(name as CiphersuiteName);
  const impl = provider ? await provider.getCiphersuiteImpl(cs) : await getCiphersuiteImpl(cs);
  return { name, impl };
}
