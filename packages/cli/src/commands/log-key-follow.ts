/**
 * How the monitors (`parley log verify`, `parley audit monitor`) follow a log-key rotation
 * (docs/log-key-rotation.md): a checkpoint not signed by the key they trust is accepted
 * only when the log's announcements (`<prefix>/key-rotations`) chain the trusted key to a
 * key that signs it — each announcement signed by a key already trusted AND by the new key.
 * Anything else is `unannounced_key_change`.
 */
import { isParleyError } from '@parley/core';
import { NOTE_MAX_BYTES, followKeyRotations, openNote, parseVerifierKey, splitKeyRotations, type Ed25519NoteVerifier, type KeyRotationStep } from '@parley/core/tlog';
import { VerifyError, httpGet } from './log-http.js';

/** The short name of a verifier key: `<name>+<hex key id>`. */
export function keyId(v: Ed25519NoteVerifier): string {
  return `${v.name}+${v.keyHash.toString(16).padStart(8, '0')}`;
}

/**
 * The log's announcements (none when the server has no such resource: an older server).
 *
 * @example
 * const notes = await fetchKeyRotations('http://127.0.0.1:8080/logs/audit');
 */
export async function fetchKeyRotations(prefix: string): Promise<string[]> {
  const res = await httpGet(`${prefix}/key-rotations`, NOTE_MAX_BYTES);
  if (res.status === 404) return [];
  if (res.status !== 200) throw new VerifyError('bad_response', `GET key-rotations answered ${res.status}`);
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(res.body);
  } catch {
    return [];
  }
  try {
    return splitKeyRotations(text);
  } catch {
    return []; // nothing in it can be followed
  }
}

/**
 * Which key signed `note` among the keys announced from `trusted`: the opened text, the
 * signing key and the announcement step that introduced it. Throws `bad_signature` when a
 * key of the chain has a failing signature on it, `unannounced_key_change` when no key of
 * the chain signs it.
 *
 * @example
 * const { signer, step } = followToSigner(note, { origin, trusted, notes });
 */
export function followToSigner(
  note: Uint8Array,
  options: { origin: string; trusted: Ed25519NoteVerifier; notes: readonly string[] },
): { text: string; signer: Ed25519NoteVerifier; step: KeyRotationStep } {
  const chain = followKeyRotations(options.notes, { origin: options.origin, trusted: [options.trusted.verifierKey] });
  // Newest first: the key that signs alone after a rotation.
  for (const step of [...chain.steps].reverse()) {
    const signer = parseVerifierKey(step.rotation.newKey);
    try {
      return { text: openNote(note, [signer]).text, signer, step };
    } catch (error) {
      const code = isParleyError(error) ? error.code : '';
      if (code === 'tlog_note_bad_signature') throw new VerifyError('bad_signature', `the checkpoint carries a failing signature by the announced key ${keyId(signer)}`);
      if (code !== 'tlog_note_unverified') throw new VerifyError('bad_checkpoint', 'the checkpoint is not a well-formed signed note');
    }
  }
  throw new VerifyError(
    'unannounced_key_change',
    `the checkpoint is not signed by the trusted key ${keyId(options.trusted)} nor by any key it announced (${options.notes.length} announcement(s) at key-rotations): the log's key changed without an announcement`,
  );
}
