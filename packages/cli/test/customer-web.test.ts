/**
 * The reference customer web app (apps/customer-web) in real headless Chromium against a real
 * server on loopback, served cross-origin (the server's `allowedOrigins`): enrollment from the
 * bank's link, a one-time code shown as "Encrypted · Verified: <brand>" with a signed read
 * receipt the bank can see, the safety number and QR comparison with the bank, a second
 * browser (another device of the same customer) approved from the first by its short code,
 * revocation, and the device surviving a reload (IndexedDB).
 */
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { MemoryKeyStore, Sender } from '@parley/client';
import { nodeRuntime } from '@parley/client/node';
import type { Business } from '@parley/test-kit/sdk';
import type { TestServer } from '@parley/test-kit/server';
import { enrollmentLink, type CustomerWebServer } from '../src/demo/customer-web.js';
import { startCustomerWebFixture, type CustomerWebFixture } from './customer-web-fixture.js';
import { encode as encodeQr } from 'uqr';

const CHROMIUM = process.env['PARLEY_CHROMIUM'] ?? '/usr/bin/chromium';
const available = existsSync(CHROMIUM);
if (!available) console.log(`customer web app: no Chromium at ${CHROMIUM}; browser test skipped (apt-get install chromium)`);

const BRAND = 'Example Bank';
const CUSTOMER = 'c-web-1';
const DOCS_SCREENSHOT = fileURLToPath(new URL('../../../docs/customer-web.png', import.meta.url));

