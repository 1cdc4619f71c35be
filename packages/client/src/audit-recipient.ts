/**
 * The receiving side of audit evidence: a business message's signed commitment
 * is checked against the message before the device signs its receipt
 * (`delivered` when it holds, `commitment-mismatch` when it does not).
 */
import { fromBase64, toBase64Url, type MessageContent } from '@parley/core';
import { commitmentHash, opensCommitment, verifyCommitmentSignature } from '@parley/core/audit';
import type { MemberRef } from '@parley/core/mls';

/**
 * The identity keys the verified key log shows a device held at `time` (the key then and any
 * later one; empty if the log does not show the device). `fresh`: look the identity up again
 * instead of a cached view (a key rotated a moment ago).
 */
export type IdentityKeyLookup = (identityId: string, deviceId: string, time: string, fresh: boolean) => Promise<readonly Uint8Array[]>;

/** @internal The outcome of `checkCommitment`: `reason` is empty when `ok`; `commitmentHash` is base64url (empty if unparseable). */
export interface CommitmentCheck {
  readonly ok: boolean;
  readonly reason: string;
  readonly commitmentHash: string;
}

/**
 * @internal Checks a business message against its commitment: it must be this
 * message's (id, conversation, class, recipient), signed by the device that MLS
 * says sent it (key from the verified key log), and opened by its opening and text.
 */
export async function checkCommitment(
  conversationId: string,
  content: MessageContent,
  sender: MemberRef,
  recipient: string,
  identityKeyOf: IdentityKeyLookup,
): Promise<CommitmentCheck> {
  const audit = content.audit!;
  const commitment = audit.commitment;
  let commitmentHashText = '';
  try {
    commitmentHashText = toBase64Url(commitmentHash(commitment));
  } catch {
    return { ok: false, reason: 'invalid commitment', commitmentHash: '' };
  }
  const fail = (reason: string) => ({ ok: false, reason, commitmentHash: commitmentHashText });
  if (commitment.messageId !== content.id || commitment.conversationId !== conversationId || commitment.class !== content.class) {
    return fail('the commitment describes another message');
  }
  if (commitment.recipient !== recipient) return fail('the commitment names another recipient');
  // The files and the policies are part of what was sent: the commitment must name exactly these.
  if (!sameList(commitment.attachments ?? [], (content.attachments ?? []).map((a) => a.sha256))) return fail('the commitment names other attachments');
  if (!sameList((commitment.dlp ?? []).map(dlpKey), (content.dlp ?? []).map(dlpKey))) return fail('the commitment names other content policies');
  if (commitment.sender.identityId !== sender.identityId || commitment.sender.deviceId !== sender.deviceId) {
    return fail('the commitment is not by the device that sent the message');
  }
  const signature = fromBase64(audit.signature);
  const verifies = async (fresh: boolean) =>
    (await identityKeyOf(sender.identityId, sender.deviceId, commitment.createdAt, fresh)).some((key) => verifyCommitmentSignature(key, commitment, signature));
  if (!(await verifies(false)) && !(await verifies(true))) return fail('the commitment signature does not verify');
  if (!opensCommitment(commitment, fromBase64(audit.opening), content.text)) return fail('the text does not open the commitment');
  return { ok: true, reason: '', commitmentHash: commitmentHashText };
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

function dlpKey(outcome: { readonly policy: string; readonly action: string }): string {
  return `${outcome.policy}\u0000${outcome.action}`;
}
