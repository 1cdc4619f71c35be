/**
 * The customer web app's backup view (apps/customer-web/src/backup.ts) in headless Chromium,
 * end to end through its buttons: the phone's browser receives the bank's messages, "Create
 * backup" shows a recovery key once in groups of four, "I wrote it down" unlocks the upload,
 * after which the key is gone from the page and the backup is listed (version, date, size). The
 * browser profile is then lost; the bank's reset link enrolls a new one, whose "Restore from
 * backup" refuses a wrong key in plain words with its code (nothing restored), takes the right
 * key typed with other separators, shows the counts, and the inbox shows the old history — after
 * a reload too — and the bank's next message. The key is never logged nor kept in storage.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { generateRecoveryKey, issueEnrollmentToken, type Sender } from '@parley/client';
import { skipWithoutChromium } from '@parley/test-kit/browser';
import type { Business } from '@parley/test-kit/sdk';
import type { TestServer } from '@parley/test-kit/server';
import { enrollmentLink, type CustomerWebServer } from '../src/demo/customer-web.js';
import { startCustomerWebFixture, type CustomerWebFixture } from './customer-web-fixture.js';

const skip = skipWithoutChromium('customer web app backups');
const BRAND = 'Example Bank';
const CUSTOMER = 'c-web-backup';

describe.skipIf(skip)('customer web app: backup and restore in headless Chromium', () => {
  let fx: CustomerWebFixture;
  let t: TestServer;
  let app: CustomerWebServer;
  let bank: Business;
  let sender: Sender;
  let browser: Browser;
  let dir: string;
  const contexts: BrowserContext[] = [];
  /** Everything the pages printed to the console, and their errors. */
  const consoleLines: string[] = [];
  const pageErrors: string[] = [];

  beforeAll(async () => {
    fx = await startCustomerWebFixture('web-backup-bank', BRAND);
    ({ t, app, bank, sender, browser, dir } = fx);
  }, 180_000);

  afterAll(async () => {
    for (const c of contexts) await c.close().catch(() => undefined);
    await fx?.close();
  });

  /** A new browser profile (its own IndexedDB and localStorage: another device) opened on `link`. */
  async function openProfile(link: string): Promise<Page> {
    const context = await browser.newContext({ viewport: { width: 820, height: 1000 } });
    contexts.push(context);
    const page = await context.newPage();
    page.on('console', (m) => consoleLines.push(m.text()));
    page.on('pageerror', (e) => pageErrors.push(e.message));
    await page.goto(link);
    await ready(page);
    return page;
  }

  const ready = (page: Page) => page.waitForSelector('body[data-state="ready"]', { timeout: 30_000 });
  const card = (page: Page, messageId: string) => page.locator(`#inbox [data-message-id="${messageId}"]`);
  const inboxTexts = (page: Page) => page.locator('#inbox .message .text').allTextContents();
  /** Everything the page keeps in Web Storage, as one string. */
  const storageOf = (page: Page) => page.evaluate(() => JSON.stringify([{ ...localStorage }, { ...sessionStorage }]));

  it('backs up from the Backup view and restores into a re-enrolled browser, with the history in the inbox', { timeout: 180_000 }, async () => {
    const started = Date.now();
    const phone = await openProfile(enrollmentLink(app.url, t.url, await bank.issue(CUSTOMER, 'customer', { name: 'Dora' })));
    const old = [`${BRAND}: your code is 640182.`, `${BRAND}: card ending 3301 charged EUR 42.00.`];
    const sent = [await sender.send(CUSTOMER, old[0]!, { class: 'otp' }), await sender.send(CUSTOMER, old[1]!, { class: 'alert' })];
    for (const s of sent) await card(phone, s.messageId).waitFor({ timeout: 20_000 });
    expect(await phone.locator('#backups-empty').isVisible()).toBe(true);

    // "Create backup": the key is shown once, in 16 groups of four digits; nothing is uploaded before the confirmation.
    await phone.click('#backup-create');
    const groups = await phone.locator('#recovery-key span').allTextContents();
    expect(groups).toHaveLength(16);
    for (const g of groups) expect(g).toMatch(/^\d{4}$/);
    const digits = groups.join('');
    expect(await phone.isDisabled('#backup-upload')).toBe(true);
    await phone.locator('#backup-section').screenshot({ path: join(dir, 'recovery-key-shown.png') });
    expect(await phone.locator('#backup-list li').count()).toBe(0);
    await phone.check('#recovery-key-confirmed');
    await phone.click('#backup-upload');
    await expect.poll(() => phone.getAttribute('#backup-result', 'data-outcome'), { timeout: 20_000 }).toBe('done');
    expect(await phone.textContent('#backup-result')).toMatch(/^Backup 1 stored \(\d+(\.\d)? (B|KB)\)/);
    // The key has left the page; the backup is listed with its version, date and size.
    expect(await phone.locator('#recovery-key-panel').isHidden()).toBe(true);
    expect(await phone.locator('#recovery-key span').count()).toBe(0);
    expect(await phone.content()).not.toContain(digits.slice(0, 16));
    const row = phone.locator('#backup-list li[data-version="1"]');
    await row.waitFor({ timeout: 20_000 });
    expect(await row.textContent()).toMatch(/Backup 1.*\d.*(B|KB)protected by a recovery key/);
    expect(await row.locator('time').getAttribute('datetime')).toMatch(/^\d{4}-\d\d-\d\dT/);
    expect(await storageOf(phone)).not.toContain(digits.slice(0, 16));
    await phone.screenshot({ path: join(dir, 'backup-created.png'), fullPage: true });

    // The phone is lost with its browser profile; the bank's reset link enrolls a new one.
    await phone.context().close();
    const reset = await issueEnrollmentToken(bank.privateKey, 'k1', { businessId: bank.id, subject: CUSTOMER, kind: 'customer', reset: true, name: 'Dora' });
    const laptop = await openProfile(enrollmentLink(app.url, t.url, reset));
    expect(await inboxTexts(laptop)).toEqual([]);
    await laptop.locator('#backup-list li[data-version="1"]').waitFor({ timeout: 20_000 });

    // A wrong key: refused in plain words with its code; nothing restored.
    await laptop.fill('#restore-key', generateRecoveryKey());
    await laptop.click('#restore-form button[type="submit"]');
    await expect.poll(() => laptop.getAttribute('#restore-result', 'data-outcome'), { timeout: 20_000 }).toBe('failed');
    expect(await laptop.textContent('#restore-result')).toBe('Nothing was restored. This recovery key does not open your backup. Check the digits and try again. (backup_wrong_key)');
    expect(await inboxTexts(laptop)).toEqual([]);
    // Too few digits: said so, and no fetch is spent on it.
    await laptop.fill('#restore-key', digits.slice(0, 40));
    await laptop.click('#restore-form button[type="submit"]');
    await expect.poll(() => laptop.textContent('#restore-result'), { timeout: 20_000 }).toContain('(backup_invalid_secret)');

    // The right key, typed with dashes and dots between the groups.
    await laptop.fill('#restore-key', (digits.match(/\d{4}/g) ?? []).map((g, i) => (i % 2 ? `${g}.` : `${g}-`)).join(''));
    await laptop.click('#restore-form button[type="submit"]');
    await expect.poll(() => laptop.getAttribute('#restore-result', 'data-outcome'), { timeout: 20_000 }).toBe('done');
    expect(await laptop.textContent('#restore-result')).toBe('Restored 2 messages in 1 conversation, and 0 verifications.');
    expect(await laptop.inputValue('#restore-key')).toBe('');
    // The old history, newest first, as the bank's verified messages.
    await expect.poll(() => inboxTexts(laptop), { timeout: 20_000 }).toEqual([old[1], old[0]]);
    expect(await card(laptop, sent[0]!.messageId).locator('[data-role="otp-code"]').textContent()).toBe('640182');
    expect(await card(laptop, sent[0]!.messageId).locator('[data-role="sender"]').textContent()).toBe(`Encrypted · Verified: ${BRAND}`);
    // Received on the lost device: no read receipt to sign here.
    await expect.poll(() => card(laptop, sent[0]!.messageId).locator('[data-role="receipt"]').textContent(), { timeout: 20_000 }).toBe('Restored from your backup');

    // After a reload the restored history is still shown (the bank has not re-added the device yet).
    await laptop.reload();
    await ready(laptop);
    await expect.poll(() => inboxTexts(laptop), { timeout: 20_000 }).toEqual([old[1], old[0]]);

    // The bank's next message re-adds the new browser: it arrives on top of the restored history.
    const next = await sender.send(CUSTOMER, `${BRAND}: your new device is set up.`, { class: 'alert' });
    expect(next.conversationId).toBe(sent[0]!.conversationId);
    await card(laptop, next.messageId).waitFor({ timeout: 30_000 });
    expect(await inboxTexts(laptop)).toEqual([`${BRAND}: your new device is set up.`, old[1], old[0]]);
    await expect.poll(() => card(laptop, next.messageId).locator('[data-role="receipt"]').textContent(), { timeout: 20_000 }).toBe('Read receipt sent');
    await laptop.locator('.verify-card').first().waitFor({ timeout: 20_000 });
    await laptop.screenshot({ path: join(dir, 'restored.png'), fullPage: true });

    // The recovery key was never printed, stored in Web Storage or logged by the server.
    expect(await storageOf(laptop)).not.toContain(digits.slice(0, 16));
    expect(consoleLines.join('\n')).not.toContain(digits.slice(0, 16));
    expect(t.logs.join('\n')).not.toContain(digits.slice(0, 16));
    expect(pageErrors).toEqual([]);
    console.log(`customer web app backup and restore in Chromium: ${Date.now() - started} ms`);
  });
});
