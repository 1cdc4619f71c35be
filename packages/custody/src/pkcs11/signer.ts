/**
 * An Ed25519 key inside a PKCS#11 token (PKCS#11 3.0 §6.7: CKK_EC_EDWARDS, CKM_EDDSA):
 * the private key is generated in the token, sensitive and never extractable; signing is
 * done by the token with pure Ed25519 (RFC 8032 §5.1, CKM_EDDSA without parameters), and
 * every signature is verified against the public key before it is returned, so a faulty
 * token never gets a bad signature into a checkpoint.
 */
import { randomBytes } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { ed25519PublicKeyObject, verifyEd25519, type Ed25519Signer } from '../ed25519.js';
import { CustodyError } from '../errors.js';
import { CKK_EC_EDWARDS, CKM_EC_EDWARDS_KEY_PAIR_GEN, CKM_EDDSA, ED25519_EC_PARAMS, ED25519_EC_PARAMS_NAMED } from './constants.js';
import { pkcs11Failure, type Handle } from './module.js';
import { destroyObject, findOrCreate, TokenSession, type CreatedObject, type SessionContext, type TemplateAttribute, type TokenSessionOptions } from './token.js';
import { describePkcs11Uri, parsePkcs11Uri, type Pkcs11Uri } from './uri.js';

/**
 * Options of {@link Pkcs11Signer.open}.
 *
 * @example
 * const options: Pkcs11SignerOptions = { object: 'parley-tlog-keys', create: true }
 */
export interface Pkcs11SignerOptions extends TokenSessionOptions {
  /** The key's label (CKA_LABEL); default the URI's `object`. */
  readonly object?: string;
  /** Generate the key pair inside the token when no key has this label. */
  readonly create?: boolean;
}

/**
 * The public key from CKA_EC_POINT: a DER OCTET STRING `04 20 ‖ 32 bytes` (PKCS#11 3.0
 * §6.7.3), or the raw 32 bytes some tokens store.
 *
 * @example
 * ecPointToPublicKey(Buffer.from('0420' + '11'.repeat(32), 'hex')).length // 32
 */
export function ecPointToPublicKey(point: Uint8Array): Uint8Array {
  if (point.length === 34 && point[0] === 0x04 && point[1] === 0x20) return new Uint8Array(point.subarray(2));
  if (point.length === 32) return new Uint8Array(point);
  throw new CustodyError('pkcs11_key_invalid', 'the public key object holds no Ed25519 point (CKA_EC_POINT)');
}

/**
 * @example
 * const signer = await Pkcs11Signer.open('pkcs11:token=parley;object=parley-tlog-keys?pin-source=file:/etc/parley/pin', { create: true })
 * const signature = await signer.sign(message) // 64 bytes, already verified
 * await signer.close()
 */
export class Pkcs11Signer implements Ed25519Signer {
  readonly publicKey: Uint8Array;
  readonly description: string;
  /** True when {@link open} generated the key pair. */
  readonly created: boolean;
  readonly #token: TokenSession;
  readonly #privateKey: Handle;
  readonly #verifyKey: KeyObject;

  private constructor(token: TokenSession, privateKey: Handle, publicKey: Uint8Array, description: string, created: boolean) {
    this.#token = token;
    this.#privateKey = privateKey;
    this.publicKey = publicKey;
    this.#verifyKey = ed25519PublicKeyObject(publicKey);
    this.description = description;
    this.created = created;
  }

