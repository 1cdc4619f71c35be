/**
 * The root entry of @parley/custody (imported by package name, through the exports map) exports exactly these values.
 * A change here is a change of the published API: update the list on purpose.
 */
import { describe, expect, it } from 'vitest';

describe('@parley/custody public API', () => {
  it('exports exactly these values', async () => {
    expect(Object.keys(await import('@parley/custody')).sort()).toEqual([
      'CKK_EC_EDWARDS', 'CKM_EC_EDWARDS_KEY_PAIR_GEN', 'CKM_EDDSA', 'CUSTODY_ERROR_CODES', 'CustodyError',
      'DEFAULT_PKCS11_MODULE', 'ED25519_EC_PARAMS', 'KeyFileSigner', 'Pkcs11KeyWrapper', 'Pkcs11Signer',
      'describePkcs11Uri', 'ecPointToPublicKey', 'ed25519PublicKeyObject', 'isCustodyError', 'parsePkcs11Uri',
      'resolveModulePath', 'resolvePin', 'verifyEd25519',
    ]);
  });
});
