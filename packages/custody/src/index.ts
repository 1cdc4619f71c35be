/**
 * `@parley/custody` (Node): where Parley's keys live. Two seams — {@link Ed25519Signer}
 * (sign with an Ed25519 key) and {@link KeyWrapper} (wrap secret keys at rest) — each with a
 * key-file implementation and a PKCS#11 one (an HSM; tests use SoftHSM2), configured by a
 * PKCS#11 URI (RFC 7512) whose PIN comes from a 0600 file or PARLEY_PKCS11_PIN, never inline.
 * pkcs11js is loaded only when PKCS#11 is asked for.
 */
export { CustodyError, CUSTODY_ERROR_CODES, isCustodyError, type CustodyErrorCode } from './errors.js';
export { KeyFileSigner, verifyEd25519, ed25519PublicKeyObject, type Ed25519Signer } from './ed25519.js';
export type { KeyWrapper } from './key-wrapper.js';
export { parsePkcs11Uri, describePkcs11Uri, type Pkcs11Uri, type Pkcs11ObjectType } from './pkcs11/uri.js';
export { resolvePin, resolveModulePath, DEFAULT_PKCS11_MODULE } from './pkcs11/pin.js';
export { CKK_EC_EDWARDS, CKM_EC_EDWARDS_KEY_PAIR_GEN, CKM_EDDSA, ED25519_EC_PARAMS } from './pkcs11/constants.js';
export { Pkcs11Signer, ecPointToPublicKey, type Pkcs11SignerOptions } from './pkcs11/signer.js';
export { Pkcs11KeyWrapper, type Pkcs11KeyWrapperOptions } from './pkcs11/key-wrapper.js';
