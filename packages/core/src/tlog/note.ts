/**
 * C2SP signed notes (https://c2sp.org/signed-note) with Ed25519 keys (signature type 0x01):
 * key strings, signing and strict opening. Compatible with golang.org/x/mod/sumdb/note.
 *
 *     <text ending in \n>
 *     <blank line>
 *     — <key name> base64(uint32 key ID ‖ signature)
 *     …
 *
 * Errors: malformed keys throw `InvalidInputError` with code `tlog_bad_key`, malformed
 * notes `tlog_bad_note`; a note whose signatures do not verify throws `CryptoError` with code
 * `tlog_note_bad_signature` (a known key's signature is wrong) or `tlog_note_unverified` (no
 * signature by a known key). Key material never appears in messages or details.
 */
import { ed25519 } from '@noble/curves/ed25519.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { assertBytes, concatBytes, fromUtf8, toBase64, utf8 } from '../bytes.js';
import { CryptoError, InvalidInputError } from '../errors.js';
import { decodeStdBase64 } from './std-base64.js';

/**
 * Signature type byte of Ed25519 note keys (signed-note "Signature types").
 *
 * @example
 * const typedKey = concatBytes(new Uint8Array([NOTE_ALG_ED25519]), publicKey);
 */
export const NOTE_ALG_ED25519 = 0x01;
/**
 * Most signature lines {@link openNote} accepts (the spec requires at least 16; Go's note
 * package allows 100).
 *
 * @example
 * if (cosigners.length + 1 > NOTE_MAX_SIGNATURES) throw new Error('too many cosigners');
 */
export const NOTE_MAX_SIGNATURES = 100;
/**
 * Largest note {@link openNote} accepts, in UTF-8 bytes.
 *
 * @example
 * const body = await readLimited(response, NOTE_MAX_BYTES);
 */
export const NOTE_MAX_BYTES = 1 << 20;

/**
 * Checks signatures by one key. `verify` returns false for a bad signature; it must not throw.
 *
 * @example
 * const v: NoteVerifier = parseVerifierKey('example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k');
 */
export interface NoteVerifier {
  readonly name: string;
  /** uint32 key ID. */
  readonly keyHash: number;
  verify(message: Uint8Array, signature: Uint8Array): boolean;
}

/**
 * A parsed Ed25519 verifier key.
 *
 * @example
 * const { name, keyHash, publicKey } = parseVerifierKey(vkey);
 */
export interface Ed25519NoteVerifier extends NoteVerifier {
  /** 32-byte RFC 8032 public key. */
  readonly publicKey: Uint8Array;
  /** The verifier key string, `<name>+<hex key ID>+<base64(0x01 ‖ public key)>`. */
  readonly verifierKey: string;
}

/**
 * Signs notes under a key name and ID. Async so that a key in an HSM or KMS can implement it.
 *
 * @example
 * const hsmSigner: Signer = { name: 'log.example/keys', keyHash, sign: (m) => hsm.signEd25519(m) };
 */
export interface Signer {
  readonly name: string;
  /** uint32 key ID. */
  readonly keyHash: number;
  sign(message: Uint8Array): Promise<Uint8Array>;
}

/**
 * A {@link Signer} holding an Ed25519 seed in memory, parsed from a signer key string.
 *
 * @example
 * const signer: LocalSigner = parseSignerKey(skey);
 * signer.verifierKey // publish this
 */
export interface LocalSigner extends Signer {
  readonly publicKey: Uint8Array;
  readonly verifierKey: string;
}

/**
 * A signature accepted by {@link openNote}.
 *
 * @example
 * const who: VerifiedSignature = { name: 'log.example/keys', keyHash: 0x530d903a };
 */
export interface VerifiedSignature {
  readonly name: string;
  readonly keyHash: number;
}

/**
 * What {@link openNote} returns: the note text (with its final newline) and the known keys
 * whose signatures verified, each once, in note order.
 *
 * @example
 * const { text, verified } = openNote(note, [logVerifier]);
 */
export interface OpenedNote {
  readonly text: string;
  readonly verified: readonly VerifiedSignature[];
}

function badKey(reason: string): InvalidInputError {
  // Never include the key itself: signer keys are secrets.
  return new InvalidInputError('malformed note key', { code: 'tlog_bad_key', details: { reason } });
}

function badNote(reason: string): InvalidInputError {
  return new InvalidInputError('malformed signed note', { code: 'tlog_bad_note', details: { reason } });
}

/** ASCII controls other than newline (signed-note "Format"), and lone UTF-16 surrogates. */
const FORBIDDEN_NOTE_CHARS = /[\u0000-\u0009\u000b-\u001f]|[\ud800-\udfff]/u;