describe.skipIf(!available)('customer web app in headless Chromium', () => {
  let fx: CustomerWebFixture;
  let t: TestServer;
  let app: CustomerWebServer;
  let bank: Business;
  let sender: Sender;
  let browser: Browser;
  let shots: string;
  const contexts: BrowserContext[] = [];

  beforeAll(async () => {
    fx = await startCustomerWebFixture('web-app-bank', BRAND);
    ({ t, app, bank, sender, browser, dir: shots } = fx);
  }, 180_000);

  afterAll(async () => {
    for (const c of contexts) await c.close().catch(() => undefined);
    await fx?.close();
  });

  /** A new browser profile (its own IndexedDB: another device), with page errors collected. */
  async function newBrowserDevice(errors: string[]): Promise<Page> {
    const context = await browser.newContext({ viewport: { width: 820, height: 1000 } });
    contexts.push(context);
    const page = await context.newPage();
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('dialog', (d) => void d.accept());
    return page;
  }

  async function openLink(page: Page): Promise<void> {
    await page.goto(enrollmentLink(app.url, t.url, await bank.issue(CUSTOMER, 'customer', { name: 'Carol' })));
  }

  const ready = (page: Page) => page.waitForSelector('body[data-state="ready"]', { timeout: 30_000 });
  const deviceIdOf = async (page: Page) => (await page.getAttribute('body', 'data-device-id')) ?? '';
  const card = (page: Page, messageId: string) => page.locator(`[data-message-id="${messageId}"]`);

  let phone: Page;
  let phoneId: string;
  let otpMessageId: string;
  const phoneErrors: string[] = [];

  it('enrolls from the enrollment link and removes the link from the address bar', async () => {
    phone = await newBrowserDevice(phoneErrors);
    await openLink(phone);
    await ready(phone);
    expect(phone.url()).toBe(app.url);
    expect(await phone.evaluate(() => location.hash)).toBe('');
    phoneId = await deviceIdOf(phone);
    const devices = await sender.device.keys.devicesOf(`web-app-bank:${CUSTOMER}`);
    expect(devices.map((d) => [d.deviceId, d.status])).toEqual([[phoneId, 'approved']]);
    expect(phoneErrors).toEqual([]);
  }, 60_000);

  it('shows a one-time code as "Encrypted · Verified: <brand>" and signs a read receipt the bank can see', async () => {
    const sent = await sender.send(CUSTOMER, `${BRAND}: your code is 482913. It expires in 5 minutes.`, { class: 'otp' });
    otpMessageId = sent.messageId;
    const otp = card(phone, sent.messageId);
    await otp.locator('[data-role="otp-code"]').waitFor({ timeout: 20_000 });
    expect(await otp.getAttribute('data-class')).toBe('otp');
    expect(await otp.locator('[data-role="otp-code"]').textContent()).toBe('482913');
    expect(await otp.locator('[data-role="sender"]').textContent()).toBe(`Encrypted · Verified: ${BRAND}`);
    // The browser runs X-Wing (ML-KEM-768 + X25519) on WebCrypto and the bank's conversation uses it.
    expect(sent.suite).toBe('MLS_256_XWING_AES256GCM_SHA512_Ed25519');
    expect(await otp.locator('[data-role="suite"]').textContent()).toBe('Post-quantum');
    await expect.poll(() => otp.locator('[data-role="receipt"]').textContent(), { timeout: 20_000 }).toBe('Read receipt sent');
    // The bank's evidence for the message holds the browser's signed `read` receipt.
    await expect
      .poll(async () => (await sender.device.exportEvidence(sent.messageId)).receipts.map((r) => `${r.receipt.deviceId}:${r.receipt.status}`).sort(), { timeout: 20_000 })
      .toEqual([`${phoneId}:delivered`, `${phoneId}:read`]);
    // An alert looks different from a code.
    const alert = await sender.send(CUSTOMER, `${BRAND}: payment of EUR 1,250.00 to ACME GmbH approved. Not you? Call us.`, { class: 'alert' });
    const alertCard = card(phone, alert.messageId);
    await alertCard.waitFor({ timeout: 20_000 });
    expect(await alertCard.getAttribute('data-class')).toBe('alert');
    expect(await alertCard.locator('[data-role="otp-code"]').count()).toBe(0);
    await phone.screenshot({ path: join(shots, 'inbox.png'), fullPage: true });
  }, 60_000);

  it('shows the safety number with the bank and verifies it by the QR payload, both ways', async () => {
    const customerIdentity = `web-app-bank:${CUSTOMER}`;
    const verifyCard = phone.locator('.verify-card').first();
    await verifyCard.waitFor({ timeout: 20_000 });
    const bankNumber = await sender.device.keys.safetyNumber(customerIdentity, phoneId);
    expect(await verifyCard.locator('[data-role="safety-number"]').innerText()).toBe(bankNumber.groups.join('\n'));
    expect(await verifyCard.locator('[data-role="verification-state"]').textContent()).toBe('Not verified by you yet');
    // A code that is not the bank's (here: the page's own, as a relay would show it back) is refused; so is garbage.
    const pageQr = (await verifyCard.locator('[data-role="my-qr"]').textContent()) ?? '';
    // The QR code on screen carries exactly that payload.
    expect(qrCells(await verifyCard.locator('svg.qr path').getAttribute('d'))).toEqual(expectedQrCells(pageQr));
    await verifyCard.locator('[data-role="scanned"]').fill(pageQr);
    await verifyCard.locator('[data-role="compare"]').click();
    await expect.poll(() => verifyCard.locator('[data-role="compare-result"]').getAttribute('data-outcome')).toBe('mismatch');
    await verifyCard.locator('[data-role="scanned"]').fill('parley-verify:not-a-code');
    await verifyCard.locator('[data-role="compare"]').click();
    await expect.poll(() => verifyCard.locator('[data-role="compare-result"]').getAttribute('data-outcome')).toMatch(/^(mismatch|version-mismatch|error)$/);
    expect(await verifyCard.locator('[data-role="verification-state"]').textContent()).toBe('Not verified by you yet');
    const bankQr = await sender.device.keys.verificationQr(customerIdentity, phoneId);
    // The bank's own code matches.
    await verifyCard.locator('[data-role="scanned"]').fill(bankQr);
    await verifyCard.locator('[data-role="compare"]').click();
    await expect.poll(() => verifyCard.locator('[data-role="compare-result"]').getAttribute('data-outcome')).toBe('match');
    expect(await verifyCard.locator('[data-role="verification-state"]').textContent()).toBe('Verified by you');
    // And the bank, "scanning" the code the page shows, verifies the customer.
    expect(await sender.device.keys.verifyScanned(customerIdentity, pageQr)).toBe('match');
    await phone.screenshot({ path: join(shots, 'verified.png'), fullPage: true });
  }, 60_000);

  let tablet: Page;
  const tabletErrors: string[] = [];

  it('approves a second browser of the same customer by its short code; both receive the next message', async () => {
    tablet = await newBrowserDevice(tabletErrors);
    await openLink(tablet);
    await tablet.waitForSelector('#pending:not([hidden])', { timeout: 30_000 });
    const shortCode = (await tablet.locator('[data-role="short-code"]').textContent()) ?? '';
    expect(shortCode).toMatch(/^\d{5} \d{5}$/);
    const approvalQr = (await tablet.locator('#pending-qr').textContent()) ?? '';
    expect(qrCells(await tablet.locator('#pending-qr-image svg.qr path').getAttribute('d'))).toEqual(expectedQrCells(approvalQr));
    await tablet.screenshot({ path: join(shots, 'pending.png'), fullPage: true });
    // The phone is told a device waits, and lists it as pending.
    await phone.reload();
    await ready(phone);
    await phone.waitForSelector('[data-banner^="key-pending-device"]', { timeout: 20_000 });
    await phone.waitForSelector('#device-list [data-status="pending"]', { timeout: 20_000 });
    // A wrong code approves nothing.
    await phone.fill('#approve-code', '00000 00000');
    await phone.click('#approve-form button[type="submit"]');
    await expect.poll(() => phone.getAttribute('#approve-result', 'data-outcome')).toBe('failed');
    await phone.fill('#approve-code', shortCode);
    await phone.click('#approve-form button[type="submit"]');
    await expect.poll(() => phone.getAttribute('#approve-result', 'data-outcome'), { timeout: 20_000 }).toBe('approved');
    await ready(tablet);
    const tabletId = await deviceIdOf(tablet);
    await phone.waitForSelector(`#device-list [data-device-id="${tabletId}"][data-status="approved"]`, { timeout: 20_000 });
    const next = await sender.send(CUSTOMER, `${BRAND}: your code is 771204.`, { class: 'otp' });
    expect(next.customerDevices).toContain(tabletId);
    for (const page of [phone, tablet]) {
      await card(page, next.messageId).locator('[data-role="otp-code"]').waitFor({ timeout: 20_000 });
      expect(await card(page, next.messageId).locator('[data-role="sender"]').textContent()).toBe(`Encrypted · Verified: ${BRAND}`);
    }
    await tablet.screenshot({ path: join(shots, 'tablet.png'), fullPage: true });
    expect(tabletErrors).toEqual([]);
  }, 90_000);

  it('keeps its device and messages across a reload (IndexedDB), without enrolling again', async () => {
    await phone.reload();
    await ready(phone);
    expect(await deviceIdOf(phone)).toBe(phoneId);
    expect(await card(phone, otpMessageId).locator('[data-role="otp-code"]').textContent()).toBe('482913');
    expect(await card(phone, otpMessageId).locator('[data-role="sender"]').textContent()).toBe(`Encrypted · Verified: ${BRAND}`);
    // Still online: a new message arrives after the reload.
    const after = await sender.send(CUSTOMER, `${BRAND}: your statement is ready.`, { class: 'statement' });
    await card(phone, after.messageId).waitFor({ timeout: 20_000 });
    expect((await sender.device.keys.devicesOf(`web-app-bank:${CUSTOMER}`)).length).toBe(2);
    // The README's screenshot is refreshed on request only, so a test run leaves the tree clean.
    const shot = process.env['PARLEY_UPDATE_SCREENSHOTS'] === '1' ? DOCS_SCREENSHOT : join(shots, 'reloaded.png');
    await mkdir(join(shot, '..'), { recursive: true });
    await phone.screenshot({ path: shot, fullPage: true });
    expect(phoneErrors).toEqual([]);
  }, 60_000);

  it("shows when the bank's keys changed after the customer verified them", async () => {
    // The bank enrolls another sending device: the key the customer verified is no longer the whole story.
    const second = await Sender.enroll({ serverUrl: t.url, enrollmentToken: await bank.issue('notifications', 'sender', { name: BRAND }), store: new MemoryKeyStore(), keyPackageBatch: 5, ...nodeRuntime });
    try {
      await phone.reload();
      await ready(phone);
      const verifyCard = phone.locator('.verify-card').first();
      await expect.poll(() => verifyCard.locator('[data-role="verification-state"]').textContent(), { timeout: 20_000 }).toBe('Keys changed since you verified: verify again');
      const sent = await sender.send(CUSTOMER, `${BRAND}: your code is 190355.`, { class: 'otp' });
      await card(phone, sent.messageId).locator('.warn-line').waitFor({ timeout: 20_000 });
      await phone.screenshot({ path: join(shots, 'keys-changed.png'), fullPage: true });
    } finally {
      await second.close();
    }
  }, 60_000);

  it('revokes the second browser from the first: it erases itself, and the bank stops sending to it', async () => {
    const tabletId = await deviceIdOf(tablet);
    await phone.locator(`#device-list [data-device-id="${tabletId}"] [data-role="revoke"]`).click();
    await phone.waitForSelector(`#device-list [data-device-id="${tabletId}"][data-status="revoked"]`, { timeout: 20_000 });
    // The tablet, still open, checks the revocation against the key log, erases itself and says so.
    await tablet.waitForSelector('[data-banner="device-revoked"]', { timeout: 30_000 });
    expect(await tablet.locator('#app').isHidden()).toBe(true);
    // Markup in a message stays text.
    const after = await sender.send(CUSTOMER, `${BRAND}: a new card is on its way. <img src=x onerror="document.title='owned'">`, { class: 'support' });
    expect(after.customerDevices).toEqual([phoneId]);
    await card(phone, after.messageId).waitFor({ timeout: 20_000 });
    expect(await card(phone, after.messageId).locator('.text').textContent()).toContain('<img src=x');
    expect(await phone.locator('#inbox img').count()).toBe(0);
    expect(await phone.title()).toBe('Secure messages');
  }, 60_000);
});

/** The dark modules of a QR code drawn by the app (`M x y h n v1 h-n z` runs), as "x,y" cells. */
function qrCells(path: string | null): string[] {
  const cells: string[] = [];
  for (const m of (path ?? '').matchAll(/M(\d+) (\d+)h(\d+)/g)) {
    for (let i = 0; i < Number(m[3]); i++) cells.push(`${Number(m[1]) + i},${m[2]}`);
  }
  return cells.sort();
}

/** The dark modules of `payload` encoded independently here (level M, border 2, as the app does). */
function expectedQrCells(payload: string): string[] {
  expect(payload.length).toBeGreaterThan(20);
  const cells: string[] = [];
  encodeQr(payload, { ecc: 'M', border: 2 }).data.forEach((row, y) => row.forEach((dark, x) => dark && cells.push(`${x},${y}`)));
  return cells.sort();
}

