/**
 * Log keys (`PRIVATE+KEY+<name>+<id>+<base64(0x01 ‖ seed)>`) and the node's own notes through
 * node:crypto (OpenSSL) instead of the pure-JS Ed25519 the browser-safe core uses: a checkpoint
 * signature costs tens of µs instead of about a millisecond, and start-up skips the pure-JS
 * table (~60 ms on first use).
 */
import { KeyFileSigner } from '@parley/custody';
import { parseSignerKey, parseVerifierKey, type Ed25519NoteVerifier, type LocalSigner } from '@parley/core/tlog';
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

/**
 * A log key from its signer key string, signing through @parley/custody's `KeyFileSigner`
 * (node:crypto). Core's `parseSignerKey` validates the string and checks the key ID against
 * the public key of the node key made from the seed it parsed: one key derivation, the same
 * errors (`tlog_bad_key`, without echoing the key) as core. Ed25519 (RFC 8032) signatures are
 * deterministic, so the signatures are core's (server/test/tlog-direct.test.ts compares them).
 *
 * @example
 * const signer = parseNodeSignerKey(await readFile(keyFile, 'utf8'));
 */
export function parseNodeSignerKey(signerKey: string): LocalSigner {
  let node: KeyFileSigner | undefined;
  const parsed = parseSignerKey(signerKey, { publicKeyOf: (seed) => (node = KeyFileSigner.fromSeed(seed, { description: 'tlog key' })).publicKey });
  const key = node!;
  return { name: parsed.name, keyHash: parsed.keyHash, publicKey: parsed.publicKey, verifierKey: parsed.verifierKey, sign: (message) => key.sign(message) };
}
