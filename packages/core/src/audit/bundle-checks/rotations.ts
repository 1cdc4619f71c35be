/**
 * The keys of one log as an evidence bundle's announcements establish them from the key the
 * auditor trusts (docs/log-key-rotation.md): the trusted key, each key it announced through
 * a chain of valid announcements (`followKeyRotations`: signed by a key already reached AND
 * by the new key), and the keys that preceded the trusted key (announcements whose new key
 * is the trusted key, or a predecessor found so, signed by both keys: the successor vouches
 * for its predecessor). Checkpoints may be signed by the trusted key or a followed key, never
 * by a predecessor alone; key-log attestations are accepted under all of them, each followed
 * key from its announcement's `start` (core `replayIdentity` with `AttestationKey[]`).
 * An announcement that does not open adds nothing. Internal to `audit/`.
 */
import type { AttestationKey } from '../../keylog/state.js';
import { followKeyRotations, openKeyRotation, parseKeyRotation, type KeyRotation } from '../../tlog/key-rotation.js';
import { parseVerifierKey, type Ed25519NoteVerifier, type VerifiedSignature } from '../../tlog/note.js';

/**
 * A log's keys as the trusted key and the bundle's announcements establish them.
 *
 * @example
 * const keys: LogKeys = logKeys(parseVerifierKey(trust.keyLogKey), bundle.keyLog.rotations);
 * openNote(bundle.keyLog.checkpoint, keys.signers);
 */
export interface LogKeys {
  /** The key the auditor gave. */
  readonly trusted: Ed25519NoteVerifier;
  /** Keys that may sign a checkpoint: the trusted key, then each followed key in the order followed. */
  readonly signers: readonly Ed25519NoteVerifier[];
  /** Keys that may attest key-log entries: predecessors and the trusted key from index 0, each followed key from its `start`. */
  readonly attestationKeys: readonly AttestationKey[];
  /** The announcements followed from the trusted key, in the order followed. */
  readonly followed: readonly KeyRotation[];
  /** Verifier keys that preceded the trusted key, as announcements signed by both keys show. */
  readonly predecessors: readonly string[];
  /** How many of the bundle's announcements added no key. */
  readonly ignored: number;
}

/** `<name>+<8 hex key ID>`, the short name of a key in report details. */
function keyId(v: { name: string; keyHash: number }): string {
  return `${v.name}+${(v.keyHash >>> 0).toString(16).padStart(8, '0')}`;
}

/** The claimed (unverified) content of an announcement, or undefined when it does not parse. */
function claimed(note: string): KeyRotation | undefined {
  try {
    return parseKeyRotation(note.slice(0, note.lastIndexOf('\n\n') + 1));
  } catch {
    return undefined;
  }
}

/** Predecessors of `trusted`: every announcement, signed by its old and its (already known) new key, names one. */
function predecessorsOf(notes: readonly string[], trusted: string, origin: string): { keys: string[]; used: Set<number> } {
  const known = new Set([trusted]);
  const keys: string[] = [];
  const used = new Set<number>();
  for (let changed = true; changed; ) {
    changed = false;
    notes.forEach((note, i) => {
      const claim = used.has(i) ? undefined : claimed(note);
      if (claim === undefined || !known.has(claim.newKey) || known.has(claim.oldKey)) return;
      try {
        openKeyRotation(note, { origin, trusted: [claim.oldKey] });
      } catch {
        return;
      }
      used.add(i);
      known.add(claim.oldKey);
      keys.push(claim.oldKey);
      changed = true;
    });
  }
  return { keys, used };
}

/**
 * The keys of a log from `trusted` and the bundle's announcements of that log (`undefined`
 * when the bundle carries none). The origin is the trusted key's name (which must also be
 * the checkpoint's origin). Never throws: an announcement that does not open is counted in
 * `ignored`.
 *
 * @example
 * const keys = logKeys(parseVerifierKey(trust.auditLogKey), bundle.auditRotations);
 * keys.signers.length // 2 after one followed rotation
 */
export function logKeys(trusted: Ed25519NoteVerifier, notes: readonly string[] | undefined): LogKeys {
  const all = notes ?? [];
  const origin = trusted.name;
  const { steps } = followKeyRotations(all, { origin, trusted: [trusted.verifierKey] });
  const followed = steps.map((s) => s.rotation);
  const before = predecessorsOf(all, trusted.verifierKey, origin);
  const signers: Ed25519NoteVerifier[] = [trusted];
  const attestationKeys: AttestationKey[] = [];
  const seen = new Set([keyId(trusted)]);
  for (const key of before.keys) {
    const v = parseVerifierKey(key);
    if (!seen.has(keyId(v))) attestationKeys.push({ publicKey: v.publicKey, fromIndex: 0 });
  }
  attestationKeys.push({ publicKey: trusted.publicKey, fromIndex: 0 });
  for (const rotation of followed) {
    const v = parseVerifierKey(rotation.newKey);
    // Two keys with one name and key ID cannot both be given to openNote; the first stays.
    if (seen.has(keyId(v))) continue;
    seen.add(keyId(v));
    signers.push(v);
    attestationKeys.push({ publicKey: v.publicKey, fromIndex: rotation.startSize });
  }
  const used = new Set(followed.map((r) => r.note));
  const ignored = all.filter((note, i) => !used.has(note) && !before.used.has(i)).length;
  return { trusted, signers, attestationKeys, followed, predecessors: before.keys, ignored };
}

/**
 * Report detail for a checkpoint opened under `keys`: which keys signed it when not the
 * trusted key, the rotations followed, predecessors (when `attestations` matters) and
 * ignored announcements. Empty when the bundle carries no announcements of the log.
 *
 * @example
 * `signed by ${origin}, tree size ${size}${describeKeys(keys, verified, true)}`
 */
export function describeKeys(keys: LogKeys, signedBy: readonly VerifiedSignature[], attestations: boolean): string {
  const parts: string[] = [];
  const byTrusted = signedBy.some((s) => s.name === keys.trusted.name && s.keyHash === keys.trusted.keyHash);
  if (!byTrusted) parts.push(`the signing key ${signedBy.map(keyId).join(' and ')} was announced by the trusted key ${keyId(keys.trusted)}`);
  if (keys.followed.length > 0) {
    const chain = keys.followed.map((r) => `${keyId(parseVerifierKey(r.oldKey))} → ${keyId(parseVerifierKey(r.newKey))} from tree size ${r.startSize}`);
    parts.push(`followed ${keys.followed.length} announced rotation${keys.followed.length === 1 ? '' : 's'} (${chain.join('; ')})`);
  }
  if (attestations && keys.predecessors.length > 0) {
    const list = keys.predecessors.map((k) => keyId(parseVerifierKey(k))).join(', ');
    parts.push(`${keys.predecessors.length} announced predecessor${keys.predecessors.length === 1 ? '' : 's'} of the trusted key accepted for attestations (${list})`);
  }
  if (keys.ignored > 0) parts.push(`ignored ${keys.ignored} announcement${keys.ignored === 1 ? ' that adds' : 's that add'} no key (not signed by a key of the chain and the new key, or for another log)`);
  return parts.length === 0 ? '' : `; ${parts.join('; ')}`;
}
