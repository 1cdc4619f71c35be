/**
 * An MLS signature key held outside the process (an HSM through PKCS#11, a KMS): the
 * crypto-provider signature hook for it.
 *
 * ts-mls keeps the member's signature private key in group state and KeyPackage private
 * halves and hands it back to `CiphersuiteImpl.signature.sign(privateKey, message)` for every
 * signature (RFC 9420 §5.1.2 SignWithLabel: `message` is the encoded SignContent — label
 * and content — which Ed25519 signs as is, pure, RFC 8032 §5.1.6). For an external key
 * those "private key" bytes are a random 32-byte key reference instead: not a secret, and
 * stored wherever the key would have been. The wrapped suite sends a signature over that
 * reference to the external signer and every other key to the suite's own provider, so a
 * device with an external key and one with a local key can share a provider.
 */
import { getCiphersuiteFromName, type CiphersuiteName, type Signature } from './ts-mls.js';
import { equalBytes } from '../bytes.js';
import { InvalidInputError } from '../errors.js';
import { signWith, type Ed25519Signer } from '../identity-keys.js';
import type { MlsSuite } from './suite.js';

/**
 * Length of the reference that stands for an external MLS signature key in group state.
 *
 * @example
 * const keyRef = randomBytes(EXTERNAL_KEY_REF_LENGTH);
 */
export const EXTERNAL_KEY_REF_LENGTH = 32;

/**
 * `suite`, with signatures by the key reference `keyRef` made by `signer` (an Ed25519 key
 * outside the process); signatures by any other key, verification and key generation stay
 * with `suite`'s provider. Use the returned suite for everything the device does in MLS,
 * and `{ publicKey: signer.publicKey, privateKey: keyRef }` as its signature key pair.
 * Only suites whose signature algorithm is Ed25519 (both of Parley's) accept an external
 * key: `invalid_signature_key` otherwise, and for a reference that is not 32 bytes.
 *
 * @example
 * const keyRef = randomBytes(32);
 * const suite = withExternalSignatureKey(await loadSuite(DEFAULT_SUITE, nodeCryptoProvider), keyRef, hsmSigner);
 * const keys: SignatureKeyPair = { publicKey: hsmSigner.publicKey, privateKey: keyRef };
 */
export function withExternalSignatureKey(suite: MlsSuite, keyRef: Uint8Array, signer: Ed25519Signer): MlsSuite {
  if (getCiphersuiteFromName(suite.name as CiphersuiteName).signature !== 'Ed25519') {
    throw new InvalidInputError('an external MLS signature key needs an Ed25519 cipher suite', { code: 'invalid_signature_key' });
  }
  if (!(keyRef instanceof Uint8Array) || keyRef.length !== EXTERNAL_KEY_REF_LENGTH) {
    throw new InvalidInputError(`an external key reference is ${EXTERNAL_KEY_REF_LENGTH} bytes`, { code: 'invalid_signature_key' });
  }
  if (!(signer.publicKey instanceof Uint8Array) || signer.publicKey.length !== 32) {
    throw new InvalidInputError('an Ed25519 signer has a 32-byte public key', { code: 'invalid_signature_key' });
  }
  const ref = keyRef.slice();
  const inner = suite.impl.signature;
  const signature: Signature = {
    async sign(signKey, message) {
      return signKey.length === ref.length && equalBytes(signKey, ref) ? signWith(signer, message) : inner.sign(signKey, message);
    },
    verify: (publicKey, message, sig) => inner.verify(publicKey, message, sig),
    keygen: () => inner.keygen(),
  };
  return { name: suite.name, impl: { ...suite.impl, signature } };
}
