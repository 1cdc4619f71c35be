/**
 * Safety numbers: Signal's numeric fingerprint construction, checked against the vectors
 * in `shared/vectors/safety-number/signal-numeric-fingerprint.json` (libsignal's
 * testVectorsVersion1/2; written from that description only, no libsignal code).
 *
 * This file is the generic construction over opaque `keyBytes` and a stable id. What
 * those are for a Parley identity is fixed in `parley-fingerprint.ts`.
 *
 * Per party, where 0x0000 is the fixed 2-byte version of the construction itself (not the
 * scannable version: the vectors for scannable versions 1 and 2 both hash with 0x0000):
 *
 *     buf = SHA-512(0x0000 ‖ keyBytes ‖ stableId ‖ keyBytes)
 *     repeat iterations − 1 times: buf = SHA-512(buf ‖ keyBytes)
 *
 * Displayable: bytes 0..29 of `buf` as six 5-byte big-endian integers, each mod 100000,
 * zero-padded to 5 digits (30 digits per party); the two parties' strings joined in
 * ascending order, so both sides see the same 60 digits.
 *
 * Scannable: the protobuf `CombinedFingerprints { uint32 version = 1; LogicalFingerprint
 * localFingerprint = 2; LogicalFingerprint remoteFingerprint = 3; }` with
 * `LogicalFingerprint { bytes content = 1; }`, content = bytes 0..31 of that party's `buf`.
 */
import { sha512 } from '@noble/hashes/sha2.js';
import { assertBytes, utf8 } from '../bytes.js';
import { InvalidInputError } from '../errors.js';

/** Hash iterations of the construction; Signal uses 5200 for both scannable versions. */
export const FINGERPRINT_ITERATIONS = 5200;

/** Bytes of `buf` a scannable fingerprint carries per party. */
export const SCANNABLE_CONTENT_LENGTH = 32;

/** The 2-byte construction version prefixed to the first hash input. */
const CONSTRUCTION_VERSION = new Uint8Array([0x00, 0x00]);

/** Bytes of `buf` shown as digits per party (six 5-byte chunks). */
const DISPLAY_BYTES = 30;

/** One side of a conversation, as the construction sees it. */
export interface FingerprintParty {
  /**
   * The encoded identity key the construction hashes (its `keyBytes`), type prefix
   * included: Signal's 33-byte `0x05 ‖ key`, or Parley's `parleyKeyBytes(publicKey)`.
   */
  readonly identityKey: Uint8Array;
  /** Stable id of the party: a string (hashed as UTF-8) or raw bytes. */
  readonly stableId: string | Uint8Array;
}

/** The 60-digit safety number, and the same digits in twelve 5-digit groups for display. */
export interface SafetyNumber {
  readonly digits: string;
  readonly groups: readonly string[];
}

/** A decoded scannable fingerprint: the sender's own (`local`) and its peer's (`remote`) content. */
export interface ScannableFingerprint {
  /** Scannable version (uint32, ≥ 1): says which keyBytes/stableId binding produced the contents. */
  readonly version: number;
  /** 32 bytes: the sender's own fingerprint content. */
  readonly local: Uint8Array;
  /** 32 bytes: the sender's view of its peer's fingerprint content. */
  readonly remote: Uint8Array;
}

/** Lone UTF-16 surrogates (TextEncoder would turn each into U+FFFD, merging distinct ids). */
const LONE_SURROGATE = /[\uD800-\uDFFF]/u;

function stableIdBytes(stableId: string | Uint8Array): Uint8Array {
  if (typeof stableId !== 'string') return assertBytes(stableId, 'stableId');
  if (LONE_SURROGATE.test(stableId)) {
    throw new InvalidInputError('stableId is not well-formed Unicode', { code: 'invalid_encoding' });
  }
  return utf8(stableId);
}

function checkIterations(iterations: number): number {
  if (!Number.isSafeInteger(iterations) || iterations < 1) {
    throw new InvalidInputError('iterations must be a positive integer', { code: 'invalid_iterations' });
  }
  return iterations;
}

/**
 * The full 64-byte iterated hash (`buf`) of one party.
 *
 * @example
 * const buf = fingerprintBytes(parleyKeyBytes(publicKey), 'example-bank:c-1001');
 * buf.length // 64
 */
