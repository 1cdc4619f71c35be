/**
 * The offline evidence verifier against real bundles (fixture.ts): the honest bundle passes
 * every check, and each way of lying is caught by the right check with the right code.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { randomBytes, toBase64, toBase64Url, utf8 } from '../../src/bytes.js';
import { generateIdentityKeyPair } from '../../src/identity-keys.js';
import { ecvrfProve } from '../../src/vrf/ecvrf.js';
import { labelInput } from '../../src/keylog/entry.js';
import { generateSignerKey, parseSignerKey, signNote } from '../../src/tlog/note.js';
import { formatCheckpoint } from '../../src/tlog/checkpoint.js';
import { leafHash, rootOfLeaves } from '../../src/tlog/merkle.js';
import { commitmentEntry, encodeAuditEntry, receiptEntry } from '../../src/audit/entry.js';
import { signCommitment } from '../../src/audit/commitment.js';
import type { EvidenceBundle } from '../../src/audit/bundle.js';
import { verifyEvidenceBundle } from '../../src/audit/verify-bundle.js';
import type { EvidenceReport } from '../../src/audit/evidence-report.js';
import {
  AUDIT_ORIGIN,
  KEY_ORIGIN,
  assemble,
  auditInclusion,
  clone,
  commitmentFor,
  honestScenario,
  lookup,
  newDevice,
  receiptFor,
  signCheckpoint,
  type Scenario,
} from '@parley/test-kit/evidence';

function checkOf(report: EvidenceReport, name: string) {
  const found = report.checks.find((c) => c.name === name);
  expect(found, `check ${name} in ${report.checks.map((c) => c.name).join(', ')}`).toBeDefined();
  return found!;
}

/** Asserts exactly the named checks failed, with these codes. */
function expectFailures(report: EvidenceReport, failures: Record<string, string>): void {
  expect(report.ok).toBe(false);
  const failed = Object.fromEntries(report.checks.filter((c) => !c.ok).map((c) => [c.name, c.code]));
  expect(failed).toEqual(failures);
  for (const c of report.checks) if (!c.ok) expect(c.detail).toBeTypeOf('string');
}

function receiptName(s: Scenario, i: number): string {
  const r = s.receipts[i]!.receipt;
  return `receipt:${r.deviceId}:${r.status}`;
}

