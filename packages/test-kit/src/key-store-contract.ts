/**
 * The KeyStore contract: one suite every implementation passes (MemoryKeyStore and
 * FileKeyStore in client/test/key-store.test.ts; IndexedDbKeyStore in headless Chromium, through a
 * proxy, in client/test/browser/indexeddb-contract.test.ts; the gateway's DbKeyStore in
 * gateway/test/db-key-store.test.ts).
 */
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { fromUtf8, randomBytes, utf8 } from '@parley/core';
import { KeyStoreError, type KeyStore, type KeyStoreOp } from '@parley/client';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** Closes the store after the test (closing twice is fine). */
export function track<T extends KeyStore>(store: T): T {
  cleanups.push(() => store.close());
  return store;
}

/** Awaits `promise` and expects a KeyStoreError with `code`. */
export async function expectCode(promise: Promise<unknown>, code: string): Promise<void> {
  const error: unknown = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(KeyStoreError);
  expect((error as KeyStoreError).code).toBe(code);
}

/** A put of `value` (text is UTF-8 encoded). */
export const put = (name: string, value: Uint8Array | string): KeyStoreOp => ({
  op: 'put',
  name,
  value: typeof value === 'string' ? utf8(value) : value,
});
/** A delete. */
export const del = (name: string): KeyStoreOp => ({ op: 'delete', name });
/** A stored value as text. */
export const text = (value: Uint8Array | undefined): string | undefined => (value === undefined ? undefined : fromUtf8(value));

