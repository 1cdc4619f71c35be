/**
 * ECVRF-EDWARDS25519-SHA512-TAI, RFC 9381 §5 with the suite of §5.5 (suite_string
 * 0x03): the verifiable random function behind key-transparency labels. The server
 * computes label = beta = VRF(server key, identity) and hands out the proof pi; a
 * client checks with `ecvrfVerify` that the label belongs to that identity.
 *
 * Verification always runs ECVRF_validate_key (§5.4.5), i.e. validate_key = TRUE in
 * §5.3 — the only option this implementation supports. It rejects public keys of
 * small order, so a malicious server cannot pick a key that makes beta independent
 * of the identity (full uniqueness: RFC 9381 §3 and its security considerations
 * on untrusted keys).
 *
 * The RFC's composition is in `ecvrf-edwards25519.ts`; point and scalar arithmetic
 * is `@noble/curves`'.
 */
import { ed25519 } from '@noble/curves/ed25519.js';
import { assertBytes } from '../bytes.js';
import { InvalidInputError } from '../errors.js';
import {
  H_LEN,
  PROOF_LEN,
  PT_LEN,
  SK_LEN,
  decodeProof,
  gammaToHash,
  proveWithTrace,
  validateKey,
  verifyWithTrace,
} from './ecvrf-edwards25519.js';

/** Byte lengths of ECVRF-EDWARDS25519-SHA512-TAI values (RFC 9381 §5.5). */
export const ECVRF_LENGTHS = {
  /** RFC 8032 §5.1.5 secret seed. */
  secretKey: SK_LEN,
  /** RFC 8032 §5.1.2 point encoding. */
  publicKey: PT_LEN,
  /** pi = Gamma ‖ c ‖ s (§5.4.4). */
  proof: PROOF_LEN,
  /** beta, the VRF output (SHA-512). */
  output: H_LEN,
} as const;

/** Result of {@link ecvrfVerify}. */
export type EcvrfVerifyResult = { readonly valid: true; readonly beta: Uint8Array } | { readonly valid: false };

/**
 * The VRF public key PK_string for a 32-byte secret seed: Y = x*B encoded per
 * RFC 8032 §5.1.5 (RFC 9381 §5.5) — the same derivation as an Ed25519 public key.
 * Throws InvalidInputError (`invalid_bytes`) if the seed is not 32 bytes.
 *
 * @example
 * ```ts
 * const secretKey = randomBytes(32);
 * const publicKey = ecvrfPublicKey(secretKey); // 32 bytes, publish this
 * ```
 */
export function ecvrfPublicKey(secretKey: Uint8Array): Uint8Array {
  assertBytes(secretKey, 'secretKey', SK_LEN);
  return ed25519.getPublicKey(secretKey);
}

/**
 * ECVRF_prove (RFC 9381 §5.1): the 80-byte proof pi = Gamma ‖ c ‖ s for input alpha.
 * Deterministic: the nonce comes from the key and alpha (§5.4.2.2), so the same
 * (secretKey, alpha) always gives the same pi. The VRF output is
 * `ecvrfProofToHash(pi)`. Throws InvalidInputError (`invalid_bytes`) for a secret
 * key that is not 32 bytes or an alpha that is not bytes.
 *
 * Meant to run on the server that owns the key: see the side-channel note on
 * `proveWithTrace` in `ecvrf-edwards25519.ts` for what is not constant time.
 *
 * @example
 * ```ts
 * const pi = ecvrfProve(secretKey, utf8('acme:customer-42'));
 * const label = ecvrfProofToHash(pi); // 64 bytes
 * ```
 */
export function ecvrfProve(secretKey: Uint8Array, alpha: Uint8Array): Uint8Array {
  assertBytes(secretKey, 'secretKey', SK_LEN);
  assertBytes(alpha, 'alpha');
  return proveWithTrace(secretKey, alpha).pi;
}

/**
 * ECVRF_proof_to_hash (RFC 9381 §5.2): the 64-byte VRF output beta of a proof.
 * It does NOT verify the proof — use {@link ecvrfVerify} for anything you did not
 * compute yourself. Throws InvalidInputError with code `vrf_invalid_proof` when pi
 * does not decode (§5.4.4: wrong length, Gamma not a canonical point, s ≥ q).
 *
 * @example
 * ```ts
 * const beta = ecvrfProofToHash(ecvrfProve(secretKey, alpha));
 * ```
 */
export function ecvrfProofToHash(pi: Uint8Array): Uint8Array {
  const decoded = pi instanceof Uint8Array ? decodeProof(pi) : undefined;
  if (decoded === undefined) {
    throw new InvalidInputError('VRF proof does not decode', {
      code: 'vrf_invalid_proof',
      details: { length: pi instanceof Uint8Array ? pi.length : undefined },
    });
  }
  return gammaToHash(decoded.gamma);
}

/**
 * ECVRF_verify (RFC 9381 §5.3) with validate_key = TRUE (§5.4.5). Returns
 * `{ valid: true, beta }` when pi proves that beta is the VRF output of `publicKey`
 * on `alpha`, else `{ valid: false }`. Never throws: an undecodable or small-order
 * public key, an undecodable proof (§5.4.4), a wrong length or a non-byte argument
 * all give `{ valid: false }`.
 *
 * All inputs are public, so this uses the library's variable-time scalar
 * multiplication.
 *
 * @example
 * ```ts
 * const result = ecvrfVerify(serverVrfKey, pi, utf8('acme:customer-42'));
 * if (!result.valid || !equalBytes(result.beta, label)) throw new Error('bad label');
 * ```
 */
export function ecvrfVerify(publicKey: Uint8Array, pi: Uint8Array, alpha: Uint8Array): EcvrfVerifyResult {
  if (!(publicKey instanceof Uint8Array && pi instanceof Uint8Array && alpha instanceof Uint8Array)) {
    return { valid: false };
  }
  try {
    const y = validateKey(publicKey); // string_to_point, then ECVRF_validate_key
    if (y === undefined) return { valid: false };
    const proof = decodeProof(pi); // ECVRF_decode_proof
    if (proof === undefined) return { valid: false };
    const { cPrime } = verifyWithTrace(y, publicKey, proof, alpha);
    if (cPrime !== proof.c) return { valid: false }; // c and c' are public: plain comparison
    return { valid: true, beta: gammaToHash(proof.gamma) };
  } catch {
    // Only reachable through a library invariant failing on hostile input; an
    // unverifiable proof is invalid either way.
    return { valid: false };
  }
}