export function fingerprintBytes(keyBytes: Uint8Array, stableId: string | Uint8Array, iterations: number = FINGERPRINT_ITERATIONS): Uint8Array {
  const key = assertBytes(keyBytes, 'keyBytes');
  if (key.length === 0) throw new InvalidInputError('keyBytes must not be empty', { code: 'invalid_bytes' });
  const id = stableIdBytes(stableId);
  checkIterations(iterations);
  let buf = sha512.create().update(CONSTRUCTION_VERSION).update(key).update(id).update(key).digest();
  for (let i = 1; i < iterations; i++) buf = sha512.create().update(buf).update(key).digest();
  return buf;
}

/** 30 digits: six 5-byte big-endian chunks of `buf`, each mod 100000, zero-padded. */
function displayDigits(buf: Uint8Array): string {
  let out = '';
  for (let i = 0; i < DISPLAY_BYTES; i += 5) {
    // 40-bit chunk: exact in a double (< 2^53).
    const high = buf[i]!;
    const low = ((buf[i + 1]! << 24) | (buf[i + 2]! << 16) | (buf[i + 3]! << 8) | buf[i + 4]!) >>> 0;
    out += String((high * 0x1_0000_0000 + low) % 100000).padStart(5, '0');
  }
  return out;
}

/**
 * The 60-digit safety number two parties compare by reading it aloud or side by side.
 * Symmetric: swapping `local` and `remote` gives the same digits.
 *
 * @example
 * const { groups } = safetyNumber({
 *   local: parleyFingerprintParty(myPublicKey, 'example-bank:staff-7'),
 *   remote: parleyFingerprintParty(theirPublicKey, 'example-bank:c-1001'),
 * });
 * groups.join(' ') // '30035 44776 92869 … 79131'
 */
export function safetyNumber(input: { local: FingerprintParty; remote: FingerprintParty; iterations?: number }): SafetyNumber {
  const iterations = input.iterations ?? FINGERPRINT_ITERATIONS;
  const local = displayDigits(fingerprintBytes(input.local.identityKey, input.local.stableId, iterations));
  const remote = displayDigits(fingerprintBytes(input.remote.identityKey, input.remote.stableId, iterations));
  // Equal-length digit strings: string order is numeric order.
  const digits = local <= remote ? local + remote : remote + local;
  const groups: string[] = [];
  for (let i = 0; i < digits.length; i += 5) groups.push(digits.slice(i, i + 5));
  return { digits, groups };
}

// ------------------------------------------------------------------ scannable protobuf

// Protobuf encoding (protobuf.dev/programming-guides/encoding): tag = field << 3 | wire type;
// wire type 0 = varint, 2 = length-delimited.
const TAG_VERSION = 0x08; // field 1, varint
const TAG_LOCAL = 0x12; // field 2, length-delimited
const TAG_REMOTE = 0x1a; // field 3, length-delimited
const TAG_CONTENT = 0x0a; // LogicalFingerprint field 1, length-delimited
const LOGICAL_LENGTH = 2 + SCANNABLE_CONTENT_LENGTH; // tag, length, content

function checkVersion(version: number): number {
  if (!Number.isInteger(version) || version < 1 || version > 0xffff_ffff) {
    throw new InvalidInputError('scannable version must be an integer in 1..2^32-1', { code: 'invalid_fingerprint_version' });
  }
  return version;
}

function varint(value: number): number[] {
  const out: number[] = [];
  while (value > 0x7f) {
    out.push((value % 0x80) | 0x80);
    value = Math.floor(value / 0x80);
  }
  out.push(value);
  return out;
}

/**
 * Canonical protobuf bytes of a scannable fingerprint: fields in number order, each
 * present once, minimal varints. `parseScannable` accepts exactly these bytes.
 *
 * @example
 * encodeScannable({ version: 1, local, remote }) // Uint8Array(74) [0x08, 0x01, 0x12, 0x22, 0x0a, 0x20, …]
 */
