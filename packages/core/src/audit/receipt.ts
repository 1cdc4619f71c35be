/**
 * What a receiving device signs once it has decrypted a business message and
 * checked the content against the commitment: message id, commitment hash,
 * device, status and time, in RFC 8785 canonical JSON, Ed25519 with the
 * device's identity key.
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { Compile, Type, type Static } from '../typebox.js';
import { InvalidInputError } from '../errors.js';
import { concatBytes, utf8 } from '../bytes.js';
import { DEVICE_ID_PATTERN, IDENTITY_ID_PATTERN } from '../ids.js';
import { signEd25519, signWith, verifyEd25519, type Ed25519Signer } from '../identity-keys.js';
import { canonicalJson } from '../keylog/entry.js';
import { RFC3339_UTC } from './commitment.js';
import { MESSAGE_ID_PATTERN } from '../ids.js';

export const RECEIPT_STATUSES = ['delivered', 'read', 'commitment-mismatch'] as const;
export type ReceiptStatus = (typeof RECEIPT_STATUSES)[number];

export const ReceiptSchema = Type.Object(
  {
    v: Type.Literal(1),
    messageId: Type.String({ pattern: MESSAGE_ID_PATTERN }),
    /** base64url SHA-256 of the canonical commitment. */
    commitmentHash: Type.String({ pattern: '^[A-Za-z0-9_-]{43}$' }),
    identityId: Type.String({ pattern: IDENTITY_ID_PATTERN }),
    deviceId: Type.String({ pattern: DEVICE_ID_PATTERN }),
    status: Type.Union([Type.Literal('delivered'), Type.Literal('read'), Type.Literal('commitment-mismatch')]),
    time: Type.String({ pattern: RFC3339_UTC }),
  },
  { additionalProperties: false },
);
export type Receipt = Static<typeof ReceiptSchema>;
const checkReceipt = Compile(ReceiptSchema);

export function parseReceipt(value: unknown): Receipt {
  if (!checkReceipt.Check(value)) throw new InvalidInputError('invalid receipt', { code: 'invalid_receipt' });
  return value;
}

export function receiptBytes(receipt: Receipt): Uint8Array {
  return canonicalJson(parseReceipt(receipt));
}

export function receiptHash(receipt: Receipt): Uint8Array {
  return sha256(receiptBytes(receipt));
}

export function receiptSigningMessage(receipt: Receipt): Uint8Array {
  const body = receiptBytes(receipt);
  const len = new Uint8Array(4);
  new DataView(len.buffer).setUint32(0, body.length);
  return concatBytes(utf8('parley/v1/receipt'), new Uint8Array([0]), len, body);
}

export function signReceipt(identityPrivateKey: Uint8Array, receipt: Receipt): Uint8Array {
  return signEd25519(identityPrivateKey, receiptSigningMessage(receipt));
}

/**
 * {@link signReceipt} by the receiving device's identity key wherever it lives: Ed25519
 * (RFC 8032) over {@link receiptSigningMessage}.
 *
 * @example
 * const signature = await signReceiptWith(identitySigner, receipt);
 */
export function signReceiptWith(signer: Ed25519Signer, receipt: Receipt): Promise<Uint8Array> {
  return signWith(signer, receiptSigningMessage(receipt));
}

export function verifyReceiptSignature(identityKey: Uint8Array, receipt: Receipt, signature: Uint8Array): boolean {
  return verifyEd25519(identityKey, receiptSigningMessage(receipt), signature);
}
