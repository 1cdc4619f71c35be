/**
 * Typed errors of the SDK. Every error has a stable `code`; tests and apps
 * match on it, never on the message. Two families:
 *
 * - `ApiError`: the server answered with an error body; `status` is the
 *   server's HTTP status and `code` the server's code (an open set).
 * - `ClientError` and its subclasses: raised on the device itself, without a
 *   server answer. Each subclass has a literal `code` (or a small union of
 *   them), and every one of them is in `CLIENT_ERROR_CODES`, so an app can
 *   `switch (error.code)` exhaustively. They choose no HTTP status: nothing
 *   about them is an HTTP answer.
 */
import { ParleyError } from '@parley/core';

/**
 * Every code a `ClientError` can carry.
 *
 * @example
 * if (error instanceof ClientError) {
 *   switch (error.code) {
 *     case 'not_a_member': return showRemoved();
 *     case 'transport_error': return retryLater();
 *     default: throw error;
 *   }
 * }
 */
export const CLIENT_ERROR_CODES = [
  'transport_error',
  'runtime_missing',
  'invalid_enrollment_token',
  'device_exists',
  'device_not_enrolled',
  'device_record_invalid',
  'signer_required',
  'signer_mismatch',
  'device_closed',
  'unknown_conversation',
  'not_a_member',
  'key_package_missing',
  'key_package_substituted',
  'key_package_unverified',
  'key_package_withheld',
  'unsupported_suite',
  'post_quantum_unavailable',
  'not_an_audited_message',
  'invalid_link',
  'not_a_sender',
  'no_matching_device',
  'unknown_device',
  'already_revoked',
  'device_not_active',
  'key_store_invalid_name',
  'key_store_invalid_op',
  'key_store_invalid_value',
  'key_store_invalid_options',
  'key_store_invalid_key',
  'key_store_wrong_key',
  'key_store_corrupt',
  'key_store_in_use',
  'key_store_closed',
  'key_store_io_error',
  'key_log_bad_signature',
  'key_log_origin_mismatch',
  'key_log_rollback',
  'key_log_fork',
  'key_log_bad_vrf',
  'key_log_bad_proof',
  'key_log_inconsistent',
  'key_log_lookup_mismatch',
  'invalid_argument',
  'escrow_key_mismatch',
  'backup_wrong_key',
  'backup_corrupt',
  'backup_truncated',
  'backup_unsupported',
  'backup_invalid_secret',
  'backup_not_found',
  'device_revoked',
  'revocation_unverified',
  'recovery_threshold_invalid', 'recovery_holder_invalid', 'recovery_holder_unavailable', 'recovery_holder_unverified', 'recovery_set_unverified',
  'recovery_requester_unverified', 'recovery_request_unknown', 'recovery_not_enough_shares', 'recovery_share_invalid', // RecoveryError (recovery-error.ts)
  'content_blocked',
] as const;

/**
 * A code of an error raised on the device (see `CLIENT_ERROR_CODES`).
 *
 * @example
 * const code: ClientErrorCode | undefined = isClientError(e) ? e.code : undefined
 */
export type ClientErrorCode = (typeof CLIENT_ERROR_CODES)[number];
/** Codes of `DeviceRecordError`. @example if (e instanceof DeviceRecordError && e.code === 'device_not_enrolled') await Device.enroll(enrollOptions) */
export type DeviceRecordErrorCode = 'device_exists' | 'device_not_enrolled' | 'device_record_invalid';
/** Codes of `SignerError`. @example if (e instanceof SignerError && e.code === 'signer_required') await Sender.open({ store, signers: { identity, mls }, ...nodeRuntime }) */
export type SignerErrorCode = 'signer_required' | 'signer_mismatch';
/** Codes of `BackupError`. @example if (e instanceof BackupError && e.code === 'backup_wrong_key') askForTheRecoveryKeyAgain() */
export type BackupErrorCode = Extract<ClientErrorCode, `backup_${string}`>;
/** Codes of `ConversationError`. @example if (e instanceof ConversationError && e.code === 'not_a_member') forget(conversationId) */
export type ConversationErrorCode = 'unknown_conversation' | 'not_a_member';
/** Codes of `KeyPackageError`. @example if (e instanceof KeyPackageError && e.code === 'key_package_substituted') reportToSecurity(e) */
export type KeyPackageErrorCode = 'key_package_missing' | 'key_package_substituted' | 'key_package_unverified' | 'key_package_withheld';
/** Codes of `DeviceKeysError`. @example if (e instanceof DeviceKeysError && e.code === 'no_matching_device') showError('scan the QR code again') */
export type DeviceKeysErrorCode = 'no_matching_device' | 'unknown_device' | 'already_revoked' | 'device_not_active';
/** Codes of `KeyStoreError`. @example if (e instanceof KeyStoreError && e.code === 'key_store_wrong_key') askForPassphraseAgain() */
export type KeyStoreErrorCode = Extract<ClientErrorCode, `key_store_${string}`>;
/** Codes of `KeyTransparencyError`. @example if (e instanceof KeyTransparencyError && e.code === 'key_log_fork') warnUser('the server shows different keys to different people') */
export type KeyTransparencyErrorCode = Extract<ClientErrorCode, `key_log_${string}`>;

