/**
 * The SDK's public API, pinned: each entry point of @parley/client (imported by package name,
 * so through the exports map) exports exactly these values. A change here is a change of the
 * published API: update the list on purpose, and the version with it.
 */
import { describe, expect, it } from 'vitest';

describe('@parley/client public API', () => {
  it('@parley/client', async () => {
    expect(Object.keys(await import('@parley/client')).sort()).toEqual([
      'ApiClient', 'ApiError', 'AttachmentError', 'AuditError', 'BackupError', 'BackupWriter', 'CLASSIC_SUITE', 'CLIENT_ERROR_CODES', 'ClientError', 'ContentBlockedError', 'Conversation',
      'ConversationError', 'DEFAULT_POLICY_BUDGET_MS', 'Device', 'DeviceClosedError', 'DeviceKeys', 'DeviceKeysError', 'DeviceKindError',
      'DeviceRecordError', 'DeviceRevokedError', 'EnrollmentTokenError', 'EscrowPolicyError', 'EvidenceReader', 'InvalidArgumentError', 'KeyLogFollower',
      'KeyLogVerifier', 'KeyPackageError', 'KeyStoreError', 'KeyTransparencyError', 'MemoryKeyStore',
      'POLICY_FAILED', 'POLICY_TIMED_OUT', 'RecoveryError', 'RetrievalLinkError', 'RuntimeMissingError', 'Sender', 'SignerError', 'SuiteError', 'TransportError', 'XWING_SUITE', 'applyContentPolicies', 'approvalShortCode', 'assertAllowed', 'cardNumberPolicy',
      'decryptBackup', 'deriveBackupKeys', 'emailPolicy', 'generateRecoveryKey', 'ibanPolicy', 'isClientError', 'isPostQuantum', 'isRetryable', 'issueEnrollmentToken', 'keywordPolicy', 'listBackups', 'normalizeRecoveryKey', 'phonePolicy', 'restoreBackup', 'spanPolicy', 'uploadBackup', 'validateContentPolicyConfig',
    ]);
  });

  it('@parley/client/node', async () => {
    expect(Object.keys(await import('@parley/client/node')).sort()).toEqual(['DEFAULT_ARGON2_PARAMS', 'FileKeyStore', 'nodeRuntime']);
  });

  it('@parley/client/browser', async () => {
    // Importing it in Node touches no browser global (IndexedDB and WebSocket are looked up when used).
    expect(Object.keys(await import('@parley/client/browser')).sort()).toEqual(['DEFAULT_ARGON2_PARAMS', 'IndexedDbKeyStore', 'browserRuntime']);
  });
});
