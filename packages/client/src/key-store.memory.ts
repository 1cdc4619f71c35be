/**
 * An in-memory KeyStore for tests and ephemeral devices. Nothing is persisted;
 * values are copied on the way in and on the way out, so neither the caller's
 * buffer nor a returned buffer can change what is stored.
 */
import { assertRecordName, KeyStoreError, type KeyStore, type KeyStoreOp } from './key-store.js';

/**
 * A validated, copied batch: the final value per name (`null` = delete), the last
 * operation on a name winning, as if the operations had been applied in order.
 *
 * @internal Shared by the KeyStore implementations; not part of the SDK's API.
 * @example
 * const batch = snapshotKeyStoreOps([{ op: 'put', name: 'a', value: utf8('1') }, { op: 'delete', name: 'a' }]);
 * batch.get('a'); // null
 */
export function snapshotKeyStoreOps(ops: readonly KeyStoreOp[]): Map<string, Uint8Array | null> {
  if (!Array.isArray(ops)) throw new KeyStoreError('key_store_invalid_op', 'key store ops must be an array');
  // Validate everything before copying anything, so a bad batch has no effect at all.
  for (const op of ops as readonly unknown[]) {
    if (typeof op !== 'object' || op === null) {
      throw new KeyStoreError('key_store_invalid_op', 'key store op must be an object');
    }
    const { op: kind, name, value } = op as { op?: unknown; name?: unknown; value?: unknown };
    if (kind !== 'put' && kind !== 'delete') throw new KeyStoreError('key_store_invalid_op', 'unknown key store op');
    assertRecordName(name as string);
    if (kind === 'put' && !(value instanceof Uint8Array)) {
      throw new KeyStoreError('key_store_invalid_value', 'key store value must be a Uint8Array');
    }
  }
  const batch = new Map<string, Uint8Array | null>();
  for (const op of ops) {
    // `new Uint8Array(view)` copies; `Buffer#slice` would not.
    batch.set(op.name, op.op === 'put' ? new Uint8Array(op.value) : null);
  }
  return batch;
}

/**
 * KeyStore kept in a `Map`; `close()` zeroes the stored values.
 *
 * @example
 * const store = new MemoryKeyStore();
 * await store.write([{ op: 'put', name: 'identity/key', value: secret }]);
 * const copy = await store.get('identity/key');
 */
export class MemoryKeyStore implements KeyStore {
  readonly #records = new Map<string, Uint8Array>();
  #closed = false;

  /**
   * The value stored under `name` (a copy), or `undefined`.
   *
   * @example
   * const value = await store.get('identity/key')
   */
  async get(name: string): Promise<Uint8Array | undefined> {
    assertRecordName(name);
    this.#assertOpen();
    const value = this.#records.get(name);
    return value === undefined ? undefined : new Uint8Array(value);
  }

  /**
   * Names that start with `prefix`, sorted.
   *
   * @example
   * const names = await store.list('identity/')
   */
  async list(prefix: string): Promise<string[]> {
    if (typeof prefix !== 'string') throw new KeyStoreError('key_store_invalid_name', 'key store prefix must be a string');
    this.#assertOpen();
    return [...this.#records.keys()].filter((name) => name.startsWith(prefix)).sort();
  }

  /**
   * Applies every operation or none of them; values are copied.
   *
   * @example
   * await store.write([{ op: 'put', name: 'a', value: new Uint8Array([1]) }, { op: 'delete', name: 'b' }])
   */
  async write(ops: readonly KeyStoreOp[]): Promise<void> {
    this.#assertOpen();
    const batch = snapshotKeyStoreOps(ops);
    // Synchronous from here on: no other call can observe a half-applied batch.
    for (const [name, value] of batch) {
      this.#records.get(name)?.fill(0);
      if (value === null) this.#records.delete(name);
      else this.#records.set(name, value);
    }
  }

  /**
   * Zeroes and drops every stored value; later calls fail with `key_store_closed`.
   *
   * @example
   * await device.close()
   * await store.close()
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const value of this.#records.values()) value.fill(0);
    this.#records.clear();
  }

  #assertOpen(): void {
    if (this.#closed) throw new KeyStoreError('key_store_closed', 'key store is closed');
  }
}
