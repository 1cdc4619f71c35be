/**
 * Crafted inputs that pass the first checks and fail deep: MLS framings with chosen
 * epochs, content types and lengths inside valid base64, real MLS messages truncated
 * and bit-flipped, and JWTs whose claims are wrong but whose signature (where the key
 * is known) is valid.
 */
import { KeyObject, sign } from 'node:crypto';
import fc from 'fast-check';
import { toBase64, toBase64Url } from '@parley/core';
import { RawJson, hash, sample, serialize, type BadValue } from './fuzz-inputs.js';

// --- MLS ----------------------------------------------------------------------------------

/** RFC 9420 §2.1.2 variable-length vector. */
function vec(bytes: Uint8Array): Uint8Array {
  const n = bytes.length;
  const prefix = n < 64 ? [n] : n < 16384 ? [0x40 | (n >> 8), n & 0xff] : [0x80 | (n >>> 24), (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff];
  return Uint8Array.from([...prefix, ...bytes]);
}

function u64(value: bigint): Uint8Array {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, BigInt.asUintN(64, value));
  return out;
}

function concat(...parts: Uint8Array[]): Uint8Array {
  return Uint8Array.from(parts.flatMap((p) => [...p]));
}

/** An MLSMessage framed as a PrivateMessage (RFC 9420 §6.3.1) with garbage ciphertext. */
export function privateMessage(groupId: Uint8Array, epoch: bigint, contentType: number, body = new Uint8Array(48).fill(7)): Uint8Array {
  return concat(Uint8Array.of(0, 1, 0, 2), vec(groupId), u64(epoch), Uint8Array.of(contentType), vec(new Uint8Array()), vec(new Uint8Array(16).fill(1)), vec(body));
}

/** A real GroupInfo (MLSMessage) with its GroupContext epoch replaced (signature no longer valid). */
export function withGroupInfoEpoch(groupInfo: Uint8Array, epoch: bigint): Uint8Array {
  // version(2) wire_format(2) | GroupContext: version(2) cipher_suite(2) group_id<V> epoch(8)
  let at = 8;
  const first = groupInfo[at]!;
  const size = 1 << (first >> 6);
  let length = first & 0x3f;
  for (let i = 1; i < size; i++) length = length * 256 + groupInfo[at + i]!;
  at += size + length;
  const out = Uint8Array.from(groupInfo);
  out.set(u64(epoch), at);
  return out;
}

export const EPOCHS: readonly bigint[] = [0n, 1n, 2n ** 31n, 2n ** 53n + 1n, 2n ** 63n - 1n, 2n ** 63n, 2n ** 64n - 2n, 2n ** 64n - 1n];

const b64 = (what: string, bytes: Uint8Array): BadValue => ({ what, value: toBase64(bytes) });

/** Garbage MLS bytes (all valid base64) for a field that carries an MLSMessage. */
export function mlsGarbage(label: string, groupId: Uint8Array, real: readonly Uint8Array[]): BadValue[] {
  const out: BadValue[] = [];
  for (const epoch of EPOCHS) for (const ct of [1, 3]) out.push(b64(`PrivateMessage epoch ${epoch} content type ${ct}`, privateMessage(groupId, epoch, ct)));
  for (const ct of [0, 2, 4, 255]) out.push(b64(`PrivateMessage content type ${ct}`, privateMessage(groupId, 1n, ct)));
  out.push(b64('PrivateMessage with an empty group id', privateMessage(new Uint8Array(), 1n, 1)));
  out.push(b64('PrivateMessage of another group', privateMessage(new Uint8Array(32).fill(9), 1n, 1)));
  out.push(b64('PrivateMessage with a 1000-byte group id', privateMessage(new Uint8Array(1000).fill(3), 1n, 1)));
  out.push(b64('PrivateMessage with a trailing byte', concat(privateMessage(groupId, 1n, 1), Uint8Array.of(0))));
  out.push(b64('PrivateMessage with a 1 GiB vector length', concat(Uint8Array.of(0, 1, 0, 2), Uint8Array.of(0xbf, 0xff, 0xff, 0xff), groupId)));
  out.push(b64('PrivateMessage with an invalid varint prefix', concat(Uint8Array.of(0, 1, 0, 2, 0xc0, 0, 0, 0, 0, 0, 0, 8))));
  out.push(b64('PrivateMessage with a non-minimal length', concat(Uint8Array.of(0, 1, 0, 2, 0x40, 0x01, 0))));
  for (const wf of [1, 3, 4, 5, 6, 0xffff]) out.push(b64(`wire format ${wf} with garbage`, concat(Uint8Array.of(0, 1, wf >> 8, wf & 0xff), vec(groupId), new Uint8Array(40).fill(0xff))));
  out.push(b64('MLS version 2', concat(Uint8Array.of(0, 2, 0, 2), vec(groupId))));
  out.push(b64('empty message', new Uint8Array()));
  real.forEach((bytes, r) => {
    for (const cut of [1, 3, 4, 5, bytes.length >> 1, bytes.length - 1]) out.push(b64(`real message ${r} truncated to ${cut} bytes`, bytes.subarray(0, cut)));
    for (const at of sample(`${label}/flip${r}`, fc.nat({ max: bytes.length - 1 }), 3)) {
      const flipped = Uint8Array.from(bytes);
      flipped[at] = flipped[at]! ^ 0xff;
      out.push(b64(`real message ${r} with byte ${at} flipped`, flipped));
    }
  });
  for (const bytes of sample(`${label}/random`, fc.uint8Array({ minLength: 1, maxLength: 300 }), 4)) out.push(b64(`${bytes.length} random bytes`, bytes));
  return out;
}