describe('verifyEvidenceBundle: the honest bundle', () => {
  it('passes every check and reports the message and its receipts', async () => {
    const s = honestScenario();
    const bundle = await assemble(s, { reveal: true });
    const report = verifyEvidenceBundle(bundle, s.world.trust);
    expect(report.checks.filter((c) => !c.ok)).toEqual([]);
    expect(report.ok).toBe(true);
    expect(report.checks.map((c) => c.name)).toEqual([
      'bundle-format',
      'audit-checkpoint-signature',
      'key-log-checkpoint-signature',
      'vrf-key',
      `identity:${s.bank.identityId}`,
      `identity:${s.customer.identityId}`,
      'commitment-signature',
      'commitment-in-audit-log',
      `receipt:${s.phone.deviceId}:delivered`,
      `receipt:${s.tablet.deviceId}:delivered`,
      `receipt:${s.phone.deviceId}:read`,
      'plaintext-matches-commitment',
    ]);
    expect(report.message).toEqual({
      id: s.commitment.messageId,
      conversationId: s.commitment.conversationId,
      sender: s.bank.identityId,
      senderDevice: s.bankDevice.deviceId,
      recipient: s.customer.identityId,
      class: 'otp',
      createdAt: s.commitment.createdAt,
    });
    expect(report.receipts).toEqual([
      { deviceId: s.phone.deviceId, status: 'delivered', time: '2025-03-04T05:06:08.5Z', verified: true },
      { deviceId: s.tablet.deviceId, status: 'delivered', time: '2025-03-04T05:06:09Z', verified: true },
      { deviceId: s.phone.deviceId, status: 'read', time: '2025-03-04T05:07:00Z', verified: true },
    ]);
    expect(checkOf(report, `identity:${s.customer.identityId}`).detail).toContain(`${s.tablet.deviceId} (customer, approved)`);
  });

  it('accepts the bundle as JSON text and as UTF-8 bytes, and a reveal given by the caller', async () => {
    const s = honestScenario();
    const json = JSON.stringify(await assemble(s));
    expect(verifyEvidenceBundle(json, s.world.trust).ok).toBe(true);
    expect(verifyEvidenceBundle(utf8(json), s.world.trust).ok).toBe(true);
    const revealed = verifyEvidenceBundle(json, s.world.trust, { plaintext: s.plaintext, opening: s.opening });
    expect(revealed.ok).toBe(true);
    expect(checkOf(revealed, 'plaintext-matches-commitment').ok).toBe(true);
  });

  it('without a pinned VRF key uses the bundle’s and says so', async () => {
    const s = honestScenario();
    const { vrfPublicKey: _pinned, ...unpinned } = s.world.trust;
    const report = verifyEvidenceBundle(await assemble(s), unpinned);
    expect(report.ok).toBe(true);
    expect(checkOf(report, 'vrf-key').detail).toMatch(/not pinned/);
    expect(checkOf(report, `identity:${s.bank.identityId}`).detail).toMatch(/bundle's own VRF key/);
  });

  it('accepts a business sending to itself (one lookup for both roles)', async () => {
    const s = honestScenario();
    s.commitment = commitmentFor(s.bank, s.bankDevice, s.bank, s.opening, s.plaintext);
    s.commitmentSignature = toBase64(signCommitment(s.bankDevice.keys.privateKey, s.commitment));
    s.receipts = [];
    s.world.appendAudit(encodeAuditEntry(commitmentEntry(s.commitment)));
    const bundle = await assemble(s);
    bundle.keyLog.identities = [bundle.keyLog.identities[0]!];
    const report = verifyEvidenceBundle(bundle, s.world.trust);
    expect(report.checks.filter((c) => !c.ok)).toEqual([]);
  });
});

describe('verifyEvidenceBundle: malformed input', () => {
  it.each([
    ['garbage JSON', '{"v":1,', 'invalid_json'],
    ['not UTF-8', new Uint8Array([0x7b, 0xff, 0x7d]), 'invalid_json'],
    ['null', null, 'invalid_bundle'],
    ['a number', 42, 'invalid_bundle'],
    ['an empty object', {}, 'invalid_bundle'],
    ['JSON of an array', '[]', 'invalid_bundle'],
  ] as const)('%s fails bundle-format (%s)', (_name, input, code) => {
    const report = verifyEvidenceBundle(input, { auditLogKey: 'x', keyLogKey: 'y' });
    expect(report).toEqual({ ok: false, checks: [expect.objectContaining({ name: 'bundle-format', ok: false, code })], message: null, receipts: [] });
  });

  it('an extra field or a wrong version fails the schema', async () => {
    const s = honestScenario();
    const bundle = await assemble(s);
    expect(checkOf(verifyEvidenceBundle({ ...bundle, extra: 1 }, s.world.trust), 'bundle-format').code).toBe('invalid_bundle');
    expect(checkOf(verifyEvidenceBundle({ ...bundle, v: 2 }, s.world.trust), 'bundle-format').code).toBe('invalid_bundle');
  });

  it('unusable trust keys fail their checks, never throw', async () => {
    const s = honestScenario();
    const bundle = await assemble(s);
    const report = verifyEvidenceBundle(bundle, { auditLogKey: 'nonsense', keyLogKey: 42 as unknown as string, vrfPublicKey: '!!' });
    expect(checkOf(report, 'audit-checkpoint-signature').code).toBe('bad_trust_key');
    expect(checkOf(report, 'key-log-checkpoint-signature').code).toBe('bad_trust_key');
    expect(checkOf(report, 'vrf-key').code).toBe('bad_trust_key');
    expect(checkOf(report, 'commitment-in-audit-log').code).toBe('checkpoint_unverified');
    expect(checkOf(report, `identity:${s.customer.identityId}`).code).toBe('bad_vrf');
    expect(checkOf(report, 'commitment-signature').code).toBe('identity_unverified');
    expect(verifyEvidenceBundle(bundle, undefined as unknown as never).ok).toBe(false);
  });
});

describe('verifyEvidenceBundle: the commitment', () => {
  it('a changed commitment field breaks the signature, its audit entry and every receipt', async () => {
    const s = honestScenario();
    const bundle = await assemble(s);
    bundle.commitment.createdAt = '2025-03-05T05:06:07.123Z';
    const report = verifyEvidenceBundle(bundle, s.world.trust);
    expectFailures(report, {
      'commitment-signature': 'bad_commitment_signature',
      'commitment-in-audit-log': 'wrong_audit_entry',
      [receiptName(s, 0)]: 'receipt_for_other_message',
      [receiptName(s, 1)]: 'receipt_for_other_message',
      [receiptName(s, 2)]: 'receipt_for_other_message',
    });
  });

  it('a forged commitment signature', async () => {
    const s = honestScenario();
    s.commitmentSignature = toBase64(signCommitment(generateIdentityKeyPair().privateKey, s.commitment));
    expectFailures(verifyEvidenceBundle(await assemble(s), s.world.trust), { 'commitment-signature': 'bad_commitment_signature' });
  });

  it('a commitment signed by a device the sender identity does not have', async () => {
    const s = honestScenario();
    const intruder = newDevice();
    s.commitment = { ...s.commitment, sender: { ...s.commitment.sender, deviceId: intruder.deviceId } };
    s.commitmentSignature = toBase64(signCommitment(intruder.keys.privateKey, s.commitment));
    s.receipts = [];
    s.world.appendAudit(encodeAuditEntry(commitmentEntry(s.commitment)));
    expectFailures(verifyEvidenceBundle(await assemble(s), s.world.trust), { 'commitment-signature': 'unknown_sender_device' });
  });

  it('a commitment signed by a device of another identity (the customer posing as the bank)', async () => {
    const s = honestScenario();
    s.commitment = { ...s.commitment, sender: { ...s.commitment.sender, deviceId: s.phone.deviceId } };
    s.commitmentSignature = toBase64(signCommitment(s.phone.keys.privateKey, s.commitment));
    s.receipts = [];
    s.world.appendAudit(encodeAuditEntry(commitmentEntry(s.commitment)));
    expectFailures(verifyEvidenceBundle(await assemble(s), s.world.trust), { 'commitment-signature': 'unknown_sender_device' });
  });

  it('the commitment entry missing from the audit log', async () => {
    const s = honestScenario();
    const entry = encodeAuditEntry(commitmentEntry(s.commitment));
    const bundle = await assemble(s);
    const without = s.world.auditLog.filter((e) => e !== s.world.auditLog.find((x) => toBase64(x) === toBase64(entry)));
    // The log as signed holds everything but the commitment (same size: a filler in its place).
    without.splice(2, 0, encodeAuditEntry({ v: 1, type: 'commitment', commitment: toBase64Url(randomBytes(32)) }));
    const forked = await assemble(s, { auditCheckpointLeaves: without });
    const report = verifyEvidenceBundle({ ...bundle, auditCheckpoint: forked.auditCheckpoint }, s.world.trust);
    expect(checkOf(report, 'commitment-in-audit-log').code).toBe('not_in_audit_log');
  });

  it('a wrong index, a truncated proof, a flipped proof hash, an index beyond the tree', async () => {
    const s = honestScenario();
    const bundle = await assemble(s);
    const variants: ((b: EvidenceBundle) => void)[] = [
      (b) => (b.audit.index += 1),
      (b) => (b.audit.index -= 1),
      (b) => (b.audit.proof = b.audit.proof.slice(0, -1)),
      (b) => (b.audit.proof = [...b.audit.proof, toBase64(randomBytes(32))]),
      (b) => (b.audit.proof[0] = toBase64(randomBytes(32))),
      (b) => (b.audit.proof[0] = 'not base64!'),
      (b) => (b.audit.index = 1000),
      (b) => (b.audit.index = 2 ** 60),
    ];
    for (const tamper of variants) {
      const b = clone(bundle);
      tamper(b);
      expectFailures(verifyEvidenceBundle(b, s.world.trust), { 'commitment-in-audit-log': 'not_in_audit_log' });
    }
  });

  it('an audit entry for another commitment or of the wrong type', async () => {
    const s = honestScenario();
    const bundle = await assemble(s);
    const other = clone(bundle);
    other.audit = auditInclusion(s.world.auditLog, s.world.auditLog[0]!);
    const report = verifyEvidenceBundle(other, s.world.trust);
    expectFailures(report, { 'commitment-in-audit-log': 'wrong_audit_entry' });
    expect(checkOf(report, 'commitment-in-audit-log').detail).toMatch(/another commitment/);
    const receiptShaped = clone(bundle);
    receiptShaped.audit = bundle.receipts[0]!.audit;
    expect(checkOf(verifyEvidenceBundle(receiptShaped, s.world.trust), 'commitment-in-audit-log').detail).toMatch(/receipt entry/);
    const garbage = clone(bundle);
    garbage.audit.entry = toBase64(utf8('{"v":1}'));
    expect(checkOf(verifyEvidenceBundle(garbage, s.world.trust), 'commitment-in-audit-log').code).toBe('wrong_audit_entry');
  });
});

describe('verifyEvidenceBundle: checkpoints', () => {
  it('an audit checkpoint signed by another key with the same name', async () => {
    const s = honestScenario();
    const bundle = await assemble(s);
    const impostor = parseSignerKey(generateSignerKey(AUDIT_ORIGIN).signerKey);
    bundle.auditCheckpoint = await signCheckpoint(s.world.auditLog, impostor);
    const report = verifyEvidenceBundle(bundle, s.world.trust);
    expectFailures(report, {
      'audit-checkpoint-signature': 'bad_checkpoint_signature',
      'commitment-in-audit-log': 'checkpoint_unverified',
      [receiptName(s, 0)]: 'checkpoint_unverified',
      [receiptName(s, 1)]: 'checkpoint_unverified',
      [receiptName(s, 2)]: 'checkpoint_unverified',
    });
  });

  it('the keys swapped: the key-log key does not open the audit checkpoint', async () => {
    const s = honestScenario();
    const report = verifyEvidenceBundle(await assemble(s), { ...s.world.trust, auditLogKey: s.world.keyLogKey, keyLogKey: s.world.auditLogKey });
    expect(checkOf(report, 'audit-checkpoint-signature').code).toBe('bad_checkpoint_signature');
    expect(checkOf(report, 'key-log-checkpoint-signature').code).toBe('bad_checkpoint_signature');
    expect(checkOf(report, `identity:${s.bank.identityId}`).code).toBe('checkpoint_unverified');
  });

  it('a checkpoint for another origin, signed by the right key', async () => {
    const s = honestScenario();
    const bundle = await assemble(s);
    bundle.auditCheckpoint = await signCheckpoint(s.world.auditLog, s.world.auditSigner, 'parley.test/logs/other');
    expect(checkOf(verifyEvidenceBundle(bundle, s.world.trust), 'audit-checkpoint-signature').code).toBe('wrong_origin');
  });

  it('a malformed checkpoint note', async () => {
    const s = honestScenario();
    const bundle = await assemble(s);
    bundle.auditCheckpoint = 'not a note';
    expect(checkOf(verifyEvidenceBundle(bundle, s.world.trust), 'audit-checkpoint-signature').code).toBe('malformed_checkpoint');
    bundle.auditCheckpoint = await signNote('parley.test/logs/audit\nthree\n', [s.world.auditSigner]);
    expect(checkOf(verifyEvidenceBundle(bundle, s.world.trust), 'audit-checkpoint-signature').code).toBe('malformed_checkpoint');
  });

  it('a forked audit log: the genuine key signed another tree of the same size', async () => {
    const s = honestScenario();
    const forkedLeaves = [...s.world.auditLog];
    forkedLeaves[0] = encodeAuditEntry({ v: 1, type: 'commitment', commitment: toBase64Url(randomBytes(32)) });
    const bundle = await assemble(s, { auditCheckpointLeaves: forkedLeaves });
    expectFailures(verifyEvidenceBundle(bundle, s.world.trust), {
      'commitment-in-audit-log': 'not_in_audit_log',
      [receiptName(s, 0)]: 'receipt_not_in_log',
      [receiptName(s, 1)]: 'receipt_not_in_log',
      [receiptName(s, 2)]: 'receipt_not_in_log',
    });
  });

  it('a forked key log: a lookup against another signed root of the same size', async () => {
    const s = honestScenario();
    const bundle = await assemble(s);
    const leaves = s.world.keyLog.map((e) => leafHash(e));
    leaves[0] = leafHash(randomBytes(40));
    const forked = await signNote(formatCheckpoint({ origin: KEY_ORIGIN, treeSize: leaves.length, rootHash: rootOfLeaves(leaves) }), [s.world.keyLogSigner]);
    bundle.keyLog.identities[1]!.checkpoint = forked;
    expectFailures(verifyEvidenceBundle(bundle, s.world.trust), {
      [`identity:${s.customer.identityId}`]: 'key_log_fork',
      [receiptName(s, 0)]: 'identity_unverified',
      [receiptName(s, 1)]: 'identity_unverified',
      [receiptName(s, 2)]: 'identity_unverified',
    });
    bundle.keyLog.identities[1]!.checkpoint = 'something else';
    expect(checkOf(verifyEvidenceBundle(bundle, s.world.trust), `identity:${s.customer.identityId}`).code).toBe('checkpoint_mismatch');
  });
});

describe('verifyEvidenceBundle: identities in the key log', () => {
  it('a bad VRF proof, another identity’s label, a pinned key that is not the bundle’s', async () => {
    const s = honestScenario();
    const bundle = await assemble(s);
    const customer = `identity:${s.customer.identityId}`;
    const wrongProof = clone(bundle);
    wrongProof.keyLog.identities[1]!.vrfProof = toBase64(ecvrfProve(s.world.vrfSecret, labelInput(s.stranger.identityId)));
    expect(checkOf(verifyEvidenceBundle(wrongProof, s.world.trust), customer).code).toBe('bad_vrf');
    const strangersLabel = clone(bundle);
    strangersLabel.keyLog.identities[1] = { ...lookup(s.world, s.stranger, bundle.keyLog.checkpoint), identityId: s.customer.identityId };
    expect(checkOf(verifyEvidenceBundle(strangersLabel, s.world.trust), customer).code).toBe('bad_vrf');
    const otherKey = clone(bundle);
    const rogueSecret = randomBytes(32);
    otherKey.keyLog.identities[1]!.vrfProof = toBase64(ecvrfProve(rogueSecret, labelInput(s.customer.identityId)));
    expect(checkOf(verifyEvidenceBundle(otherKey, s.world.trust), customer).code).toBe('bad_vrf');
    const mismatch = verifyEvidenceBundle({ ...bundle, keyLog: { ...bundle.keyLog, vrfPublicKey: toBase64(randomBytes(32)) } }, s.world.trust);
    expectFailures(mismatch, { 'vrf-key': 'vrf_key_mismatch' });
  });

  it('an attested entry that is not in the log (a device shown only to this auditor)', async () => {
    const s = honestScenario();
    const bundle = await assemble(s);
    const ghost = newDevice();
    const entry = s.world.addedEntry(s.customer, ghost, 'enrollment');
    const { encodeKeyLogEntry } = await import('../../src/keylog/entry.js');
    const bytes = encodeKeyLogEntry(entry);
    const identities = bundle.keyLog.identities[1]!;
    identities.entries.push({ index: s.world.keyLog.length - 1, entry: toBase64(bytes), proof: identities.entries.at(-1)!.proof });
    expect(checkOf(verifyEvidenceBundle(bundle, s.world.trust), `identity:${s.customer.identityId}`).code).toBe('not_in_key_log');
  });

  it('a tampered entry proof', async () => {
    const s = honestScenario();
    const bundle = await assemble(s);
    bundle.keyLog.identities[0]!.entries[0]!.proof[0] = toBase64(randomBytes(32));
    expect(checkOf(verifyEvidenceBundle(bundle, s.world.trust), `identity:${s.bank.identityId}`).code).toBe('not_in_key_log');
  });

  it('an entry left out of a lookup breaks the replay (approval of an unknown device)', async () => {
    const s = honestScenario();
    const bundle = await assemble(s);
    bundle.keyLog.identities[1]!.entries.splice(1, 1); // the tablet's device-added
    expect(checkOf(verifyEvidenceBundle(bundle, s.world.trust), `identity:${s.customer.identityId}`).code).toBe('key_log_inconsistent');
  });

  it('an entry not attested by the key-log key, in the log', async () => {
    const s = honestScenario();
    const rogue = newDevice();
    const entry = s.world.attest(s.world.addedEntry(s.customer, rogue, 'enrollment'), randomBytes(32));
    s.world.appendKeyLog(entry);
    expect(checkOf(verifyEvidenceBundle(await assemble(s), s.world.trust), `identity:${s.customer.identityId}`).code).toBe('key_log_inconsistent');
  });

  it('revoked and re-added: the server re-adds a revoked device id under a new key', async () => {
    const s = honestScenario();
    s.world.revoke(s.customer, s.tablet, s.phone, '2025-03-01T00:00:00Z');
    const impostor = { ...newDevice(), deviceId: s.tablet.deviceId };
    s.world.appendKeyLog(s.world.addedEntry(s.customer, impostor, 'enrollment'));
    const report = verifyEvidenceBundle(await assemble(s), s.world.trust);
    expect(checkOf(report, `identity:${s.customer.identityId}`)).toMatchObject({ ok: false, code: 'key_log_inconsistent' });
    expect(checkOf(report, `identity:${s.customer.identityId}`).detail).toMatch(/added twice/);
  });

  it('a lookup missing, an extra one, a duplicate one', async () => {
    const s = honestScenario();
    const bundle = await assemble(s);
    const missing = clone(bundle);
    missing.keyLog.identities = [bundle.keyLog.identities[0]!];
    const r1 = verifyEvidenceBundle(missing, s.world.trust);
    expect(checkOf(r1, `identity:${s.customer.identityId}`).code).toBe('missing_identity');
    expect(checkOf(r1, receiptName(s, 0)).code).toBe('identity_unverified');
    const extra = clone(bundle);
    extra.keyLog.identities = [bundle.keyLog.identities[0]!, lookup(s.world, s.stranger, bundle.keyLog.checkpoint)];
    const r2 = verifyEvidenceBundle(extra, s.world.trust);
    expect(checkOf(r2, `identity:${s.stranger.identityId}`).code).toBe('unexpected_identity');
    expect(checkOf(r2, `identity:${s.customer.identityId}`).code).toBe('missing_identity');
    const duplicate = clone(bundle);
    duplicate.keyLog.identities = [bundle.keyLog.identities[0]!, bundle.keyLog.identities[0]!];
    const r3 = verifyEvidenceBundle(duplicate, s.world.trust);
    expect(r3.checks.filter((c) => c.code === 'unexpected_identity')).toHaveLength(1);
  });
});

describe('verifyEvidenceBundle: receipts', () => {
  it('a forged receipt signature', async () => {
    const s = honestScenario();
    const bundle = await assemble(s);
    const forged = receiptFor(s.commitment, s.customer.identityId, s.tablet, 'delivered', '2025-03-04T05:06:09Z', generateIdentityKeyPair().privateKey);
    bundle.receipts[1]!.signature = forged.signature;
    const report = verifyEvidenceBundle(bundle, s.world.trust);
    expectFailures(report, { [receiptName(s, 1)]: 'receipt_bad_signature' });
    expect(report.receipts.map((r) => r.verified)).toEqual([true, false, true]);
  });

  it('a receipt replayed from another message (validly signed and logged)', async () => {
    const s = honestScenario();
    const other = commitmentFor(s.bank, s.bankDevice, s.customer, randomBytes(32), 'another message');
    s.world.appendAudit(encodeAuditEntry(commitmentEntry(other)));
    const replayed = receiptFor(other, s.customer.identityId, s.tablet, 'read');
    s.world.appendAudit(encodeAuditEntry(receiptEntry(replayed.receipt)));
    s.receipts.push(replayed);
    expectFailures(verifyEvidenceBundle(await assemble(s), s.world.trust), { [`receipt:${s.tablet.deviceId}:read`]: 'receipt_for_other_message' });
  });

  it('a receipt by a device not of the recipient', async () => {
    const s = honestScenario();
    // The bank's own device signs as if it were one of the customer's.
    const byBank = receiptFor(s.commitment, s.customer.identityId, s.bankDevice, 'read');
    // Another customer's device signs for its own identity.
    const stranger = s.stranger.devices[0]!;
    const byStranger = receiptFor(s.commitment, s.stranger.identityId, stranger, 'delivered');
    for (const r of [byBank, byStranger]) s.world.appendAudit(encodeAuditEntry(receiptEntry(r.receipt)));
    s.receipts.push(byBank, byStranger);
    expectFailures(verifyEvidenceBundle(await assemble(s), s.world.trust), {
      [`receipt:${s.bankDevice.deviceId}:read`]: 'unknown_recipient_device',
      [`receipt:${stranger.deviceId}:delivered`]: 'receipt_wrong_identity',
    });
  });

  it('a receipt by a device that was never approved', async () => {
    const s = honestScenario();
    const pending = s.world.addDevice(s.customer, 'pending');
    const r = receiptFor(s.commitment, s.customer.identityId, pending, 'delivered');
    s.world.appendAudit(encodeAuditEntry(receiptEntry(r.receipt)));
    s.receipts.push(r);
    expectFailures(verifyEvidenceBundle(await assemble(s), s.world.trust), { [`receipt:${pending.deviceId}:delivered`]: 'recipient_device_pending' });
  });

  it('a receipt missing from the audit log', async () => {
    const s = honestScenario();
    const late = receiptFor(s.commitment, s.customer.identityId, s.tablet, 'read');
    s.receipts.push(late); // signed, but the log never recorded it
    const report = verifyEvidenceBundle(await assemble(s), s.world.trust);
    expectFailures(report, { [`receipt:${s.tablet.deviceId}:read`]: 'receipt_not_in_log' });
  });

  it('a receipt whose audit entry records another receipt', async () => {
    const s = honestScenario();
    const bundle = await assemble(s);
    bundle.receipts[2]!.audit = bundle.receipts[0]!.audit;
    expectFailures(verifyEvidenceBundle(bundle, s.world.trust), { [receiptName(s, 2)]: 'wrong_audit_entry' });
  });

  it('repeated receipts get distinct check names', async () => {
    const s = honestScenario();
    s.receipts.push(s.receipts[0]!);
    const report = verifyEvidenceBundle(await assemble(s), s.world.trust);
    expect(report.ok).toBe(true);
    expect(report.checks.map((c) => c.name)).toContain(`${receiptName(s, 0)}:2`);
  });
});

describe('verifyEvidenceBundle: revoked devices', () => {
  it('a device revoked after it signed still vouches for what it signed before, and says so', async () => {
    const s = honestScenario();
    s.world.revoke(s.customer, s.tablet, s.phone, '2025-03-04T05:06:09.5Z');
    const report = verifyEvidenceBundle(await assemble(s), s.world.trust);
    expect(report.checks.filter((c) => !c.ok)).toEqual([]);
    expect(checkOf(report, receiptName(s, 1)).detail).toMatch(/revoked later \(owner/);
  });

  it('a receipt dated at or after its device’s revocation', async () => {
    const s = honestScenario();
    s.world.revoke(s.customer, s.tablet, s.phone, '2025-03-04T05:06:09Z');
    expectFailures(verifyEvidenceBundle(await assemble(s), s.world.trust), { [receiptName(s, 1)]: 'recipient_device_revoked' });
  });

  it('a commitment dated after the sending device was revoked (a stolen sender key)', async () => {
    const s = honestScenario();
    const second = s.world.addDevice(s.bank, 'enrollment', 'sender');
    s.world.revoke(s.bank, s.bankDevice, second, '2025-03-04T05:06:07.12Z');
    expectFailures(verifyEvidenceBundle(await assemble(s), s.world.trust), { 'commitment-signature': 'sender_device_revoked' });
  });

  it('compares fractional seconds by value', async () => {
    const s = honestScenario();
    const second = s.world.addDevice(s.bank, 'enrollment', 'sender');
    // 07.123Z (the commitment) is before 07.1231Z.
    s.world.revoke(s.bank, s.bankDevice, second, '2025-03-04T05:06:07.1231Z');
    expect(verifyEvidenceBundle(await assemble(s), s.world.trust).ok).toBe(true);
  });
});

describe('verifyEvidenceBundle: revealing the plaintext', () => {
  it('a wrong plaintext or opening, from the caller or in the bundle', async () => {
    const s = honestScenario();
    const bundle = await assemble(s, { reveal: true });
    expectFailures(verifyEvidenceBundle({ ...bundle, plaintext: 'Your Example Bank code is 493818' }, s.world.trust), {
      'plaintext-matches-commitment': 'plaintext_mismatch',
    });
    expectFailures(verifyEvidenceBundle({ ...bundle, opening: toBase64(randomBytes(32)) }, s.world.trust), {
      'plaintext-matches-commitment': 'plaintext_mismatch',
    });
    expectFailures(verifyEvidenceBundle({ ...bundle, opening: toBase64(randomBytes(31)) }, s.world.trust), {
      'plaintext-matches-commitment': 'plaintext_mismatch',
    });
    const { opening: _o, ...onlyPlaintext } = bundle;
    expectFailures(verifyEvidenceBundle(onlyPlaintext, s.world.trust), { 'plaintext-matches-commitment': 'incomplete_reveal' });
    const caller = verifyEvidenceBundle(bundle, s.world.trust, { plaintext: `${s.plaintext}\n`, opening: s.opening });
    expectFailures(caller, { 'plaintext-matches-commitment': 'plaintext_mismatch' });
    expect(checkOf(caller, 'bundle-plaintext-matches-commitment').ok).toBe(true);
  });
});

describe('verifyEvidenceBundle: properties', () => {
  it('no single-byte change of a serialized bundle passes, but the same bytes in the other base64 alphabet', async () => {
    const s = honestScenario();
    const bytes = utf8(JSON.stringify(await assemble(s, { reveal: true })));
    expect(verifyEvidenceBundle(bytes, s.world.trust).ok).toBe(true);
    const { vrfPublicKey: _pinned, ...unpinned } = s.world.trust;
    // Byte fields are base64 in either RFC 4648 alphabet (standard or URL), so '+' written as
    // '-' (or '/' as '_') is the same evidence, byte for byte: it verifies. Every other change fails.
    const TWINS: Readonly<Record<string, string>> = { '+': '-', '-': '+', '/': '_', _: '/' };
    const twin = bytes.indexOf(0x2b); // the first '+', inside a standard-alphabet field
    expect(twin).toBeGreaterThan(0);
    const respelled = bytes.slice();
    respelled[twin] = 0x2d;
    expect(verifyEvidenceBundle(respelled, s.world.trust).ok).toBe(true);
    fc.assert(
      fc.property(fc.nat(bytes.length - 1), fc.integer({ min: 1, max: 255 }), fc.boolean(), (at, delta, pin) => {
        const mutated = bytes.slice();
        mutated[at] = (mutated[at]! + delta) & 0xff;
        fc.pre(TWINS[String.fromCharCode(bytes[at]!)] !== String.fromCharCode(mutated[at]!));
        const report = verifyEvidenceBundle(mutated, pin ? s.world.trust : unpinned);
        expect(report.ok).toBe(false);
        expect(report.checks.some((c) => !c.ok && typeof c.code === 'string')).toBe(true);
      }),
      { numRuns: Number(process.env['AUDIT_RUNS'] ?? 400) },
    );
  });

  it('arbitrary JSON values never throw and never pass', () => {
    const s = honestScenario();
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        const report = verifyEvidenceBundle(value, s.world.trust);
        expect(report.ok).toBe(false);
        // A string is taken as JSON text.
        expect(checkOf(report, 'bundle-format').code).toEqual(typeof value === 'string' ? expect.stringMatching(/^invalid_(json|bundle)$/) : 'invalid_bundle');
      }),
    );
  });
});
