/**
 * Every `code` the server's API can answer in an error body (`{ "error": { "code", … } }`,
 * HTTP and WebSocket alike), by area. Clients match on these, never on messages.
 *
 * The server raises most of them itself (packages/server/src); `core` lists the codes of
 * `@parley/core` functions the server applies to request input. Codes of startup and
 * internal failures are listed too (`startup`, `internal`): a 500 never shows its code
 * (the client sees `internal_error`), but they are the server's codes all the same. A
 * test scans src and fails on a code missing here.
 */

/**
 * The codes, grouped by area.
 *
 * @example
 * SERVER_ERROR_CODE_GROUPS.relay.includes('epoch_conflict') // true
 */
export const SERVER_ERROR_CODE_GROUPS = {
  /** Request shape and transport (the error mapper, the JSON parser, Node's HTTP parser, WebSocket frames). */
  request: [
    'invalid_request',
    /** Bad base64 (also raised by core's decoder; the relay decodes payloads natively, util/base64-node.ts). */
    'invalid_encoding',
    'invalid_json',
    'invalid_string',
    'invalid_url',
    'invalid_frame',
    'malformed_request',
    'not_found',
    'payload_too_large',
    'unsupported_media_type',
    'uri_too_long',
    'headers_too_large',
    'request_timeout',
    'rate_limited',
    'unavailable',
    'internal_error',
  ],
  /** Sessions, the admin and metrics tokens, device status, cross-origin access. */
  auth: [
    'session_required',
    'session_invalid',
    'session_expired',
    'challenge_invalid',
    'already_authenticated',
    'device_revoked',
    'device_not_active',
    'admin_disabled',
    'admin_token_invalid',
    'metrics_disabled',
    'metrics_token_invalid',
    /** A browser page of an origin not in `allowedOrigins` (CORS preflight, state-changing request, WebSocket upgrade). */
    'origin_not_allowed',
  ],
  /** Businesses, enrollment (business-signed tokens), devices and KeyPackages. */
  registry: [
    'business_exists',
    /** Business administration (admin API): a disabled business, an unknown id or kid, a kid taken. */
    'business_disabled',
    'unknown_business',
    'key_exists',
    'unknown_key',
    'enrollment_token_invalid',
    'enrollment_token_expired',
    'enrollment_token_reused',
    'registration_proof_invalid',
    'identity_kind_mismatch',
    'device_exists',
    'invalid_key',
    'unsupported_suite',
    'suites_stale',
    'suites_signature_invalid',
    'unknown_identity',
    'unknown_device',
    'key_package_exists',
    'key_package_mismatch',
    'key_package_expired',
    'no_key_package',
  ],
  /** The key directory: approvals, key rotations and revocations. */
  directory: [
    'not_pending',
    /** Key rotation (`POST /v1/devices/{id}/rotate-keys`): another device's keys, a key kept, a signature missing, a race lost. */
    'not_your_device',
    'rotation_same_key',
    'rotation_signature_invalid',
    'rotation_proof_invalid',
    'rotation_conflict',
    /** Encrypted backups (`/v1/backups`): an empty body, a missing or malformed key header, a wrong key, none stored. */
    'invalid_backup',
    'invalid_backup_key',
    'backup_key_invalid',
    'no_backup',
    'backup_base_missing',
    'backup_chain_too_long',
    'approval_signature_invalid',
    'revocation_unauthorized',
    'revocation_signature_invalid',
    'business_token_invalid',
    'business_token_expired',
    'already_revoked',
  ],
  /** The relay: submissions, commits, mailboxes, acks. */
  relay: [
    'invalid_mls_message',
    'epoch_out_of_range',
    'conversation_mismatch',
    'unknown_conversation',
    'not_a_member',
    'idempotency_conflict',
    'members_required',
    'invalid_members',
    'group_info_required',
    'invalid_group_info',
    'welcome_required',
    'epoch_conflict',
    'ack_forbidden',
  ],
  /**
   * The blob store (`/v1/blobs`): a bad size or header, limits, an offset not the server's, an
   * upload complete or not yet, a blob shared or not the caller's (also at submission:
   * `unknown_blob`, `blob_incomplete`), a range outside the blob.
   */
  blobs: [
    'invalid_blob',
    'no_blob',
    'unknown_blob',
    'blob_too_large',
    'blob_quota_exceeded',
    'blob_offset_mismatch',
    'blob_complete',
    'blob_incomplete',
    'blob_shared',
    'range_not_satisfiable',
  ],
  /** Audit: commitments, receipts, evidence. */
  audit: [
    'commitment_mismatch',
    'commitment_sender_mismatch',
    'commitment_time_invalid',
    'commitment_signature_invalid',
    'commitment_exists',
    'sender_required',
    'unknown_recipient',
    'recipient_not_member',
    'receipt_device_mismatch',
    'unknown_message',
    'not_a_recipient',
    'receipt_commitment_mismatch',
    'receipt_signature_invalid',
    'audit_entry_missing',
  ],
  /** Routing: retrieval links, web messages, webhooks, policies. */
  routing: [
    'token_invalid',
    'token_used',
    'token_expired',
    'token_locked',
    'token_wrong_recipient',
    'otp_invalid',
    'consent_required',
    'second_factor_unavailable',
    'message_id_conflict',
    'customer_has_app',
    'fallback_failed',
    'unknown_channel',
    'webhook_signature_invalid',
    'webhook_invalid',
    'invalid_routing_policy',
    /** A web message's commitment lists other attachment hashes than its blobs' (routing/web-blobs.ts). */
    'web_attachments_mismatch',
    /** The operator console's route view: no route for this message id (console/read-routes-detail.ts). */
    'route_not_found',
  ],
  /** Escrow (escrow/, docs/escrow.md): at submission, key registration, requests, approvals, openings. */
  escrow: [
    'escrow_required',
    'escrow_not_allowed',
    'escrow_wrong_key',
    'escrow_key_unknown',
    'escrow_blob_invalid',
    'escrow_too_large',
    'escrow_business_mismatch',
    'escrow_key_exists',
    'escrow_not_escrowed',
    'unknown_escrow_request',
    'escrow_approval_mismatch',
    'escrow_not_an_officer',
    'escrow_approval_signature_invalid',
    'escrow_share_invalid',
    'escrow_already_opened',
    'escrow_already_approved',
    'escrow_not_enough_approvals',
    'escrow_open_unrecorded',
  ],
  /** Social recovery (`/v1/recovery`, docs/social-recovery.md): holder keys, sets, requests, holders' answers. */
  recovery: [
    'invalid_recovery_holder_key',
    'invalid_recovery_set',
    'unknown_recovery_set',
    'invalid_recovery_request',
    'unknown_recovery_request',
    'recovery_request_exists',
    'recovery_request_expired',
    'recovery_already_answered',
  ],
  /**
   * The operator console (`/console/`, console/): the page not built, the first admin made
   * once, logins and their rate limit, console sessions, CSRF, roles, operator accounts.
   */
  console: [
    'console_not_built',
    'operators_exist',
    'login_failed',
    'login_rate_limited',
    'console_session_required',
    'console_session_expired',
    'csrf_failed',
    'console_forbidden',
    'operator_exists',
    'unknown_operator',
    'weak_password',
    'cannot_disable_self',
  ],
  /** Transparency logs (tlog-tiles, proofs, sequencing). */
  tlog: [
    'tlog_invalid_input',
    'tlog_bad_tree_size',
    'tlog_bad_entry',
    'tlog_bad_tile_path',
    'tlog_tile_not_found',
    'tlog_unknown_log',
    'tlog_stopped',
    'tlog_sequence_timeout',
  ],
  /** Refusals to start: configuration, key files, data directory, log identity. */
  startup: [
    'invalid_config',
    'server_key_invalid',
    'private_dir_invalid',
    'private_dir_owner',
    'private_dir_mode',
    'private_file_mode',
    'data_dir_locked',
    'tlog_bad_key',
    'tlog_key_file_mode',
    'tlog_key_origin_mismatch',
    'tlog_key_mismatch',
    'tlog_origin_mismatch',
    /** keys.signer (PKCS#11): the VRF key wrapped by the token (vrf-key-wrapped.ts). */
    'vrf_key_plain_with_signer',
    'vrf_key_wrapped_without_signer',
    'vrf_key_wrapped_invalid',
    'vrf_key_wrong_wrapper',
    'tlog_rotation_no_key',
    'tlog_rotation_not_started',
  ],
  /** Storage found in a state it can never be in (answered as `internal_error`). */
  internal: ['tlog_corrupt'],
  /** Raised by `@parley/core` on request input the server decodes with it. */
  core: [
    'invalid_bytes',
    'invalid_business_id',
    'invalid_identity_id',
    'invalid_subject',
    'invalid_key_package',
    'invalid_signature_key',
    'invalid_commitment',
    'invalid_receipt',
    'invalid_escrow_key',
    'invalid_escrow_request',
    'invalid_escrow_approval',
  ],
} as const;