// --- JWT ----------------------------------------------------------------------------------

const segment = (json: string) => toBase64Url(new TextEncoder().encode(json));

/** A compact JWS from JSON texts (RawJson numbers allowed), signed with an Ed25519 key when given. */
export function jws(header: unknown, payload: unknown, key?: CryptoKey): string {
  const input = `${segment(serialize(header))}.${segment(serialize(payload))}`;
  const signature = key ? new Uint8Array(sign(null, Buffer.from(input), KeyObject.from(key))) : new Uint8Array(64);
  return `${input}.${toBase64Url(signature)}`;
}

const CLAIM_VALUES: readonly BadValue[] = [
  { what: 'null', value: null },
  { what: 'number 0', value: 0 },
  { what: 'number -1', value: -1 },
  { what: 'number 1e309', value: new RawJson('1e309') },
  { what: 'number 2^64', value: new RawJson('18446744073709551616') },
  { what: 'NUL string', value: 'a\u0000b' },
  { what: 'NUL inside 24 characters', value: 'fuzz-nonce-\u0000-0123456789' },
  { what: 'control characters inside 24 characters', value: 'fuzz-nonce-\u0001\u001f\u007f-0123456' },
  { what: 'lone surrogate', value: 'x\ud800' },
  { what: 'empty string', value: '' },
  { what: '300 characters', value: 'x'.repeat(300) },
  { what: 'object', value: { a: 1 } },
  { what: 'array', value: ['parley'] },
  { what: 'true', value: true },
];

/**
 * JWT variants around `claims` (a valid token's payload): malformed compact forms, unsigned
 * tokens with hostile headers, and — signed with `key` — each claim replaced by each bad value.
 */
export function jwtVariants(label: string, header: Record<string, unknown>, claims: Record<string, unknown>, key: CryptoKey, specific: readonly BadValue[] = []): BadValue[] {
  const out: BadValue[] = [
    { what: 'JWT "a.b.c"', value: 'a.b.c' },
    { what: 'JWT "..."', value: '...' },
    { what: 'JWT with two segments', value: `${segment('{}')}.${segment('{}')}` },
    { what: 'JWT with a non-JSON header', value: `${segment('not json')}.${segment('{}')}.AAAA` },
    { what: 'JWT with an array payload', value: jws(header, [claims], key) },
    { what: 'JWT alg none', value: jws({ ...header, alg: 'none' }, claims).replace(/\.[^.]*$/, '.') },
    { what: 'JWT alg HS256', value: jws({ ...header, alg: 'HS256' }, claims) },
    { what: 'JWT with crit header', value: jws({ ...header, crit: ['b64'], b64: false }, claims, key) },
    { what: 'JWT with an embedded jwk', value: jws({ ...header, jwk: { kty: 'OKP', crv: 'Ed25519', x: 'A'.repeat(43) } }, claims, key) },
    { what: 'JWT with a zero signature', value: jws(header, claims) },
  ];
  for (const v of CLAIM_VALUES) {
    out.push({ what: `JWT header kid := ${v.what}`, value: jws({ ...header, kid: v.value }, claims) });
    out.push({ what: `JWT header alg := ${v.what}`, value: jws({ ...header, alg: v.value }, claims) });
  }
  for (const name of Object.keys(claims)) {
    for (const v of CLAIM_VALUES) out.push({ what: `signed JWT claim ${name} := ${v.what}`, value: jws(header, { ...claims, [name]: v.value, jti: jti(label, name, v.what) }, key) });
  }
  for (const v of specific) out.push({ what: `signed JWT ${v.what}`, value: jws(header, { ...claims, ...(v.value as object), jti: jti(label, 'specific', v.what) }, key) });
  return out;
}

/** A distinct, valid nonce per variant (so that a variant is not refused for reusing one). */
let serial = 0;
function jti(label: string, claim: string, what: string): string {
  return `fuzz-${hash(`${label} ${claim} ${what}`).toString(16).padStart(8, '0')}-${serial++}`;
}
