/**
 * Set-up errors of issue 11, on a real server: a device (or Sender) given no
 * runtime in an environment without a WebSocket is refused at `enroll` / `open`
 * with `runtime_missing` (naming `nodeRuntime` and `browserRuntime`) before any
 * request or store write, so its enrollment token stays usable; `Sender.close()`
 * closes the store it was given.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { Device, MemoryKeyStore, RuntimeMissingError, Sender, type KeyStore } from '@parley/client';
import { nodeRuntime } from '@parley/client/node';
import { createBusiness, enroll, type Business } from '@parley/test-kit/sdk';
import { startTestServer, type TestServer } from '@parley/test-kit/server';

/** A MemoryKeyStore that counts writes. */
function countingStore(): { store: KeyStore; writes: () => number } {
  const inner = new MemoryKeyStore();
  let writes = 0;
  const store: KeyStore = {
    get: (name) => inner.get(name),
    list: (prefix) => inner.list(prefix),
    write: (ops) => {
      writes++;
      return inner.write(ops);
    },
    close: () => inner.close(),
  };
  return { store, writes: () => writes };
}

describe('set-up errors and closing', () => {
  let t: TestServer;
  let bank: Business;

  beforeAll(async () => {
    t = await startTestServer();
    bank = await createBusiness(t.url, 'setup-bank');
  });

  afterAll(async () => {
    await t?.stop();
  });

  afterEach(() => {
    vi.unstubAllGlobals();
  });

  it('refuses Device.enroll without a WebSocket before any request or write; the token still enrolls afterwards', async () => {
    vi.stubGlobal('WebSocket', undefined);
    const requests: string[] = [];
    const recordingFetch: typeof fetch = (input, init) => {
      requests.push(String(input));
      return fetch(input, init);
    };
    const token = await bank.issue('carol', 'customer');
    const { store, writes } = countingStore();
    const refused = Device.enroll({ serverUrl: t.url, enrollmentToken: token, store, keyPackageBatch: 2, fetch: recordingFetch });
    await expect(refused).rejects.toBeInstanceOf(RuntimeMissingError);
    const error = (await refused.catch((e: unknown) => e)) as RuntimeMissingError;
    expect(error.code).toBe('runtime_missing');
    expect(error.details).toEqual({ missing: ['WebSocket'] });
    expect(error.message).toContain("...nodeRuntime from '@parley/client/node'");
    expect(error.message).toContain("...browserRuntime from '@parley/client/browser'");
    expect(requests).toEqual([]);
    expect(writes()).toBe(0);
    expect(await store.list('')).toEqual([]);

    // Nothing was registered: the same single-use token enrolls a device now.
    const device = await Device.enroll({ serverUrl: t.url, enrollmentToken: token, store, keyPackageBatch: 2, ...nodeRuntime });
    expect(device.kind).toBe('customer');
    await device.close();
  });

  it('refuses Device.open, Sender.enroll and Sender.open without a runtime, and accepts an explicit webSocket', async () => {
    const store = new MemoryKeyStore();
    const device = await enroll(t.url, bank, 'dave', 'customer', store);
    await device.close();
    vi.stubGlobal('WebSocket', undefined);
    await expect(Device.open({ store })).rejects.toMatchObject({ code: 'runtime_missing' });
    await expect(Sender.open({ store })).rejects.toMatchObject({ code: 'runtime_missing' });
    await expect(Sender.enroll({ serverUrl: t.url, enrollmentToken: await bank.issue('sender', 'sender'), store: new MemoryKeyStore() })).rejects.toMatchObject({
      code: 'runtime_missing',
    });
    // A WebSocket in the options is enough (crypto and fetch have defaults here).
    const reopened = await Device.open({ store, webSocket: nodeRuntime.webSocket });
    expect(await reopened.connect(10_000)).toBe(true);
    await reopened.close();
    // Device.close leaves the store to its host.
    expect(await store.get('device')).toBeInstanceOf(Uint8Array);
  });

  it('Sender.close() closes the store it was given; a Sender wrapping a device leaves the host its store', async () => {
    const store = new MemoryKeyStore();
    const sender = await Sender.enroll({ serverUrl: t.url, enrollmentToken: await bank.issue('sender', 'sender', { name: 'Setup Bank' }), store, keyPackageBatch: 2, ...nodeRuntime });
    expect(await sender.connect(10_000)).toBe(true);
    expect(sender.device.online).toBe(true);
    await sender.close();
    expect(sender.device.online).toBe(false);
    await expect(store.get('device')).rejects.toMatchObject({ code: 'key_store_closed' });
    await expect(store.write([{ op: 'delete', name: 'device' }])).rejects.toMatchObject({ code: 'key_store_closed' });

    const hostStore = new MemoryKeyStore();
    const device = await Device.enroll({ serverUrl: t.url, enrollmentToken: await bank.issue('sender-2', 'sender', { name: 'Setup Bank' }), store: hostStore, keyPackageBatch: 2, ...nodeRuntime });
    await Sender.fromDevice(device).close();
    expect(await hostStore.get('device')).toBeInstanceOf(Uint8Array);
  });
});
