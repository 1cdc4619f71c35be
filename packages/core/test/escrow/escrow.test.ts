/**
 * Escrow formats and crypto (core/src/escrow): an M-of-N key made, its shares sealed to
 * officers, a message payload sealed and opened only with M shares, approvals signed and
 * checked, and every binding (key id, message, commitment, request, officer) enforced.
 */
import { describe, expect, it } from 'vitest';
import { fromBase64, randomBytes, toBase64Url } from '../../src/bytes.js';
import {
  combineEscrowShares,
  createEscrowKey,
  createEscrowOfficer,
  escrowApprovalHash,
  escrowKeyId,
  escrowRequestHash,
  generateHpkeKeyPair,
  openEscrowPayload,
  openOfficerShare,
  openReleasedShare,
  parseEscrowKeyRecord,
  parseEscrowOfficerKeyFile,
  releaseEscrowShare,
  sealEscrowPayload,
  signEscrowApproval,
  verifyEscrowApproval,
  type EscrowApproval,
  type EscrowOfficerKeyFile,
  type EscrowRequest,
} from '../../src/escrow/index.js';
import { decodeAuditEntry, encodeAuditEntry, escrowOpenEntry } from '../../src/audit/entry.js';

const codeOf = async (p: Promise<unknown> | (() => unknown)): Promise<string | undefined> => {
  try {
    await (typeof p === 'function' ? p() : p);
    return undefined;
  } catch (error) {
    return (error as { code?: string }).code;
  }
};

describe('escrow', () => {
  it('seals a message to an M-of-N key that opens with M shares and not with M−1', async () => {
    const officers = await Promise.all(['alice', 'bob', 'carol'].map((n) => createEscrowOfficer(n)));
    const files: EscrowOfficerKeyFile[] = officers.map((o) => parseEscrowOfficerKeyFile(JSON.parse(JSON.stringify(o.keyFile))));
    const record = await createEscrowKey({ businessId: 'example-bank', officers: officers.map((o) => o.officer), threshold: 2 });
    expect(parseEscrowKeyRecord(record).keyId).toBe(escrowKeyId(record));
    expect(JSON.stringify(record)).not.toContain(files[0]!.encryptionPrivateKey);

    const binding = { keyId: record.keyId, messageId: 'message-0000000001', commitmentHash: randomBytes(32) };
    const opening = randomBytes(32);
    const blob = await sealEscrowPayload(fromBase64(record.publicKey), binding, opening, 'Your code is 123456');

    const requester = await generateHpkeKeyPair();
    const request: EscrowRequest = {
      v: 1,
      requestId: `esr_${toBase64Url(randomBytes(16))}`,
      messageId: binding.messageId,
      commitment: toBase64Url(binding.commitmentHash),
      keyId: record.keyId,
      reason: 'court order 12/2026',
      requesterKey: toBase64Url(requester.publicKey),
    };
    const released = await Promise.all(
      files.slice(0, 2).map(async (f) => {
        const share = await openOfficerShare(record, f.officer.officerId, fromBase64(f.encryptionPrivateKey));
        return { officerId: f.officer.officerId, sealed: await releaseEscrowShare(share, request, f.officer.officerId) };
      }),
    );
    const shares = await Promise.all(released.map((r) => openReleasedShare(requester.privateKey, request.requestId, r.officerId, r.sealed)));
    expect(await codeOf(combineEscrowShares(shares.slice(0, 1), fromBase64(record.publicKey)))).toBe('escrow_shares_invalid');
    const privateKey = await combineEscrowShares(shares, fromBase64(record.publicKey));
    const opened = await openEscrowPayload(privateKey, binding, blob);
    expect(opened.plaintext).toBe('Your code is 123456');
    expect(opened.opening).toEqual(opening);

    // Bound to its message and commitment, and released shares to their request and officer.
    expect(await codeOf(openEscrowPayload(privateKey, { ...binding, messageId: 'message-0000000002' }, blob))).toBe('escrow_decrypt_failed');
    expect(await codeOf(openEscrowPayload(privateKey, { ...binding, commitmentHash: randomBytes(32) }, blob))).toBe('escrow_decrypt_failed');
    expect(await codeOf(openReleasedShare(requester.privateKey, request.requestId, released[1]!.officerId, released[0]!.sealed))).toBe('escrow_decrypt_failed');
    // A share of one officer does not open with another officer's key.
    expect(await codeOf(openOfficerShare(record, files[0]!.officer.officerId, fromBase64(files[1]!.encryptionPrivateKey)))).toBe('escrow_decrypt_failed');
  });

  it('signs approvals over the request hash; another request, officer or a forged signature fails', async () => {
    const { keyFile } = await createEscrowOfficer('alice');
    const request: EscrowRequest = {
      v: 1,
      requestId: `esr_${toBase64Url(randomBytes(16))}`,
      messageId: 'message-0000000001',
      commitment: toBase64Url(randomBytes(32)),
      keyId: `esk_${toBase64Url(randomBytes(32))}`,
      reason: 'audit',
      requesterKey: toBase64Url(randomBytes(32)),
    };
    const approval: EscrowApproval = {
      v: 1,
      requestId: request.requestId,
      requestHash: toBase64Url(escrowRequestHash(request)),
      messageId: request.messageId,
      keyId: request.keyId,
      officerId: keyFile.officer.officerId,
      approvedAt: new Date().toISOString(),
    };
    const signature = signEscrowApproval(fromBase64(keyFile.signingPrivateKey), approval);
    const key = fromBase64(keyFile.officer.signingKey);
    expect(verifyEscrowApproval(key, approval, signature)).toBe(true);
    expect(verifyEscrowApproval(key, { ...approval, requestId: `esr_${toBase64Url(randomBytes(16))}` }, signature)).toBe(false);
    expect(verifyEscrowApproval(key, approval, randomBytes(64))).toBe(false);
    expect(escrowApprovalHash(approval)).toHaveLength(32);
  });

  it('refuses a record whose key id does not certify its key, threshold and officers', async () => {
    const officers = await Promise.all(['a', 'b'].map((n) => createEscrowOfficer(n)));
    const record = await createEscrowKey({ businessId: 'example-bank', officers: officers.map((o) => o.officer), threshold: 2 });
    const other = await generateHpkeKeyPair();
    expect(await codeOf(() => parseEscrowKeyRecord({ ...record, publicKey: toBase64Url(other.publicKey) }))).toBe('invalid_escrow_key');
    expect(await codeOf(() => parseEscrowKeyRecord({ ...record, businessId: 'other-bank' }))).toBe('invalid_escrow_key');
    expect(await codeOf(() => parseEscrowKeyRecord({ ...record, shares: [record.shares[0], record.shares[0]] }))).toBe('invalid_escrow_key');
    expect(await codeOf(createEscrowKey({ businessId: 'example-bank', officers: officers.map((o) => o.officer), threshold: 3 }))).toBe('invalid_escrow_key');
  });

  it('audit entries of escrow round-trip in canonical form', () => {
    const entry = escrowOpenEntry(randomBytes(32), randomBytes(32), [randomBytes(32), randomBytes(32)]);
    expect(decodeAuditEntry(encodeAuditEntry(entry))).toEqual(entry);
  });
});