/**
 * True when `text` may appear in a note: well-formed Unicode with no ASCII control
 * characters other than newline.
 *
 * @example
 * isValidNoteText('a\tb\n') // false
 * @internal Shared with the checkpoint parser.
 */
export function isValidNoteText(text: string): boolean {
  return !FORBIDDEN_NOTE_CHARS.test(text);
}

/**
 * Key names are non-empty, well-formed, and contain no Unicode space (the White_Space
 * property, as Go's unicode.IsSpace), no plus sign and no control character.
 */
function isValidKeyName(name: unknown): name is string {
  return typeof name === 'string' && name.length > 0 && isValidNoteText(name) && !/[\p{White_Space}+]/u.test(name);
}

function isUint32(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= 0xffffffff;
}

/**
 * The signed-note key ID: the first four bytes, big-endian, of
 * SHA-256(key name ‖ 0x0A ‖ signature type ‖ public key).
 *
 * @example
 * noteKeyHash('example.com/foo', concatBytes(new Uint8Array([0x01]), publicKey)) // 0x530d903a for the spec's example key
 */
export function noteKeyHash(name: string, typedPublicKey: Uint8Array): number {
  if (!isValidKeyName(name)) throw badKey('name');
  assertBytes(typedPublicKey, 'typedPublicKey');
  const digest = sha256(concatBytes(utf8(name), new Uint8Array([0x0a]), typedPublicKey));
  return new DataView(digest.buffer, digest.byteOffset, 4).getUint32(0);
}

function hex8(value: number): string {
  return value.toString(16).padStart(8, '0');
}

/**
 * The verifier key string for an Ed25519 public key:
 * `<name>+<hex key ID>+<base64(0x01 ‖ public key)>`.
 *
 * @example
 * verifierKeyFromPublicKey('example.com/foo', publicKey) // 'example.com/foo+530d903a+Aeky…'
 */
export function verifierKeyFromPublicKey(name: string, publicKey: Uint8Array): string {
  if (!isValidKeyName(name)) throw badKey('name');
  assertBytes(publicKey, 'publicKey', 32);
  const typed = concatBytes(new Uint8Array([NOTE_ALG_ED25519]), publicKey);
  return `${name}+${hex8(noteKeyHash(name, typed))}+${toBase64(typed)}`;
}

/** Splits `<name>+<8 lowercase hex>+<base64>`; the base64 part may itself contain '+'. */
function splitKey(text: string): { name: string; keyHash: number; material: Uint8Array } {
  const first = text.indexOf('+');
  const second = first < 0 ? -1 : text.indexOf('+', first + 1);
  if (second < 0) throw badKey('format');
  const name = text.slice(0, first);
  const hash = text.slice(first + 1, second);
  if (!isValidKeyName(name)) throw badKey('name');
  if (!/^[0-9a-f]{8}$/.test(hash)) throw badKey('key_hash');
  const material = decodeStdBase64(text.slice(second + 1));
  if (material === undefined || material.length === 0) throw badKey('encoding');
  return { name, keyHash: parseInt(hash, 16), material };
}

function ed25519Verify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  if (signature.length !== 64) return false;
  try {
    // Strict RFC 8032 verification (no ZIP-215 leniency): one valid encoding per signature.
    return ed25519.verify(signature, message, publicKey, { zip215: false });
  } catch {
    return false;
  }
}

/**
 * Parses a verifier key string and checks its key ID. Only Ed25519 (type 0x01) keys are
 * supported; anything malformed, another type, or a wrong key ID throws `tlog_bad_key`.
 *
 * @example
 * const v = parseVerifierKey('example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k');
 * v.verify(utf8(text), signature)
 */
export function parseVerifierKey(verifierKey: string): Ed25519NoteVerifier {
  if (typeof verifierKey !== 'string') throw badKey('format');
  const { name, keyHash, material } = splitKey(verifierKey);
  if (noteKeyHash(name, material) !== keyHash) throw badKey('key_hash_mismatch');
  if (material[0] !== NOTE_ALG_ED25519) throw badKey('unsupported_algorithm');
  if (material.length !== 33) throw badKey('key_length');
  const publicKey = material.slice(1);
  return Object.freeze({
    name,
    keyHash,
    publicKey,
    verifierKey,
    verify: (message: Uint8Array, signature: Uint8Array): boolean => ed25519Verify(publicKey, message, signature),
  });
}

/**
 * Derives the RFC 8032 §5.1.5 public key of a 32-byte seed. Core's own is the pure-JS one; a
 * runtime with native Ed25519 (the server's node:crypto) may pass its own, which must compute
 * the same function: the pure-JS derivation builds a ~60 ms table on its first use.
 */
