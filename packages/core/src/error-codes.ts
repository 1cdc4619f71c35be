/**
 * Every `code` a `ParleyError` thrown by `@parley/core` can carry, with what it means. The
 * codes are stable: clients and tests match on them, never on messages. The client and the
 * server add codes of their own; these are core's. `test/error-codes.test.ts` checks that
 * this list and the codes thrown in `src/` are the same set.
 *
 * (The offline evidence verifier's failed checks carry codes too; those are report lines,
 * not errors, and have their own union, `EvidenceFailureCode` in `@parley/core/audit`.)
 */

/**
 * Core's error codes, each with a one-line meaning.
 *
 * @example
 * if (isParleyError(error) && isCoreErrorCode(error.code)) console.log(CORE_ERROR_CODES[error.code]);
 */
export const CORE_ERROR_CODES = {
  // Any input (errors.ts, bytes.ts, ids.ts, content.ts)
  invalid_request: 'malformed input (the default code of InvalidInputError)',
  rate_limited: 'too many requests; `retryAfterMs` says when to retry (RateLimitedError)',
  invalid_bytes: 'a value is not a Uint8Array, or not of the required length',
  invalid_encoding: 'text is not valid base64 (RFC 4648), hex or UTF-8',
  invalid_business_id: 'not a business id',
  invalid_subject: 'not a subject (the part of an identity id after the business)',
  invalid_identity_id: 'not an identity id (`<businessId>:<subject>`)',
  invalid_device_id: 'not a device id',
  invalid_conversation_id: 'not a conversation id',
  invalid_content: 'the decrypted application payload is not a Parley message',
  signer_failed: 'an Ed25519 signer (HSM, KMS) answered with something that is not a 64-byte signature',

  // MLS (mls/)
  unsupported_suite: 'a cipher suite Parley does not offer',
  suite_code_point_mismatch: 'the MLS library encodes a suite with another value than SUITE_CODE_POINTS',
  invalid_key_package: 'a KeyPackage that is malformed, of another suite, not a device credential, or badly signed',
  invalid_private_key_package: 'the stored private half of a KeyPackage is malformed',
  invalid_mls_message: 'bytes that are not the MLS message expected here',
  invalid_group_state: 'stored group state does not decode',
  invalid_signature_key: 'an MLS signature key the crypto provider cannot use',
  aead_open_failed: 'AEAD decryption failed: wrong key, or the ciphertext or its data was altered',
  mls_commit_failed: 'ts-mls could not create the commit',
  mls_welcome_rejected: 'the Welcome addressed to this device could not be joined',
  mls_welcome_not_for_us: 'the Welcome is addressed to none of the KeyPackages of this device',
  mls_rejoin_failed: 'the external commit (resync) could not be created',
  mls_encrypt_failed: 'the application message could not be encrypted',
  mls_process_failed: 'the handshake message could not be processed',
  mls_decrypt_failed: 'the application message could not be decrypted',
  mls_epoch_too_old: 'the message is from an epoch whose keys are no longer kept',
  mls_wrong_group: 'the message belongs to another group',
  mls_unknown_sender: 'the sender of the message is not a Parley member of the group',
  mls_external_join_rejected: 'an external commit that is not a resync of a member by its own device',

  // Attachments: parley-stream-v1 decryption (media/, AttachmentError; docs/attachments.md)
  attachment_tampered: 'an attachment chunk does not authenticate: modified, swapped, reordered, wrong key, or data after the final chunk',
  attachment_truncated: 'an attachment blob ends before its final chunk',
  attachment_hash_mismatch: "an attachment blob's SHA-256 is not the one its reference names",
  attachment_size_mismatch: "an attachment's plaintext or ciphertext length is not the one its reference names",

  // Key log, audit formats, VRF (keylog/, audit/, vrf/)
  invalid_canonical_json: 'a value that RFC 8785 cannot canonicalize',
  invalid_key_log_entry: 'a key-log entry that is malformed or not in canonical form',
  key_log_inconsistent: 'key-log entries that do not replay: bad attestation, approval or revocation',
  invalid_commitment: 'not a well-formed message commitment',
  invalid_receipt: 'not a well-formed receipt',
  invalid_audit_entry: 'an audit-log entry that is malformed or not in canonical form',
  invalid_bundle: 'not an evidence bundle (v1 schema)',
  vrf_invalid_proof: 'an ECVRF proof that does not decode (RFC 9381 §5.4.4)',

  // Escrow (escrow/)
  invalid_escrow_officer: 'not an escrow officer record or key file, or its id is not its keys\' id',
  invalid_escrow_key: 'not an escrow key record, or its key id is not the hash of its key, threshold and officers',
  invalid_escrow_request: 'not an escrow request',
  invalid_escrow_approval: 'not an escrow approval',
  escrow_key_invalid: 'bytes that are not an X25519 key',
  escrow_decrypt_failed: 'an HPKE-sealed escrow value does not open with this key and context',
  escrow_shares_invalid: 'the shares do not reassemble the escrow key (too few, or not its shares)',

  // Contact verification (verification/)
  invalid_iterations: 'a safety-number iteration count that is not a positive integer',
  invalid_fingerprint_version: 'a scannable-fingerprint version out of range',
  invalid_scannable: 'a scanned fingerprint that does not decode',
  invalid_qr_payload: 'a scanned QR payload that does not decode',
  unsupported_qr_version: 'a QR payload of a version this code does not know',

  // Transparency logs (tlog/)
  tlog_invalid_input: 'a size, index, level or argument of the wrong type or range',
  tlog_bad_hashes: 'the hash store of the log broke its contract (status 500)',
  tlog_bad_tile: 'a tile that has the wrong length or does not authenticate against the root',
  tlog_bad_tile_path: 'not a canonical tlog-tiles path',
  tlog_bad_entry_bundle: 'an entry bundle that is malformed or has the wrong number of entries',
  tlog_bad_checkpoint: 'checkpoint text that is not a C2SP tlog-checkpoint',
  tlog_bad_key: 'a malformed signed-note signer or verifier key',
  tlog_bad_note: 'text that is not a well-formed signed note',
  tlog_note_bad_signature: 'a signed note with a signature by a known key that does not verify',
  tlog_note_unverified: 'a signed note with no signature by any known key',
  tlog_rotation_malformed: 'text or a note that is not a well-formed log-key rotation announcement',
  tlog_rotation_wrong_origin: 'a log-key rotation announcement for another log origin',
  tlog_rotation_untrusted: 'a log-key rotation announcement whose old key is not a trusted key',
  tlog_rotation_unsigned: 'a log-key rotation announcement without valid signatures by both its old and its new key',
} as const satisfies Readonly<Record<string, string>>;

/**
 * A code from {@link CORE_ERROR_CODES}.
 *
 * @example
 * const retryable: readonly CoreErrorCode[] = ['rate_limited'];
 */
export type CoreErrorCode = keyof typeof CORE_ERROR_CODES;

/**
 * True when `code` is one of core's error codes.
 *
 * @example
 * if (isParleyError(error) && isCoreErrorCode(error.code)) report(error.code, CORE_ERROR_CODES[error.code]);
 */
export function isCoreErrorCode(code: unknown): code is CoreErrorCode {
  return typeof code === 'string' && Object.hasOwn(CORE_ERROR_CODES, code);
}
