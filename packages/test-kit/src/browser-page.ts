/**
 * The test page's script (bundled by esbuild for the browser in
 * browser-fixture.ts): a Parley device in the page, driven by the Node test
 * through `page.evaluate(() => window.parley.…)`. Every function resolves with a
 * plain result; SDK errors come back as `{ ok: false, code, name, message }`.
 */
import { Device, generateRecoveryKey, isClientError, type BackupSecret, type DeviceEvent } from '@parley/client';
import { IndexedDbKeyStore, browserRuntime, type IndexedDbKeyStoreOptions } from '@parley/client/browser';
import { fromWire, toWire, type Wire } from './browser-wire.js';

/** What a page function returns to the test. */
export type PageResult<T> = { ok: true; value: T } | { ok: false; code: string; name: string; message: string };

async function run<T>(fn: () => Promise<T>): Promise<PageResult<T>> {
  try {
    return { ok: true, value: await fn() };
  } catch (error) {
    if (isClientError(error)) return { ok: false, code: error.code, name: error.name, message: error.message };
    const e = error instanceof Error ? error : new Error(String(error));
    return { ok: false, code: 'not_a_client_error', name: e.name, message: e.message };
  }
}

let store: IndexedDbKeyStore | undefined;
let device: Device | undefined;
const received: string[] = [];

function listen(d: Device): void {
  d.subscribe((event: DeviceEvent) => {
    if (event.type === 'message') received.push(event.text);
  });
}

const enc = new TextEncoder();
const dec = new TextDecoder();

function rawDatabase(name: string): Promise<IDBDatabase> {
  return new Promise((resolve, reject) => {
    const request = indexedDB.open(`parley-key-store/${name}`);
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error ?? new Error('open failed'));
  });
}

function rawRequest<T>(request: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error ?? new Error('request failed'));
  });
}

/** Stores opened for the KeyStore contract, by handle. */
const contractStores = new Map<string, IndexedDbKeyStore>();