export function encodeScannable(fingerprint: ScannableFingerprint): Uint8Array {
  const version = checkVersion(fingerprint.version);
  const local = assertBytes(fingerprint.local, 'local', SCANNABLE_CONTENT_LENGTH);
  const remote = assertBytes(fingerprint.remote, 'remote', SCANNABLE_CONTENT_LENGTH);
  const head = [TAG_VERSION, ...varint(version)];
  const out = new Uint8Array(head.length + 2 * (2 + LOGICAL_LENGTH));
  out.set(head, 0);
  let o = head.length;
  for (const [tag, content] of [[TAG_LOCAL, local], [TAG_REMOTE, remote]] as const) {
    out.set([tag, LOGICAL_LENGTH, TAG_CONTENT, SCANNABLE_CONTENT_LENGTH], o);
    out.set(content, o + 4);
    o += 4 + SCANNABLE_CONTENT_LENGTH;
  }
  return out;
}

/**
 * The scannable fingerprint `local` shows in its QR code: its own content first, then
 * what it holds for `remote`.
 *
 * @example
 * const bytes = scannableFingerprint(alice, bob, PARLEY_FINGERPRINT_VERSION);
 */
export function scannableFingerprint(
  local: FingerprintParty,
  remote: FingerprintParty,
  version: number,
  options: { iterations?: number } = {},
): Uint8Array {
  checkVersion(version);
  const iterations = options.iterations ?? FINGERPRINT_ITERATIONS;
  return encodeScannable({
    version,
    local: fingerprintBytes(local.identityKey, local.stableId, iterations).slice(0, SCANNABLE_CONTENT_LENGTH),
    remote: fingerprintBytes(remote.identityKey, remote.stableId, iterations).slice(0, SCANNABLE_CONTENT_LENGTH),
  });
}

function invalid(message: string, offset: number): InvalidInputError {
  return new InvalidInputError(`invalid scannable fingerprint: ${message}`, { code: 'invalid_scannable', details: { offset } });
}

/** Minimal-length varint of at most 32 bits at `offset`; returns the value and the next offset. */
function readVarint(bytes: Uint8Array, offset: number): [number, number] {
  let value = 0;
  for (let i = 0; i < 5; i++) {
    const b = bytes[offset + i];
    if (b === undefined) throw invalid('truncated varint', offset);
    value += (b & 0x7f) * 2 ** (7 * i);
    if ((b & 0x80) === 0) {
      if (i > 0 && b === 0) throw invalid('non-minimal varint', offset);
      if (value > 0xffff_ffff) throw invalid('varint exceeds 32 bits', offset);
      return [value, offset + i + 1];
    }
  }
  throw invalid('varint exceeds 32 bits', offset);
}

function expectTag(bytes: Uint8Array, offset: number, tag: number): number {
  const [got, next] = readVarint(bytes, offset);
  if (got !== tag) throw invalid(`expected field ${tag >>> 3} wire type ${tag & 7}, got field ${Math.floor(got / 8)} wire type ${got & 7}`, offset);
  return next;
}

function readLogical(bytes: Uint8Array, offset: number, tag: number): [Uint8Array, number] {
  let o = expectTag(bytes, offset, tag);
  let length: number;
  [length, o] = readVarint(bytes, o);
  if (length !== LOGICAL_LENGTH) throw invalid('wrong LogicalFingerprint length', o);
  o = expectTag(bytes, o, TAG_CONTENT);
  [length, o] = readVarint(bytes, o);
  if (length !== SCANNABLE_CONTENT_LENGTH) throw invalid('wrong content length', o);
  if (o + length > bytes.length) throw invalid('truncated content', o);
  return [bytes.slice(o, o + length), o + length];
}

/**
 * Strict decoder for `encodeScannable`'s output. Throws `InvalidInputError` with code
 * `invalid_scannable` for anything else: unknown fields or wire types, fields out of
 * order, missing or repeated, a version of 0, non-minimal varints, contents that are not
 * 32 bytes, truncation and trailing bytes.
 *
 * @example
 * const { version, local, remote } = parseScannable(bytes);
 */
export function parseScannable(bytes: Uint8Array): ScannableFingerprint {
  if (!(bytes instanceof Uint8Array)) throw invalid('not bytes', 0);
  let o = expectTag(bytes, 0, TAG_VERSION);
  let version: number;
  [version, o] = readVarint(bytes, o);
  if (version === 0) throw invalid('version 0', o);
  let local: Uint8Array;
  let remote: Uint8Array;
  [local, o] = readLogical(bytes, o, TAG_LOCAL);
  [remote, o] = readLogical(bytes, o, TAG_REMOTE);
  if (o !== bytes.length) throw invalid('trailing bytes', o);
  return { version, local, remote };
}
