/**
 * Custody's typed errors: a stable machine-readable `code` (callers match on it, never on the
 * message). A PIN, a key or a wrapped secret never appears in a message or in `details`; a
 * PKCS#11 failure carries only the name of its CKR_ return value.
 */
import { ParleyError } from '@parley/core';

/** Every code `@parley/custody` raises. */
export const CUSTODY_ERROR_CODES = [
  /** The pkcs11js native binding is not installed or not built (only when PKCS#11 is asked for). */
  'pkcs11_unavailable',
  /** The PKCS#11 module (shared library) could not be loaded or initialised. */
  'pkcs11_module_failed',
  /** A PKCS#11 URI that RFC 7512 (or this implementation) does not accept. */
  'pkcs11_bad_uri',
  /** `pin-value` in a URI: refused, a PIN is never written inline. */
  'pkcs11_pin_inline',
  /** No PIN: neither `pin-source=file:` nor `PARLEY_PKCS11_PIN`. */
  'pkcs11_pin_missing',
  /** The PIN file is readable or writable by others (like ssh keys: 0600 or stricter). */
  'pkcs11_pin_file_insecure',
  /** The PIN file cannot be read. */
  'pkcs11_pin_file_unreadable',
  /** No token matches the URI. */
  'pkcs11_token_not_found',
  /** More than one token matches the URI. */
  'pkcs11_token_ambiguous',
  /** No key object with that label (and `create` was not asked for). */
  'pkcs11_key_not_found',
  /** Several key objects share one label: refused rather than picking one silently. */
  'pkcs11_key_ambiguous',
  /** A key object exists but is not what was asked for (wrong type, extractable, wrong public key). */
  'pkcs11_key_invalid',
  /** The token refused the PIN (or the user PIN is locked). */
  'pkcs11_login_failed',
  /** The token produced a signature that does not verify under its own public key. */
  'pkcs11_bad_signature',
  /** Any other PKCS#11 failure: `details.ckr` names the return value. */
  'pkcs11_failed',
  /** The session (signer or wrapper) was closed. */
  'custody_closed',
  /** A wrapped key that does not open: tampered, another context, or another wrapping key. */
  'unwrap_failed',
  /** A wrapped blob of an unknown format or version. */
  'wrapped_format',
  /** A seed or key of the wrong size or form. */
  'invalid_key',
] as const;
export type CustodyErrorCode = (typeof CUSTODY_ERROR_CODES)[number];

/**
 * A key-custody failure with a stable `code`.
 *
 * @example
 * try { await Pkcs11Signer.open(uri) } catch (e) { if (e instanceof CustodyError && e.code === 'pkcs11_login_failed') … }
 */
export class CustodyError extends ParleyError {
  declare readonly code: CustodyErrorCode;

  constructor(code: CustodyErrorCode, message: string, options: { cause?: unknown; details?: Record<string, unknown> } = {}) {
    super(code, message, { status: 500, ...options });
    this.name = 'CustodyError';
  }
}

/**
 * True for a {@link CustodyError} (optionally of one code).
 *
 * @example
 * if (isCustodyError(error, 'pkcs11_key_not_found')) …
 */
export function isCustodyError(error: unknown, code?: CustodyErrorCode): error is CustodyError {
  return error instanceof CustodyError && (code === undefined || error.code === code);
}
