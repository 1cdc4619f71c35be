/**
 * Encrypted backups in headless Chromium (issue 14): a browser device (IndexedDbKeyStore +
 * browserRuntime) receives business messages, generates a recovery key in the page and uploads
 * a backup; the browser profile is then discarded (IndexedDB gone: the device is lost). The bank
 * re-enrolls the customer (a reset enrollment token) in a new profile; a wrong recovery key is
 * refused (`backup_wrong_key`) and writes nothing; the right one, typed with dashes, restores the
 * history, and the next business message arrives in the same conversation. A passphrase backup
 * (Argon2id in the page, hash-wasm) round-trips into a third profile. The server sees only
 * ciphertext, and the browser's cross-origin requests pass CORS (the backup headers included).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BrowserContext, Page } from 'playwright-core';
import { issueEnrollmentToken, type Sender } from '@parley/client';
import { createBusiness, enrollSender, type Business } from '@parley/test-kit/sdk';
import { startTestServer, type TestServer } from '@parley/test-kit/server';
import { skipWithoutChromium, startBrowserFixture, valueOf, type BrowserFixture } from '@parley/test-kit/browser';

const skip = skipWithoutChromium('browser backups in Chromium');
const MARKER = 'BACKUP-MARKER-6c20d7';
const CUSTOMER = 'dana';
const PASSPHRASE = 'plum harbour seventeen violet ledger';

describe.skipIf(skip)('backups of a browser device in headless Chromium', () => {
  let fx: BrowserFixture;
  let t: TestServer;
  let bank: Business;
  let sender: Sender;
  let conversationId = '';
  const texts = [`Statement ready ${MARKER}`, `Card 4411 charged EUR 12.50 ${MARKER}`, `Your code is 550123 ${MARKER}`];
  const contexts: BrowserContext[] = [];

  beforeAll(async () => {
    fx = await startBrowserFixture();
    t = await startTestServer({ allowedOrigins: [fx.origin] });
    bank = await createBusiness(t.url, 'backup-browser-bank');
    sender = await enrollSender(t.url, bank);
    await sender.connect();
  }, 120_000);

  afterAll(async () => {
    for (const c of contexts) await c.close().catch(() => undefined);
    await fx?.close();
    await sender?.close();
    await t?.stop();
  });

  /** A fresh browser profile (its own, empty IndexedDB) with the test page open. */
  async function freshProfile(): Promise<Page> {
    const context = await fx.browser.newContext();
    contexts.push(context);
    return fx.openPage(context);
  }

  /** The bank's reset enrollment for a customer who lost the device: the old devices are revoked, the new one is approved. */
  const resetToken = () => issueEnrollmentToken(bank.privateKey, 'k1', { businessId: bank.id, subject: CUSTOMER, kind: 'customer', reset: true });

  /** Enrolls the customer in a fresh profile after a reset (the store name is the old one: the profile is new). */
  async function reEnrolled(): Promise<{ page: Page; deviceId: string }> {
    const page = await freshProfile();
    expect(valueOf(await page.evaluate((name) => window.parley.exists(name), 'dana-phone'))).toBe(false);
    const deviceId = valueOf(await page.evaluate(([url, tok]) => window.parley.enroll(url, tok, 'dana-phone'), [t.url, await resetToken()] as const));
    return { page, deviceId };
  }

  let recoveryKey = '';
  let restoredId = '';
  let restored: Page;

  it('a lost browser device: the new one restores the history from the recovery key and receives the next message', { timeout: 180_000 }, async () => {
    const started = Date.now();
    const phone = await freshProfile();
    const oldId = valueOf(await phone.evaluate(([url, tok]) => window.parley.enroll(url, tok, 'dana-phone'), [t.url, await bank.issue(CUSTOMER, 'customer')] as const));
    for (const text of texts) {
      const sent = await sender.send(CUSTOMER, text, { class: 'alert' });
      conversationId = sent.conversationId;
    }
    await expect.poll(() => phone.evaluate(() => window.parley.messages()), { timeout: 30_000 }).toEqual(texts);

    // The recovery key is made in the page: 64 digits in 16 groups of four.
    recoveryKey = await phone.evaluate(() => window.parley.newRecoveryKey());
    expect(recoveryKey).toMatch(/^\d{4}( \d{4}){15}$/);
    const uploaded = valueOf(await phone.evaluate((key) => window.parley.backupUpload({ recoveryKey: key }), recoveryKey));
    expect(uploaded.version).toBe(1);
    expect(uploaded.size).toBeGreaterThan(0);
    const listed = valueOf(await phone.evaluate(() => window.parley.backupList()));
    expect(listed.map((b) => [b.version, b.size, b.kdf.name])).toEqual([[1, uploaded.size, 'recovery-key']]);

    // The server holds ciphertext: no text, no key.
    const rows = await t.server.db.query<{ blob: Uint8Array }>('SELECT blob FROM backups');
    expect(rows).toHaveLength(1);
    const stored = new TextDecoder().decode(rows[0]!.blob);
    expect(stored).not.toContain(MARKER);
    expect(stored).not.toContain(recoveryKey.replaceAll(' ', '').slice(0, 16));

    // The device is lost: its whole browser profile (IndexedDB included) is gone.
    await phone.context().close();

    // The bank re-enrolls the customer in a new profile; the backup is still the identity's.
    const fresh = await reEnrolled();
    restored = fresh.page;
    restoredId = fresh.deviceId;
    expect(restoredId).not.toBe(oldId);
    expect(valueOf(await restored.evaluate(() => window.parley.backupList())).map((b) => b.version)).toEqual([1]);
    expect(valueOf(await restored.evaluate((c) => window.parley.history(c), conversationId))).toEqual([]);

    // A wrong key, or something that is no key at all, is refused and writes nothing.
    const other = await restored.evaluate(() => window.parley.newRecoveryKey());
    expect(await restored.evaluate((key) => window.parley.backupRestore({ recoveryKey: key }), other)).toMatchObject({ ok: false, code: 'backup_wrong_key', name: 'BackupError' });
    expect(await restored.evaluate(() => window.parley.backupRestore({ recoveryKey: '1234 5678' }))).toMatchObject({ ok: false, code: 'backup_invalid_secret' });
    expect(valueOf(await restored.evaluate((c) => window.parley.history(c), conversationId))).toEqual([]);

    // The right key, typed with dashes between the groups.
    const summary = valueOf(await restored.evaluate((key) => window.parley.backupRestore({ recoveryKey: key }), recoveryKey.replaceAll(' ', '-')));
    expect(summary).toMatchObject({ conversations: 1, messages: 3, tags: 0, verifications: 0, conversationIds: [conversationId] });
    expect(valueOf(await restored.evaluate((c) => window.parley.history(c), conversationId))).toEqual(texts);

    // The bank's next message re-adds the new device to the same conversation: old and new history together.
    const next = await sender.send(CUSTOMER, `Welcome back ${MARKER}`, { class: 'alert' });
    expect(next.conversationId).toBe(conversationId);
    expect(next.customerDevices).toEqual([restoredId]);
    await expect.poll(() => restored.evaluate(() => window.parley.messages()), { timeout: 30_000 }).toEqual([`Welcome back ${MARKER}`]);
    expect(valueOf(await restored.evaluate((c) => window.parley.history(c), conversationId))).toEqual([...texts, `Welcome back ${MARKER}`]);

    // Neither the plaintext nor the recovery key reached the server's logs.
    const logs = t.logs.join('\n');
    expect(logs).not.toContain(MARKER);
    expect(logs).not.toContain(recoveryKey.replaceAll(' ', '').slice(0, 16));
    console.log(`recovery-key backup and restore in Chromium: ${Date.now() - started} ms`);
  });

  it('a passphrase backup (Argon2id in the page) round-trips into another new profile', { timeout: 180_000 }, async () => {
    expect(restoredId).not.toBe('');
    const started = Date.now();
    const uploaded = valueOf(await restored.evaluate((p) => window.parley.backupUpload({ passphrase: p }), PASSPHRASE));
    const uploadMs = Date.now() - started;
    expect(uploaded.version).toBe(2);
    const listed = valueOf(await restored.evaluate(() => window.parley.backupList()));
    expect(listed.map((b) => [b.version, b.kdf.name])).toEqual([
      [2, 'argon2id'],
      [1, 'recovery-key'],
    ]);
    // The SDK's default Argon2id parameters, at least OWASP's first configuration (19 MiB, t=2).
    const kdf = listed[0]!.kdf;
    if (kdf.name !== 'argon2id') throw new Error('not a passphrase backup');
    expect(kdf.m * kdf.t).toBeGreaterThanOrEqual(19456 * 2);
    valueOf(await restored.evaluate(() => window.parley.closeDevice()));
    await restored.context().close();

    const { page } = await reEnrolled();
    // A wrong passphrase, and the recovery key for the passphrase backup: refused, nothing written.
    expect(await page.evaluate(() => window.parley.backupRestore({ passphrase: 'plum harbour seventeen violet ledgers' }))).toMatchObject({ ok: false, code: 'backup_wrong_key' });
    expect(await page.evaluate((key) => window.parley.backupRestore({ recoveryKey: key }), recoveryKey)).toMatchObject({ ok: false, code: 'backup_wrong_key' });
    expect(valueOf(await page.evaluate((c) => window.parley.history(c), conversationId))).toEqual([]);
    const restoreStarted = Date.now();
    expect(valueOf(await page.evaluate((p) => window.parley.backupRestore({ passphrase: p }), PASSPHRASE))).toMatchObject({ conversations: 1, messages: 4 });
    const restoreMs = Date.now() - restoreStarted;
    expect(valueOf(await page.evaluate((c) => window.parley.history(c), conversationId))).toEqual([...texts, `Welcome back ${MARKER}`]);
    // The older recovery-key version is still there and still opens, by its version.
    expect(valueOf(await page.evaluate((key) => window.parley.backupRestore({ recoveryKey: key }, 1), recoveryKey))).toMatchObject({ messages: 3 });
    console.log(`passphrase backup in Chromium: upload ${uploadMs} ms, restore ${restoreMs} ms (Argon2id m=${kdf.m} KiB, t=${kdf.t}, p=${kdf.p})`);
    valueOf(await page.evaluate(() => window.parley.closeDevice()));
  });
});
