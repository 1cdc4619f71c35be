/**
 * The offline evidence verifier: checks an evidence bundle (bundle.ts) against
 * nothing but the two logs' signed-note verifier keys (and, ideally, the key
 * directory's VRF key). After a log-key rotation the bundle's announcements
 * (`auditRotations`, `keyLog.rotations`) lead from the trusted key to the key
 * that signs now (`bundle-checks/rotations.ts`, docs/log-key-rotation.md). It makes the same checks as the SDK's key lookup
 * (`KeyLogVerifier.lookup`) for the sender's and the recipient's identities,
 * then checks the commitment, its receipts and their audit-log inclusion.
 * This file runs the checks in report order; they live in `bundle-checks/`, by kind
 * (`logs.ts`, `identity.ts`, `commitment.ts`, `receipt.ts`), and the report types in
 * `evidence-report.ts`.
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
import { equalBytes, fromBase64, fromUtf8 } from '../bytes.js';
import { parseEvidenceBundle } from './bundle.js';
import { commitmentEntry } from './entry.js';
import type {
  EvidenceCheck,
  EvidenceFailureCode,
  EvidenceMessage,
  EvidenceReceiptSummary,
  EvidenceReport,
  EvidenceReveal,
  EvidenceTrust,
} from './evidence-report.js';
import { check, decode64, describe, fail, type Context } from './bundle-checks/check.js';
import { checkCommitmentInLog, checkCommitmentSignature, checkReveal } from './bundle-checks/commitment.js';
import { verifyIdentity, type VerifiedIdentity } from './bundle-checks/identity.js';
import { openCheckpoint, parseTrustKey } from './bundle-checks/logs.js';
import { checkReceipt } from './bundle-checks/receipt.js';
import { describeKeys, logKeys } from './bundle-checks/rotations.js';

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
 * Log-key rotations: a checkpoint verifies when signed by the trusted key or by a key the
 * trusted key announced, through a chain of the bundle's announcements of that log (each
 * signed by the old and the new key; origin = the trusted key's name). Key-log attestations
 * are accepted under the trusted key and its announced predecessors (from index 0) and each
 * followed key (from its announcement's `start`). Announcements that do not open are
 * ignored: they add no key. The checkpoint checks' details name the rotations followed.
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
      const keys = logKeys(parseTrustKey(trustField(trust, 'auditLogKey'), 'audit log'), b.auditRotations);
      const cp = openCheckpoint(b.auditCheckpoint, keys, 'audit');
      return { value: cp, detail: `signed by ${cp.origin}, tree size ${cp.treeSize}${describeKeys(keys, cp.signedBy, false)}` };
    });
    const keyLogCheckpoint = step('key-log-checkpoint-signature', 'malformed_checkpoint', () => {
      const keys = logKeys(parseTrustKey(trustField(trust, 'keyLogKey'), 'key log'), b.keyLog.rotations);
      const cp = openCheckpoint(b.keyLog.checkpoint, keys, 'key-log');
      return { value: cp, detail: `signed by ${cp.origin}, tree size ${cp.treeSize}${describeKeys(keys, cp.signedBy, true)}` };
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
