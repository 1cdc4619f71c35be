/**
 * Checks against the two logs: the trusted verifier keys, the signed checkpoints (C2SP
 * signed-note and tlog-checkpoint), RFC 9162 §2.1.3.2 inclusion of an entry in a
 * checkpoint's tree, and the exact bytes of an audit-log entry.
 */
import { equalBytes, fromBase64 } from '../../bytes.js';
import { isParleyError } from '../../errors.js';
import { parseCheckpoint, type Checkpoint } from '../../tlog/checkpoint.js';
import { leafHash } from '../../tlog/merkle.js';
import { openNote, parseVerifierKey, type Ed25519NoteVerifier, type OpenedNote } from '../../tlog/note.js';
import { verifyInclusion } from '../../tlog/verify-proofs.js';
import type { AuditInclusion } from '../bundle.js';
import { decodeAuditEntry, encodeAuditEntry, type AuditEntry } from '../entry.js';
import { decode64, describe, fail, type OpenedCheckpoint } from './check.js';
import type { LogKeys } from './rotations.js';

/** Parses a trusted signed-note verifier key; fails with `bad_trust_key`. */
export function parseTrustKey(key: unknown, which: string): Ed25519NoteVerifier {
  try {
    return parseVerifierKey(key as string);
  } catch {
    return fail('bad_trust_key', `the ${which} verifier key is not a signed-note verifier key (<name>+<hex id>+<base64 key>)`);
  }
}

/**
 * Opens a checkpoint note with the log's keys (the trusted key and the keys followed from it
 * through the bundle's announcements, rotations.ts): any of them may sign it. Checks its
 * origin is the trusted key's name.
 */
export function openCheckpoint(note: string, keys: LogKeys, which: string): OpenedCheckpoint {
  const verifier = keys.trusted;
  let text: string;
  let signedBy: OpenedNote['verified'];
  try {
    ({ text, verified: signedBy } = openNote(note, keys.signers));
  } catch (error) {
    if (isParleyError(error) && (error.code === 'tlog_note_bad_signature' || error.code === 'tlog_note_unverified')) {
      const announced = keys.signers.length > 1 ? ` (nor by a key it announced, ${keys.signers.length - 1} followed)` : '';
      return fail('bad_checkpoint_signature', `the ${which} checkpoint is not signed by the trusted key of ${verifier.name}${announced}`);
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
  return { ...checkpoint, keys, signedBy };
}

/** RFC 9162 §2.1.3.2 inclusion of `entry` at `inclusion.index` in the checkpoint's tree. */
export function included(entry: Uint8Array, inclusion: Pick<AuditInclusion, 'index' | 'proof'>, checkpoint: Checkpoint): boolean {
  const proof = inclusion.proof.map((p) => fromBase64(p, 'proof'));
  return verifyInclusion(leafHash(entry), inclusion.index, checkpoint.treeSize, proof, checkpoint.rootHash);
}

/** The audit-log entry bytes of an inclusion must be exactly `expected`'s canonical encoding. */
export function checkAuditEntry(inclusion: AuditInclusion, expected: AuditEntry, what: string): Uint8Array {
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