/** Declares the contract suite for the stores `factory` makes (a fresh, empty store each call). */
export function keyStoreContract(label: string, factory: () => Promise<KeyStore>): void {
  describe(`KeyStore contract: ${label}`, () => {
    const open = async () => track(await factory());

    it('gets undefined for a missing record', async () => {
      const store = await open();
      expect(await store.get('nothing/here')).toBeUndefined();
    });

    it('puts, overwrites and deletes', async () => {
      const store = await open();
      await store.write([put('a', 'one')]);
      expect(text(await store.get('a'))).toBe('one');
      await store.write([put('a', 'two')]);
      expect(text(await store.get('a'))).toBe('two');
      await store.write([del('a')]);
      expect(await store.get('a')).toBeUndefined();
      await store.write([del('a')]); // deleting a missing record is a no-op
      await store.write([]);
      expect(await store.list('')).toEqual([]);
    });

    it('round-trips empty, binary and large values and a 200-character name', async () => {
      const store = await open();
      const binary = randomBytes(20_000);
      const longName = 'n/' + 'x'.repeat(198);
      await store.write([put('empty', new Uint8Array(0)), put('binary', binary), put(longName, 'long')]);
      expect(await store.get('empty')).toEqual(new Uint8Array(0));
      expect(Buffer.compare((await store.get('binary'))!, binary)).toBe(0); // toEqual is slow on big arrays
      expect(text(await store.get(longName))).toBe('long');
    });

    it('treats names case-sensitively', async () => {
      const store = await open();
      await store.write([put('Key', 'upper'), put('key', 'lower'), put('KEY', 'all')]);
      expect(text(await store.get('Key'))).toBe('upper');
      expect(text(await store.get('key'))).toBe('lower');
      expect(text(await store.get('KEY'))).toBe('all');
    });

    it('lists names by prefix, sorted', async () => {
      const store = await open();
      await store.write([put('kp/2', 'x'), put('group/b', 'x'), put('kp/10', 'x'), put('group/a', 'x'), put('kp/1', 'x'), put('identity', 'x')]);
      expect(await store.list('kp/')).toEqual(['kp/1', 'kp/10', 'kp/2']);
      expect(await store.list('group/')).toEqual(['group/a', 'group/b']);
      expect(await store.list('')).toEqual(['group/a', 'group/b', 'identity', 'kp/1', 'kp/10', 'kp/2']);
      expect(await store.list('zzz')).toEqual([]);
      await store.write([del('kp/10'), put('kp/3', 'x')]);
      expect(await store.list('kp/')).toEqual(['kp/1', 'kp/2', 'kp/3']);
    });

    it('applies a batch in order: the last operation on a name wins', async () => {
      const store = await open();
      await store.write([put('a', '1'), del('a'), put('b', '1'), put('b', '2'), del('c'), put('c', '3')]);
      expect(await store.get('a')).toBeUndefined();
      expect(text(await store.get('b'))).toBe('2');
      expect(text(await store.get('c'))).toBe('3');
    });

    it('rejects a whole batch with an invalid name, op or value and applies none of it', async () => {
      const store = await open();
      await store.write([put('a', 'before')]);
      await expectCode(store.write([put('a', 'after'), put('b', 'new'), del('bad name')]), 'key_store_invalid_name');
      await expectCode(store.write([put('a', 'after'), { op: 'put', name: 'b', value: 'text' as unknown as Uint8Array }]), 'key_store_invalid_value');
      await expectCode(store.write([put('a', 'after'), { op: 'rename', name: 'b' } as unknown as KeyStoreOp]), 'key_store_invalid_op');
      await expectCode(store.write([put('a', 'after'), null as unknown as KeyStoreOp]), 'key_store_invalid_op');
      expect(text(await store.get('a'))).toBe('before');
      expect(await store.list('')).toEqual(['a']);
    });

    it('rejects invalid record names everywhere', async () => {
      const store = await open();
      const invalid: unknown[] = ['', '..', 'a/../b', 'a/..', 'x'.repeat(201), 'a b', 'é', 'a\u0000b', 'a\\b', undefined, null, 123];
      for (const name of invalid) {
        await expectCode(store.get(name as string), 'key_store_invalid_name');
        await expectCode(store.write([put(name as string, 'v')]), 'key_store_invalid_name');
        await expectCode(store.write([del(name as string)]), 'key_store_invalid_name');
      }
      await expectCode(store.list(undefined as unknown as string), 'key_store_invalid_name');
      expect(await store.list('')).toEqual([]);
    });

    it('copies values on write and on get', async () => {
      const store = await open();
      const value = utf8('original');
      const pending = store.write([put('a', value)]);
      value.fill(0x58); // mutate before the write has finished
      await pending;
      expect(text(await store.get('a'))).toBe('original');

      const got = await store.get('a');
      got!.fill(0x59);
      expect(text(await store.get('a'))).toBe('original');

      // A Buffer's slice() shares memory; the store must still copy.
      const buffer = Buffer.from('from a buffer');
      await store.write([put('b', buffer)]);
      buffer.fill(0x5a);
      expect(text(await store.get('b'))).toBe('from a buffer');
    });

    it('runs concurrent writes in call order; reads see whole batches', async () => {
      const store = await open();
      const writes: Promise<void>[] = [];
      const reads: Promise<[string | undefined, string | undefined]>[] = [];
      for (let i = 1; i <= 20; i++) {
        writes.push(store.write([put('a', String(i)), put('b', String(i))]));
        reads.push(Promise.all([store.get('a'), store.get('b')]).then(([a, b]) => [text(a), text(b)]));
      }
      await Promise.all(writes);
      expect(text(await store.get('a'))).toBe('20');
      expect(text(await store.get('b'))).toBe('20');
      for (const [a, b] of await Promise.all(reads)) {
        // Each read of a and b is some committed state, and a later read never goes back.
        if (a !== undefined) expect(Number(a)).toBeGreaterThan(0);
        if (a !== undefined && b !== undefined) expect(Number(b)).toBeGreaterThanOrEqual(Number(a));
      }
    });

    it('matches a Map model over random batches (property)', async () => {
      const names = ['a', 'b', 'c/d', 'c/e', 'Z'];
      const op = fc.oneof(
        fc.record({ op: fc.constant('put' as const), name: fc.constantFrom(...names), value: fc.uint8Array({ maxLength: 8 }) }),
        fc.record({ op: fc.constant('delete' as const), name: fc.constantFrom(...names) }),
      );
      await fc.assert(
        fc.asyncProperty(fc.array(fc.array(op, { maxLength: 4 }), { maxLength: 5 }), async (batches) => {
          const store = await factory();
          try {
            const model = new Map<string, Uint8Array>();
            for (const batch of batches) {
              await store.write(batch);
              for (const o of batch) {
                if (o.op === 'put') model.set(o.name, o.value);
                else model.delete(o.name);
              }
            }
            for (const name of names) expect(await store.get(name)).toEqual(model.get(name));
            expect(await store.list('')).toEqual([...model.keys()].sort());
            expect(await store.list('c/')).toEqual([...model.keys()].filter((n) => n.startsWith('c/')).sort());
          } finally {
            await store.close();
          }
        }),
        { numRuns: 15 },
      );
    });

    it('rejects every call after close; close is idempotent', async () => {
      const store = await open();
      await store.write([put('a', 'x')]);
      await store.close();
      await expectCode(store.get('a'), 'key_store_closed');
      await expectCode(store.list(''), 'key_store_closed');
      await expectCode(store.write([put('a', 'y')]), 'key_store_closed');
      await store.close();
    });

    it('finishes writes issued before close', async () => {
      const store = await open();
      const pending = store.write([put('a', 'x')]);
      await store.close();
      await expect(pending).resolves.toBeUndefined();
    });
  });
}
