/**
 * The sender device's KeyStore in the gateway's database, so that every instance can
 * take the sender identity over: one row per record, sealed with AES-256-GCM under the
 * data key (the record's name is the AAD: a row moved to another name does not open).
 * A batch is one transaction — the MLS state, the outbox record and the history entry of
 * a send commit together — and, while the store is fenced, that transaction first checks
 * that this instance still holds the sender lease: a deposed leader cannot write.
 */
import { KeyStoreError, type KeyStore, type KeyStoreOp } from '@parley/client';
import type { Database } from '@parley/server';
import { openAesGcm, sealAesGcm } from '../custody/key-wrapper.js';
import { isParleyError } from '@parley/core';
import { checkFence, type FenceToken } from '../leadership/lease.js';

const NAME_RE = /^[A-Za-z0-9._/-]{1,200}$/;

/**
 * @example
 * const store = new DbKeyStore(db, dataKey)
 * store.fence(token) // writes now require the sender lease
 */
export class DbKeyStore implements KeyStore {
  readonly #db: Database;
  readonly #key: Uint8Array;
  #fence: FenceToken | undefined;
  #closed = false;
  /**
   * Call order, as the KeyStore contract requires: a pool runs statements on several
   * connections, so writes are chained (each waits for every earlier write and read), and a
   * read waits for the writes issued before it; reads between two writes run together.
   */
  #lastWrite: Promise<unknown> = Promise.resolve();
  #readsSinceWrite: Promise<unknown>[] = [];

  constructor(db: Database, dataKey: Uint8Array) {
    this.#db = db;
    this.#key = dataKey;
  }

  /** From now on every write checks this lease (undefined: unfenced, for `gateway init`). */
  fence(token: FenceToken | undefined): void {
    this.#fence = token;
  }

  async get(name: string): Promise<Uint8Array | undefined> {
    this.#open();
    assertName(name);
    const [row] = await this.#read(() => this.#db.query<{ value: Uint8Array }>('SELECT value FROM gateway_records WHERE name = $1', [name]));
    if (!row) return undefined;
    try {
      return openAesGcm(this.#key, row.value, `parley/gateway/record/${name}`);
    } catch (error) {
      if (isParleyError(error)) throw new KeyStoreError('key_store_corrupt', `record ${name} does not open under the data key`, { cause: error });
      throw error;
    }
  }

  async list(prefix: string): Promise<string[]> {
    if (typeof prefix !== 'string') throw new KeyStoreError('key_store_invalid_name', 'key store prefix must be a string');
    this.#open();
    const rows = await this.#read(() => this.#db.query<{ name: string }>('SELECT name FROM gateway_records WHERE starts_with(name, $1)', [prefix]));
    // Code-unit order, as every KeyStore sorts (the database's collation may differ).
    return rows.map((r) => r.name).sort();
  }

  async write(ops: readonly KeyStoreOp[]): Promise<void> {
    this.#open();
    // The last operation on a name wins, as if applied in order.
    const last = new Map<string, KeyStoreOp>();
    if (!Array.isArray(ops)) throw new KeyStoreError('key_store_invalid_op', 'write takes an array of operations');
    for (const op of ops) {
      if (op?.op !== 'put' && op?.op !== 'delete') throw new KeyStoreError('key_store_invalid_op', 'an operation is neither put nor delete');
      assertName(op.name);
      if (op.op === 'put' && !(op.value instanceof Uint8Array)) throw new KeyStoreError('key_store_invalid_value', 'a put value must be a Uint8Array');
      last.set(op.name, op);
    }
    const puts = [...last.values()].filter((op): op is Extract<KeyStoreOp, { op: 'put' }> => op.op === 'put');
    const deletes = [...last.values()].filter((op) => op.op === 'delete').map((op) => op.name);
    const sealed = puts.map((op) => sealAesGcm(this.#key, op.value, `parley/gateway/record/${op.name}`));
    const fence = this.#fence;
    await this.#write(() => this.#db.transaction(async (tx) => {
      if (fence) await checkFence(tx, fence);
      if (puts.length > 0) {
        await tx.query(
          `INSERT INTO gateway_records (name, value) SELECT * FROM unnest($1::text[], $2::bytea[])
           ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value, updated_at = now()`,
          [puts.map((p) => p.name), sealed],
        );
      }
      if (deletes.length > 0) await tx.query('DELETE FROM gateway_records WHERE name = ANY($1::text[])', [deletes]);
    }));
  }

  async close(): Promise<void> {
    this.#closed = true;
    await this.#lastWrite;
  }

  #read<T>(fn: () => Promise<T>): Promise<T> {
    const done = this.#lastWrite.then(fn);
    this.#readsSinceWrite.push(done.catch(() => {}));
    // A long run of reads: keep one promise standing for all of them.
    if (this.#readsSinceWrite.length > 256) this.#readsSinceWrite = [Promise.all(this.#readsSinceWrite)];
    return done;
  }

  #write<T>(fn: () => Promise<T>): Promise<T> {
    const before = Promise.all([this.#lastWrite, ...this.#readsSinceWrite]);
    this.#readsSinceWrite = [];
    const done = before.then(fn);
    this.#lastWrite = done.catch(() => {});
    return done;
  }

  #open(): void {
    if (this.#closed) throw new KeyStoreError('key_store_closed', 'the gateway store is closed');
  }
}

/** The KeyStore's record names (key-store.ts): short ASCII paths, no `..`. */
function assertName(name: unknown): void {
  if (typeof name !== 'string' || !NAME_RE.test(name) || name.includes('..')) throw new KeyStoreError('key_store_invalid_name', 'invalid key store record name');
}
