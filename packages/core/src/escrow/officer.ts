/**
 * Escrow officers: each holds an Ed25519 signing key (RFC 8032) for approvals and an
 * X25519 HPKE key (RFC 9180) that its share of an escrow key is sealed to. The public
 * record names both; its id is a hash of them, so nobody can pair a name with other keys
 * under the same id. The key file (`parley escrow officer-key`) holds both private halves.
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { Compile, Type, type Static } from '../typebox.js';
import { InvalidInputError } from '../errors.js';
import { equalBytes, fromBase64, toBase64Url } from '../bytes.js';
import { generateIdentityKeyPair } from '../identity-keys.js';
import { ed25519 } from '@noble/curves/ed25519.js';
import { canonicalJson } from '../keylog/entry.js';
import { generateHpkeKeyPair, hpkePublicKeyOf } from './hpke.js';

/** Whether `text` is well-formed UTF-16 (no lone surrogate): RFC 8785 cannot canonicalize it otherwise. */
export function isWellFormedText(text: string): boolean {
  return !/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(text);
}

/** base64url of 32 bytes (a public key, a hash). */
export const Key32Schema = Type.String({ pattern: '^[A-Za-z0-9_-]{43}$', description: 'base64url of 32 bytes' });
export const OFFICER_ID_PATTERN = '^off_[A-Za-z0-9_-]{22}$';

export const EscrowOfficerSchema = Type.Object(
  {
    officerId: Type.String({ pattern: OFFICER_ID_PATTERN }),
    name: Type.String({ minLength: 1, maxLength: 64, pattern: '^[^\\x00-\\x1f\\x7f]+$' }),
    signingKey: Key32Schema,
    encryptionKey: Key32Schema,
  },
  { additionalProperties: false },
);
/** An officer's public record (what `parley escrow officer-key` prints). */
export type EscrowOfficer = Static<typeof EscrowOfficerSchema>;
const checkOfficer = Compile(EscrowOfficerSchema);

export const EscrowOfficerKeyFileSchema = Type.Object(
  {
    v: Type.Literal(1),
    type: Type.Literal('parley-escrow-officer'),
    officer: EscrowOfficerSchema,
    signingPrivateKey: Key32Schema,
    encryptionPrivateKey: Key32Schema,
  },
  { additionalProperties: false },
);
/** An officer's key file: the public record and both private halves. Secret. */
export type EscrowOfficerKeyFile = Static<typeof EscrowOfficerKeyFileSchema>;
const checkKeyFile = Compile(EscrowOfficerKeyFileSchema);

/**
 * The id of an officer's keys: `off_` and base64url of the first 16 bytes of SHA-256 over
 * the canonical JSON (RFC 8785) of both public keys.
 *
 * @example
 * const id = escrowOfficerId(signingKey, encryptionKey);
 */
export function escrowOfficerId(signingKey: string, encryptionKey: string): string {
  return `off_${toBase64Url(sha256(canonicalJson({ v: 1, signingKey, encryptionKey })).slice(0, 16))}`;
}

/**
 * Checks an officer's public record (schema, and that its id is its keys' id); throws
 * `invalid_escrow_officer`.
 *
 * @example
 * const officer = parseEscrowOfficer(JSON.parse(await readFile('alice.pub.json', 'utf8')));
 */
export function parseEscrowOfficer(value: unknown): EscrowOfficer {
  if (!checkOfficer.Check(value) || !isWellFormedText(value.name)) throw new InvalidInputError('not an escrow officer record', { code: 'invalid_escrow_officer' });
  if (value.officerId !== escrowOfficerId(value.signingKey, value.encryptionKey)) {
    throw new InvalidInputError(`officer ${value.officerId}: the id is not its keys' id`, { code: 'invalid_escrow_officer' });
  }
  return value;
}

/**
 * A new officer: fresh Ed25519 and X25519 key pairs, its public record and its key file.
 *
 * @example
 * const { officer, keyFile } = await createEscrowOfficer('Alice (compliance)');
 */
export async function createEscrowOfficer(name: string): Promise<{ officer: EscrowOfficer; keyFile: EscrowOfficerKeyFile }> {
  const signing = generateIdentityKeyPair();
  const encryption = await generateHpkeKeyPair();
  const signingKey = toBase64Url(signing.publicKey);
  const encryptionKey = toBase64Url(encryption.publicKey);
  const officer = parseEscrowOfficer({ officerId: escrowOfficerId(signingKey, encryptionKey), name, signingKey, encryptionKey });
  const keyFile: EscrowOfficerKeyFile = {
    v: 1,
    type: 'parley-escrow-officer',
    officer,
    signingPrivateKey: toBase64Url(signing.privateKey),
    encryptionPrivateKey: toBase64Url(encryption.privateKey),
  };
  signing.privateKey.fill(0);
  encryption.privateKey.fill(0);
  return { officer, keyFile };
}

/**
 * Checks an officer key file: schema, record, and that each private half belongs to its
 * public key; throws `invalid_escrow_officer`.
 *
 * @example
 * const file = parseEscrowOfficerKeyFile(JSON.parse(await readFile(path, 'utf8')));
 */
export function parseEscrowOfficerKeyFile(value: unknown): EscrowOfficerKeyFile {
  if (!checkKeyFile.Check(value)) throw new InvalidInputError('not an escrow officer key file', { code: 'invalid_escrow_officer' });
  parseEscrowOfficer(value.officer);
  const signingPublic = ed25519.getPublicKey(fromBase64(value.signingPrivateKey));
  const encryptionPublic = hpkePublicKeyOf(fromBase64(value.encryptionPrivateKey));
  if (!equalBytes(signingPublic, fromBase64(value.officer.signingKey)) || !equalBytes(encryptionPublic, fromBase64(value.officer.encryptionKey))) {
    throw new InvalidInputError('the officer key file holds private keys of other public keys', { code: 'invalid_escrow_officer' });
  }
  return value;
}