export type PublicKeyOf = (seed: Uint8Array) => Uint8Array;

function localSigner(name: string, seed: Uint8Array, publicKeyOf: PublicKeyOf = (s) => ed25519.getPublicKey(s)): LocalSigner {
  const publicKey = assertBytes(publicKeyOf(seed), 'publicKey', 32);
  const verifierKey = verifierKeyFromPublicKey(name, publicKey);
  const keyHash = noteKeyHash(name, concatBytes(new Uint8Array([NOTE_ALG_ED25519]), publicKey));
  // The seed lives only in this closure: not a property, so it cannot leak through logging.
  return Object.freeze({
    name,
    keyHash,
    publicKey,
    verifierKey,
    sign: (message: Uint8Array): Promise<Uint8Array> => Promise.resolve(ed25519.sign(assertBytes(message, 'message'), seed)),
  });
}

/**
 * Parses a signer key string, `PRIVATE+KEY+<name>+<hex key ID>+<base64(0x01 ‖ seed)>`, into
 * a local Ed25519 {@link Signer}. The key ID must match the public key derived from the seed
 * (by `options.publicKeyOf` when given, see {@link PublicKeyOf}). Throws `tlog_bad_key`
 * (without echoing the key) otherwise.
 *
 * @example
 * const signer = parseSignerKey(process.env.LOG_SIGNER_KEY!);
 * const note = await signNote(formatCheckpoint(cp), [signer]);
 */
export function parseSignerKey(signerKey: string, options: { publicKeyOf?: PublicKeyOf } = {}): LocalSigner {
  if (typeof signerKey !== 'string' || !signerKey.startsWith('PRIVATE+KEY+')) throw badKey('format');
  const { name, keyHash, material } = splitKey(signerKey.slice('PRIVATE+KEY+'.length));
  if (material[0] !== NOTE_ALG_ED25519) throw badKey('unsupported_algorithm');
  if (material.length !== 33) throw badKey('key_length');
  const signer = localSigner(name, material.slice(1), options.publicKeyOf);
  if (signer.keyHash !== keyHash) throw badKey('key_hash_mismatch');
  return signer;
}

/**
 * Generates a fresh Ed25519 note key: the signer key string (secret) and its verifier key
 * string (public). Pass `seed` (32 bytes) only for deterministic tests; `publicKeyOf` as for
 * {@link parseSignerKey}.
 *
 * @example
 * const { signerKey, verifierKey } = generateSignerKey('log.example.com/keys');
 */
export function generateSignerKey(name: string, options: { seed?: Uint8Array; publicKeyOf?: PublicKeyOf } = {}): { signerKey: string; verifierKey: string } {
  if (!isValidKeyName(name)) throw badKey('name');
  const seed = options.seed === undefined ? ed25519.utils.randomSecretKey() : assertBytes(options.seed, 'seed', 32);
  const signer = localSigner(name, seed, options.publicKeyOf);
  const signerKey = `PRIVATE+KEY+${name}+${hex8(signer.keyHash)}+${toBase64(concatBytes(new Uint8Array([NOTE_ALG_ED25519]), seed))}`;
  return { signerKey, verifierKey: signer.verifierKey };
}

/**
 * Signs `text` (which must end in a newline and be valid note text) with every signer and
 * returns the signed note: the text, a blank line, one signature line per signer in order.
 * Throws `tlog_bad_note` for unusable text, no signers, or two signers with the same name
 * and key ID; a signer that returns no signature throws `tlog_bad_key`.
 *
 * @example
 * const note = await signNote('example.com/log\n42\nq6yr…=\n', [signer]);
 */
export async function signNote(text: string, signers: readonly Signer[]): Promise<string> {
  if (typeof text !== 'string' || !text.endsWith('\n') || !isValidNoteText(text)) throw badNote('text');
  if (!Array.isArray(signers) || signers.length === 0) throw badNote('no_signers');
  const seen = new Set<string>();
  for (const s of signers as readonly unknown[]) {
    const signer = s as Partial<Signer> | null;
    if (signer === null || typeof signer !== 'object' || typeof signer.sign !== 'function') throw badKey('signer');
    if (!isValidKeyName(signer.name)) throw badKey('name');
    if (!isUint32(signer.keyHash)) throw badKey('key_hash');
    const id = `${signer.name}+${hex8(signer.keyHash)}`;
    if (seen.has(id)) throw badNote('duplicate_signer');
    seen.add(id);
  }
  const message = utf8(text);
  const signatures = await Promise.all(signers.map((s) => s.sign(message)));
  let out = `${text}\n`;
  signers.forEach((s, i) => {
    const sig = signatures[i];
    if (!(sig instanceof Uint8Array) || sig.length === 0) throw badKey('signature');
    const id = new Uint8Array(4);
    new DataView(id.buffer).setUint32(0, s.keyHash);
    out += `\u2014 ${s.name} ${toBase64(concatBytes(id, sig))}\n`;
  });
  return out;
}

