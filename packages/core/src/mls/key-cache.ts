/**
 * A small least-recently-used map for imported key handles (node:crypto `KeyObject`s,
 * WebCrypto `CryptoKey`s). Importing a key costs far more than using it (OpenSSL's
 * PKCS8 decoder ~450 µs, a WebCrypto import ~25–90 µs, versus ~40 µs for an Ed25519
 * signature), so the crypto providers keep recently used handles here.
 *
 * The bound matters: every entry keeps key material alive, so a cache must never grow
 * with the number of keys an attacker can make us touch. Capacity 0 disables caching.
 * Callers key entries by a fingerprint of secret keys (never the secret bytes
 * themselves) and by the raw bytes of public keys.
 */
export class KeyCache<V> {
  readonly #entries = new Map<string, V>();
  readonly #capacity: number;

  /**
   * @example
   * const cache = new KeyCache<CryptoKey>(64)
   * const key = cache.get(id) ?? cache.set(id, await importIt())
   */
  constructor(capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 0) throw new RangeError('capacity must be a non-negative integer');
    this.#capacity = capacity;
  }

  /** The cached value, refreshed as most recently used; `undefined` on a miss. */
  get(id: string): V | undefined {
    const value = this.#entries.get(id);
    if (value !== undefined) {
      // Map iteration order is insertion order: re-inserting moves the entry to the end.
      this.#entries.delete(id);
      this.#entries.set(id, value);
    }
    return value;
  }

  /** Stores `value` (evicting the least recently used entry when full) and returns it. */
  set(id: string, value: V): V {
    if (this.#capacity === 0) return value;
    if (this.#entries.has(id)) this.#entries.delete(id);
    else if (this.#entries.size >= this.#capacity) {
      const oldest = this.#entries.keys().next();
      if (oldest.done !== true) this.#entries.delete(oldest.value);
    }
    this.#entries.set(id, value);
    return value;
  }

  /** Number of entries held. */
  get size(): number {
    return this.#entries.size;
  }

  /** Drops every entry (e.g. after a device is wiped or a signature key is rotated). */
  clear(): void {
    this.#entries.clear();
  }
}
