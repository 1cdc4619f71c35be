/**
 * Checks of the commitment: its signature by an approved device of the sender, its entry in
 * the audit log, and (when revealed) that the plaintext and opening open it.
 */
import type { Commitment } from '../commitment.js';
import { opensCommitment, verifyCommitmentSignature } from '../commitment.js';
import { commitmentEntry } from '../entry.js';
import { decode64, fail, type Context } from './check.js';
import { identityKeysAt } from '../../keylog/state.js';
import { deviceAt, type VerifiedIdentity } from './identity.js';
import { checkAuditEntry, included } from './logs.js';

/** The commitment signature, by a device of the sender that the key log shows approved (and not yet revoked). */
export function checkCommitmentSignature(ctx: Context, sender: VerifiedIdentity | undefined): string {
  const { commitment } = ctx.bundle;
  const signature = decode64(ctx.bundle.commitmentSignature, 'bad_commitment_signature', 'commitment signature');
  const { device, note } = deviceAt(sender, commitment.sender.identityId, commitment.sender.deviceId, commitment.createdAt, {
    unknown: 'unknown_sender_device',
    pending: 'sender_device_pending',
    revoked: 'sender_device_revoked',
  });
  // The key in effect when the commitment was made (or a later one): a rotation does not void what came before it.
  if (!identityKeysAt(device, commitment.createdAt).some((key) => verifyCommitmentSignature(key, commitment, signature))) {
    fail('bad_commitment_signature', `the commitment signature does not verify with ${device.deviceId}'s identity key at ${commitment.createdAt}`);
  }
  return `signed by ${commitment.sender.identityId} device ${device.deviceId}${note}`;
}

/** The commitment's audit-log entry: exactly its canonical entry, included in the audit checkpoint's tree. */
export function checkCommitmentInLog(ctx: Context): string {
  const checkpoint = ctx.auditCheckpoint;
  if (checkpoint === undefined) return fail('checkpoint_unverified', 'the audit checkpoint did not verify');
  const entry = checkAuditEntry(ctx.bundle.audit, commitmentEntry(ctx.bundle.commitment), 'commitment');
  if (!included(entry, ctx.bundle.audit, checkpoint)) {
    fail('not_in_audit_log', `the commitment entry is not included at #${ctx.bundle.audit.index} in the audit tree of size ${checkpoint.treeSize}`);
  }
  return `audit-log entry #${ctx.bundle.audit.index} of ${checkpoint.treeSize}`;
}

/** HMAC-SHA-256(opening, plaintext) equals the commitment's content commitment. */
export function checkReveal(commitment: Commitment, reveal: { plaintext: unknown; opening: unknown }): string {
  if (typeof reveal.plaintext !== 'string' || !(reveal.opening instanceof Uint8Array)) {
    return fail('incomplete_reveal', 'a reveal needs both the plaintext and the opening');
  }
  if (reveal.opening.length !== 32) fail('plaintext_mismatch', 'the opening is not 32 bytes');
  if (!opensCommitment(commitment, reveal.opening, reveal.plaintext)) {
    fail('plaintext_mismatch', 'the plaintext and opening do not open the commitment');
  }
  return 'HMAC-SHA-256(opening, plaintext) equals the content commitment';
}
