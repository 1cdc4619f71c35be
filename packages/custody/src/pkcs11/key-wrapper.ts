/**
 * A {@link KeyWrapper} whose key is an AES-256 key inside a PKCS#11 token (CKK_AES,
 * sensitive, never extractable): wrapping is AES-GCM in the token (CKM_AES_GCM, NIST SP
 * 800-38D) with a fresh random 96-bit IV per call (§8.2.2; wrapping is rare, far below the
 * 2^32 invocations a key may take) and the context as additional authenticated data, so a
 * wrapped key opens only under the same key and context. Output (version 1):
 *
 *     0x01 ‖ IV (12 bytes) ‖ ciphertext ‖ tag (16 bytes)
 *
 * Tampering, another context or another key → `unwrap_failed`; another format → `wrapped_format`.
 */
import { randomBytes } from 'node:crypto';
import { CustodyError } from '../errors.js';
import type { KeyWrapper } from '../key-wrapper.js';
import { ckrOf, pkcs11Failure, type Handle } from './module.js';
import { destroyObject, findOrCreate, TokenSession, type CreatedObject, type SessionContext, type TokenSessionOptions } from './token.js';
import { describePkcs11Uri, parsePkcs11Uri, type Pkcs11Uri } from './uri.js';

const VERSION = 1;
const IV_BYTES = 12;
const TAG_BYTES = 16;
const AAD_PREFIX = 'parley/custody/wrap/';

/**
 * Options of {@link Pkcs11KeyWrapper.open}.
 *
 * @example
 * const options: Pkcs11KeyWrapperOptions = { object: 'parley-wrap', create: true }
 */
export interface Pkcs11KeyWrapperOptions extends TokenSessionOptions {
  /** The AES key's label (CKA_LABEL); default the URI's `object`. */
  readonly object?: string;
  /** Generate the AES key inside the token when none has this label. */
  readonly create?: boolean;
}

/**
 * @example
 * const wrapper = await Pkcs11KeyWrapper.open('pkcs11:token=bank;object=parley-gateway-wrap', { create: true })
 * const wrapped = await wrapper.wrap(dataKey, 'gateway/data-key')
 * const dataKeyAgain = await wrapper.unwrap(wrapped, 'gateway/data-key')
 * await wrapper.close()
 */
export class Pkcs11KeyWrapper implements KeyWrapper {
  /** `pkcs11:object=<label>;id=<hex CKA_ID>`: names the key the same on every token holding a copy of it. */
  readonly id: string;
  readonly description: string;
  /** True when {@link open} generated the key. */
  readonly created: boolean;
  readonly #token: TokenSession;
  readonly #key: Handle;

  private constructor(token: TokenSession, key: Handle, id: string, description: string, created: boolean) {
    this.#token = token;
    this.#key = key;
    this.id = id;
    this.description = description;
    this.created = created;
  }

  /**
   * Opens the AES-256 key labelled `options.object` (or the URI's `object`); with `create`,
   * generates it in the token when absent. Refuses a key that is not AES-256, extractable or
   * not sensitive (`pkcs11_key_invalid`), several under one label (`pkcs11_key_ambiguous`).
   */
  static async open(uri: string | Pkcs11Uri, options: Pkcs11KeyWrapperOptions = {}): Promise<Pkcs11KeyWrapper> {
    const parsed = typeof uri === 'string' ? parsePkcs11Uri(uri) : uri;
    const label = options.object ?? parsed.object;
    if (label === undefined || label === '') throw new CustodyError('pkcs11_bad_uri', 'the PKCS#11 URI names no key object (object=…)', { details: { reason: 'no_object' } });
    const token = await TokenSession.open(parsed, options);
    try {
      const ck = token.ck;
      const find = (): Promise<Handle[]> =>
        token.run((c) =>
          token.findObjects(c, [
            { type: ck.CKA_CLASS, value: ck.CKO_SECRET_KEY },
            { type: ck.CKA_KEY_TYPE, value: ck.CKK_AES },
            { type: ck.CKA_LABEL, value: label },
            ...(parsed.id !== undefined && options.object === undefined ? [{ type: ck.CKA_ID, value: Buffer.from(parsed.id) }] : []),
          ]),
        );
      let handle: Handle;
      let created = false;
      if (options.create) {
        const create = async (): Promise<CreatedObject> => {
          const key = await token.run((c) => generateAesKey(c, label));
          return {
            handle: key,
            destroy: () => destroyObject(token, key),
          };
        };
        const idOf = (h: Handle): Promise<string> => token.run((c) => token.attributes(c, h, [ck.CKA_ID]).get(ck.CKA_ID)?.toString('hex') ?? '');
        ({ handle, created } = await findOrCreate(find, create, idOf, label));
      } else {
        const found = await find();
        if (found.length === 0) throw new CustodyError('pkcs11_key_not_found', `no AES key labelled ${label} in ${describePkcs11Uri(parsed)}`, { details: { object: label } });
        if (found.length > 1) throw new CustodyError('pkcs11_key_ambiguous', `several AES keys are labelled ${label}: remove all but one`, { details: { object: label } });
        handle = found[0]!;
      }
      const keyId = await token.run((c) => {
        const a = token.attributes(c, handle, [ck.CKA_VALUE_LEN, ck.CKA_SENSITIVE, ck.CKA_EXTRACTABLE, ck.CKA_ENCRYPT, ck.CKA_DECRYPT, ck.CKA_ID]);
        const flag = (type: number): boolean => (a.get(type)?.[0] ?? 0) !== 0;
        const length = a.get(ck.CKA_VALUE_LEN);
        const bytes = length === undefined ? 0 : length.length >= 8 ? Number(length.readBigUInt64LE(0)) : length.readUInt32LE(0);
        if (bytes !== 32 || !flag(ck.CKA_SENSITIVE) || flag(ck.CKA_EXTRACTABLE) || !flag(ck.CKA_ENCRYPT) || !flag(ck.CKA_DECRYPT)) {
          throw new CustodyError('pkcs11_key_invalid', `the key labelled ${label} must be AES-256, sensitive, not extractable, allowed to encrypt and decrypt`, { details: { object: label } });
        }
        return a.get(ck.CKA_ID)?.toString('hex') ?? '';
      });
      return new Pkcs11KeyWrapper(token, handle, `pkcs11:object=${encodeURIComponent(label)}${keyId ? `;id=${keyId}` : ''}`, describePkcs11Uri(parsed, label), created);
    } catch (error) {
      await token.close();
      throw error;
    }
  }

