export {
  type Commitment,
  CommitmentSchema,
  RFC3339_UTC,
  parseCommitment,
  newOpening,
  contentCommitment,
  opensCommitment,
  commitmentBytes,
  commitmentHash,
  commitmentSigningMessage,
  signCommitment,
  signCommitmentWith,
  verifyCommitmentSignature,
} from './commitment.js';
export {
  type Receipt,
  type ReceiptStatus,
  RECEIPT_STATUSES,
  ReceiptSchema,
  parseReceipt,
  receiptBytes,
  receiptHash,
  receiptSigningMessage,
  signReceipt,
  signReceiptWith,
  verifyReceiptSignature,
} from './receipt.js';
export {
  type AuditEntry,
  AuditEntrySchema,
  commitmentEntry,
  receiptEntry,
  escrowKeyEntry,
  escrowRequestEntry,
  escrowApprovalEntry,
  escrowOpenEntry,
  encodeAuditEntry,
  decodeAuditEntry,
} from './entry.js';
export { type EvidenceBundle, type AuditInclusion, EvidenceBundleSchema, AuditInclusionSchema, parseEvidenceBundle } from './bundle.js';
export {
  type EvidenceTrust,
  type EvidenceReveal,
  type EvidenceFailureCode,
  type EvidenceCheck,
  type EvidenceMessage,
  type EvidenceReceiptSummary,
  type EvidenceReport,
} from './evidence-report.js';
export { verifyEvidenceBundle } from './verify-bundle.js';
