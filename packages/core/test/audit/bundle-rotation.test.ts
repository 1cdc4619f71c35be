/**
 * Evidence bundles across a log-key rotation (docs/log-key-rotation.md, "Evidence bundles"):
 * real bundles (test-kit evidence fixture) whose checkpoints are signed by a rotated key and
 * whose key-log entries are attested by the key current when each was appended. The
 * announcements in the bundle lead from the key the auditor pinned to the new key; without
 * them, or with forged ones, the checkpoints do not verify; attestations are checked under
 * the chain, each announced key only from its announcement's start.
 */
import { describe, expect, it } from 'vitest';
import { randomBytes } from '../../src/bytes.js';
import { formatCheckpoint } from '../../src/tlog/checkpoint.js';
import { leafHash, rootOfLeaves } from '../../src/tlog/merkle.js';
import { generateSignerKey, parseSignerKey, signNote, type LocalSigner } from '../../src/tlog/note.js';
import { formatKeyRotation, signKeyRotation } from '../../src/tlog/key-rotation.js';
import { parseEvidenceBundle, type EvidenceBundle } from '../../src/audit/bundle.js';
import { verifyEvidenceBundle } from '../../src/audit/verify-bundle.js';
import type { EvidenceReport, EvidenceTrust } from '../../src/audit/evidence-report.js';
import { AUDIT_ORIGIN, KEY_ORIGIN, assemble, clone, honestScenario, newDevice, type Scenario } from '@parley/test-kit/evidence';

interface NextKey {
  readonly seed: Uint8Array;
  readonly signer: LocalSigner;
}
function nextKey(origin: string): NextKey {
  const seed = randomBytes(32);
  return { seed, signer: parseSignerKey(generateSignerKey(origin, { seed }).signerKey) };
}

/** A checkpoint of `leaves` signed by exactly `signers`, in that order. */
async function checkpointBy(leaves: readonly Uint8Array[], origin: string, signers: readonly LocalSigner[]): Promise<string> {
  return signNote(formatCheckpoint({ origin, treeSize: leaves.length, rootHash: rootOfLeaves(leaves.map((e) => leafHash(e))) }), signers);
}

/** The honest scenario, then both logs' keys rotated (announced at the logs' sizes), then a key-log entry attested by the new key. */
async function rotatedScenario(): Promise<{ s: Scenario; audit1: NextKey; keys1: NextKey; auditNote: string; keysNote: string; keyStart: number }> {
  const s = honestScenario();
  const w = s.world;
  const audit1 = nextKey(AUDIT_ORIGIN);
  const keys1 = nextKey(KEY_ORIGIN);
  const auditNote = await signKeyRotation({ origin: AUDIT_ORIGIN, oldKey: w.auditLogKey, newKey: audit1.signer.verifierKey, startSize: w.auditLog.length }, w.auditSigner, audit1.signer);
  const keyStart = w.keyLog.length;
  const keysNote = await signKeyRotation({ origin: KEY_ORIGIN, oldKey: w.keyLogKey, newKey: keys1.signer.verifierKey, startSize: keyStart }, w.keyLogSigner, keys1.signer);
  // After the finish: the customer adds a laptop, attested by the new key.
  w.appendKeyLog(w.attest(w.addedEntry(s.customer, newDevice(), 'pending'), keys1.seed));
  w.auditFiller();
  return { s, audit1, keys1, auditNote, keysNote, keyStart };
}

/** The bundle with both checkpoints (and the lookups') re-signed by exactly the given signers. */
async function resigned(s: Scenario, audit: readonly LocalSigner[], keys: readonly LocalSigner[], rotations: { audit?: string[]; keys?: string[] } = {}): Promise<EvidenceBundle> {
  const bundle = await assemble(s);
  bundle.auditCheckpoint = await checkpointBy(s.world.auditLog, AUDIT_ORIGIN, audit);
  bundle.keyLog.checkpoint = await checkpointBy(s.world.keyLog, KEY_ORIGIN, keys);
  for (const identity of bundle.keyLog.identities) identity.checkpoint = bundle.keyLog.checkpoint;
  if (rotations.audit) bundle.auditRotations = rotations.audit;
  if (rotations.keys) bundle.keyLog.rotations = rotations.keys;
  return bundle;
}

