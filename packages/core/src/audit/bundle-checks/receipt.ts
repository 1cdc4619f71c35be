/**
 * Checks of one receipt: that it answers this message's commitment for its recipient, is
 * signed by an approved device of the recipient, and is in the audit log.
 */
import type { EvidenceBundle } from '../bundle.js';
import { receiptEntry } from '../entry.js';
import { verifyReceiptSignature, type Receipt } from '../receipt.js';
import { decode64, fail, type Context } from './check.js';
import { identityKeysAt } from '../../keylog/state.js';
import { deviceAt, type VerifiedIdentity } from './identity.js';
import { checkAuditEntry, included } from './logs.js';

export function checkReceipt(
  ctx: Context,
  item: EvidenceBundle['receipts'][number],
  commitmentHashB64: string,
  recipient: VerifiedIdentity | undefined,
): string {
  const { commitment } = ctx.bundle;
  const receipt: Receipt = item.receipt;
  if (receipt.messageId !== commitment.messageId || receipt.commitmentHash !== commitmentHashB64) {
    fail('receipt_for_other_message', 'the receipt answers another message or commitment');
  }
  if (receipt.identityId !== commitment.recipient) {
    fail('receipt_wrong_identity', `the receipt is signed for ${receipt.identityId}, not the recipient ${commitment.recipient}`);
  }
  const signature = decode64(item.signature, 'receipt_bad_signature', 'receipt signature');
  const { device, note } = deviceAt(recipient, commitment.recipient, receipt.deviceId, receipt.time, {
    unknown: 'unknown_recipient_device',
    pending: 'recipient_device_pending',
    revoked: 'recipient_device_revoked',
  });
  if (!identityKeysAt(device, receipt.time).some((key) => verifyReceiptSignature(key, receipt, signature))) {
    fail('receipt_bad_signature', `the receipt signature does not verify with ${device.deviceId}'s identity key at ${receipt.time}`);
  }
  const checkpoint = ctx.auditCheckpoint;
  if (checkpoint === undefined) return fail('checkpoint_unverified', 'the audit checkpoint did not verify');
  const entry = checkAuditEntry(item.audit, receiptEntry(receipt), 'receipt');
  let ok: boolean;
  try {
    ok = included(entry, item.audit, checkpoint);
  } catch {
    ok = false;
  }
  if (!ok) fail('receipt_not_in_log', `the receipt entry is not included at #${item.audit.index} in the audit tree of size ${checkpoint.treeSize}`);
  return `${receipt.status} at ${receipt.time}, signed by ${device.deviceId}, audit-log entry #${item.audit.index}${note}`;
}
