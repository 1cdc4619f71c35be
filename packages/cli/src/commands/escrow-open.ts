/**
 * `parley escrow approve` and `parley escrow open`: the officer's and the requester's
 * sides, each checking what the server shows before acting on it. The officer checks the
 * key record certifies its id, that the message's signed commitment names that key, and
 * that the request names that commitment; then signs, opens its own share and releases it
 * sealed to the requester. The requester checks every approval's signature against the
 * key's officers, reassembles the key from at least M shares, opens the blob and checks
 * that the opening and plaintext open the message's commitment.
 */
import { businessOf, fromBase64, toBase64, toBase64Url, type EscrowOpenResponse, type EscrowRequestDetail, type IdentityId } from '@parley/core';
import { commitmentHash, opensCommitment } from '@parley/core/audit';
import {
  combineEscrowShares,
  escrowRequestHash,
  openEscrowPayload,
  openOfficerShare,
  openReleasedShare,
  parseEscrowKeyRecord,
  parseEscrowRequest,
  releaseEscrowShare,
  signEscrowApproval,
  verifyEscrowApproval,
  type EscrowApproval,
  type EscrowKeyRecord,
  type EscrowOfficerKeyFile,
  type EscrowRequest,
} from '@parley/core/escrow';
import { CliError } from '../errors.js';
import type { EscrowApi } from './escrow-api.js';

/**
 * What the server showed does not check out; nothing was signed, released or opened.
 *
 * @example
 * throw new EscrowCheckError('the key record does not certify its id');
 */
export class EscrowCheckError extends CliError {
  readonly code = 'escrow_check_failed';
}

/** A request as checked against its key record and the message's commitment. */
export interface CheckedRequest {
  readonly request: EscrowRequest;
  readonly requestHash: string;
  readonly key: EscrowKeyRecord;
  readonly detail: EscrowRequestDetail;
}

/**
 * Fetches a request and checks it: the key record certifies its id and belongs to the
 * message's business, the signed commitment names that key, and the request names that
 * message, commitment and key.
 *
 * @example
 * const { request, key } = await checkedRequest(api, 'esr_…');
 */
export async function checkedRequest(api: EscrowApi, requestId: string): Promise<CheckedRequest> {
  const detail = await api.request(requestId);
  let key: EscrowKeyRecord;
  let request: EscrowRequest;
  try {
    key = parseEscrowKeyRecord(detail.key);
    request = parseEscrowRequest(detail.view.request);
  } catch (cause) {
    throw new EscrowCheckError('the escrow key record or the request does not check out (its key id does not certify it)', { cause });
  }
  const commitment = detail.commitment;
  const fail = (why: string): never => {
    throw new EscrowCheckError(`request ${requestId}: ${why}`);
  };
  if (request.requestId !== requestId) fail('the server answered with another request');
  if (key.keyId !== request.keyId || commitment.escrow?.keyId !== key.keyId) fail("the message's signed commitment does not name this request's escrow key");
  if (commitment.messageId !== request.messageId || toBase64Url(commitmentHash(commitment)) !== request.commitment) fail('the request names another message or commitment');
  if (key.businessId !== businessOf(commitment.sender.identityId as IdentityId)) fail("the escrow key is not the message's business's");
  return { request, requestHash: toBase64Url(escrowRequestHash(request)), key, detail };
}

/**
 * The officer approves: signs the approval (Ed25519 over its canonical JSON), opens its own
 * share and releases it sealed to the requester's key.
 *
 * @example
 * const { approval, signature, released } = await approveRequest(checked, officerFile);
 */
