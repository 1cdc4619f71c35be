/**
 * Log-key rotation announcements: a C2SP signed note (https://c2sp.org/signed-note) in
 * which a transparency log names its next checkpoint key, signed by BOTH the key monitors
 * trust today (that signature is what makes it an announcement) and the new key (proof of
 * possession). Format (docs/log-key-rotation.md):
 *
 *     parley.dev/tlog-key-rotation/v1\n
 *     origin <log origin>\n
 *     old <verifier key of the old key>\n
 *     new <verifier key of the new key>\n
 *     start <tree size>\n
 *     \n
 *     — <origin> base64(key ID ‖ signature by the old key)
 *     — <origin> base64(key ID ‖ signature by the new key)
 *
 * `start` is the tree size of the log when the transition began: from there on every
 * checkpoint carries both signatures until the operator finishes the rotation, after which
 * the new key signs alone. The first line domain-separates the text: it can never be read
 * as a tlog-checkpoint (whose second line is a decimal tree size, here `origin …`), and a
 * checkpoint can never be read as an announcement. Browser-safe.
 *
 * Errors (typed, with codes): malformed text or note `tlog_rotation_malformed`
 * (`InvalidInputError`); for another origin `tlog_rotation_wrong_origin`; old key not
 * trusted `tlog_rotation_untrusted`; a missing or failing signature of the old or the new
 * key `tlog_rotation_unsigned` (`CryptoError`).
 */
import { CryptoError, InvalidInputError, isParleyError } from '../errors.js';
import { isValidNoteText, openNote, parseVerifierKey, signNote, type Ed25519NoteVerifier, type Signer } from './note.js';

/**
 * First line of every rotation announcement.
 *
 * @example
 * note.startsWith(`${KEY_ROTATION_HEADER}\n`) // an announcement, not a checkpoint
 */
export const KEY_ROTATION_HEADER = 'parley.dev/tlog-key-rotation/v1';

/**
 * What an announcement says.
 *
 * @example
 * const r: KeyRotation = { origin: 'parley.example.com/logs/keys', oldKey, newKey, startSize: 1200 };
 */
export interface KeyRotation {
  /** The log's origin; both keys are named after it. */
  readonly origin: string;
  /** Verifier key of the key being retired. */
  readonly oldKey: string;
  /** Verifier key of the key that takes over. */
  readonly newKey: string;
  /** Tree size when the transition began (checkpoints from there on carry both signatures). */
  readonly startSize: number;
}

/**
 * An announcement whose signatures (old and new key) verified, with the note it came from.
 *
 * @example
 * const { newKey, note } = openKeyRotation(text, { origin, trusted: [pinnedKey] });
 */
export interface VerifiedKeyRotation extends KeyRotation {
  readonly note: string;
}

function malformed(reason: string): InvalidInputError {
  return new InvalidInputError('malformed key-rotation announcement', { code: 'tlog_rotation_malformed', details: { reason } });
}

const TREE_SIZE = /^(?:0|[1-9][0-9]{0,15})$/;

function verifierOf(key: string, field: string): Ed25519NoteVerifier {
  try {
    return parseVerifierKey(key);
  } catch {
    throw malformed(field);
  }
}

/**
 * The announcement's note text (ending in a newline, ready for signing). Throws
 * `tlog_rotation_malformed` for keys that do not parse, keys not named after the origin,
 * the same key twice, or a tree size that is not a non-negative safe integer.
 *
 * @example
 * const text = formatKeyRotation({ origin, oldKey: current.verifierKey, newKey: next.verifierKey, startSize: 42 });
 */
