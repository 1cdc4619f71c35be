/**
 * Escrow (`@parley/core/escrow`): officers, M-of-N escrow keys, the sealed copy of an
 * escrowed message, requests, approvals and released shares. Browser-safe.
 */
export { ESCROW_HPKE_SUITE, generateHpkeKeyPair, hpkePublicKeyOf, hpkeInfo, hpkeSeal, hpkeOpen } from './hpke.js';
export {
  type EscrowOfficer,
  type EscrowOfficerKeyFile,
  EscrowOfficerSchema,
  EscrowOfficerKeyFileSchema,
  Key32Schema,
  OFFICER_ID_PATTERN,
  escrowOfficerId,
  parseEscrowOfficer,
  createEscrowOfficer,
  parseEscrowOfficerKeyFile,
} from './officer.js';
export {
  type EscrowKeyRecord,
  type EscrowKeyIdInput,
  EscrowKeyRecordSchema,
  EscrowSealedShareSchema,
  ESCROW_KEY_ID_PATTERN,
  ESCROW_MAX_OFFICERS,
  escrowKeyId,
  parseEscrowKeyRecord,
  escrowKeyRecordHash,
  createEscrowKey,
  openOfficerShare,
} from './key-record.js';
export { type EscrowBinding, ESCROW_BLOB_MAX_BYTES, sealEscrowPayload, openEscrowPayload } from './payload.js';
export {
  type EscrowRequest,
  type EscrowApproval,
  EscrowRequestSchema,
  EscrowApprovalSchema,
  ESCROW_REQUEST_ID_PATTERN,
  ESCROW_REASON_PATTERN,
  parseEscrowRequest,
  parseEscrowApproval,
  escrowRequestHash,
  escrowApprovalHash,
  escrowApprovalSigningMessage,
  signEscrowApproval,
  verifyEscrowApproval,
  releaseEscrowShare,
  openReleasedShare,
  combineEscrowShares,
} from './approval.js';
