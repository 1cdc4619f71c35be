/**
 * PKCS#11 values pkcs11js 2.1.7 does not define (it follows PKCS#11 2.40), in one place.
 * Source: PKCS #11 Cryptographic Token Interface Base Specification Version 3.0 (OASIS,
 * 2020), §6.7 "Edwards Elliptic curve" and the pkcs11t.h of that version.
 */

/** CKK_EC_EDWARDS: key type of Edwards-curve keys (Ed25519, Ed448). PKCS#11 3.0 §6.7.2. */
export const CKK_EC_EDWARDS = 0x00000040;
/** CKM_EC_EDWARDS_KEY_PAIR_GEN: generates an Edwards-curve key pair. PKCS#11 3.0 §6.7.5. */
export const CKM_EC_EDWARDS_KEY_PAIR_GEN = 0x00001055;
/** CKM_EDDSA: EdDSA signatures; without parameters, pure Ed25519 (RFC 8032 §5.1). PKCS#11 3.0 §6.7.6. */
export const CKM_EDDSA = 0x00001057;
/**
 * CKA_EC_PARAMS of an Ed25519 key: the DER encoding of the object identifier id-Ed25519,
 * 1.3.101.112 (RFC 8410 §3), which PKCS#11 3.0 §6.7.3 allows in place of a curve name.
 */
export const ED25519_EC_PARAMS = Uint8Array.from([0x06, 0x03, 0x2b, 0x65, 0x70]);
/** The same curve named by its printable string "edwards25519" (PKCS#11 3.0 §6.7.3), which some tokens report. */
export const ED25519_EC_PARAMS_NAMED = Uint8Array.from([0x13, 0x0c, ...new TextEncoder().encode('edwards25519')]);