export function formatKeyRotation(rotation: KeyRotation): string {
  if (typeof rotation !== 'object' || rotation === null) throw malformed('type');
  const { origin, oldKey, newKey, startSize } = rotation;
  if (typeof origin !== 'string' || origin.length === 0 || /[\s]/.test(origin) || !isValidNoteText(origin)) throw malformed('origin');
  const oldV = verifierOf(oldKey, 'old');
  const newV = verifierOf(newKey, 'new');
  if (oldV.name !== origin || newV.name !== origin) throw malformed('key_name');
  if (oldV.verifierKey === newV.verifierKey) throw malformed('same_key');
  if (typeof startSize !== 'number' || !Number.isSafeInteger(startSize) || startSize < 0) throw malformed('start');
  return `${KEY_ROTATION_HEADER}\norigin ${origin}\nold ${oldKey}\nnew ${newKey}\nstart ${startSize}\n`;
}

/**
 * Parses announcement text strictly (exactly the five lines of {@link formatKeyRotation}).
 * The text is NOT authenticated: use {@link openKeyRotation} on a signed note.
 *
 * @example
 * const { oldKey, newKey } = parseKeyRotation(text);
 */
export function parseKeyRotation(text: string): KeyRotation {
  if (typeof text !== 'string' || !text.endsWith('\n')) throw malformed('text');
  const lines = text.slice(0, -1).split('\n');
  if (lines.length !== 5 || lines[0] !== KEY_ROTATION_HEADER) throw malformed('header');
  const field = (line: string, name: string): string => {
    if (!line.startsWith(`${name} `)) throw malformed(name);
    return line.slice(name.length + 1);
  };
  const origin = field(lines[1]!, 'origin');
  const oldKey = field(lines[2]!, 'old');
  const newKey = field(lines[3]!, 'new');
  const start = field(lines[4]!, 'start');
  if (!TREE_SIZE.test(start) || !Number.isSafeInteger(Number(start))) throw malformed('start');
  const rotation: KeyRotation = { origin, oldKey, newKey, startSize: Number(start) };
  // Round trip: one spelling per announcement.
  if (formatKeyRotation(rotation) !== text) throw malformed('not_canonical');
  return rotation;
}

/**
 * Signs an announcement with the old key first, then the new key. Both signers must be
 * named after the origin and match the keys the text names.
 *
 * @example
 * const note = await signKeyRotation({ origin, oldKey: current.verifierKey, newKey: next.verifierKey, startSize }, current, next);
 */
export async function signKeyRotation(rotation: KeyRotation, oldSigner: Signer, newSigner: Signer): Promise<string> {
  const text = formatKeyRotation(rotation);
  const oldV = parseVerifierKey(rotation.oldKey);
  const newV = parseVerifierKey(rotation.newKey);
  if (oldSigner.name !== oldV.name || oldSigner.keyHash !== oldV.keyHash || newSigner.name !== newV.name || newSigner.keyHash !== newV.keyHash) {
    throw malformed('signer');
  }
  return signNote(text, [oldSigner, newSigner]);
}

/** The text of a signed note (everything up to and including the line before the last blank line). */
function unverifiedText(note: string): string {
  const split = note.lastIndexOf('\n\n');
  if (split < 0) throw malformed('no_signatures');
  return note.slice(0, split + 1);
}

/**
 * Opens an announcement: the text must be well formed and for `origin`, its old key one of
 * `trusted` (verifier key strings), and the note must carry a valid signature by the old
 * key AND by the new key. Returns what it says; throws the typed errors of the module
 * comment otherwise.
 *
 * @example
 * const rotation = openKeyRotation(note, { origin: 'parley.example.com/logs/audit', trusted: [pinnedKey] });
 * trust(rotation.newKey);
 */