const failed = (report: EvidenceReport) => Object.fromEntries(report.checks.filter((c) => !c.ok).map((c) => [c.name, c.code]));
const detail = (report: EvidenceReport, name: string) => report.checks.find((c) => c.name === name)?.detail ?? '';

describe('bundle format: the announcements field', () => {
  it('is optional (v stays 1), carries strings, and is bounded', async () => {
    const { s, auditNote, keysNote } = await rotatedScenario();
    const bundle = await assemble(s);
    expect(parseEvidenceBundle(clone(bundle))).toBeDefined();
    expect(parseEvidenceBundle({ ...clone(bundle), auditRotations: [auditNote], keyLog: { ...clone(bundle.keyLog), rotations: [keysNote] } })).toBeDefined();
    for (const bad of [{ auditRotations: [42] }, { auditRotations: Array.from({ length: 65 }, () => auditNote) }, { auditRotations: ['x'.repeat(4097)] }, { auditRotations: [''] }]) {
      expect(() => parseEvidenceBundle({ ...clone(bundle), ...bad })).toThrow();
    }
    expect(() => parseEvidenceBundle({ ...clone(bundle), keyLog: { ...clone(bundle.keyLog), rotations: 'x' } })).toThrow();
  });
});

describe('verifyEvidenceBundle across a finished rotation (new keys sign alone)', () => {
  it('verifies with the OLD pinned keys when the bundle carries the announcements, and says what it followed', async () => {
    const { s, audit1, keys1, auditNote, keysNote, keyStart } = await rotatedScenario();
    const bundle = await resigned(s, [audit1.signer], [keys1.signer], { audit: [auditNote], keys: [keysNote] });
    const report = verifyEvidenceBundle(JSON.stringify(bundle), s.world.trust);
    expect(failed(report)).toEqual({});
    expect(report.ok).toBe(true);
    expect(detail(report, 'audit-checkpoint-signature')).toMatch(/followed 1 announced rotation \(.* → .* from tree size \d+\)/);
    expect(detail(report, 'audit-checkpoint-signature')).toContain(`the signing key ${AUDIT_ORIGIN}+`);
    expect(detail(report, 'audit-checkpoint-signature')).toContain(`was announced by the trusted key ${AUDIT_ORIGIN}+`);
    expect(detail(report, 'key-log-checkpoint-signature')).toContain(`from tree size ${keyStart}`);
    // The customer's entries: before the start attested by the old key, the laptop after it by the new key.
    expect(detail(report, `identity:${s.customer.identityId}`)).toMatch(/attestations checked under the 2 keys of the announced chain; devices: .*customer, pending/);
  });

  it('fails without the announcements (bad_checkpoint_signature), as before', async () => {
    const { s, audit1, keys1 } = await rotatedScenario();
    const report = verifyEvidenceBundle(await resigned(s, [audit1.signer], [keys1.signer]), s.world.trust);
    expect(report.ok).toBe(false);
    expect(failed(report)).toMatchObject({
      'audit-checkpoint-signature': 'bad_checkpoint_signature',
      'key-log-checkpoint-signature': 'bad_checkpoint_signature',
      'commitment-in-audit-log': 'checkpoint_unverified',
      [`identity:${s.customer.identityId}`]: 'checkpoint_unverified',
    });
  });

  it('forged announcements do not let a key in: only the new key signed, an untrusted old key, another log’s, a broken signature', async () => {
    const { s, audit1, keys1, keysNote } = await rotatedScenario();
    const w = s.world;
    const rogue = nextKey(AUDIT_ORIGIN).signer;
    const rotation = { origin: AUDIT_ORIGIN, oldKey: w.auditLogKey, newKey: audit1.signer.verifierKey, startSize: 1 };
    const genuine = await signKeyRotation(rotation, w.auditSigner, audit1.signer);
    const sigs = genuine.slice(genuine.indexOf('\n\n') + 2).split('\n');
    const at = sigs[0]!.length - 10;
    const broken = genuine.replace(sigs[0]!, sigs[0]!.slice(0, at) + (sigs[0]![at] === 'A' ? 'B' : 'A') + sigs[0]!.slice(at + 1));
    const forged = [
      await signNote(formatKeyRotation(rotation), [audit1.signer]),
      await signKeyRotation({ ...rotation, oldKey: rogue.verifierKey }, rogue, audit1.signer),
      keysNote,
      broken,
      'not an announcement\n',
    ];
    const report = verifyEvidenceBundle(await resigned(s, [audit1.signer], [w.keyLogSigner], { audit: forged }), w.trust);
    expect(failed(report)).toMatchObject({ 'audit-checkpoint-signature': 'bad_checkpoint_signature' });
    expect(report.checks.find((c) => c.name === 'key-log-checkpoint-signature')!.ok).toBe(true);
    // A checkpoint by a rogue key, with a "rotation" to it that the trusted key never signed.
    const toRogue = await signNote(formatKeyRotation({ ...rotation, newKey: rogue.verifierKey }), [rogue]);
    const rogueReport = verifyEvidenceBundle(await resigned(s, [rogue], [w.keyLogSigner], { audit: [toRogue] }), w.trust);
    expect(failed(rogueReport)).toMatchObject({ 'audit-checkpoint-signature': 'bad_checkpoint_signature' });
    // The genuine announcement among the forged ones is followed; the others are reported as ignored.
    const mixed = verifyEvidenceBundle(await resigned(s, [audit1.signer], [keys1.signer], { audit: [...forged, genuine], keys: [keysNote] }), w.trust);
    expect(failed(mixed)).toEqual({});
    expect(detail(mixed, 'audit-checkpoint-signature')).toMatch(/followed 1 announced rotation.*; ignored 5 announcements that add no key/);
  });

  it('follows a chain of two rotations, given in any order', async () => {
    const { s, audit1, keys1, auditNote, keysNote } = await rotatedScenario();
    const audit2 = nextKey(AUDIT_ORIGIN);
    const second = await signKeyRotation({ origin: AUDIT_ORIGIN, oldKey: audit1.signer.verifierKey, newKey: audit2.signer.verifierKey, startSize: s.world.auditLog.length }, audit1.signer, audit2.signer);
    const report = verifyEvidenceBundle(await resigned(s, [audit2.signer], [keys1.signer], { audit: [second, auditNote], keys: [keysNote] }), s.world.trust);
    expect(failed(report)).toEqual({});
    expect(detail(report, 'audit-checkpoint-signature')).toMatch(/followed 2 announced rotations/);
  });

  it('during the transition (both keys sign) either key verifies, with or without the announcements', async () => {
    const { s, audit1, keys1, auditNote, keysNote } = await rotatedScenario();
    const w = s.world;
    const newTrust: EvidenceTrust = { ...w.trust, auditLogKey: audit1.signer.verifierKey, keyLogKey: keys1.signer.verifierKey };
    const both = await resigned(s, [w.auditSigner, audit1.signer], [w.keyLogSigner, keys1.signer], { audit: [auditNote], keys: [keysNote] });
    expect(failed(verifyEvidenceBundle(both, w.trust))).toEqual({});
    expect(failed(verifyEvidenceBundle(both, newTrust))).toEqual({});
    const { auditRotations: _a, ...bare } = both;
    expect(failed(verifyEvidenceBundle(bare, { ...newTrust, keyLogKey: w.keyLogKey }))).toEqual({});
  });
});

