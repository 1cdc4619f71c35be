/**
 * The root entry of @parley/core (imported by package name, through the exports map) exports exactly these values; its subpaths are pinned in exports.test.ts.
 * A change here is a change of the published API: update the list on purpose.
 */
import { describe, expect, it } from 'vitest';

describe('@parley/core public API', () => {
  it('exports exactly these values', async () => {
    expect(Object.keys(await import('@parley/core')).sort()).toEqual([
      'AckRequestSchema', 'AckResponseSchema', 'ApproveDeviceRequestSchema', 'BUSINESS_ID_PATTERN', 'Base64',
      'BusinessIdSchema', 'BusinessParamsSchema', 'BusinessSchema', 'BusinessStatusSchema',
      'BusinessSummarySchema', 'BusinessViewSchema', 'CONVERSATION_ID_PATTERN', 'CORE_ERROR_CODES',
      'ChallengeRequestSchema', 'ChallengeResponseSchema', 'ClaimKeyPackagesRequestSchema',
      'ClaimKeyPackagesResponseSchema', 'ClientFrameSchema', 'ConflictError', 'ConsentRequestSchema',
      'ConsistencyQuerySchema', 'ConversationIdSchema', 'CreateBusinessRequestSchema', 'CryptoError',
      'DEVICE_ID_PATTERN', 'DeliveryPathSchema', 'DeviceIdSchema', 'DeviceRecordSchema', 'ECVRF_LENGTHS',
      'ENVELOPE_ID_PATTERN', 'EnrollmentKeyIdSchema', 'EnrollmentKeyParamsSchema',
      'EnrollmentKeyRequestSchema', 'EnrollmentKeyViewSchema', 'EnvelopeIdSchema', 'EnvelopeSchema',
      'ErrorBodySchema', 'EscrowApprovalResultSchema', 'EscrowApprovalSubmitSchema', 'EscrowApprovalViewSchema', 'EscrowBlobSchema', 'EscrowKeyRegisteredSchema', 'EscrowListQuerySchema', 'EscrowOpenResponseSchema', 'EscrowPolicyEntrySchema', 'EscrowPolicyResponseSchema', 'EscrowRequestCreateSchema', 'EscrowRequestDetailSchema', 'EscrowRequestListSchema', 'EscrowRequestParamsSchema', 'EscrowRequestViewSchema', 'ForbiddenError', 'GroupInfoResponseSchema', 'IDENTITY_ID_PATTERN',
      'IdentityDevicesResponseSchema', 'IdentityIdSchema', 'IdentityKindSchema', 'InclusionQuerySchema',
      'InvalidInputError', 'KeyDirectoryInfoSchema', 'KeyLogChangeResponseSchema', 'KeyLookupResponseSchema',
      'KeyPackageStockSchema', 'LIMITS', 'ListBusinessesQuerySchema', 'ListBusinessesResponseSchema',
      'LogDescriptorSchema', 'LogListSchema', 'LogNameParamsSchema', 'LogNameSchema', 'MAX_INT64',
      'MESSAGE_CLASS_PATTERN', 'MESSAGE_ID_PATTERN', 'MailboxQuerySchema', 'MailboxResponseSchema',
      'MessageContentSchema', 'MessageIdParamsSchema', 'MessageIdSchema', 'NotFoundError', 'OkResponseSchema',
      'ParleyError', 'ProofResponseSchema', 'PushRegistrationSchema', 'RateLimitedError',
      'ReceiptRequestSchema', 'ReceiptResponseSchema', 'RegisterDeviceRequestSchema',
      'RegisterDeviceResponseSchema', 'RetrievalTokenSchema', 'RetrieveRequestSchema',
      'RetrieveResponseSchema', 'RevokeDeviceRequestSchema', 'RotateDeviceKeysRequestSchema', 'RouteStatusRequestSchema',
      'RouteStatusResponseSchema', 'RouteStatusSchema', 'RouteViewSchema', 'SUBJECT_PATTERN',
      'ServerFrameSchema', 'SessionRequestSchema', 'SessionResponseSchema', 'SubmitRequestSchema',
      'SubmitResponseSchema', 'UnauthorizedError', 'UploadKeyPackagesRequestSchema',
      'WebChallengeRequestSchema', 'WebChallengeResponseSchema', 'WebDescribeRequestSchema',
      'WebDescribeResponseSchema', 'WebHandoffRequestSchema', 'WebHandoffResponseSchema',
      'WebLinkDeliverySchema', 'WebMessageRequestSchema', 'WebMessageResponseSchema', 'WebOpenRequestSchema',
      'WebOpenResponseSchema', 'assertBytes', 'businessOf', 'concatBytes', 'decodeContent',
      'ecvrfProofToHash', 'ecvrfProve', 'ecvrfPublicKey', 'ecvrfVerify', 'encodeContent', 'equalBytes',
      'fromBase64', 'fromHex', 'fromUtf8', 'generateIdentityKeyPair', 'identityIdOf', 'isCoreErrorCode',
      'isParleyError', 'keyFingerprint', 'localEd25519Signer', 'newDeviceId', 'newMessageId', 'parseBusinessId',
      'parseConversationId', 'parseDeviceId', 'parseIdentityId', 'randomBytes', 'registrationProofMessage',
      'sessionProofMessage', 'signEd25519', 'signRegistrationProof', 'signSessionProof', 'signWith', 'signerHoldsKey', 'toBase64', 'toBase64Url', 'toHex', 'utf8', 'verifyEd25519',
    ]);
  });
});