type ErrorOptions = { readonly cause?: unknown; readonly details?: Record<string, unknown> };

/**
 * Base of the errors the SDK raises on the device itself (no server answer).
 *
 * @example
 * try { await device.send(id, 'hi') } catch (e) { if (isClientError(e) && e.code === 'not_a_member') … }
 */
export abstract class ClientError extends ParleyError {
  declare readonly code: ClientErrorCode;

  protected constructor(code: ClientErrorCode, message: string, options: ErrorOptions = {}) {
    super(code, message, {
      ...(options.cause === undefined ? {} : { cause: options.cause }),
      ...(options.details ? { details: options.details } : {}),
    });
    this.name = 'ClientError';
  }
}

/**
 * True when `error` was raised on the device (its `code` is a `ClientErrorCode`).
 *
 * @example
 * if (isClientError(error)) console.log(error.code)
 */
export function isClientError(error: unknown): error is ClientError {
  return error instanceof ClientError;
}

/**
 * The server answered with an error body `{ error: { code, message } }`.
 *
 * @example
 * if (error instanceof ApiError && error.code === 'epoch_conflict') await device.sync()
 */
export class ApiError extends ParleyError {
  constructor(status: number, code: string, message: string, details?: Record<string, unknown>) {
    super(code, message, { status, ...(details ? { details } : {}) });
    this.name = 'ApiError';
  }

  /** Worth retrying with the same idempotency key (server or storage trouble, rate limit). */
  get retryable(): boolean {
    return this.status >= 500 || this.status === 429 || this.status === 408;
  }
}

/**
 * The server could not be reached or answered something that is not the API.
 *
 * @example
 * api.submit = () => Promise.reject(new TransportError('offline'))
 */
export class TransportError extends ClientError {
  declare readonly code: 'transport_error';

  constructor(message: string, options: { cause?: unknown } = {}) {
    super('transport_error', message, options);
    this.name = 'TransportError';
  }
}

/**
 * `Device.enroll` / `Device.open` (and `Sender`'s) were called without a piece of
 * the platform runtime this environment lacks (a WebSocket, WebCrypto or fetch):
 * checked before any network call or store write. `details.missing` names the pieces.
 *
 * @example
 * await expect(Device.enroll({ serverUrl, enrollmentToken, store })).rejects.toMatchObject({ code: 'runtime_missing' })
 */
export class RuntimeMissingError extends ClientError {
  declare readonly code: 'runtime_missing';

  constructor(missing: readonly string[]) {
    super(
      'runtime_missing',
      `no ${missing.join(', ')} in this environment: pass ...nodeRuntime from '@parley/client/node' (Node) or ...browserRuntime from '@parley/client/browser' (browser) in the Device or Sender options`,
      { details: { missing: [...missing] } },
    );
    this.name = 'RuntimeMissingError';
  }
}

/**
 * The enrollment token is not a JWT carrying `iss` and `sub` (checked before anything is generated).
 *
 * @example
 * await expect(Device.enroll({ ...options, enrollmentToken: 'x' })).rejects.toBeInstanceOf(EnrollmentTokenError)
 */
export class EnrollmentTokenError extends ClientError {
  declare readonly code: 'invalid_enrollment_token';

  constructor(message: string) {
    super('invalid_enrollment_token', message);
    this.name = 'EnrollmentTokenError';
  }
}