describe('verifyEvidenceBundle: key-log attestations under the announced chain', () => {
  it('an auditor who trusts the NEW key-log key accepts the retired key’s attestations through the announcement (not without it)', async () => {
    const { s, audit1, keys1, auditNote, keysNote } = await rotatedScenario();
    const newTrust: EvidenceTrust = { ...s.world.trust, auditLogKey: audit1.signer.verifierKey, keyLogKey: keys1.signer.verifierKey };
    const withNotes = verifyEvidenceBundle(await resigned(s, [audit1.signer], [keys1.signer], { audit: [auditNote], keys: [keysNote] }), newTrust);
    expect(failed(withNotes)).toEqual({});
    expect(detail(withNotes, 'key-log-checkpoint-signature')).toMatch(/1 announced predecessor of the trusted key accepted for attestations/);
    const without = verifyEvidenceBundle(await resigned(s, [audit1.signer], [keys1.signer]), newTrust);
    expect(failed(without)).toMatchObject({
      [`identity:${s.bank.identityId}`]: 'key_log_inconsistent',
      [`identity:${s.customer.identityId}`]: 'key_log_inconsistent',
    });
  });

  it('a predecessor "announced" without the trusted key’s signature is not accepted', async () => {
    const s = honestScenario();
    const w = s.world;
    const rogue = nextKey(KEY_ORIGIN);
    const keys1 = nextKey(KEY_ORIGIN);
    // The customer's new laptop attested by a rogue key, which claims to precede keys1.
    w.appendKeyLog(w.attest(w.addedEntry(s.customer, newDevice(), 'pending'), rogue.seed));
    const claim = await signNote(formatKeyRotation({ origin: KEY_ORIGIN, oldKey: rogue.signer.verifierKey, newKey: keys1.signer.verifierKey, startSize: 0 }), [rogue.signer]);
    const honestClaim = await signKeyRotation({ origin: KEY_ORIGIN, oldKey: w.keyLogKey, newKey: keys1.signer.verifierKey, startSize: 0 }, w.keyLogSigner, keys1.signer);
    const trust: EvidenceTrust = { ...w.trust, keyLogKey: keys1.signer.verifierKey };
    const report = verifyEvidenceBundle(await resigned(s, [w.auditSigner], [keys1.signer], { keys: [claim, honestClaim] }), trust);
    expect(failed(report)).toMatchObject({ [`identity:${s.customer.identityId}`]: 'key_log_inconsistent' });
    expect(report.checks.find((c) => c.name === `identity:${s.bank.identityId}`)!.ok).toBe(true);
  });

  it('an announced key cannot attest an entry older than its announcement’s start', async () => {
    const s = honestScenario();
    const w = s.world;
    const keys1 = nextKey(KEY_ORIGIN);
    // An entry before the start, attested by the key announced later.
    w.appendKeyLog(w.attest(w.addedEntry(s.customer, newDevice(), 'pending'), keys1.seed));
    const note = await signKeyRotation({ origin: KEY_ORIGIN, oldKey: w.keyLogKey, newKey: keys1.signer.verifierKey, startSize: w.keyLog.length }, w.keyLogSigner, keys1.signer);
    const report = verifyEvidenceBundle(await resigned(s, [w.auditSigner], [keys1.signer], { keys: [note] }), w.trust);
    expect(failed(report)).toMatchObject({ [`identity:${s.customer.identityId}`]: 'key_log_inconsistent' });
    expect(detail(report, `identity:${s.customer.identityId}`)).toMatch(/attestation does not verify/);
    // The same entry at the start is fine.
    const atStart = await signKeyRotation({ origin: KEY_ORIGIN, oldKey: w.keyLogKey, newKey: keys1.signer.verifierKey, startSize: w.keyLog.length - 1 }, w.keyLogSigner, keys1.signer);
    expect(failed(verifyEvidenceBundle(await resigned(s, [w.auditSigner], [keys1.signer], { keys: [atStart] }), w.trust))).toEqual({});
  });

  it('a checkpoint signed only by a predecessor of the trusted key does not verify', async () => {
    const { s, audit1, keys1, auditNote, keysNote } = await rotatedScenario();
    const w = s.world;
    const newTrust: EvidenceTrust = { ...w.trust, auditLogKey: audit1.signer.verifierKey, keyLogKey: keys1.signer.verifierKey };
    const report = verifyEvidenceBundle(await resigned(s, [w.auditSigner], [w.keyLogSigner], { audit: [auditNote], keys: [keysNote] }), newTrust);
    expect(failed(report)).toMatchObject({
      'audit-checkpoint-signature': 'bad_checkpoint_signature',
      'key-log-checkpoint-signature': 'bad_checkpoint_signature',
    });
  });
});
