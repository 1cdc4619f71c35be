/**
 * The offline evidence verifier: checks an evidence bundle (bundle.ts) against
 * nothing but the two logs' signed-note verifier keys (and, ideally, the key
 * directory's VRF key). It makes the same checks as the SDK's key lookup
 * (`KeyLogVerifier.lookup`) for the sender's and the recipient's identities,
 * then checks the commitment, its receipts and their audit-log inclusion.
 *
 * Synchronous, offline and browser-safe: no network, no clock, no `node:`
 * import. It never throws on bad input; every problem is a failed check with a
 * stable `code`.
 *
 * What a passing report does NOT prove, by design of the logs today (see
 * ARCHITECTURE.md, "Known gaps"): that the key-log lookups in the bundle show
 * every entry of the identities (a withheld revocation is invisible offline),
 * and that the two checkpoints are consistent with what other parties saw
 * (compare them with a monitor's, `parley log verify`).
 */
import { equalBytes, fromBase64, fromUtf8, toBase64Url } from '../bytes.js';
import { isParleyError } from '../errors.js';
import { ecvrfVerify } from '../vrf/ecvrf.js';
import { decodeKeyLogEntry, labelInput, type DeviceRevokedEntry } from '../keylog/entry.js';
import { replayIdentity, type DeviceKeyState, type LoggedEntry } from '../keylog/state.js';
import { leafHash, verifyInclusion } from '../tlog/merkle.js';
import { openNote, parseVerifierKey, type Ed25519NoteVerifier } from '../tlog/note.js';
import { parseCheckpoint, type Checkpoint } from '../tlog/checkpoint.js';
import { parseEvidenceBundle, type AuditInclusion, type EvidenceBundle } from './bundle.js';
import { opensCommitment, verifyCommitmentSignature, type Commitment } from './commitment.js';
import { verifyReceiptSignature, type Receipt, type ReceiptStatus } from './receipt.js';
import { commitmentEntry, decodeAuditEntry, encodeAuditEntry, receiptEntry, type AuditEntry } from './entry.js';
import type { KeyLookupResponse } from '../wire.js';

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
  /** Signed-note verifier key of the audit log; its name must be the audit checkpoint's origin. */
  readonly auditLogKey: string;
  /** Signed-note verifier key of the key log; its Ed25519 key also attests the key-log entries. */
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
 * Stable failure codes of {@link verifyEvidenceBundle}'s checks (see its TSDoc for which check
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
 * The result of {@link verifyEvidenceBundle}. `ok` holds exactly when every check passed.
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

/** A failed check, thrown inside a check and turned into its report line. */
class CheckFailure {
  constructor(
    readonly code: EvidenceFailureCode,
    readonly detail: string,
  ) {}
}

function fail(code: EvidenceFailureCode, detail: string): never {
  throw new CheckFailure(code, detail);
}

function describe(error: unknown): string {
  if (isParleyError(error)) return `${error.code}: ${error.message}`;
  return error instanceof Error ? error.message : String(error);
}

/**
 * Runs one check. The function returns the success detail or throws a {@link CheckFailure};
 * any other exception (malformed bytes deep inside a primitive) fails the check with
 * `fallback`.
 */
function check(name: string, fallback: EvidenceFailureCode, fn: () => string): EvidenceCheck {
  try {
    return { name, ok: true, detail: fn() };
  } catch (error) {
    if (error instanceof CheckFailure) return { name, ok: false, code: error.code, detail: error.detail };
    return { name, ok: false, code: fallback, detail: describe(error) };
  }
}

function decode64(text: string, code: EvidenceFailureCode, what: string): Uint8Array {
  try {
    return fromBase64(text, what);
  } catch {
    return fail(code, `${what} is not valid base64`);
  }
}

/** Orders two RFC 3339 UTC times of the commitment/receipt schema (optional 1–9 fraction digits). */
function compareTimes(a: string, b: string): number {
  const split = (t: string): [string, string] => [t.slice(0, 19), (t[19] === '.' ? t.slice(20, -1) : '').padEnd(9, '0')];
  const [sa, fa] = split(a);
  const [sb, fb] = split(b);
  if (sa !== sb) return sa < sb ? -1 : 1;
  return fa === fb ? 0 : fa < fb ? -1 : 1;
}