const SIGNATURE_PREFIX = '\u2014 '; // em dash, space

/**
 * Opens a signed note: checks its format strictly, verifies every signature by a known key,
 * and returns the text. Per the spec, signatures by unknown keys (name and key ID not both
 * matching a verifier) are ignored; but a known key's signature that fails to verify throws
 * `CryptoError` `tlog_note_bad_signature`, and a note with no verified signature throws
 * `CryptoError` `tlog_note_unverified`. Format violations — invalid UTF-8, control
 * characters, no blank line before the signatures, a malformed signature line, more than
 * {@link NOTE_MAX_SIGNATURES} signatures or {@link NOTE_MAX_BYTES} bytes — throw
 * `InvalidInputError` `tlog_bad_note`; two verifiers with the same name and key ID throw
 * `tlog_bad_key`. Only trust the text after this returns.
 *
 * @example
 * const { text } = openNote(await (await fetch(`${prefix}/checkpoint`)).text(), [parseVerifierKey(logKey)]);
 * const cp = parseCheckpoint(text);
 */
export function openNote(note: string | Uint8Array, verifiers: readonly NoteVerifier[]): OpenedNote {
  const byName = new Map<string, NoteVerifier>();
  if (!Array.isArray(verifiers)) throw badKey('verifiers');
  for (const v of verifiers as readonly unknown[]) {
    const verifier = v as Partial<NoteVerifier> | null;
    if (verifier === null || typeof verifier !== 'object' || typeof verifier.verify !== 'function' || !isValidKeyName(verifier.name) || !isUint32(verifier.keyHash)) {
      throw badKey('verifier');
    }
    const id = `${verifier.name}+${hex8(verifier.keyHash)}`;
    if (byName.has(id)) throw badKey('ambiguous_verifier');
    byName.set(id, verifier as NoteVerifier);
  }

  let msg: string;
  if (note instanceof Uint8Array) {
    if (note.length > NOTE_MAX_BYTES) throw badNote('too_large');
    try {
      msg = fromUtf8(note, 'note');
    } catch {
      throw badNote('utf8');
    }
  } else if (typeof note === 'string') {
    // A UTF-16 code unit encodes to at most 3 UTF-8 bytes: cheap bound before encoding.
    if (note.length > NOTE_MAX_BYTES || (note.length * 3 > NOTE_MAX_BYTES && utf8(note).length > NOTE_MAX_BYTES)) throw badNote('too_large');
    msg = note;
  } else {
    throw badNote('type');
  }
  if (!isValidNoteText(msg)) throw badNote('characters');

  // The text ends at the last blank line; the signature block follows it.
  const split = msg.lastIndexOf('\n\n');
  if (split < 0) throw badNote('no_signatures');
  const text = msg.slice(0, split + 1);
  const block = msg.slice(split + 2);
  if (block.length === 0 || !block.endsWith('\n')) throw badNote('no_signatures');
  const lines = block.slice(0, -1).split('\n');
  if (lines.length > NOTE_MAX_SIGNATURES) throw badNote('too_many_signatures');

  const message = utf8(text);
  const verified: VerifiedSignature[] = [];
  const verifiedIds = new Set<string>();
  for (const line of lines) {
    if (!line.startsWith(SIGNATURE_PREFIX)) throw badNote('signature_line');
    const rest = line.slice(SIGNATURE_PREFIX.length);
    const space = rest.indexOf(' ');
    if (space < 0) throw badNote('signature_line');
    const name = rest.slice(0, space);
    const raw = decodeStdBase64(rest.slice(space + 1));
    if (!isValidKeyName(name) || raw === undefined || raw.length < 5) throw badNote('signature_line');
    const keyHash = new DataView(raw.buffer, raw.byteOffset, 4).getUint32(0);
    const id = `${name}+${hex8(keyHash)}`;
    const verifier = byName.get(id);
    if (verifier === undefined) continue; // unknown key: ignored, as the spec requires
    // Every signature by a known key must verify, repeated ones included.
    if (verifier.verify(message, raw.subarray(4)) !== true) {
      throw new CryptoError('tlog_note_bad_signature', 'a signature by a known key does not verify', { details: { name, keyHash } });
    }
    if (!verifiedIds.has(id)) {
      verifiedIds.add(id);
      verified.push({ name, keyHash });
    }
  }
  if (verified.length === 0) throw new CryptoError('tlog_note_unverified', 'the note has no signature by a known key');
  return { text, verified };
}
