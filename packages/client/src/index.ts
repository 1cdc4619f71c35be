export { Device } from './device.js';
export { type DeviceOptions, type EnrollOptions, type OpenOptions, type SendOptions, type SendResult, type ExportEvidenceOptions } from './device-options.js';
export { type DeviceSigners } from './device-signers.js';
export { type Ed25519Signer } from '@parley/core';
// The suite names an app passes as `suites` and reads back as `suite` (docs/post-quantum.md).
export { CLASSIC_SUITE, XWING_SUITE, isPostQuantum, type SuiteName } from '@parley/core/mls';
export { type ConversationSummary } from './conversations.js';
export { type DeviceRef, type PostQuantumMode } from './membership.js';
export { type PostQuantumRule } from './sender-pq.js';
export { type MaintenanceReport } from './maintenance.js';
export { Conversation } from './conversation.js';
export { Sender, type SenderSendOptions, type SenderSendResult } from './sender.js';
export { type SenderWebOptions, type SenderWebResult, type WebLinkHandoff, type WebLinkSms } from './web-link.js';
export { type DeviceEvent, type ReceivedMessage, type UndecryptableReason } from './events.js';
export { type KeyStore, type KeyStoreOp, KeyStoreError } from './key-store.js';
export { MemoryKeyStore } from './key-store.memory.js';
export { ApiClient, type ApiClientOptions } from './api-client.js';
export {
  CLIENT_ERROR_CODES,
  type ClientErrorCode,
  type ConversationErrorCode,
  type DeviceKeysErrorCode,
  type DeviceRecordErrorCode,
  type SignerErrorCode,
  type BackupErrorCode,
  type KeyPackageErrorCode,
  type KeyStoreErrorCode,
  type KeyTransparencyErrorCode,
  ClientError,
  isClientError,
  ApiError,
  TransportError,
  RuntimeMissingError,
  EnrollmentTokenError,
  DeviceRecordError,
  SignerError,
  BackupError,
  DeviceClosedError,
  ConversationError,
  KeyPackageError,
  SuiteError,
  AuditError,
  RetrievalLinkError,
  DeviceKindError,
  DeviceKeysError,
  InvalidArgumentError,
  EscrowPolicyError,
  isRetryable,
} from './errors.js';
export { type WebSocketLike, type WebSocketFactory } from './realtime.js';
export { issueEnrollmentToken, type EnrollmentTokenClaims } from './enrollment.js';
export { EvidenceReader } from './evidence-reader.js';
export { KeyLogFollower } from './key-log-follower.js';
export {
  KeyLogVerifier,
  KeyTransparencyError,
  type KeyDirectoryAnchors,
  type VerifiedCheckpoint,
  type VerifiedIdentity,
} from './key-transparency.js';
export { DeviceKeys, approvalShortCode, type VerificationState, type PendingDevice } from './device-keys.js';
export type { KeyRotationOptions, KeyRotationResult, ResumedRotation } from './key-rotation.js';
export { BackupWriter, decryptBackup, deriveBackupKeys, type BackupSecret, type BackupItem, type BackupKdf, type BackupKeys } from './backup-format.js';
export { generateRecoveryKey, normalizeRecoveryKey } from './recovery-key.js';
export { uploadBackup, listBackups, restoreBackup, type StoredBackup } from './backup-store.js';
export type { DeviceBackups, RestoreSummary } from './device-backups.js';
export { DeviceRevokedError } from './revocation.js';
export type { DeviceRecovery, RecoverySetSummary, RecoverySplitOptions, PendingRecoveryRequest } from './social-recovery.js';
export type { RecoveryHolder } from './recovery-holders.js';
export type { RecoveryRequestStarted, RecoveryProgress } from './recovery-requester.js';
export { RecoveryError, type RecoveryErrorCode } from './recovery-error.js';
export { AttachmentError, type AttachmentErrorCode, type AttachmentRef, type EncryptedBlobRef, type DlpOutcome } from '@parley/core';
export type { DeviceAttachments } from './device-attachments.js';
export type { AttachmentInput, TransferOptions, UploadAttachmentOptions } from './attachments.js';
export { ContentBlockedError } from './errors.js';
export * from './dlp/index.js';
export type { ConversationKind } from './content-policy-gate.js';
