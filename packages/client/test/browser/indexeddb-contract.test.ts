/**
 * The KeyStore contract (test-kit/src/key-store-contract.ts, the suite MemoryKeyStore and FileKeyStore
 * pass) run against the real IndexedDbKeyStore in headless Chromium: each call of the suite
 * goes to the page (`page.evaluate`) with its arguments exactly as typed (bytes, wrong
 * types, `undefined`), and the page's result or KeyStoreError code comes back.
 */
import { afterAll, beforeAll, describe, it } from 'vitest';
import type { Page } from 'playwright-core';
import { KeyStoreError, type KeyStore, type KeyStoreOp } from '../../src/key-store.js';
import { fromWire, skipWithoutChromium, startBrowserFixture, toWire, type BrowserFixture, type Wire } from '@parley/test-kit/browser';
import { keyStoreContract } from '@parley/test-kit/key-store-contract';

const skip = skipWithoutChromium('IndexedDbKeyStore contract in Chromium');

let fx: BrowserFixture | undefined;
let page: Page | undefined;
let opened = 0;

/** A KeyStore whose every call runs on an IndexedDbKeyStore in the page. */
class PageKeyStore implements KeyStore {
  constructor(
    private readonly tab: Page,
    private readonly name: string,
  ) {}

  private async call(method: 'get' | 'list' | 'write' | 'close', args: unknown[]): Promise<unknown> {
    const result = await this.tab.evaluate(([n, m, a]) => window.parley.storeCall(n, m, a), [this.name, method, args.map(toWire)] as const);
    if (!result.ok) {
      if (result.name === 'KeyStoreError') throw new KeyStoreError(result.code as KeyStoreError['code'], result.message);
      throw new Error(`${result.name} ${result.code}: ${result.message}`);
    }
    return fromWire(result.value as Wire);
  }

  get(name: string): Promise<Uint8Array | undefined> {
    return this.call('get', [name]) as Promise<Uint8Array | undefined>;
  }
  list(prefix: string): Promise<string[]> {
    return this.call('list', [prefix]) as Promise<string[]>;
  }
  async write(ops: readonly KeyStoreOp[]): Promise<void> {
    await this.call('write', [ops]);
  }
  async close(): Promise<void> {
    await this.call('close', []);
  }
}

if (!skip) {
  beforeAll(async () => {
    fx = await startBrowserFixture();
    page = await fx.openPage();
  }, 120_000);
  afterAll(async () => {
    await fx?.close();
  });

  keyStoreContract('IndexedDbKeyStore (headless Chromium)', async () => {
    const name = `contract-${++opened}`;
    const result = await page!.evaluate((n) => window.parley.storeOpen(n), name);
    if (!result.ok) throw new Error(`opening ${name}: ${result.code}`);
    return new PageKeyStore(page!, name);
  });
} else {
  // Skipped because there is no Chromium on this machine (skipWithoutChromium printed the fix);
  // a skipped suite rather than none, since a file without a suite fails the run.
  describe.skip('IndexedDbKeyStore (headless Chromium) — skipped: no Chromium at /usr/bin/chromium', () => it('runs the KeyStore contract in the page'));
}
