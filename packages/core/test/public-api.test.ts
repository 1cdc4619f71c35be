/**
 * The root entry of @parley/core (imported by package name, through the exports map) exports exactly these values; its subpaths are pinned in exports.test.ts.
 * A change here is a change of the published API: update the list on purpose.
 */
import { describe, expect, it } from 'vitest';

describe('@parley/core public API', () => {
  it('exports exactly these values', async () => {
    expect(Object.keys(await import('@parley/core')).sort()).toEqual([
      'AckRequestSchema', 'AckResponseSchema', 'AnnounceSuitesRequestSchema', 'AnnounceSuitesResponseSchema',
      'ApproveDeviceRequestSchema', 'AttachmentError', 'AttachmentRefSchema', 'BLOB_ID_PATTERN',
      'BLOB_PATCH_MAX_BYTES', 'BLOB_SHA256_HEADER', 'BLOB_UPLOAD_CONTENT_TYPE', 'BUSINESS_ID_PATTERN', 'Base64',
      'BusinessIdSchema', 'BusinessParamsSchema', 'BusinessSchema', 'BusinessStatusSchema', 'BusinessSummarySchema',
      'BusinessViewSchema', 'CONVERSATION_ID_PATTERN', 'CORE_ERROR_CODES', 'ChallengeRequestSchema',
      'ChallengeResponseSchema', 'ClaimKeyPackagesRequestSchema', 'ClaimKeyPackagesResponseSchema',
      'ClientFrameSchema', 'ConflictError', 'ConsentRequestSchema', 'ConsistencyQuerySchema', 'ConversationIdSchema',
      'CreateBlobRequestSchema', 'CreateBlobResponseSchema', 'CreateBusinessRequestSchema', 'CryptoError',
      'DEVICE_ID_PATTERN', 'DIAGNOSTICS_MAX_COUNT', 'DIAGNOSTICS_PLATFORMS', 'DLP_POLICY_ID_PATTERN', 'DecryptFailureCountSchema', 'DeliveryPathSchema', 'DeviceIdSchema', 'DeviceRecordSchema', 'DiagnosticsAcceptedSchema', 'DiagnosticsReportSchema', 'DiagnosticsVerificationSchema',
      'DlpOutcomeSchema', 'ECVRF_LENGTHS', 'ENVELOPE_ID_PATTERN', 'EncryptedBlobRefSchema', 'EnrollmentKeyIdSchema',
      'EnrollmentKeyParamsSchema', 'EnrollmentKeyRequestSchema', 'EnrollmentKeyViewSchema', 'EnvelopeIdSchema',
      'EnvelopeSchema', 'ErrorBodySchema', 'EscrowApprovalResultSchema', 'EscrowApprovalSubmitSchema',
      'EscrowApprovalViewSchema', 'EscrowBlobSchema', 'EscrowKeyRegisteredSchema', 'EscrowListQuerySchema',
      'EscrowOpenResponseSchema', 'EscrowPolicyEntrySchema', 'EscrowPolicyResponseSchema',
      'EscrowRequestCreateSchema', 'EscrowRequestDetailSchema', 'EscrowRequestListSchema',
      'EscrowRequestParamsSchema', 'EscrowRequestViewSchema', 'ForbiddenError', 'GroupInfoResponseSchema',
      'IDENTITY_ID_PATTERN', 'IdentityDevicesResponseSchema', 'IdentityIdSchema', 'IdentityKindSchema',
      'InclusionQuerySchema', 'InvalidInputError', 'KeyDirectoryInfoSchema', 'KeyLogChangeResponseSchema',
      'KeyLookupResponseSchema', 'KeyPackageStockSchema', 'LIMITS', 'ListBusinessesQuerySchema',
      'ListBusinessesResponseSchema', 'LogDescriptorSchema', 'LogListSchema', 'LogNameParamsSchema', 'LogNameSchema',
      'MAX_ATTACHMENTS', 'MAX_DLP_OUTCOMES', 'MAX_INT64', 'MEDIA_TYPE_PATTERN', 'MESSAGE_CLASS_PATTERN',
      'MESSAGE_ID_PATTERN', 'MailboxQuerySchema', 'MailboxResponseSchema', 'MessageContentSchema',
      'MessageIdParamsSchema', 'MessageIdSchema', 'NotFoundError', 'OkResponseSchema', 'ParleyError',
      'ProofResponseSchema', 'PushRegistrationSchema', 'RECOVERY_MAX_HOLDERS', 'RECOVERY_MAX_SEALED',
      'RECOVERY_REQUEST_ID_PATTERN', 'RECOVERY_REQUEST_TTL_MS', 'RECOVERY_SET_ID_PATTERN', 'RateLimitedError',
      'ReceiptRequestSchema', 'ReceiptResponseSchema', 'RecoveryHolderKeyListSchema', 'RecoveryHolderKeyPutSchema',
      'RecoveryHolderKeySchema', 'RecoveryIdentityParamsSchema', 'RecoveryManifestSchema', 'RecoveryReleaseSchema',
      'RecoveryReleasedShareSchema', 'RecoveryRequestBindingSchema', 'RecoveryRequestCreateSchema',
      'RecoveryRequestListSchema', 'RecoveryRequestParamsSchema', 'RecoveryRequestViewSchema',
      'RecoverySealedShareSchema', 'RecoverySetPutSchema', 'RecoverySetSchema', 'RecoveryShareEntrySchema',
      'RegisterDeviceRequestSchema', 'RegisterDeviceResponseSchema', 'RetrievalTokenSchema', 'RetrieveRequestSchema',
      'RetrieveResponseSchema', 'RevokeDeviceRequestSchema', 'RotateDeviceKeysRequestSchema',
      'RouteStatusRequestSchema', 'RouteStatusResponseSchema', 'RouteStatusSchema', 'RouteViewSchema', 'SDK_VERSION_MAX_LENGTH', 'SDK_VERSION_PATTERN',
      'SUBJECT_PATTERN', 'ServerFrameSchema', 'SessionRequestSchema', 'SessionResponseSchema', 'SubmitRequestSchema',
      'SubmitResponseSchema', 'UNDECRYPTABLE_REASONS', 'UnauthorizedError', 'UploadKeyPackagesRequestSchema', 'WebChallengeRequestSchema',
      'WebChallengeResponseSchema', 'WebDescribeRequestSchema', 'WebDescribeResponseSchema',
      'WebHandoffRequestSchema', 'WebHandoffResponseSchema', 'WebLinkDeliverySchema', 'WebMessageRequestSchema',
      'WebMessageResponseSchema', 'WebOpenRequestSchema', 'WebOpenResponseSchema', 'assertBytes', 'businessOf',
      'callDeadline', 'combineRecoveryShares', 'concatBytes', 'decodeContent', 'ecvrfProofToHash', 'ecvrfProve',
      'ecvrfPublicKey', 'ecvrfVerify', 'encodeContent', 'equalBytes', 'fromBase64', 'fromHex', 'fromUtf8',
      'generateIdentityKeyPair', 'identityIdOf', 'isCoreErrorCode', 'isParleyError', 'keyFingerprint',
      'localEd25519Signer', 'newDeviceId', 'newMessageId', 'normalizeDiagnosticsPlatform', 'normalizeSdkVersion', 'normalizeUndecryptableReason', 'parseBusinessId', 'parseConversationId', 'parseDeviceId',
      'parseIdentityId', 'randomBytes', 'recoveryConfirmationCode', 'recoveryHolderKeyMessage',
      'recoveryReleaseContext', 'recoveryRequestMessage', 'recoverySetMessage', 'recoveryShareContext',
      'recoveryShareHash', 'registrationProofMessage', 'sessionProofMessage', 'signEd25519', 'signRegistrationProof',
      'signSessionProof', 'signWith', 'signerHoldsKey', 'splitRecoverySecret', 'toBase64', 'toBase64Url', 'toHex',
      'utf8', 'verifyEd25519',
    ]);
  });
});