  /**
   * Opens the Ed25519 key labelled `options.object` (or the URI's `object`) in the token
   * the URI names; with `create`, generates the pair in the token when absent. Refuses a
   * missing key (`pkcs11_key_not_found`), several under one label (`pkcs11_key_ambiguous`),
   * an extractable or non-sensitive one, or one whose public half does not match
   * (`pkcs11_key_invalid`).
   */
  static async open(uri: string | Pkcs11Uri, options: Pkcs11SignerOptions = {}): Promise<Pkcs11Signer> {
    const parsed = typeof uri === 'string' ? parsePkcs11Uri(uri) : uri;
    const label = options.object ?? parsed.object;
    if (label === undefined || label === '') throw new CustodyError('pkcs11_bad_uri', 'the PKCS#11 URI names no key object (object=…)', { details: { reason: 'no_object' } });
    const description = describePkcs11Uri(parsed, label);
    const token = await TokenSession.open(parsed, options);
    try {
      const ck = token.ck;
      const privateTemplate = (): TemplateAttribute[] => [
        { type: ck.CKA_CLASS, value: ck.CKO_PRIVATE_KEY },
        { type: ck.CKA_KEY_TYPE, value: CKK_EC_EDWARDS },
        { type: ck.CKA_LABEL, value: label },
        ...(parsed.id !== undefined && options.object === undefined ? [{ type: ck.CKA_ID, value: Buffer.from(parsed.id) }] : []),
      ];
      const find = (): Promise<Handle[]> => token.run((c) => token.findObjects(c, privateTemplate()));
      const create = async (): Promise<CreatedObject> => {
        const pair = await token.run((c) => generatePair(c, label));
        return {
          handle: pair.privateKey,
          destroy: async () => {
            await destroyObject(token, pair.privateKey);
            await destroyObject(token, pair.publicKey);
          },
        };
      };
      const idOf = (h: Handle): Promise<string> => token.run((c) => token.attributes(c, h, [ck.CKA_ID]).get(ck.CKA_ID)?.toString('hex') ?? '');
      let handle: Handle;
      let created = false;
      if (options.create) {
        ({ handle, created } = await findOrCreate(find, create, idOf, label));
      } else {
        const found = await find();
        if (found.length === 0) throw new CustodyError('pkcs11_key_not_found', `no Ed25519 private key labelled ${label} in ${describePkcs11Uri(parsed)}`, { details: { object: label } });
        if (found.length > 1) throw new CustodyError('pkcs11_key_ambiguous', `several Ed25519 private keys are labelled ${label}: remove all but one`, { details: { object: label } });
        handle = found[0]!;
      }
      const publicKey = await token.run((c) => readPublicKey(token, c, handle, label));
      const signer = new Pkcs11Signer(token, handle, publicKey, description, created);
      // Self-test: the private key in the token belongs to this public key.
      await signer.sign(randomBytes(32));
      return signer;
    } catch (error) {
      await token.close();
      if (error instanceof CustodyError && error.code === 'pkcs11_bad_signature') {
        throw new CustodyError('pkcs11_key_invalid', `the key pair labelled ${label} does not match (its signature does not verify under its public key)`, { details: { object: label } });
      }
      throw error;
    }
  }

  /** Pure Ed25519 (CKM_EDDSA) in the token, checked against the public key before it is returned. */
  async sign(message: Uint8Array): Promise<Uint8Array> {
    const data = Buffer.from(message.buffer, message.byteOffset, message.byteLength);
    const signature = await this.#token.run(async ({ pkcs11, session }) => {
      try {
        pkcs11.C_SignInit(session, { mechanism: CKM_EDDSA }, this.#privateKey);
        return new Uint8Array(await pkcs11.C_SignAsync(session, data, Buffer.alloc(64)));
      } catch (error) {
        throw pkcs11Failure('C_Sign', error);
      }
    });
    if (!verifyEd25519(this.#verifyKey, message, signature)) {
      throw new CustodyError('pkcs11_bad_signature', `the token's signature with ${this.description} does not verify under its public key`, { details: { key: this.description } });
    }
    return signature;
  }

  /** Ends the token session (idempotent). */
  close(): Promise<void> {
    return this.#token.close();
  }

  toJSON(): { description: string } {
    return { description: this.description };
  }
}