/**
 * An encrypted backup could not be opened (docs/backup-format.md): the key is not the backup's
 * (`backup_wrong_key`), a chunk was changed, moved or taken from another backup
 * (`backup_corrupt`), the backup ends before its final chunk (`backup_truncated`), its format
 * version is unknown (`backup_unsupported`), the secret given is unusable (`backup_invalid_secret`), or
 * the identity has no such backup (`backup_not_found`).
 *
 * @example
 * await expect(consume(decryptBackup(lines, { recoveryKey: other }))).rejects.toMatchObject({ code: 'backup_wrong_key' })
 */
export class BackupError extends ClientError {
  declare readonly code: BackupErrorCode;

  constructor(code: BackupErrorCode, message: string, options: ErrorOptions = {}) {
    super(code, message, options);
    this.name = 'BackupError';
  }
}

/**
 * A device's key is held by an external signer (an HSM) and `Device.open` / `Sender.open` /
 * `EvidenceReader.open` got none for it (`signer_required`), or got one that does not hold
 * the key the device record names — another public key, a signer that cannot prove it holds
 * the key, or a signer for a key the store keeps itself (`signer_mismatch`). `details.key` is
 * `identity` or `mls`.
 *
 * @example
 * await expect(Sender.open({ store, ...nodeRuntime })).rejects.toMatchObject({ code: 'signer_required', details: { key: 'identity' } })
 */
export class SignerError extends ClientError {
  declare readonly code: SignerErrorCode;

  constructor(code: SignerErrorCode, key: 'identity' | 'mls', message: string) {
    super(code, message, { details: { key } });
    this.name = 'SignerError';
  }
}

/**
 * The device record in the KeyStore is missing, already registered, or unusable.
 *
 * @example
 * try { await Device.open({ store }) } catch (e) { if (e instanceof DeviceRecordError && e.code === 'device_not_enrolled') await enroll() }
 */
export class DeviceRecordError extends ClientError {
  declare readonly code: DeviceRecordErrorCode;

  constructor(code: DeviceRecordErrorCode, message: string) {
    super(code, message);
    this.name = 'DeviceRecordError';
  }
}

/**
 * The device was closed; open it again from its store.
 *
 * @example
 * await device.close(); await device.connect() // throws DeviceClosedError
 */
export class DeviceClosedError extends ClientError {
  declare readonly code: 'device_closed';

  constructor() {
    super('device_closed', 'the device is closed');
    this.name = 'DeviceClosedError';
  }
}

/**
 * A conversation operation was refused locally: the conversation is unknown
 * here, or this device was removed from it.
 *
 * @example
 * await expect(bot.send(id, 'still here?')).rejects.toMatchObject({ code: 'not_a_member' })
 */
export class ConversationError extends ClientError {
  declare readonly code: ConversationErrorCode;

  constructor(code: ConversationErrorCode, message: string, details?: Record<string, unknown>) {
    super(code, message, details ? { details } : {});
    this.name = 'ConversationError';
  }
}

/**
 * The server answered a KeyPackage claim with nothing, with another device's
 * KeyPackage, or with one whose key the verified key log does not show.
 * `details.deviceId` names the device.
 *
 * @example
 * if (error instanceof KeyPackageError) console.warn(error.code, error.details?.deviceId)
 */
export class KeyPackageError extends ClientError {
  declare readonly code: KeyPackageErrorCode;

  constructor(code: KeyPackageErrorCode, message: string, details: { deviceId: string }) {
    super(code, message, { details });
    this.name = 'KeyPackageError';
  }
}

/**
 * A cipher-suite problem (docs/post-quantum.md): `unsupported_suite` (this device does not run
 * the suite of a group, Welcome or KeyPackage), `post_quantum_unavailable` (a conversation must be
 * post-quantum and `details.devices` cannot take part: they do not support X-Wing).
 *
 * @example
 * if (e instanceof SuiteError && e.code === 'post_quantum_unavailable') askToUpdateApp(e.details.devices)
 */
export class SuiteError extends ClientError {
  declare readonly code: 'unsupported_suite' | 'post_quantum_unavailable';
  declare readonly details: { suite?: string; devices?: readonly string[]; invited?: boolean };

