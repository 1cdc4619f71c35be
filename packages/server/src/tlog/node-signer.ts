/**
 * A log key from a signer key string (`PRIVATE+KEY+<name>+<id>+<base64(0x01 ‖ seed)>`) that
 * signs through node:crypto (OpenSSL) instead of the pure-JS signer the browser-safe core
 * uses: a checkpoint signature costs tens of µs instead of about a millisecond. Ed25519
 * (RFC 8032) signatures are deterministic, so both produce the same bytes; the node
 * key's public key is compared with the core's once, at load, and the core's signer is kept
 * when they differ.
 */
import { KeyFileSigner } from '@parley/custody';
import { parseVerifierKey, type Ed25519NoteVerifier, type LocalSigner } from '@parley/core/tlog';
import { equalBytes } from '@parley/core';
import { verifyEd25519Fast } from '../crypto/ed25519.js';

/**
 * The RFC 8032 §5.1.5 public key of a 32-byte seed through node:crypto (OpenSSL): for core's
 * `parseSignerKey`/`generateSignerKey` (`publicKeyOf`) and the VRF key, whose public key is the
 * same function of the same 32 bytes (RFC 9381 §5.1, ECVRF-EDWARDS25519-SHA512-TAI). The core's
 * pure-JS derivation gives the same bytes but builds a ~60 ms table on first use, which the
 * node's start-up then no longer pays (issue 18).
 *
 * @example
 * const signer = parseSignerKey(text, { publicKeyOf: nodePublicKeyOf });
 */
export function nodePublicKeyOf(seed: Uint8Array): Uint8Array {
  return KeyFileSigner.fromSeed(seed).publicKey;
}

/**
 * Core's `parseVerifierKey(verifierKey)` checking signatures through node:crypto, for the
 * server's checks of its OWN notes (the stored checkpoint and key announcements at start).
 * OpenSSL's verifier, like the core's, refuses a non-canonical S (RFC 8032 §5.1.7); notes
 * from elsewhere keep the core's verifier.
 *
 * @example
 * openNote(row.checkpoint, [nodeVerifier(storedKey)]);
 */
export function nodeVerifier(verifierKey: string): Ed25519NoteVerifier {
  const parsed = parseVerifierKey(verifierKey);
  const { publicKey } = parsed;
  return Object.freeze({ ...parsed, verify: (message: Uint8Array, signature: Uint8Array) => verifyEd25519Fast(publicKey, message, signature) });
}

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
