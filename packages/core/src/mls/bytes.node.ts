/**
 * Bytes and key imports at the node:crypto boundary of the node provider
 * (`crypto-provider.node.ts`, `aead.node.ts`, `hpke.node.ts`): node:crypto returns Buffers,
 * often views of a shared slab, and takes keys as base64url JWK fields.
 */
import { createPrivateKey, type KeyObject } from 'node:crypto';

/**
 * A plain `Uint8Array` over a node:crypto result: a view when the Buffer owns its whole
 * ArrayBuffer, else a copy, so callers never see a pooled slab through `.buffer`.
 */
export function plain(buf: Uint8Array): Uint8Array {
  if (buf.byteOffset === 0 && buf.byteLength === buf.buffer.byteLength && buf.buffer instanceof ArrayBuffer) {
    return new Uint8Array(buf.buffer, 0, buf.byteLength);
  }
  const out = new Uint8Array(buf.byteLength);
  out.set(buf);
  return out;
}

/** base64url without padding (RFC 4648 §5), as JWK key fields carry bytes. */
export function base64url(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64url');
}

/** The bytes of a base64url JWK field, as a plain `Uint8Array`. */
export function fromBase64url(text: string): Uint8Array {
  return plain(Buffer.from(text, 'base64url'));
}

/**
 * Imports a raw OKP private key (RFC 8037: Ed25519/Ed448 seeds, X25519/X448 scalars). JWK is
 * ~8–13× faster to import than PKCS#8 on Node 20 / OpenSSL 3 (no DER decoder). Node builds
 * an OKP private key from `d` alone and derives the public half itself; it requires `x` to be
 * a string but never reads it. An empty `x` can therefore never be used silently: a Node that
 * starts checking it throws, and the PKCS#8 form (`pkcs8()`) is imported instead.
 */
export function importOkpPrivateKey(crv: 'Ed25519' | 'Ed448' | 'X25519' | 'X448', raw: Uint8Array, pkcs8: () => Uint8Array): KeyObject {
  try {
    return createPrivateKey({ format: 'jwk', key: { kty: 'OKP', crv, d: base64url(raw), x: '' } });
  } catch {
    const der = pkcs8();
    return createPrivateKey({ format: 'der', type: 'pkcs8', key: Buffer.from(der.buffer, der.byteOffset, der.byteLength) });
  }
}
