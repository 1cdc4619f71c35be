/**
 * Byte helpers shared by browser and Node code: no `Buffer`, only `Uint8Array`, and one
 * code path in every runtime. Encodings follow RFC 4648 (base64 §4, base64url §5 without
 * padding, base16 §8).
 */
import { InvalidInputError } from './errors.js';

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const B64_LOOKUP = (() => {
  const table = new Int16Array(256).fill(-1);
  for (let i = 0; i < B64.length; i++) table[B64.charCodeAt(i)] = i;
  table['-'.charCodeAt(0)] = 62;
  table['_'.charCodeAt(0)] = 63;
  return table;
})();

/** The base64 alphabet as character codes, for writing output bytes directly. */
const B64_CODES = Uint8Array.from(B64, (c) => c.charCodeAt(0));
const PAD = '='.charCodeAt(0);
/** base64 output is ASCII, so a UTF-8 decoder turns the output bytes into the string. */
const asciiDecoder = new TextDecoder();

/**
 * RFC 4648 §4 base64 with padding.
 *
 * @example
 * toBase64(utf8('hi')) // 'aGk='
 */
export function toBase64(bytes: Uint8Array): string {
  const n = bytes.length;
  const out = new Uint8Array(Math.ceil(n / 3) * 4);
  let i = 0;
  let o = 0;
  for (; i + 2 < n; i += 3) {
    const v = (bytes[i]! << 16) | (bytes[i + 1]! << 8) | bytes[i + 2]!;
    out[o++] = B64_CODES[v >> 18]!;
    out[o++] = B64_CODES[(v >> 12) & 63]!;
    out[o++] = B64_CODES[(v >> 6) & 63]!;
    out[o++] = B64_CODES[v & 63]!;
  }
  const rest = n - i;
  if (rest === 1) {
    const v = bytes[i]! << 16;
    out[o++] = B64_CODES[v >> 18]!;
    out[o++] = B64_CODES[(v >> 12) & 63]!;
    out[o++] = PAD;
    out[o++] = PAD;
  } else if (rest === 2) {
    const v = (bytes[i]! << 16) | (bytes[i + 1]! << 8);
    out[o++] = B64_CODES[v >> 18]!;
    out[o++] = B64_CODES[(v >> 12) & 63]!;
    out[o++] = B64_CODES[(v >> 6) & 63]!;
    out[o++] = PAD;
  }
  return asciiDecoder.decode(out);
}

/**
 * RFC 4648 §5 base64url without padding.
 *
 * @example
 * toBase64Url(new Uint8Array([251, 255])) // '-_8'
 */
