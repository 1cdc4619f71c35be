/**
 * A log key from a signer key string (`PRIVATE+KEY+<name>+<id>+<base64(0x01 ‖ seed)>`) that
 * signs through node:crypto (OpenSSL) instead of the pure-JS signer the browser-safe core
 * uses: a checkpoint signature costs tens of µs instead of about a millisecond. Ed25519
 * (RFC 8032) signatures are deterministic, so both produce the same bytes; the key is
 * checked against the core's signer once, at load, and the core's signer is kept when they
 * disagree.
 */
import { createPrivateKey, sign, type KeyObject } from 'node:crypto';
import type { LocalSigner } from '@parley/core/tlog';

/** DER prefix of an Ed25519 PKCS#8 PrivateKeyInfo (RFC 8410 §7) around a 32-byte seed. */
const PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');

function seedOf(signerKey: string): Buffer | undefined {
  // PRIVATE+KEY+<name>+<id>+<base64>: names and ids hold no '+', base64 may.
  const parts = signerKey.split('+');
  if (parts.length < 5 || parts[0] !== 'PRIVATE' || parts[1] !== 'KEY') return undefined;
  const material = Buffer.from(parts.slice(4).join('+'), 'base64');
  return material.length === 33 && material[0] === 0x01 ? material.subarray(1) : undefined;
}

/**
 * `parsed` (the core's `parseSignerKey(signerKey)`, which validated the string) with a
 * node:crypto `sign`; `parsed` itself when the key cannot be used that way.
 *
 * @example
 * const signer = await nodeSigner(text, parseSignerKey(text));
 */
export async function nodeSigner(signerKey: string, parsed: LocalSigner): Promise<LocalSigner> {
  const seed = seedOf(signerKey);
  if (seed === undefined) return parsed;
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, seed]), format: 'der', type: 'pkcs8' });
  } catch {
    return parsed;
  }
  const signWithNode = (message: Uint8Array): Promise<Uint8Array> => {
    const signature = sign(null, message, key);
    return Promise.resolve(new Uint8Array(signature.buffer, signature.byteOffset, signature.byteLength));
  };
  // The same key? Deterministic signatures of one probe message must match byte for byte.
  const probe = new TextEncoder().encode('parley/node-signer/self-check\n');
  const [ours, theirs] = await Promise.all([signWithNode(probe), parsed.sign(probe)]);
  if (!Buffer.from(ours).equals(Buffer.from(theirs))) return parsed;
  return { name: parsed.name, keyHash: parsed.keyHash, publicKey: parsed.publicKey, verifierKey: parsed.verifierKey, sign: signWithNode };
}