  constructor(code: 'unsupported_suite' | 'post_quantum_unavailable', message: string, details: { suite?: string; devices?: readonly string[]; invited?: boolean }) {
    super(code, message, { details });
    this.name = 'SuiteError';
  }
}

/**
 * This device holds no audited message (commitment and opening) with that id.
 *
 * @example
 * await expect(device.markRead('unknown')).rejects.toBeInstanceOf(AuditError)
 */
export class AuditError extends ClientError {
  declare readonly code: 'not_an_audited_message';

  constructor(message: string) {
    super('not_an_audited_message', message);
    this.name = 'AuditError';
  }
}

/**
 * Not a Parley retrieval link (`https://…/r/<token>`).
 *
 * @example
 * await expect(device.openRetrievalLink('https://example.com/')).rejects.toBeInstanceOf(RetrievalLinkError)
 */
export class RetrievalLinkError extends ClientError {
  declare readonly code: 'invalid_link';

  constructor() {
    super('invalid_link', 'not a Parley retrieval link');
    this.name = 'RetrievalLinkError';
  }
}

/**
 * `Sender.fromDevice` was given a device not enrolled as a sender.
 *
 * @example
 * expect(() => Sender.fromDevice(phone)).toThrow(DeviceKindError)
 */
export class DeviceKindError extends ClientError {
  declare readonly code: 'not_a_sender';

  constructor() {
    super('not_a_sender', 'the device was not enrolled as a sender');
    this.name = 'DeviceKindError';
  }
}

/**
 * A key operation on the verified key log was refused locally: no pending
 * device matches the code, no such device, or it is already revoked.
 *
 * @example
 * await expect(phone.keys.approveDevice('00000 00000')).rejects.toMatchObject({ code: 'no_matching_device' })
 */
export class DeviceKeysError extends ClientError {
  declare readonly code: DeviceKeysErrorCode;

  constructor(code: DeviceKeysErrorCode, message: string) {
    super(code, message);
    this.name = 'DeviceKeysError';
  }
}

/**
 * An argument was refused on the device before anything was sent or stored;
 * `details.argument` names it (e.g. `messageId`).
 *
 * @example
 * await expect(sender.send('c-1001', 'hi', { class: 'otp', messageId: 'no spaces allowed' })).rejects.toMatchObject({ code: 'invalid_argument', details: { argument: 'messageId' } })
 */
export class InvalidArgumentError extends ClientError {
  declare readonly code: 'invalid_argument';

  constructor(argument: string, message: string) {
    super('invalid_argument', `${argument}: ${message}`, { details: { argument } });
    this.name = 'InvalidArgumentError';
  }
}

/**
 * The server's escrow policy names a key that is not what its id certifies (another public
 * key, threshold, officers or business): nothing is sealed to it, nothing is sent.
 *
 * @example
 * await expect(sender.send('c-1001', 'hi', { class: 'statement' })).rejects.toMatchObject({ code: 'escrow_key_mismatch' })
 */
export class EscrowPolicyError extends ClientError {
  declare readonly code: 'escrow_key_mismatch';

  constructor(message: string) {
    super('escrow_key_mismatch', message);
    this.name = 'EscrowPolicyError';
  }
}

/**
 * A content policy (DLP on the device, `dlp/`) blocked a message before encryption (`send`) or
 * after decryption (`receive`). `details` carries the policy id, the policy's fixed reason and the
 * direction — never the text the policy matched.
 *
 * @example
 * try { await sender.send('c-1001', text, { class: 'statement' }) } catch (e) { if (e instanceof ContentBlockedError) showError(e.details.reason) }
 */
export class ContentBlockedError extends ClientError {
  declare readonly code: 'content_blocked';
  declare readonly details: { readonly policy: string; readonly reason: string; readonly direction: 'send' | 'receive' };

  constructor(details: { readonly policy: string; readonly reason: string; readonly direction: 'send' | 'receive' }) {
    super('content_blocked', `content blocked by policy ${details.policy} (${details.direction}): ${details.reason}`, {
      details: { policy: details.policy, reason: details.reason, direction: details.direction },
    });
    this.name = 'ContentBlockedError';
  }
}

/**
 * True for failures where retrying the same request may succeed.
 *
 * @example
 * if (isRetryable(error)) await retryLater()
 */
export function isRetryable(error: unknown): boolean {
  return error instanceof TransportError || (error instanceof ApiError && error.retryable);
}
