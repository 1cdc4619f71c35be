/**
 * The sending side of audit evidence: a business message carries a hiding
 * commitment to its content, signed by the sending device's identity key, that
 * the server records in the audit log. `content = HMAC-SHA-256(opening, text)`
 * with a fresh 32-byte opening (RFC 2104): a bare hash would let anyone who
 * reads the log brute-force a short code. The commitment is RFC 8785 canonical
 * JSON, signed with Ed25519 (RFC 8032).
 *
 * Not to be confused with an MLS commit (`commits.ts`).
 */
import { toBase64, toBase64Url, type DlpOutcome, type Ed25519Signer } from '@parley/core';
import {
  contentCommitment,
  newOpening,
  parseCommitment,
  signCommitmentWith,
  type Commitment,
} from '@parley/core/audit';
import type { MemberRef } from '@parley/core/mls';
import type { AuditedMessageV1 } from './records.js';

/** @internal What is committed to: one business message to one recipient identity. */
export interface CommittedMessage {
  readonly messageId: string;
  readonly conversationId: string;
  /** The recipient's identity id. */
  readonly recipient: string;
  readonly class: string;
  readonly text: string;
  readonly createdAt: Date;
  /** The class is under escrow: the commitment names this escrow key (signed, so the recipient sees it). */
  readonly escrowKeyId?: string;
  /** SHA-256 (base64url) of each attachment's ciphertext, in the message's order. */
  readonly attachments?: readonly string[];
  /** Content policies that changed the text on this device (policy id and action only). */
  readonly dlp?: readonly DlpOutcome[];
}

/**
 * @internal Signs the hiding commitment of a business message; returns what the
 * device keeps of it (the opening and text stay on the device unless revealed).
 */
export async function signCommitment(sender: MemberRef, identity: Ed25519Signer, message: CommittedMessage): Promise<AuditedMessageV1> {
  const opening = newOpening();
  const commitment: Commitment = {
    v: 1,
    messageId: message.messageId,
    conversationId: message.conversationId,
    sender: { identityId: sender.identityId, deviceId: sender.deviceId },
    recipient: message.recipient,
    class: message.class,
    createdAt: message.createdAt.toISOString(),
    contentCommitment: toBase64Url(contentCommitment(opening, message.text)),
    ...(message.escrowKeyId !== undefined ? { escrow: { keyId: message.escrowKeyId } } : {}),
    ...(message.attachments !== undefined && message.attachments.length > 0 ? { attachments: [...message.attachments] } : {}),
    ...(message.dlp !== undefined && message.dlp.length > 0 ? { dlp: message.dlp.map((d) => ({ ...d })) } : {}),
  };
  // The identity key signs wherever it lives: in the store, or in an external signer (an HSM).
  const signature = toBase64(await signCommitmentWith(identity, parseCommitment(commitment)));
  return { v: 1, direction: 'out', conversationId: message.conversationId, commitment, signature, opening: toBase64(opening), text: message.text };
}