/** Generates the pair inside the token: token object, private, sensitive, never extractable (PKCS#11 3.0 §6.7.5). */
async function generatePair(c: SessionContext, label: string): Promise<{ privateKey: Handle; publicKey: Handle }> {
  const { pkcs11, ck, session } = c;
  const id = randomBytes(16);
  try {
    return await pkcs11.C_GenerateKeyPairAsync(
      session,
      { mechanism: CKM_EC_EDWARDS_KEY_PAIR_GEN },
      [
        { type: ck.CKA_CLASS, value: ck.CKO_PUBLIC_KEY },
        { type: ck.CKA_KEY_TYPE, value: CKK_EC_EDWARDS },
        { type: ck.CKA_TOKEN, value: true },
        { type: ck.CKA_PRIVATE, value: false },
        { type: ck.CKA_VERIFY, value: true },
        { type: ck.CKA_LABEL, value: label },
        { type: ck.CKA_ID, value: id },
        { type: ck.CKA_EC_PARAMS, value: Buffer.from(ED25519_EC_PARAMS) },
      ],
      [
        { type: ck.CKA_CLASS, value: ck.CKO_PRIVATE_KEY },
        { type: ck.CKA_KEY_TYPE, value: CKK_EC_EDWARDS },
        { type: ck.CKA_TOKEN, value: true },
        { type: ck.CKA_PRIVATE, value: true },
        { type: ck.CKA_SENSITIVE, value: true },
        { type: ck.CKA_EXTRACTABLE, value: false },
        { type: ck.CKA_SIGN, value: true },
        { type: ck.CKA_LABEL, value: label },
        { type: ck.CKA_ID, value: id },
      ],
    );
  } catch (error) {
    throw pkcs11Failure('C_GenerateKeyPair', error);
  }
}

/** Checks the private key's custody attributes and reads the public key of the pair (same label and CKA_ID). */
function readPublicKey(token: TokenSession, c: SessionContext, privateKey: Handle, label: string): Uint8Array {
  const { ck } = c;
  const attrs = token.attributes(c, privateKey, [ck.CKA_SENSITIVE, ck.CKA_EXTRACTABLE, ck.CKA_SIGN, ck.CKA_ID]);
  const flag = (type: number): boolean => (attrs.get(type)?.[0] ?? 0) !== 0;
  if (!flag(ck.CKA_SENSITIVE) || flag(ck.CKA_EXTRACTABLE) || !flag(ck.CKA_SIGN)) {
    throw new CustodyError('pkcs11_key_invalid', `the key labelled ${label} must be sensitive, not extractable, and allowed to sign`, { details: { object: label } });
  }
  const id = attrs.get(ck.CKA_ID);
  const publics = token.findObjects(c, [
    { type: ck.CKA_CLASS, value: ck.CKO_PUBLIC_KEY },
    { type: ck.CKA_KEY_TYPE, value: CKK_EC_EDWARDS },
    { type: ck.CKA_LABEL, value: label },
    ...(id !== undefined && id.length > 0 ? [{ type: ck.CKA_ID, value: id }] : []),
  ]);
  if (publics.length !== 1) {
    throw new CustodyError('pkcs11_key_invalid', `the key labelled ${label} has ${publics.length === 0 ? 'no' : 'several'} public key objects (CKA_EC_POINT) with its label and id`, { details: { object: label } });
  }
  const pub = token.attributes(c, publics[0]!, [ck.CKA_EC_PARAMS, ck.CKA_EC_POINT]);
  const params = pub.get(ck.CKA_EC_PARAMS);
  if (params !== undefined && !params.equals(ED25519_EC_PARAMS) && !params.equals(ED25519_EC_PARAMS_NAMED)) {
    throw new CustodyError('pkcs11_key_invalid', `the key labelled ${label} is not on edwards25519 (Ed448?)`, { details: { object: label } });
  }
  return ecPointToPublicKey(pub.get(ck.CKA_EC_POINT) ?? Buffer.alloc(0));
}