export function openKeyRotation(note: string, options: { origin: string; trusted: readonly string[] }): VerifiedKeyRotation {
  if (typeof note !== 'string') throw malformed('type');
  const rotation = parseKeyRotation(unverifiedText(note));
  if (rotation.origin !== options.origin) {
    throw new CryptoError('tlog_rotation_wrong_origin', 'the key-rotation announcement is for another log', { details: { origin: rotation.origin } });
  }
  const oldV = parseVerifierKey(rotation.oldKey);
  const newV = parseVerifierKey(rotation.newKey);
  const trusted = options.trusted.some((k) => {
    try {
      return parseVerifierKey(k).verifierKey === oldV.verifierKey;
    } catch {
      return false;
    }
  });
  if (!trusted) throw new CryptoError('tlog_rotation_untrusted', 'the key-rotation announcement is not made by a trusted key', { details: { oldKey: rotation.oldKey } });
  let verified;
  try {
    verified = openNote(note, [oldV, newV]).verified;
  } catch (error) {
    if (isParleyError(error) && error.code === 'tlog_bad_note') throw malformed('note');
    throw new CryptoError('tlog_rotation_unsigned', 'a signature of the key-rotation announcement does not verify', { cause: error });
  }
  const signedBy = (v: Ed25519NoteVerifier) => verified.some((s) => s.name === v.name && s.keyHash === v.keyHash);
  if (!signedBy(oldV)) throw new CryptoError('tlog_rotation_unsigned', 'the key-rotation announcement is not signed by the old key', { details: { missing: 'old' } });
  if (!signedBy(newV)) throw new CryptoError('tlog_rotation_unsigned', 'the key-rotation announcement is not signed by the new key', { details: { missing: 'new' } });
  return { ...rotation, note };
}

/**
 * Splits the body of `GET <prefix>/key-rotations` (announcements concatenated in order)
 * into notes: each begins with the line {@link KEY_ROTATION_HEADER}. An empty body has
 * none; a body that does not begin with that line throws `tlog_rotation_malformed`.
 *
 * @example
 * const notes = splitKeyRotations(await (await fetch(`${prefix}/key-rotations`)).text());
 */
export function splitKeyRotations(body: string): string[] {
  if (typeof body !== 'string') throw malformed('type');
  if (body.length === 0) return [];
  const marker = `${KEY_ROTATION_HEADER}\n`;
  if (!body.startsWith(marker)) throw malformed('body');
  const notes: string[] = [];
  let at = 0;
  while (at < body.length) {
    const next = body.indexOf(`\n${marker}`, at + marker.length);
    const end = next < 0 ? body.length : next + 1;
    notes.push(body.slice(at, end));
    at = end;
  }
  return notes;
}

/**
 * One step of a followed chain: `from` announced `to` in `rotation`.
 *
 * @example
 * for (const step of chain.steps) console.log(`${step.rotation.oldKey} → ${step.rotation.newKey}`);
 */
export interface KeyRotationStep {
  readonly rotation: VerifiedKeyRotation;
}

/**
 * Follows announcements from the `trusted` keys: every announcement that opens under a key
 * already reached (see {@link openKeyRotation}) adds its new key, until nothing changes.
 * Announcements that do not open (forged, for another origin, by an untrusted key) are
 * skipped — they add no key. Returns every key reached (the trusted ones first) and the
 * steps taken, in the order they were taken.
 *
 * @example
 * const { keys } = followKeyRotations(notes, { origin, trusted: [pinnedKey] });
 * if (!keys.includes(listedKey)) alert('unannounced_key_change');
 */
export function followKeyRotations(notes: readonly string[], options: { origin: string; trusted: readonly string[] }): { keys: string[]; steps: KeyRotationStep[] } {
  const keys = [...options.trusted];
  const steps: KeyRotationStep[] = [];
  const used = new Set<number>();
  for (let changed = true; changed; ) {
    changed = false;
    notes.forEach((note, i) => {
      if (used.has(i)) return;
      let rotation: VerifiedKeyRotation;
      try {
        rotation = openKeyRotation(note, { origin: options.origin, trusted: keys });
      } catch {
        return;
      }
      used.add(i);
      if (keys.includes(rotation.newKey)) return;
      keys.push(rotation.newKey);
      steps.push({ rotation });
      changed = true;
    });
  }
  return { keys, steps };
}
