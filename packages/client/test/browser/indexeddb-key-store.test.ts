/**
 * IndexedDbKeyStore in headless Chromium: one tab at a time (Web Lock), the
 * passphrase (Argon2id → AES-KW-wrapped data key), all-or-nothing batches,
 * records bound to their names, nothing readable at rest, a non-extractable key.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { skipWithoutChromium, startBrowserFixture, valueOf, type BrowserFixture } from '@parley/test-kit/browser';

const skip = skipWithoutChromium('IndexedDbKeyStore in Chromium');
const CHEAP = { memoryKiB: 64, iterations: 1, parallelism: 1 } as const;

describe.skipIf(skip)('IndexedDbKeyStore in headless Chromium', () => {
  let fx: BrowserFixture;

  beforeAll(async () => {
    fx = await startBrowserFixture();
  }, 120_000);

  afterAll(async () => {
    await fx?.close();
  });

  it('refuses a second tab while the first holds the store, keeps working, and hands over on close', async () => {
    const context = await fx.browser.newContext();
    const [one, two] = [await fx.openPage(context), await fx.openPage(context)];
    valueOf(await one.evaluate(() => window.parley.openStore('tabs')));
    valueOf(await one.evaluate(() => window.parley.put('device', 'from tab one')));

    const refused = await two.evaluate(() => window.parley.openStore('tabs'));
    expect(refused).toMatchObject({ ok: false, code: 'key_store_in_use', name: 'KeyStoreError' });
    expect(refused.ok ? '' : refused.message).toMatch(/another tab/);
    expect(await two.evaluate(() => window.parley.destroy('tabs'))).toMatchObject({ ok: false, code: 'key_store_in_use' });

    // Tab one's store is untouched and still writable.
    valueOf(await one.evaluate(() => window.parley.put('more', 'still fine')));
    expect(valueOf(await one.evaluate(() => window.parley.list('')))).toEqual(['device', 'more']);

    // Closing releases the lock: tab two opens it and reads what tab one wrote; tab one is closed for good.
    valueOf(await one.evaluate(() => window.parley.closeStore()));
    expect(await one.evaluate(() => window.parley.get('device'))).toMatchObject({ ok: false, code: 'key_store_closed' });
    valueOf(await two.evaluate(() => window.parley.openStore('tabs')));
    expect(valueOf(await two.evaluate(() => window.parley.get('device')))).toBe('from tab one');

    // Closing the tab (without close()) releases the lock too.
    await two.close();
    const three = await fx.openPage(context);
    valueOf(await three.evaluate(() => window.parley.openStore('tabs')));
    expect(valueOf(await three.evaluate(() => window.parley.get('more')))).toBe('still fine');
    await context.close();
  });

  it('with a passphrase: a wrong one, or none, is refused with key_store_wrong_key; the right one opens', async () => {
    const page = await fx.openPage();
    valueOf(await page.evaluate((argon2) => window.parley.openStore('pw', { passphrase: 'right horse', argon2 }), CHEAP));
    valueOf(await page.evaluate(() => window.parley.put('secret', 'PLAINTEXT-MARKER-pw')));
    valueOf(await page.evaluate(() => window.parley.closeStore()));

    expect(await page.evaluate(() => window.parley.openStore('pw', { passphrase: 'wrong horse' }))).toMatchObject({ ok: false, code: 'key_store_wrong_key' });
    expect(await page.evaluate(() => window.parley.openStore('pw'))).toMatchObject({ ok: false, code: 'key_store_wrong_key' });
    // A refused open leaves the lock free.
    valueOf(await page.evaluate(() => window.parley.openStore('pw', { passphrase: 'right horse' })));
    expect(valueOf(await page.evaluate(() => window.parley.get('secret')))).toBe('PLAINTEXT-MARKER-pw');
    valueOf(await page.evaluate(() => window.parley.closeStore()));

    // No header key in the clear: the data key exists only wrapped.
    expect(valueOf(await page.evaluate(() => window.parley.dataKeyExportable('pw')))).toEqual({ kind: 'none', extractable: false, exported: false });
    // A store made without a passphrase refuses one.
    valueOf(await page.evaluate(() => window.parley.openStore('nopw')));
    valueOf(await page.evaluate(() => window.parley.closeStore()));
    expect(await page.evaluate(() => window.parley.openStore('nopw', { passphrase: 'x' }))).toMatchObject({ ok: false, code: 'key_store_wrong_key' });
    await page.context().close();
  });

  it('applies a batch with an invalid record name not at all; binds records to their names; stores nothing in the clear', async () => {
    const page = await fx.openPage();
    expect(valueOf(await page.evaluate(() => window.parley.exists('atomic')))).toBe(false);
    valueOf(await page.evaluate(() => window.parley.openStore('atomic')));
    expect(valueOf(await page.evaluate(() => window.parley.exists('atomic')))).toBe(true);
    valueOf(await page.evaluate(() => window.parley.put('keep', 'PLAINTEXT-MARKER-keep')));

    const bad = await page.evaluate(() =>
      window.parley.writeBatch([
        { op: 'put', name: 'a', text: 'one' },
        { op: 'delete', name: 'keep' },
        { op: 'put', name: '../escape', text: 'two' },
      ]),
    );
    expect(bad).toMatchObject({ ok: false, code: 'key_store_invalid_name' });
    expect(valueOf(await page.evaluate(() => window.parley.list('')))).toEqual(['keep']);
    expect(valueOf(await page.evaluate(() => window.parley.get('keep')))).toBe('PLAINTEXT-MARKER-keep');

    // A valid batch applies entirely.
    valueOf(await page.evaluate(() => window.parley.writeBatch([{ op: 'put', name: 'a', text: 'one' }, { op: 'put', name: 'b', text: 'two' }, { op: 'delete', name: 'keep' }])));
    expect(valueOf(await page.evaluate(() => window.parley.list('')))).toEqual(['a', 'b']);

    // At rest: no plaintext; the data key cannot be exported.
    const raw = valueOf(await page.evaluate(() => window.parley.rawValues('atomic')));
    expect(raw).toHaveLength(2);
    for (const value of raw) expect(value).not.toMatch(/one|two|PLAINTEXT-MARKER/);
    expect(valueOf(await page.evaluate(() => window.parley.dataKeyExportable('atomic')))).toEqual({ kind: 'AES-GCM', extractable: false, exported: false });

    // Record a's sealed value moved under name b fails authentication.
    valueOf(await page.evaluate(() => window.parley.rawCopy('atomic', 'a', 'b')));
    expect(await page.evaluate(() => window.parley.get('b'))).toMatchObject({ ok: false, code: 'key_store_corrupt' });
    expect(valueOf(await page.evaluate(() => window.parley.get('a')))).toBe('one');

    valueOf(await page.evaluate(() => window.parley.closeStore()));
    expect(await page.evaluate(() => window.parley.get('a'))).toMatchObject({ ok: false, code: 'key_store_closed' });
    expect(await page.evaluate(() => window.parley.put('c', 'three'))).toMatchObject({ ok: false, code: 'key_store_closed' });
    valueOf(await page.evaluate(() => window.parley.destroy('atomic')));
    expect(valueOf(await page.evaluate(() => window.parley.exists('atomic')))).toBe(false);
    await page.context().close();
  });
});
