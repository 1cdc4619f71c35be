/**
 * Where a device keeps its secrets: identity key, MLS signature key, KeyPackage
 * private keys, MLS group state, its outbox and its message history. Everything
 * the SDK persists goes through this interface, so a host app can plug in the
 * platform keystore; implementations: `MemoryKeyStore` (tests, ephemeral
 * devices) and `FileKeyStore` (`key-store.node.ts`, encrypted at rest).
 *
 * Record names are short ASCII paths (`[A-Za-z0-9._/-]`, at most 200 chars).
 */
import { ClientError, type KeyStoreErrorCode } from './errors.js';

/**
 * Where a device keeps every secret and all its state; plug in the platform keystore by implementing it.
 *
 * @example
 * const store: KeyStore = new MemoryKeyStore() // or FileKeyStore (Node), IndexedDbKeyStore (browser), your own
 * const phone = await Device.enroll({ serverUrl, enrollmentToken, store, ...nodeRuntime })
 */
export interface KeyStore {
  /** The value stored under `name`, or `undefined`. */
  get(name: string): Promise<Uint8Array | undefined>;
  /** Names that start with `prefix`, sorted. */
  list(prefix: string): Promise<string[]>;
  /** Applies every operation or none of them (also across a crash). */
  write(ops: readonly KeyStoreOp[]): Promise<void>;
  /** Releases resources; later calls fail. */
  close(): Promise<void>;
}

/**
 * One operation of an atomic `KeyStore.write` batch.
 *
 * @example
 * await store.write([{ op: 'put', name: 'app/settings', value: bytes }, { op: 'delete', name: 'app/draft' }])
 */
export type KeyStoreOp =
  | { readonly op: 'put'; readonly name: string; readonly value: Uint8Array }
  | { readonly op: 'delete'; readonly name: string };

const NAME_RE = /^[A-Za-z0-9._/-]{1,200}$/;

/** Throws a KeyStoreError unless `name` is a valid record name. */
export function assertRecordName(name: string): void {
  // RegExp#test coerces its argument: without the typeof check, `undefined`, `null`
  // or `123` from an untyped caller would pass as the names "undefined", "null", "123".
  if (typeof name !== 'string' || !NAME_RE.test(name) || name.includes('..')) {
    throw new KeyStoreError('key_store_invalid_name', 'invalid key store record name');
  }
}

/**
 * Errors raised by key stores (wrong passphrase, corrupted record, closed store).
 * Raised on the device: no HTTP status is chosen.
 *
 * @example
 * try { await FileKeyStore.open(dir, { passphrase }) } catch (e) { if (e instanceof KeyStoreError && e.code === 'key_store_wrong_key') askAgain() }
 */
export class KeyStoreError extends ClientError {
  declare readonly code: KeyStoreErrorCode;

  constructor(code: KeyStoreErrorCode, message: string, options: { cause?: unknown } = {}) {
    super(code, message, options);
    this.name = 'KeyStoreError';
  }
}