const parley = {
  /** Opens a fresh IndexedDbKeyStore for the KeyStore contract (driven from Node through `storeCall`). */
  storeOpen: (name: string) =>
    run(async () => {
      contractStores.set(name, await IndexedDbKeyStore.open(name));
    }),
  /** Calls `method` of a contract store with `args` (see `Wire`); the result comes back encoded. */
  storeCall: (name: string, method: 'get' | 'list' | 'write' | 'close', args: Wire[]) =>
    run(async () => {
      const target = contractStores.get(name);
      if (!target) throw new Error(`no contract store ${name}`);
      const decoded = args.map(fromWire);
      const fn = target[method] as (...a: unknown[]) => Promise<unknown>;
      return toWire(await fn.apply(target, decoded));
    }),

  /** Opens (creating) the store and enrolls a device in it with the browser runtime; connects. */
  enroll: (serverUrl: string, enrollmentToken: string, storeName: string) =>
    run(async () => {
      store = await IndexedDbKeyStore.open(storeName);
      device = await Device.enroll({ serverUrl, enrollmentToken, store, keyPackageBatch: 5, ...browserRuntime });
      listen(device);
      if (!(await device.connect(15_000))) throw new Error('did not connect');
      return device.deviceId as string;
    }),
  /** Opens the stored device from IndexedDB; connects. */
  open: (storeName: string) =>
    run(async () => {
      store = await IndexedDbKeyStore.open(storeName);
      device = await Device.open({ store, ...browserRuntime });
      listen(device);
      if (!(await device.connect(15_000))) throw new Error('did not connect');
      return device.deviceId as string;
    }),
  /** Texts of the messages received (decrypted) since the device was enrolled or opened in this page. */
  messages: () => [...received],
  /** Closes the device and its store (releases the tab's lock). */
  closeDevice: () =>
    run(async () => {
      await device?.close();
      await store?.close();
      device = undefined;
      store = undefined;
    }),
  /** Texts of the stored history of a conversation (`device.history`), oldest first. */
  history: (conversationId: string) =>
    run(async () => (await device!.history(conversationId)).map((r) => String((r as { text?: unknown }).text))),

  // --- backups (`device.backups`) --------------------------------------------
  /** A new recovery key, generated in the page. */
  newRecoveryKey: () => generateRecoveryKey(),
  /** Uploads this device's backup under a recovery key or a passphrase. */
  backupUpload: (secret: BackupSecret) => run(() => device!.backups.upload(secret)),
  /** Restores the newest backup (or `version`) into this device; the restore summary. */
  backupRestore: (secret: BackupSecret, version?: number) => run(() => device!.backups.restore(secret, version)),
  /** The identity's stored backups, newest first. */
  backupList: () => run(() => device!.backups.list()),

  /** Enrolls with no runtime and no WebSocket (the set-up check must refuse before any request). */
  enrollWithoutWebSocket: (serverUrl: string, enrollmentToken: string) =>
    run(async () => {
      const saved = globalThis.WebSocket;
      Reflect.deleteProperty(globalThis, 'WebSocket');
      try {
        const s = await IndexedDbKeyStore.open('no-runtime');
        try {
          await Device.enroll({ serverUrl, enrollmentToken, store: s });
        } finally {
          await s.close();
        }
      } finally {
        globalThis.WebSocket = saved;
      }
    }),

  // --- the store alone -------------------------------------------------------
  openStore: (name: string, options: IndexedDbKeyStoreOptions = {}) =>
    run(async () => {
      store = await IndexedDbKeyStore.open(name, options);
    }),
  put: (record: string, text: string) => run(() => store!.write([{ op: 'put', name: record, value: enc.encode(text) }])),
  get: (record: string) =>
    run(async () => {
      const v = await store!.get(record);
      return v === undefined ? null : dec.decode(v);
    }),
  list: (prefix: string) => run(() => store!.list(prefix)),
  writeBatch: (ops: readonly ({ op: 'put'; name: string; text: string } | { op: 'delete'; name: string })[]) =>
    run(() => store!.write(ops.map((o) => (o.op === 'put' ? { op: 'put' as const, name: o.name, value: enc.encode(o.text) } : o)))),
  /** Closes the store (kept: later calls show what a closed store does). */
  closeStore: () => run(async () => store?.close()),
  exists: (name: string) => run(() => IndexedDbKeyStore.exists(name)),
  destroy: (name: string) => run(() => IndexedDbKeyStore.destroy(name)),

  // --- the database underneath, bypassing the store ---------------------------
  /** Every record value as stored, decoded as Latin-1 (to look for plaintext). */
  rawValues: (name: string) =>
    run(async () => {
      const db = await rawDatabase(name);
      try {
        const values = await rawRequest(db.transaction('records', 'readonly').objectStore('records').getAll());
        return values.map((v: unknown) => (v instanceof Uint8Array ? String.fromCharCode(...v) : `not bytes: ${typeof v}`));
      } finally {
        db.close();
      }
    }),
  /** Copies the stored (sealed) value of record `from` over record `to`. */
  rawCopy: (name: string, from: string, to: string) =>
    run(async () => {
      const db = await rawDatabase(name);
      try {
        const records = db.transaction('records', 'readwrite').objectStore('records');
        const value: unknown = await rawRequest(records.get(from));
        await rawRequest(records.put(value, to));
      } finally {
        db.close();
      }
    }),
  /** Whether the data key kept in the header (store without passphrase) can be exported. */
  dataKeyExportable: (name: string) =>
    run(async () => {
      const db = await rawDatabase(name);
      try {
        const header = (await rawRequest(db.transaction('meta', 'readonly').objectStore('meta').get('header'))) as { dataKey?: CryptoKey; wrappedKey?: Uint8Array };
        const key = header.dataKey;
        if (!(key instanceof CryptoKey)) return { kind: 'none', extractable: false, exported: false };
        const exported = await crypto.subtle.exportKey('raw', key).then(
          () => true,
          () => false,
        );
        return { kind: key.algorithm.name, extractable: key.extractable, exported };
      } finally {
        db.close();
      }
    }),
};

declare global {
  interface Window {
    parley: typeof parley;
  }
}

window.parley = parley;
document.title = 'parley-test-page-ready';