/** `http_<status>`: a 4xx the HTTP framework raised without a code of its own (the error mapper's last resort). */
export type HttpStatusErrorCode = `http_${number}`;

/**
 * A code the server can answer.
 *
 * @example
 * function isRetryable(code: ServerErrorCode): boolean {
 *   return code === 'unavailable' || code === 'epoch_conflict' || code === 'tlog_sequence_timeout';
 * }
 */
export type ServerErrorCode = (typeof SERVER_ERROR_CODE_GROUPS)[keyof typeof SERVER_ERROR_CODE_GROUPS][number] | HttpStatusErrorCode;

/**
 * Every code of {@link SERVER_ERROR_CODE_GROUPS}, once.
 *
 * @example
 * SERVER_ERROR_CODES.has('epoch_conflict') // true
 */
export const SERVER_ERROR_CODES: ReadonlySet<ServerErrorCode> = new Set<ServerErrorCode>(Object.values(SERVER_ERROR_CODE_GROUPS).flat());

/**
 * Whether `value` is a code the server can answer.
 *
 * @example
 * if (isServerErrorCode(body.error.code)) handle(body.error.code);
 */
export function isServerErrorCode(value: unknown): value is ServerErrorCode {
  return typeof value === 'string' && (SERVER_ERROR_CODES.has(value as ServerErrorCode) || /^http_[1-5][0-9]{2}$/.test(value));
}