  async wrap(key: Uint8Array, context: string): Promise<Uint8Array> {
    const iv = randomBytes(IV_BYTES);
    const body = await this.#token.run(async (c) => {
      try {
        c.pkcs11.C_EncryptInit(c.session, gcm(c, iv, context), this.#key);
        return await c.pkcs11.C_EncryptAsync(c.session, Buffer.from(key), Buffer.alloc(key.length + TAG_BYTES + 16));
      } catch (error) {
        throw pkcs11Failure('C_Encrypt', error);
      }
    });
    const out = new Uint8Array(1 + IV_BYTES + body.length);
    out[0] = VERSION;
    out.set(iv, 1);
    out.set(body, 1 + IV_BYTES);
    return out;
  }

  async unwrap(wrapped: Uint8Array, context: string): Promise<Uint8Array> {
    if (!(wrapped instanceof Uint8Array) || wrapped.length < 1 + IV_BYTES + TAG_BYTES || wrapped[0] !== VERSION) {
      throw new CustodyError('wrapped_format', 'a wrapped key of an unknown format or version');
    }
    const iv = Buffer.from(wrapped.subarray(1, 1 + IV_BYTES));
    const body = Buffer.from(wrapped.subarray(1 + IV_BYTES));
    return this.#token.run(async (c) => {
      try {
        c.pkcs11.C_DecryptInit(c.session, gcm(c, iv, context), this.#key);
        return new Uint8Array(await c.pkcs11.C_DecryptAsync(c.session, body, Buffer.alloc(body.length)));
      } catch (error) {
        const ckr = ckrOf(error);
        // GCM's tag check failing: tampered, another context or another key (tokens report it differently).
        if (ckr === 'CKR_ENCRYPTED_DATA_INVALID' || ckr === 'CKR_GENERAL_ERROR' || ckr === 'CKR_FUNCTION_FAILED' || ckr === 'CKR_ENCRYPTED_DATA_LEN_RANGE') {
          throw new CustodyError('unwrap_failed', `the wrapped key does not open under ${this.description} with this context (tampered, another context or another key)`, { details: { key: this.description } });
        }
        throw pkcs11Failure('C_Decrypt', error);
      }
    });
  }

  /** Ends the token session (idempotent). */
  close(): Promise<void> {
    return this.#token.close();
  }

  toJSON(): { id: string; description: string } {
    return { id: this.id, description: this.description };
  }
}

/** CK_GCM_PARAMS (PKCS#11 3.0 §2.12.3, the v2.40 layout with ulIvBits): 96-bit IV, 128-bit tag, the context as AAD. */
function gcm(c: SessionContext, iv: Buffer, context: string): { mechanism: number; parameter: { type: number; iv: Buffer; ivBits: number; aad: Buffer; tagBits: number } } {
  return {
    mechanism: c.ck.CKM_AES_GCM,
    parameter: { type: c.ck.CK_PARAMS_GCM, iv, ivBits: IV_BYTES * 8, aad: Buffer.from(`${AAD_PREFIX}${context}`, 'utf8'), tagBits: TAG_BYTES * 8 },
  };
}

async function generateAesKey(c: SessionContext, label: string): Promise<Handle> {
  const { pkcs11, ck, session } = c;
  try {
    return await pkcs11.C_GenerateKeyAsync(session, { mechanism: ck.CKM_AES_KEY_GEN }, [
      { type: ck.CKA_CLASS, value: ck.CKO_SECRET_KEY },
      { type: ck.CKA_KEY_TYPE, value: ck.CKK_AES },
      { type: ck.CKA_VALUE_LEN, value: 32 },
      { type: ck.CKA_TOKEN, value: true },
      { type: ck.CKA_PRIVATE, value: true },
      { type: ck.CKA_SENSITIVE, value: true },
      { type: ck.CKA_EXTRACTABLE, value: false },
      { type: ck.CKA_ENCRYPT, value: true },
      { type: ck.CKA_DECRYPT, value: true },
      { type: ck.CKA_LABEL, value: label },
      { type: ck.CKA_ID, value: randomBytes(16) },
    ]);
  } catch (error) {
    throw pkcs11Failure('C_GenerateKey', error);
  }
}