interface OpenedCheckpoint extends Checkpoint {
  readonly verifier: Ed25519NoteVerifier;
}

function parseTrustKey(key: unknown, which: string): Ed25519NoteVerifier {
  try {
    return parseVerifierKey(key as string);
  } catch {
    return fail('bad_trust_key', `the ${which} verifier key is not a signed-note verifier key (<name>+<hex id>+<base64 key>)`);
  }
}

/** Opens a checkpoint note with one trusted key and checks its origin is the key's name. */
function openCheckpoint(note: string, verifier: Ed25519NoteVerifier, which: string): OpenedCheckpoint {
  let text: string;
  try {
    text = openNote(note, [verifier]).text;
  } catch (error) {
    if (isParleyError(error) && (error.code === 'tlog_note_bad_signature' || error.code === 'tlog_note_unverified')) {
      return fail('bad_checkpoint_signature', `the ${which} checkpoint is not signed by ${verifier.name}`);
    }
    return fail('malformed_checkpoint', `the ${which} checkpoint is not a signed note (${describe(error)})`);
  }
  let checkpoint: Checkpoint;
  try {
    checkpoint = parseCheckpoint(text);
  } catch (error) {
    return fail('malformed_checkpoint', `the ${which} checkpoint does not parse (${describe(error)})`);
  }
  if (checkpoint.origin !== verifier.name) {
    return fail('wrong_origin', `the ${which} checkpoint is for origin ${checkpoint.origin}, the trusted key for ${verifier.name}`);
  }
  return { ...checkpoint, verifier };
}

/** RFC 9162 §2.1.3.2 inclusion of `entry` at `inclusion.index` in the checkpoint's tree. */
function included(entry: Uint8Array, inclusion: Pick<AuditInclusion, 'index' | 'proof'>, checkpoint: Checkpoint): boolean {
  const proof = inclusion.proof.map((p) => fromBase64(p, 'proof'));
  return verifyInclusion(leafHash(entry), inclusion.index, checkpoint.treeSize, proof, checkpoint.rootHash);
}

/** The audit-log entry bytes of an inclusion must be exactly `expected`'s canonical encoding. */
function checkAuditEntry(inclusion: AuditInclusion, expected: AuditEntry, what: string): Uint8Array {
  const bytes = decode64(inclusion.entry, 'wrong_audit_entry', `the ${what}'s audit entry`);
  const want = encodeAuditEntry(expected);
  if (equalBytes(bytes, want)) return want;
  let found: AuditEntry;
  try {
    found = decodeAuditEntry(bytes);
  } catch {
    return fail('wrong_audit_entry', `the ${what}'s audit entry is not a canonical audit-log entry`);
  }
  if (found.type !== expected.type) return fail('wrong_audit_entry', `the ${what}'s audit entry is a ${found.type} entry`);
  return fail('wrong_audit_entry', `the ${what}'s audit entry records another ${found.type}`);
}

interface VerifiedIdentity {
  readonly devices: ReadonlyMap<string, DeviceKeyState>;
  readonly revocations: ReadonlyMap<string, { readonly index: number; readonly entry: DeviceRevokedEntry }>;
}

interface Context {
  readonly bundle: EvidenceBundle;
  readonly auditCheckpoint: OpenedCheckpoint | undefined;
  readonly keyLogCheckpoint: OpenedCheckpoint | undefined;
  readonly vrfKey: Uint8Array | undefined;
  readonly vrfPinned: boolean;
}

