/**
 * Bytes at the node:crypto boundary of the node provider (`crypto-provider.node.ts`,
 * `aead.node.ts`, `hpke.node.ts`): node:crypto returns Buffers, often views of a shared slab,
 * and takes keys as base64url JWK fields.
 */

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
