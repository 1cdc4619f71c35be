/**
 * A log key from a signer key string (`PRIVATE+KEY+<name>+<id>+<base64(0x01 ‖ seed)>`) that
 * signs through node:crypto (OpenSSL) instead of the pure-JS signer the browser-safe core
 * uses: a checkpoint signature costs tens of µs instead of about a millisecond. Ed25519
 * (RFC 8032) signatures are deterministic, so both produce the same bytes; the node
 * key's public key is compared with the core's once, at load, and the core's signer is kept
 * when they differ.
 */
import { KeyFileSigner } from '@parley/custody';
import type { LocalSigner } from '@parley/core/tlog';
import { equalBytes } from '@parley/core';

function seedOf(signerKey: string): Uint8Array | undefined {
  // PRIVATE+KEY+<name>+<id>+<base64>: names and ids hold no '+', base64 may.
  const parts = signerKey.split('+');
  if (parts.length < 5 || parts[0] !== 'PRIVATE' || parts[1] !== 'KEY') return undefined;
  const material = Buffer.from(parts.slice(4).join('+'), 'base64');
  return material.length === 33 && material[0] === 0x01 ? new Uint8Array(material.subarray(1)) : undefined;
}

/**
 * `parsed` (the core's `parseSignerKey(signerKey)`, which validated the string) signing
 * through @parley/custody's `KeyFileSigner` (node:crypto); `parsed` itself when the key
 * cannot be used that way or its public key differs from the one `parsed` derived.
 *
 * @example
 * const signer = nodeSigner(text, parseSignerKey(text));
 */
export function nodeSigner(signerKey: string, parsed: LocalSigner): LocalSigner {
  const seed = seedOf(signerKey);
  if (seed === undefined) return parsed;
  let node: KeyFileSigner;
  try {
    node = KeyFileSigner.fromSeed(seed, { description: `tlog key ${parsed.name}` });
  } catch {
    return parsed;
  } finally {
    seed.fill(0);
  }
  // The same key: Ed25519 signatures (RFC 8032) are deterministic functions of the seed, so the same public key means the same signatures.
  if (!equalBytes(node.publicKey, parsed.publicKey)) return parsed;
  return { name: parsed.name, keyHash: parsed.keyHash, publicKey: parsed.publicKey, verifierKey: parsed.verifierKey, sign: (message) => node.sign(message) };
}