/** The checks of `KeyLogVerifier.lookup`, offline: VRF label, inclusion in the bundle's key-log checkpoint, replay. */
function verifyIdentity(lookup: KeyLookupResponse, ctx: Context, out: { identity?: VerifiedIdentity }): string {
  const { identityId } = lookup;
  if (ctx.vrfKey === undefined) fail('bad_vrf', 'no usable VRF public key');
  const label = decode64(lookup.label, 'bad_vrf', 'label');
  const proof = decode64(lookup.vrfProof, 'bad_vrf', 'VRF proof');
  const vrf = ecvrfVerify(ctx.vrfKey, proof, labelInput(identityId));
  // RFC 9381 §5.3: beta is the VRF output; the label is its first 32 bytes.
  if (!vrf.valid || label.length !== 32 || !equalBytes(vrf.beta.slice(0, 32), label)) {
    fail('bad_vrf', `the VRF proof does not show that the label belongs to ${identityId}`);
  }
  const checkpoint = ctx.keyLogCheckpoint;
  if (checkpoint === undefined) return fail('checkpoint_unverified', 'the key-log checkpoint did not verify');
  if (lookup.checkpoint !== ctx.bundle.keyLog.checkpoint) {
    // Two signed views of one log of the same size with different roots: a fork, provably.
    let other: Checkpoint | undefined;
    try {
      other = openCheckpoint(lookup.checkpoint, checkpoint.verifier, 'key-log');
    } catch {
      other = undefined;
    }
    if (other !== undefined && other.treeSize === checkpoint.treeSize && !equalBytes(other.rootHash, checkpoint.rootHash)) {
      fail('key_log_fork', `two key-log checkpoints of size ${checkpoint.treeSize}, both signed, have different roots`);
    }
    fail('checkpoint_mismatch', 'the lookup refers to another key-log checkpoint than the bundle');
  }
  const logged: LoggedEntry[] = [];
  for (const item of lookup.entries) {
    const bytes = decode64(item.entry, 'not_in_key_log', `key-log entry #${item.index}`);
    let ok: boolean;
    try {
      ok = included(bytes, item, checkpoint);
    } catch {
      ok = false;
    }
    if (!ok) fail('not_in_key_log', `key-log entry #${item.index} is not included in the key-log tree of size ${checkpoint.treeSize}`);
    try {
      logged.push({ index: item.index, entry: decodeKeyLogEntry(bytes) });
    } catch (error) {
      fail('bad_key_log_entry', `key-log entry #${item.index} is not a key-log entry (${describe(error)})`);
    }
  }
  logged.sort((a, b) => a.index - b.index);
  let devices: Map<string, DeviceKeyState>;
  try {
    devices = replayIdentity(toBase64Url(label), logged, checkpoint.verifier.publicKey);
  } catch (error) {
    const index = isParleyError(error) ? error.details?.['index'] : undefined;
    return fail('key_log_inconsistent', `the key-log entries do not replay: ${error instanceof Error ? error.message : 'error'}${typeof index === 'number' ? ` (#${index})` : ''}`);
  }
  const revocations = new Map<string, { index: number; entry: DeviceRevokedEntry }>();
  for (const { index, entry } of logged) if (entry.type === 'device-revoked') revocations.set(entry.deviceId, { index, entry });
  out.identity = { devices, revocations };
  const list = [...devices.values()].map((d) => `${d.deviceId} (${d.kind}, ${d.status})`).join(', ');
  return `label proven by the ${ctx.vrfPinned ? 'pinned' : "bundle's own"} VRF key; ${logged.length} ${logged.length === 1 ? 'entry' : 'entries'} included in the key-log tree of size ${checkpoint.treeSize}; devices: ${list || 'none'}`;
}

/** Looks a device up in a verified identity and applies the status rules shared by commitments and receipts. */
function deviceAt(
  identity: VerifiedIdentity | undefined,
  identityId: string,
  deviceId: string,
  time: string,
  codes: { unknown: EvidenceFailureCode; pending: EvidenceFailureCode; revoked: EvidenceFailureCode },
): { device: DeviceKeyState; note: string } {
  if (identity === undefined) return fail('identity_unverified', `the key-log entries of ${identityId} did not verify`);
  const device = identity.devices.get(deviceId);
  if (device === undefined) return fail(codes.unknown, `${deviceId} is not a device of ${identityId} in the key log`);
  if (device.status === 'pending') return fail(codes.pending, `${deviceId} was never approved`);
  const revocation = identity.revocations.get(deviceId);
  if (device.status === 'revoked' && revocation !== undefined) {
    // Times: the signer's claim against the directory's log entry. A statement dated after
    // the key was revoked is not one its owner can be held to.
    if (compareTimes(time, revocation.entry.time) >= 0) {
      return fail(codes.revoked, `${deviceId} was revoked (${revocation.entry.by}, key-log #${revocation.index}) at ${revocation.entry.time}, before ${time}`);
    }
    return { device, note: `; the device was revoked later (${revocation.entry.by}, key-log #${revocation.index}, ${revocation.entry.time})` };
  }
  return { device, note: '' };
}

function checkCommitmentSignature(ctx: Context, sender: VerifiedIdentity | undefined): string {
  const { commitment } = ctx.bundle;
  const signature = decode64(ctx.bundle.commitmentSignature, 'bad_commitment_signature', 'commitment signature');
  const { device, note } = deviceAt(sender, commitment.sender.identityId, commitment.sender.deviceId, commitment.createdAt, {
    unknown: 'unknown_sender_device',
    pending: 'sender_device_pending',
    revoked: 'sender_device_revoked',
  });
  if (!verifyCommitmentSignature(device.identityKey, commitment, signature)) {
    fail('bad_commitment_signature', `the commitment signature does not verify with ${device.deviceId}'s identity key`);
  }
  return `signed by ${commitment.sender.identityId} device ${device.deviceId}${note}`;
}

function checkCommitmentInLog(ctx: Context): string {
  const checkpoint = ctx.auditCheckpoint;
  if (checkpoint === undefined) return fail('checkpoint_unverified', 'the audit checkpoint did not verify');
  const entry = checkAuditEntry(ctx.bundle.audit, commitmentEntry(ctx.bundle.commitment), 'commitment');
  if (!included(entry, ctx.bundle.audit, checkpoint)) {
    fail('not_in_audit_log', `the commitment entry is not included at #${ctx.bundle.audit.index} in the audit tree of size ${checkpoint.treeSize}`);
  }
  return `audit-log entry #${ctx.bundle.audit.index} of ${checkpoint.treeSize}`;
}

function checkReceipt(
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
  if (!verifyReceiptSignature(device.identityKey, receipt, signature)) {
    fail('receipt_bad_signature', `the receipt signature does not verify with ${device.deviceId}'s identity key`);
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

function checkReveal(commitment: Commitment, reveal: { plaintext: unknown; opening: unknown }): string {
  if (typeof reveal.plaintext !== 'string' || !(reveal.opening instanceof Uint8Array)) {
    return fail('incomplete_reveal', 'a reveal needs both the plaintext and the opening');
  }
  if (reveal.opening.length !== 32) fail('plaintext_mismatch', 'the opening is not 32 bytes');
  if (!opensCommitment(commitment, reveal.opening, reveal.plaintext)) {
    fail('plaintext_mismatch', 'the plaintext and opening do not open the commitment');
  }
  return 'HMAC-SHA-256(opening, plaintext) equals the content commitment';
}

function parseInput(input: unknown): unknown {
  let text: string;
  if (input instanceof Uint8Array) {
    try {
      text = fromUtf8(input);
    } catch {
      return fail('invalid_json', 'the bundle is not UTF-8');
    }
  } else if (typeof input === 'string') {
    text = input;
  } else {
    return input;
  }
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return fail('invalid_json', 'the bundle is not JSON');
  }
}

/** The pinned VRF key when it is well-formed, else undefined (the `vrf-key` check reports why). */
function pinnedKey(pinned: unknown): Uint8Array | undefined {
  try {
    const key = fromBase64(pinned as string);
    return key.length === 32 ? key : undefined;
  } catch {
    return undefined;
  }
}

function trustField(trust: unknown, field: keyof EvidenceTrust): unknown {
  return typeof trust === 'object' && trust !== null ? (trust as Record<string, unknown>)[field] : undefined;
}

/**
 * Verifies an evidence bundle offline. `bundle` is the parsed JSON value, or its JSON text
 * (a string, or UTF-8 bytes). `reveal`, when given, is checked against the commitment in
 * addition to a reveal the bundle carries.
 *
 * Checks, in report order, with the codes each fails with:
 *
 * | check | codes |
 * | --- | --- |
 * | `bundle-format` | `invalid_json` (not UTF-8 / not JSON), `invalid_bundle` (schema) |
 * | `audit-checkpoint-signature`, `key-log-checkpoint-signature` | `bad_trust_key`, `malformed_checkpoint`, `bad_checkpoint_signature`, `wrong_origin` (the checkpoint's origin is not the key's name) |
 * | `vrf-key` | `bad_trust_key`, `vrf_key_mismatch` (the pinned key differs from the bundle's); passes with a note when no key is pinned |
 * | `identity:<identityId>` (sender, then recipient) | `missing_identity`, `unexpected_identity` (a lookup the commitment does not name, or a second one), `bad_vrf`, `checkpoint_unverified`, `checkpoint_mismatch` (the lookup's checkpoint is not the bundle's), `key_log_fork` (both signed, same size, different roots), `not_in_key_log`, `bad_key_log_entry`, `key_log_inconsistent` (replay: attestation by the key-log key, approvals, owner revocations) |
 * | `commitment-signature` | `identity_unverified`, `unknown_sender_device`, `sender_device_pending`, `sender_device_revoked` (dated at or after the logged revocation), `bad_commitment_signature` |
 * | `commitment-in-audit-log` | `checkpoint_unverified`, `wrong_audit_entry`, `not_in_audit_log` |
 * | `receipt:<deviceId>:<status>` (a `:2`, `:3` … suffix for repeats) | `receipt_for_other_message`, `receipt_wrong_identity`, `identity_unverified`, `unknown_recipient_device`, `recipient_device_pending`, `recipient_device_revoked`, `receipt_bad_signature`, `checkpoint_unverified`, `wrong_audit_entry`, `receipt_not_in_log` |
 * | `plaintext-matches-commitment` (the `reveal` argument, else the bundle's), `bundle-plaintext-matches-commitment` (the bundle's, when both) | `incomplete_reveal`, `plaintext_mismatch` |
 *
 * A check that cannot run because what it rests on failed (an unverified checkpoint or
 * identity) fails with `checkpoint_unverified` / `identity_unverified`; `internal_error`
 * would mean a bug here. The key-log key's Ed25519 key is the entries' attestation key.
 *
 * @example
 * const report = verifyEvidenceBundle(await file.text(), { auditLogKey, keyLogKey, vrfPublicKey });
 * for (const c of report.checks) console.log(c.ok ? '✔' : '✘', c.name, c.code ?? '');
 * if (report.ok) console.log(`${report.message!.sender} sent ${report.message!.id}`);
 */
export function verifyEvidenceBundle(bundle: unknown, trust: EvidenceTrust, reveal?: EvidenceReveal): EvidenceReport {
  const checks: EvidenceCheck[] = [];
  /** Runs a check that also yields a value for later checks (undefined when it failed). */
  const step = <T>(name: string, fallback: EvidenceFailureCode, fn: () => { value: T; detail: string }): T | undefined => {
    let value: T | undefined;
    checks.push(
      check(name, fallback, () => {
        const result = fn();
        value = result.value;
        return result.detail;
      }),
    );
    return value;
  };
  try {
    const b = step('bundle-format', 'invalid_bundle', () => {
      const value = parseInput(bundle);
      try {
        return { value: parseEvidenceBundle(value), detail: 'evidence bundle v1' };
      } catch {
        return fail('invalid_bundle', 'not an evidence bundle (v1 schema)');
      }
    });
    if (b === undefined) return { ok: false, checks, message: null, receipts: [] };
    const { commitment } = b;

    const auditCheckpoint = step('audit-checkpoint-signature', 'malformed_checkpoint', () => {
      const cp = openCheckpoint(b.auditCheckpoint, parseTrustKey(trustField(trust, 'auditLogKey'), 'audit log'), 'audit');
      return { value: cp, detail: `signed by ${cp.origin}, tree size ${cp.treeSize}` };
    });
    const keyLogCheckpoint = step('key-log-checkpoint-signature', 'malformed_checkpoint', () => {
      const cp = openCheckpoint(b.keyLog.checkpoint, parseTrustKey(trustField(trust, 'keyLogKey'), 'key log'), 'key-log');
      return { value: cp, detail: `signed by ${cp.origin}, tree size ${cp.treeSize}` };
    });

    const pinned = trustField(trust, 'vrfPublicKey');
    const bundleVrfKey = ((): Uint8Array | undefined => {
      try {
        return fromBase64(b.keyLog.vrfPublicKey);
      } catch {
        return undefined;
      }
    })();
    const vrfKey = step('vrf-key', 'bad_trust_key', () => {
      if (pinned === undefined) {
        return {
          value: bundleVrfKey,
          detail: "not pinned: using the bundle's own VRF key, so the labels prove only what the bundle says (pin it with --vrf-key)",
        };
      }
      let key: Uint8Array;
      try {
        key = fromBase64(pinned as string);
      } catch {
        return fail('bad_trust_key', 'the pinned VRF key is not base64');
      }
      if (key.length !== 32) fail('bad_trust_key', 'the pinned VRF key is not 32 bytes');
      if (bundleVrfKey === undefined || !equalBytes(bundleVrfKey, key)) {
        // Still verify the labels with the pinned key: this check alone fails.
        return fail('vrf_key_mismatch', 'the bundle names another VRF key than the pinned one');
      }
      return { value: key, detail: 'the pinned VRF key' };
    });
    const vrfForLabels = vrfKey ?? (pinned === undefined ? bundleVrfKey : pinnedKey(pinned));

    const ctx: Context = { bundle: b, auditCheckpoint, keyLogCheckpoint, vrfKey: vrfForLabels, vrfPinned: pinned !== undefined };
    const identities = new Map<string, VerifiedIdentity>();
    const wanted = [...new Set([commitment.sender.identityId, commitment.recipient])];
    const seen = new Set<string>();
    for (const identityId of wanted) {
      const lookup = b.keyLog.identities.find((l) => l.identityId === identityId);
      checks.push(
        check(`identity:${identityId}`, 'key_log_inconsistent', () => {
          if (lookup === undefined) return fail('missing_identity', `the bundle has no key-log lookup of ${identityId}`);
          const out: { identity?: VerifiedIdentity } = {};
          const detail = verifyIdentity(lookup, ctx, out);
          if (out.identity) identities.set(identityId, out.identity);
          return detail;
        }),
      );
      seen.add(identityId);
    }
    const counted = new Set<string>();
    for (const lookup of b.keyLog.identities) {
      if (seen.has(lookup.identityId) && !counted.has(lookup.identityId)) {
        counted.add(lookup.identityId);
        continue;
      }
      checks.push({
        name: `identity:${lookup.identityId}`,
        ok: false,
        code: 'unexpected_identity',
        detail: seen.has(lookup.identityId) ? 'a second lookup of this identity' : 'the commitment names this identity neither as sender nor as recipient',
      });
    }

    checks.push(check('commitment-signature', 'bad_commitment_signature', () => checkCommitmentSignature(ctx, identities.get(commitment.sender.identityId))));
    checks.push(check('commitment-in-audit-log', 'not_in_audit_log', () => checkCommitmentInLog(ctx)));

    const hash = commitmentEntry(commitment).commitment;
    const names = new Map<string, number>();
    const receipts: EvidenceReceiptSummary[] = [];
    for (const item of b.receipts) {
      const base = `receipt:${item.receipt.deviceId}:${item.receipt.status}`;
      const n = (names.get(base) ?? 0) + 1;
      names.set(base, n);
      const result = check(n === 1 ? base : `${base}:${n}`, 'receipt_bad_signature', () =>
        checkReceipt(ctx, item, hash, identities.get(commitment.recipient)),
      );
      checks.push(result);
      receipts.push({ deviceId: item.receipt.deviceId, status: item.receipt.status, time: item.receipt.time, verified: result.ok });
    }

    const bundleReveal = b.opening !== undefined || b.plaintext !== undefined;
    if (reveal !== undefined) {
      checks.push(check('plaintext-matches-commitment', 'plaintext_mismatch', () => checkReveal(commitment, reveal)));
    }
    if (bundleReveal) {
      checks.push(
        check(reveal === undefined ? 'plaintext-matches-commitment' : 'bundle-plaintext-matches-commitment', 'plaintext_mismatch', () => {
          if (b.opening === undefined || b.plaintext === undefined) return fail('incomplete_reveal', 'the bundle reveals only one of plaintext and opening');
          return checkReveal(commitment, { plaintext: b.plaintext, opening: decode64(b.opening, 'plaintext_mismatch', 'opening') });
        }),
      );
    }

    const message: EvidenceMessage = {
      id: commitment.messageId,
      conversationId: commitment.conversationId,
      sender: commitment.sender.identityId,
      senderDevice: commitment.sender.deviceId,
      recipient: commitment.recipient,
      class: commitment.class,
      createdAt: commitment.createdAt,
    };
    return { ok: checks.every((c) => c.ok), checks, message, receipts };
  } catch (error) {
    // Not reachable by any input we know of: every check catches its own errors.
    checks.push({ name: 'verifier', ok: false, code: 'internal_error', detail: describe(error) });
    return { ok: false, checks, message: null, receipts: [] };
  }
}
