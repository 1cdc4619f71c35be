/**
 * The escrowed copy of one business message: the commitment's opening and the plaintext,
 * HPKE-sealed (RFC 9180 base mode) by the sender to the escrow public key. `info` binds
 * "parley escrow v1" and the key id; `aad` binds the message id and the commitment hash,
 * so a blob cannot be moved to another message or commitment. The commitment itself names
 * the key (`escrow: { keyId }`), so the recipient and any auditor see that it is escrowed.
 */
import { Compile, Type } from '../typebox.js';
import { CryptoError } from '../errors.js';
import { fromBase64, fromUtf8, toBase64Url } from '../bytes.js';
import { canonicalJson } from '../keylog/entry.js';
import { hpkeInfo, hpkeOpen, hpkeSeal } from './hpke.js';

/** Largest escrow blob, in bytes (a 256 KiB message's text as JSON, sealed). */
export const ESCROW_BLOB_MAX_BYTES = 1024 * 1024;

/** What an escrow blob binds: the key it is sealed to, the message and its commitment hash. */
export interface EscrowBinding {
  readonly keyId: string;
  readonly messageId: string;
  /** SHA-256 of the canonical commitment (`commitmentHash`). */
  readonly commitmentHash: Uint8Array;
}

const checkPayload = Compile(
  Type.Object({ v: Type.Literal(1), opening: Type.String({ pattern: '^[A-Za-z0-9_-]{43}$' }), plaintext: Type.String() }, { additionalProperties: false }),
);

const info = (keyId: string) => hpkeInfo('parley escrow v1', keyId);
const aad = (b: EscrowBinding) => canonicalJson({ messageId: b.messageId, commitment: toBase64Url(b.commitmentHash) });

/**
 * Seals `{opening, plaintext}` to the escrow public key: `enc ‖ ciphertext`.
 *
 * @example
 * const blob = await sealEscrowPayload(publicKey, { keyId, messageId, commitmentHash: commitmentHash(commitment) }, opening, text);
 */
export async function sealEscrowPayload(publicKey: Uint8Array, binding: EscrowBinding, opening: Uint8Array, plaintext: string): Promise<Uint8Array> {
  const body = canonicalJson({ v: 1, opening: toBase64Url(opening), plaintext });
  return hpkeSeal(publicKey, info(binding.keyId), aad(binding), body);
}

/**
 * Opens an escrow blob with the reassembled private key; `escrow_decrypt_failed` when it
 * was sealed to another key, message or commitment, or altered.
 *
 * @example
 * const { opening, plaintext } = await openEscrowPayload(privateKey, { keyId, messageId, commitmentHash }, blob);
 */
export async function openEscrowPayload(privateKey: Uint8Array, binding: EscrowBinding, blob: Uint8Array): Promise<{ opening: Uint8Array; plaintext: string }> {
  const bytes = await hpkeOpen(privateKey, info(binding.keyId), aad(binding), blob);
  let value: unknown;
  try {
    value = JSON.parse(fromUtf8(bytes));
  } catch (cause) {
    throw new CryptoError('escrow_decrypt_failed', 'the escrow payload is not JSON', { cause });
  }
  if (!checkPayload.Check(value)) throw new CryptoError('escrow_decrypt_failed', 'the escrow payload is malformed');
  return { opening: fromBase64(value.opening), plaintext: value.plaintext };
}