export async function approveRequest(checked: CheckedRequest, file: EscrowOfficerKeyFile, now = new Date()): Promise<{ approval: EscrowApproval; signature: string; released: string }> {
  const officer = checked.key.officers.find((o) => o.officerId === file.officer.officerId);
  if (!officer || officer.signingKey !== file.officer.signingKey || officer.encryptionKey !== file.officer.encryptionKey) {
    throw new EscrowCheckError(`officer ${file.officer.officerId} holds no share of escrow key ${checked.key.keyId}`);
  }
  const approval: EscrowApproval = {
    v: 1,
    requestId: checked.request.requestId,
    requestHash: checked.requestHash,
    messageId: checked.request.messageId,
    keyId: checked.key.keyId,
    officerId: officer.officerId,
    approvedAt: now.toISOString(),
  };
  const signingKey = fromBase64(file.signingPrivateKey);
  const encryptionKey = fromBase64(file.encryptionPrivateKey);
  let share: Uint8Array | undefined;
  try {
    const signature = toBase64(signEscrowApproval(signingKey, approval));
    share = await openOfficerShare(checked.key, officer.officerId, encryptionKey);
    const released = toBase64(await releaseEscrowShare(share, checked.request, officer.officerId));
    return { approval, signature, released };
  } finally {
    share?.fill(0);
    signingKey.fill(0);
    encryptionKey.fill(0);
  }
}

/** What `openReleased` recovers, with the approvals it counted. */
export interface OpenedMessage {
  readonly messageId: string;
  readonly plaintext: string;
  readonly officers: readonly string[];
  readonly auditIndex: number;
}

/**
 * The requester opens: checks each approval against the key's officers and this request,
 * opens the released shares with its key, reassembles the escrow key (at least M shares),
 * opens the blob and checks that it opens the message's commitment.
 *
 * @example
 * const { plaintext } = await openReleased(checked, await api.open(requestId), requesterPrivateKey);
 */
export async function openReleased(checked: CheckedRequest, opened: EscrowOpenResponse, requesterPrivateKey: Uint8Array): Promise<OpenedMessage> {
  const { request, key, requestHash } = checked;
  const fail = (why: string): never => {
    throw new EscrowCheckError(`request ${request.requestId}: ${why}`);
  };
  if (toBase64Url(escrowRequestHash(parseEscrowRequest(opened.request))) !== requestHash) fail('the opening names another request');
  const commitment = opened.commitment;
  if (toBase64Url(commitmentHash(commitment)) !== request.commitment || commitment.messageId !== request.messageId) fail('the opening carries another commitment');
  if (commitment.escrow?.keyId !== key.keyId || opened.publicKey !== key.publicKey) fail('the opening names another escrow key');
  const shares: Uint8Array[] = [];
  const officers: string[] = [];
  try {
    for (const s of opened.shares) {
      const officer = key.officers.find((o) => o.officerId === s.officerId);
      const a = s.approval;
      const valid =
        officer !== undefined &&
        !officers.includes(officer.officerId) &&
        a.officerId === officer.officerId &&
        a.requestId === request.requestId &&
        a.requestHash === requestHash &&
        a.keyId === key.keyId &&
        a.messageId === request.messageId &&
        verifyEscrowApproval(fromBase64(officer.signingKey), a, fromBase64(s.signature));
      if (!valid) continue;
      shares.push(await openReleasedShare(requesterPrivateKey, request.requestId, officer.officerId, fromBase64(s.released)));
      officers.push(officer.officerId);
    }
    if (shares.length < key.threshold) fail(`${shares.length} valid approvals with shares; the key needs ${key.threshold}`);
    const privateKey = await combineEscrowShares(shares, fromBase64(key.publicKey));
    try {
      const binding = { keyId: key.keyId, messageId: request.messageId, commitmentHash: commitmentHash(commitment) };
      const { opening, plaintext } = await openEscrowPayload(privateKey, binding, fromBase64(opened.blob));
      if (!opensCommitment(commitment, opening, plaintext)) fail("the escrowed text does not open the message's signed commitment");
      return { messageId: request.messageId, plaintext, officers, auditIndex: opened.audit.index };
    } finally {
      privateKey.fill(0);
    }
  } finally {
    for (const s of shares) s.fill(0);
  }
}
