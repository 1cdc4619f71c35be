/**
 * What the offline evidence verifier (`verify-bundle.ts`) takes and reports: the trust
 * anchors, an optional reveal, and the report with one line per check, each failure with a
 * stable code.
 */
import type { ReceiptStatus } from './receipt.js';

/**
 * What the auditor trusts, obtained out of band (never from the bundle).
 *
 * @example
 * const trust: EvidenceTrust = {
 *   auditLogKey: 'parley.example.com/logs/audit+1a2b3c4d+AV…',
 *   keyLogKey: 'parley.example.com/logs/keys+5e6f7a8b+AX…',
 *   vrfPublicKey: 'mJ2…=',
 * };
 */
export interface EvidenceTrust {
  /**
   * Signed-note verifier key of the audit log; its name must be the audit checkpoint's origin.
   * After a rotation the key pinned before it still works: the bundle's `auditRotations` lead
   * from it to the key that signs now.
   */
  readonly auditLogKey: string;
  /**
   * Signed-note verifier key of the key log; its Ed25519 key also attests the key-log entries
   * (with the keys the bundle's `keyLog.rotations` announce from it, or that preceded it).
   */
  readonly keyLogKey: string;
  /** base64 ECVRF public key of the key directory. When absent the bundle's own key is used, and the `vrf-key` check says so. */
  readonly vrfPublicKey?: string;
}

/**
 * A plaintext and the 32-byte opening a party to a dispute reveals.
 *
 * @example
 * const reveal: EvidenceReveal = { plaintext: 'Your code is 123456', opening: fromHex(openingHex) };
 */
export interface EvidenceReveal {
  readonly plaintext: string;
  readonly opening: Uint8Array;
}

/**
 * Stable failure codes of the checks of `verifyEvidenceBundle` (see its TSDoc for which check
 * reports which).
 *
 * @example
 * if (check.code === 'receipt_for_other_message') flagReplay(check.name);
 */
export type EvidenceFailureCode =
  | 'invalid_json'
  | 'invalid_bundle'
  | 'bad_trust_key'
  | 'malformed_checkpoint'
  | 'bad_checkpoint_signature'
  | 'wrong_origin'
  | 'vrf_key_mismatch'
  | 'missing_identity'
  | 'unexpected_identity'
  | 'bad_vrf'
  | 'checkpoint_unverified'
  | 'checkpoint_mismatch'
  | 'key_log_fork'
  | 'not_in_key_log'
  | 'bad_key_log_entry'
  | 'key_log_inconsistent'
  | 'identity_unverified'
  | 'unknown_sender_device'
  | 'sender_device_pending'
  | 'sender_device_revoked'
  | 'bad_commitment_signature'
  | 'wrong_audit_entry'
  | 'not_in_audit_log'
  | 'receipt_for_other_message'
  | 'receipt_wrong_identity'
  | 'unknown_recipient_device'
  | 'recipient_device_pending'
  | 'recipient_device_revoked'
  | 'receipt_bad_signature'
  | 'receipt_not_in_log'
  | 'incomplete_reveal'
  | 'plaintext_mismatch'
  | 'internal_error';

/**
 * One check of an evidence report. `code` is set exactly when `ok` is false.
 *
 * @example
 * const failed = report.checks.filter((c: EvidenceCheck) => !c.ok).map((c) => `${c.name}: ${c.code}`);
 */
export interface EvidenceCheck {
  readonly name: string;
  readonly ok: boolean;
  readonly detail?: string;
  readonly code?: EvidenceFailureCode;
}

/**
 * The message the bundle is about, as its commitment states it (verified only if the report is ok).
 *
 * @example
 * const { sender, recipient, createdAt }: EvidenceMessage = report.message!;
 */
export interface EvidenceMessage {
  readonly id: string;
  readonly conversationId: string;
  /** Sender identity id. */
  readonly sender: string;
  readonly senderDevice: string;
  readonly recipient: string;
  readonly class: string;
  readonly createdAt: string;
}

/**
 * A receipt of the bundle; `verified` when its own check passed.
 *
 * @example
 * const readOn = report.receipts.filter((r: EvidenceReceiptSummary) => r.verified && r.status === 'read').length;
 */
export interface EvidenceReceiptSummary {
  readonly deviceId: string;
  readonly status: ReceiptStatus;
  readonly time: string;
  readonly verified: boolean;
}

/**
 * The result of `verifyEvidenceBundle`. `ok` holds exactly when every check passed.
 * `message` is null when the bundle does not parse.
 *
 * @example
 * const report: EvidenceReport = verifyEvidenceBundle(json, trust);
 * if (!report.ok) console.log(report.checks.filter((c) => !c.ok));
 */
export interface EvidenceReport {
  readonly ok: boolean;
  readonly checks: readonly EvidenceCheck[];
  readonly message: EvidenceMessage | null;
  readonly receipts: readonly EvidenceReceiptSummary[];
}
