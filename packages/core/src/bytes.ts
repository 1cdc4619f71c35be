/**
 * Byte helpers shared by browser and Node code: no `Buffer`, only `Uint8Array`.
 * Encodings follow RFC 4648 (base64 §4, base64url §5 without padding, base16 §8).
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

/** base64 or base64url symbols, without padding. */
const B64_TEXT = /^[A-Za-z0-9+/_-]*$/;

const hasNodeBuffer =
  typeof (globalThis as { Buffer?: unknown }).Buffer === 'function' &&
  typeof (globalThis as { Buffer?: { from?: unknown } }).Buffer?.from === 'function';
type NodeBufferLike = {
  from(data: ArrayBufferLike, byteOffset: number, length: number): Uint8Array & { toString(enc: string): string };
  from(data: string, enc: string): Uint8Array & { toString(enc: string): string };
};
const NodeBuffer = hasNodeBuffer ? ((globalThis as unknown as { Buffer: NodeBufferLike }).Buffer) : undefined;

/** RFC 4648 §4 base64 with padding. */
export function toBase64(bytes: Uint8Array): string {
  if (NodeBuffer) return NodeBuffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
  let out = '';
  let i = 0;
  for (; i + 2 < bytes.length; i += 3) {
    const n = (bytes[i]! << 16) | (bytes[i + 1]! << 8) | bytes[i + 2]!;
    out += B64[n >> 18]! + B64[(n >> 12) & 63]! + B64[(n >> 6) & 63]! + B64[n & 63]!;
  }
  const rest = bytes.length - i;
  if (rest === 1) {
    const n = bytes[i]! << 16;
    out += B64[n >> 18]! + B64[(n >> 12) & 63]! + '==';
  } else if (rest === 2) {
    const n = (bytes[i]! << 16) | (bytes[i + 1]! << 8);
    out += B64[n >> 18]! + B64[(n >> 12) & 63]! + B64[(n >> 6) & 63]! + '=';
  }
  return out;
}

/** RFC 4648 §5 base64url without padding. */
export function toBase64Url(bytes: Uint8Array): string {
  return toBase64(bytes).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

/**
 * Strict decoder for base64 (§4) or base64url (§5); padding optional. Rejects any
 * character outside the alphabet and non-canonical trailing bits.
 *
 * @example
 * fromBase64('aGk=') // Uint8Array [104, 105]
 */
export function fromBase64(text: string, name = 'value'): Uint8Array {
  const clean = text.endsWith('==') ? text.slice(0, -2) : text.endsWith('=') ? text.slice(0, -1) : text;
  if (clean.length % 4 === 1) throw new InvalidInputError(`${name} is not valid base64`, { code: 'invalid_encoding' });
  if (NodeBuffer) {
    // Node's decoder is lenient (skips foreign characters, ignores stray bits), so
    // check the alphabet, the padding and the trailing bits first.
    if (!B64_TEXT.test(clean) || (clean.length !== text.length && text.length % 4 !== 0)) {
      throw new InvalidInputError(`${name} is not valid base64`, { code: 'invalid_encoding' });
    }
    const rem = clean.length % 4;
    const last = rem === 0 ? 0 : (B64_LOOKUP[clean.charCodeAt(clean.length - 1)] ?? 0);
    if ((rem === 2 && (last & 0x0f) !== 0) || (rem === 3 && (last & 0x03) !== 0)) {
      throw new InvalidInputError(`${name} is not valid base64`, { code: 'invalid_encoding' });
    }
    const buf = NodeBuffer.from(clean, 'base64');
    return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
  }
  const out = new Uint8Array(Math.floor((clean.length * 3) / 4));
  let buffer = 0;
  let bits = 0;
  let o = 0;
  for (let i = 0; i < clean.length; i++) {
    const v = B64_LOOKUP[clean.charCodeAt(i)] ?? -1;
    if (v < 0 || clean.charCodeAt(i) > 255) throw new InvalidInputError(`${name} is not valid base64`, { code: 'invalid_encoding' });
    buffer = (buffer << 6) | v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (buffer >> bits) & 0xff;
    }
  }
  if (bits > 0 && (buffer & ((1 << bits) - 1)) !== 0) {
    throw new InvalidInputError(`${name} is not valid base64`, { code: 'invalid_encoding' });
  }
  return out;
}

/** RFC 4648 §8 lowercase hex. */
export function toHex(bytes: Uint8Array): string {
  let out = '';
  for (const b of bytes) out += b.toString(16).padStart(2, '0');
  return out;
}

/** Strict hex decoder (even length, [0-9a-fA-F] only). */
export function fromHex(text: string, name = 'value'): Uint8Array {
  if (text.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(text)) {
    throw new InvalidInputError(`${name} is not valid hex`, { code: 'invalid_encoding' });
  }
  const out = new Uint8Array(text.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(text.slice(i * 2, i * 2 + 2), 16);
  return out;
}

/** Concatenates byte arrays. */
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
 */
export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}

/** Checks that `value` is a Uint8Array (of `length`, when given); throws a named error otherwise. */
export function assertBytes(value: unknown, name: string, length?: number): Uint8Array {
  if (!(value instanceof Uint8Array)) throw new InvalidInputError(`${name} must be bytes`, { code: 'invalid_bytes' });
  if (length !== undefined && value.length !== length) {
    throw new InvalidInputError(`${name} must be ${length} bytes, got ${value.length}`, { code: 'invalid_bytes' });
  }
  return value;
}

const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder('utf-8', { fatal: true });

/** UTF-8 encode. */
export function utf8(text: string): Uint8Array {
  return utf8Encoder.encode(text);
}

/** Strict UTF-8 decode: invalid sequences throw instead of being replaced. */
export function fromUtf8(bytes: Uint8Array, name = 'value'): string {
  try {
    return utf8Decoder.decode(bytes);
  } catch (cause) {
    throw new InvalidInputError(`${name} is not valid UTF-8`, { code: 'invalid_encoding', cause });
  }
}

/** Cryptographically secure random bytes (WebCrypto `getRandomValues`). */
export function randomBytes(length: number): Uint8Array {
  const out = new Uint8Array(length);
  // getRandomValues fills at most 65536 bytes per call.
  for (let offset = 0; offset < length; offset += 65536) {
    globalThis.crypto.getRandomValues(out.subarray(offset, Math.min(length, offset + 65536)));
  }
  return out;
}
