/**
 * The seam through which the business's own key protects the gateway's state: a
 * `KeyWrapper` wraps and unwraps the data key that seals every record at rest: a key file
 * (this module; AES-256-GCM, node:crypto), or an AES key inside the business's HSM
 * (`Pkcs11KeyWrapper` from `@parley/custody`, chosen by `--signer`), so the data key never
 * sits unwrapped on disk or in the database.
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { chmod, readFile, stat, writeFile } from 'node:fs/promises';
import type { KeyWrapper } from '@parley/custody';
import { GatewayError } from '../errors.js';

/** The seam itself lives in `@parley/custody` (a key file here, or `Pkcs11KeyWrapper` for a key in an HSM). */
export type { KeyWrapper };

const FILE_PREFIX = 'parley-gateway-key-v1:';
const VERSION = 1;

/** AES-256-GCM (NIST SP 800-38D) with a 96-bit random nonce; `aad` binds the sealed bytes to their name. */
export function sealAesGcm(key: Uint8Array, plaintext: Uint8Array, aad: string): Uint8Array {
  const nonce = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, nonce);
  cipher.setAAD(Buffer.from(aad, 'utf8'));
  const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return new Uint8Array(Buffer.concat([Buffer.from([VERSION]), nonce, body, cipher.getAuthTag()]));
}

/** Opens what `sealAesGcm` sealed with the same key and `aad`; `record_unreadable` otherwise. */
export function openAesGcm(key: Uint8Array, sealed: Uint8Array, aad: string): Uint8Array {
  if (sealed.length < 1 + 12 + 16 || sealed[0] !== VERSION) throw new GatewayError('record_unreadable', 'a sealed record has an unknown format');
  const decipher = createDecipheriv('aes-256-gcm', key, sealed.subarray(1, 13));
  decipher.setAAD(Buffer.from(aad, 'utf8'));
  decipher.setAuthTag(sealed.subarray(sealed.length - 16));
  try {
    return new Uint8Array(Buffer.concat([decipher.update(sealed.subarray(13, sealed.length - 16)), decipher.final()]));
  } catch {
    throw new GatewayError('record_unreadable', 'a sealed record does not open under this key (wrong key or tampered)');
  }
}

/**
 * A 256-bit key in a file only its owner can read (mode 0600), wrapping with AES-256-GCM.
 *
 * @example
 * await KeyFileWrapper.create('/etc/parley/gateway.key')
 * const wrapper = await KeyFileWrapper.load('/etc/parley/gateway.key')
 */
export class KeyFileWrapper implements KeyWrapper {
  readonly id: string;
  readonly #key: Uint8Array;

  private constructor(key: Uint8Array) {
    this.#key = key;
    this.id = `file:${createHash('sha256').update('parley/gateway/key-id').update(key).digest('base64url').slice(0, 16)}`;
  }

  /** Writes a fresh key file (0600); refuses to overwrite one. */
  static async create(path: string): Promise<KeyFileWrapper> {
    const key = new Uint8Array(randomBytes(32));
    await writeFile(path, `${FILE_PREFIX}${Buffer.from(key).toString('base64url')}\n`, { mode: 0o600, flag: 'wx' }).catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'EEXIST') throw new GatewayError('key_file_exists', `${path} exists: refusing to overwrite a key`);
      throw error;
    });
    await chmod(path, 0o600);
    return new KeyFileWrapper(key);
  }

  /** Reads a key file; refuses one that others can read (`key_file_insecure`) or that is not a key (`key_file_invalid`). */
  static async load(path: string): Promise<KeyFileWrapper> {
    const info = await stat(path).catch(() => {
      throw new GatewayError('key_file_missing', `no key file at ${path}`);
    });
    if (process.platform !== 'win32' && (info.mode & 0o077) !== 0) {
      throw new GatewayError('key_file_insecure', `${path} is readable by others (mode ${(info.mode & 0o777).toString(8)}); chmod 600 it`);
    }
    const text = (await readFile(path, 'utf8')).trim();
    const key = text.startsWith(FILE_PREFIX) ? Buffer.from(text.slice(FILE_PREFIX.length), 'base64url') : Buffer.alloc(0);
    if (key.length !== 32) throw new GatewayError('key_file_invalid', `${path} is not a Parley gateway key file`);
    return new KeyFileWrapper(new Uint8Array(key));
  }

  async wrap(key: Uint8Array, context: string): Promise<Uint8Array> {
    return sealAesGcm(this.#key, key, `parley/gateway/wrap/${context}`);
  }

  async unwrap(wrapped: Uint8Array, context: string): Promise<Uint8Array> {
    return openAesGcm(this.#key, wrapped, `parley/gateway/wrap/${context}`);
  }
}