export function toBase64Url(bytes: Uint8Array): string {
  return toBase64(bytes).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

/**
 * Strict decoder for base64 (§4) or base64url (§5); padding optional, but when present it
 * must complete the last 4-character group. Rejects any character outside the alphabets and
 * non-canonical trailing bits (§3.5), with `InvalidInputError` code `invalid_encoding`.
 *
 * @example
 * fromBase64('aGk=') // Uint8Array [104, 105]
 */
export function fromBase64(text: string, name = 'value'): Uint8Array {
  const invalid = (): InvalidInputError => new InvalidInputError(`${name} is not valid base64`, { code: 'invalid_encoding' });
  const clean = text.endsWith('==') ? text.slice(0, -2) : text.endsWith('=') ? text.slice(0, -1) : text;
  if (clean.length % 4 === 1 || (clean.length !== text.length && text.length % 4 !== 0)) throw invalid();
  const rem = clean.length % 4;
  const full = clean.length - rem;
  const out = new Uint8Array((full / 4) * 3 + (rem === 0 ? 0 : rem - 1));
  // One pass validates and decodes: `symbols` turns negative on a character outside the
  // alphabets (lookup -1), `chars` exceeds 0x7f on a non-ASCII one.
  const lookup = B64_LOOKUP;
  let symbols = 0;
  let chars = 0;
  let o = 0;
  for (let k = 0; k < full; k += 4) {
    const c0 = clean.charCodeAt(k);
    const c1 = clean.charCodeAt(k + 1);
    const c2 = clean.charCodeAt(k + 2);
    const c3 = clean.charCodeAt(k + 3);
    chars |= c0 | c1 | c2 | c3;
    const s0 = lookup[c0 & 0xff]!;
    const s1 = lookup[c1 & 0xff]!;
    const s2 = lookup[c2 & 0xff]!;
    const s3 = lookup[c3 & 0xff]!;
    symbols |= s0 | s1 | s2 | s3;
    const v = (s0 << 18) | (s1 << 12) | (s2 << 6) | s3;
    out[o++] = v >> 16;
    out[o++] = (v >> 8) & 0xff;
    out[o++] = v & 0xff;
  }
  if (rem > 0) {
    const c0 = clean.charCodeAt(full);
    const c1 = clean.charCodeAt(full + 1);
    const c2 = rem === 3 ? clean.charCodeAt(full + 2) : 0x41; // 'A': no bits
    chars |= c0 | c1 | c2;
    const s0 = lookup[c0 & 0xff]!;
    const s1 = lookup[c1 & 0xff]!;
    const s2 = lookup[c2 & 0xff]!;
    symbols |= s0 | s1 | s2;
    // Canonical encoding: the bits after the last whole byte are zero (RFC 4648 §3.5).
    if (rem === 2 ? (s1 & 0x0f) !== 0 : (s2 & 0x03) !== 0) throw invalid();
    out[o] = (s0 << 2) | (s1 >> 4);
    if (rem === 3) out[o + 1] = ((s1 & 0x0f) << 4) | (s2 >> 2);
  }
  if (symbols < 0 || chars > 0x7f) throw invalid();
  return out;
}

/**
 * RFC 4648 §8 lowercase hex.
 *
 * @example
 * toHex(new Uint8Array([0, 255])) // '00ff'
 */
export function toHex(bytes: Uint8Array): string {
  let out = '';
  for (const b of bytes) out += b.toString(16).padStart(2, '0');
  return out;
}

/**
 * Strict hex decoder (even length, [0-9a-fA-F] only); throws `invalid_encoding` otherwise.
 *
 * @example
 * fromHex('00ff') // Uint8Array [0, 255]
 */
export function fromHex(text: string, name = 'value'): Uint8Array {
  if (text.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(text)) {
    throw new InvalidInputError(`${name} is not valid hex`, { code: 'invalid_encoding' });
  }
  const out = new Uint8Array(text.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(text.slice(i * 2, i * 2 + 2), 16);
  return out;
}

/**
 * Concatenates byte arrays into a new one.
 *
 * @example
 * concatBytes(utf8('a'), new Uint8Array([0])) // Uint8Array [97, 0]
 */
export function concatBytes(...parts: Uint8Array[]): Uint8Array {
  let length = 0;
  for (const p of parts) length += p.length;
  const out = new Uint8Array(length);
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}

/**
 * Constant-time equality for MACs, tokens, keys and fingerprints: the running time
 * depends only on the lengths, never on where the first difference is.
 *
 * @example
 * if (!equalBytes(expectedMac, mac)) return false; // never `===` on strings of secrets
 */
export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}

/**
 * Checks that `value` is a Uint8Array (of `length`, when given); throws `invalid_bytes` naming it otherwise.
 *
 * @example
 * const key = assertBytes(input.key, 'key', 32);
 */
export function assertBytes(value: unknown, name: string, length?: number): Uint8Array {
  if (!(value instanceof Uint8Array)) throw new InvalidInputError(`${name} must be bytes`, { code: 'invalid_bytes' });
  if (length !== undefined && value.length !== length) {
    throw new InvalidInputError(`${name} must be ${length} bytes, got ${value.length}`, { code: 'invalid_bytes' });
  }
  return value;
}

const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder('utf-8', { fatal: true });

/**
 * UTF-8 encode.
 *
 * @example
 * utf8('hi') // Uint8Array [104, 105]
 */
export function utf8(text: string): Uint8Array {
  return utf8Encoder.encode(text);
}

/**
 * Strict UTF-8 decode: invalid sequences throw `invalid_encoding` instead of being replaced.
 *
 * @example
 * fromUtf8(utf8('hi')) // 'hi'
 */
export function fromUtf8(bytes: Uint8Array, name = 'value'): string {
  try {
    return utf8Decoder.decode(bytes);
  } catch (cause) {
    throw new InvalidInputError(`${name} is not valid UTF-8`, { code: 'invalid_encoding', cause });
  }
}

/**
 * Cryptographically secure random bytes (WebCrypto `getRandomValues`).
 *
 * @example
 * const nonce = randomBytes(32);
 */
export function randomBytes(length: number): Uint8Array {
  const out = new Uint8Array(length);
  // getRandomValues fills at most 65536 bytes per call.
  for (let offset = 0; offset < length; offset += 65536) {
    globalThis.crypto.getRandomValues(out.subarray(offset, Math.min(length, offset + 65536)));
  }
  return out;
}
