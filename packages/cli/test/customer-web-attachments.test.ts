/**
 * Files in the customer web app (apps/customer-web/src/attachments.ts and compose.ts) in headless
 * Chromium against a real server: the bank's Sender sends a statement PDF and a PNG; the page
 * lists both, shows the PNG inline from a decrypted Blob, and saves the PDF under its name with
 * exactly the bytes sent. The customer attaches a photo in a support thread an agent opened; the
 * agent receives it intact. A reference whose SHA-256 is not the blob's shows the error's code
 * and nothing of the file.
 */
import { createHash, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { deflateSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, BrowserContext, Locator, Page } from 'playwright-core';
import { Device, MemoryKeyStore, type AttachmentRef, type Sender } from '@parley/client';
import { nodeRuntime } from '@parley/client/node';
import { skipWithoutChromium } from '@parley/test-kit/browser';
import { EventLog, type Business } from '@parley/test-kit/sdk';
import type { TestServer } from '@parley/test-kit/server';
import { enrollmentLink, type CustomerWebServer } from '../src/demo/customer-web.js';
import { startCustomerWebFixture, type CustomerWebFixture } from './customer-web-fixture.js';

const skip = skipWithoutChromium('customer web app attachments');
const BRAND = 'Example Bank';
const CUSTOMER = 'c-web-files';
const CUSTOMER_IDENTITY = `web-files-bank:${CUSTOMER}`;

describe.skipIf(skip)('customer web app: attachments in headless Chromium', () => {
  let fx: CustomerWebFixture;
  let t: TestServer;
  let app: CustomerWebServer;
  let bank: Business;
  let sender: Sender;
  let browser: Browser;
  let shots: string;
  let context: BrowserContext;
  let page: Page;
  const pageErrors: string[] = [];

  beforeAll(async () => {
    fx = await startCustomerWebFixture('web-files-bank', BRAND);
    ({ t, app, bank, sender, browser, dir: shots } = fx);
    context = await browser.newContext({ viewport: { width: 820, height: 1000 }, acceptDownloads: true });
    page = await context.newPage();
    page.on('pageerror', (e) => pageErrors.push(e.message));
    await page.goto(enrollmentLink(app.url, t.url, await bank.issue(CUSTOMER, 'customer', { name: 'Carol' })));
    await page.waitForSelector('body[data-state="ready"]', { timeout: 30_000 });
  }, 180_000);

  afterAll(async () => {
    await context?.close().catch(() => undefined);
    await fx?.close();
  });

  const card = (messageId: string) => page.locator(`[data-message-id="${messageId}"]`);
  const row = (messageCard: Locator, name: string) => messageCard.locator('[data-role="attachment"]').filter({ has: page.locator('[data-role="attachment-name"]', { hasText: name }) });
  const upload = (data: Uint8Array, mime: string, name: string) => sender.device.attachments.upload({ data, size: data.length, mime, name });

  /** Clicks `control` and returns what the browser saved: its suggested name and bytes. */
  async function saved(control: Locator): Promise<{ name: string; bytes: Buffer }> {
    const [download] = await Promise.all([page.waitForEvent('download', { timeout: 20_000 }), control.click()]);
    const chunks: Buffer[] = [];
    for await (const chunk of await download.createReadStream()) chunks.push(chunk as Buffer);
    return { name: download.suggestedFilename(), bytes: Buffer.concat(chunks) };
  }

  it('lists a statement PDF and a photo from the bank: the photo inline, the PDF saved under its name with the bytes sent', async () => {
    // Larger than the page's 4 MiB fold into a Blob, and than one 4 MiB upload segment.
    const pdf = fakePdf(6 * 1024 * 1024 + 12_345);
    const png = noisePng(180, 120);
    const pdfRef = await upload(pdf, 'application/pdf', 'statement-2026-11.pdf');
    const pngRef = await upload(png, 'image/png', 'card-front.png');
    const sent = await sender.send(CUSTOMER, `${BRAND}: your November statement and the photo of your new card.`, { class: 'statement', attachments: [pdfRef, pngRef] });
    const message = card(sent.messageId);
    await message.waitFor({ timeout: 20_000 });
    expect(await message.locator('[data-role="attachment"]').count()).toBe(2);
    expect(await message.locator('[data-role="attachment-name"]').allTextContents()).toEqual(['statement-2026-11.pdf', 'card-front.png']);
    const pdfRow = row(message, 'statement-2026-11.pdf');
    const pngRow = row(message, 'card-front.png');
    expect(await pdfRow.locator('[data-role="attachment-info"]').textContent()).toBe('application/pdf · 6.0 MB');
    expect(await pngRow.locator('[data-role="attachment-info"]').textContent()).toMatch(/^image\/png · \d+(\.\d)? KB$/);

    // The photo: decrypted into a Blob, shown through its object URL.
    const img = pngRow.locator('img[data-role="attachment-image"]');
    await img.waitFor({ timeout: 20_000 });
    expect(await img.getAttribute('src')).toMatch(/^blob:/);
    await expect.poll(() => img.evaluate((i) => (i as HTMLImageElement).naturalWidth), { timeout: 10_000 }).toBe(180);
    expect(await img.evaluate((i) => (i as HTMLImageElement).naturalHeight)).toBe(120);
    expect(await pngRow.getAttribute('data-state')).toBe('ready');
    // Its "Download" link saves exactly the photo.
    const photo = await saved(pngRow.locator('[data-role="attachment-link"]'));
    expect(photo.name).toBe('card-front.png');
    expect(sha256(photo.bytes)).toBe(sha256(png));

    // The PDF: nothing decrypted until asked; then saved under its name, byte for byte.
    expect(await pdfRow.locator('[data-role="attachment-link"]').count()).toBe(0);
    const statement = await saved(pdfRow.locator('[data-role="attachment-download"]'));
    expect(statement.name).toBe('statement-2026-11.pdf');
    expect(statement.bytes.length).toBe(pdf.length);
    expect(sha256(statement.bytes)).toBe(sha256(pdf));
    const link = pdfRow.locator('[data-role="attachment-link"]');
    expect(await link.getAttribute('download')).toBe('statement-2026-11.pdf');
    expect(await link.getAttribute('href')).toMatch(/^blob:/);
    // Saving again from the link gives the same file.
    expect(sha256((await saved(link)).bytes)).toBe(sha256(pdf));
    await page.screenshot({ path: join(shots, 'attachments.png'), fullPage: true });
    expect(pageErrors).toEqual([]);
  }, 90_000);

  it('sends a photo in a support thread an agent opened; the agent receives it intact', async () => {
    const agent = await Device.enroll({
      serverUrl: t.url,
      enrollmentToken: await bank.issue('support-agent-1', 'agent', { name: `${BRAND} Support` }),
      store: new MemoryKeyStore(),
      keyPackageBatch: 5,
      ...nodeRuntime,
    });
    try {
      const agentLog = new EventLog(agent);
      await agent.connect();
      const thread = await agent.createConversation([CUSTOMER_IDENTITY]);
      const hello = await agent.send(thread, 'Hello Carol, please send us a photo of the damaged card.', { class: 'support' });
      await card(hello.messageId).waitFor({ timeout: 20_000 });
      // The composer offers the agent's thread, not the bank's notification conversation.
      await page.waitForSelector(`#reply-conversation option[value="${thread}"]`, { state: 'attached', timeout: 20_000 });
      expect(await page.locator('#reply-conversation option').count()).toBe(1);
      expect(await page.locator('#reply-section').isVisible()).toBe(true);

      // A photo of several MiB: read from the picked File piece by piece, uploaded in two segments.
      const png = noisePng(1400, 1100);
      expect(png.length).toBeGreaterThan(4 * 1024 * 1024);
      // Every text the result line shows while it works (the progress indication).
      await page.evaluate(() => {
        const seen: string[] = [];
        (window as unknown as { replySeen: string[] }).replySeen = seen;
        const result = document.getElementById('reply-result')!;
        new MutationObserver(() => seen.push(result.textContent ?? '')).observe(result, { childList: true, characterData: true, subtree: true });
      });
      await page.setInputFiles('#reply-photo', { name: 'damaged-card.png', mimeType: 'image/png', buffer: Buffer.from(png) });
      await page.fill('#reply-text', 'Here it is.');
      await page.click('#reply-form button[type="submit"]');
      await expect.poll(() => page.getAttribute('#reply-result', 'data-outcome'), { timeout: 30_000 }).toBe('sent');
      const seen = await page.evaluate(() => (window as unknown as { replySeen: string[] }).replySeen);
      expect(seen).toContain('Encrypting and uploading damaged-card.png… 100%');
      expect(await page.inputValue('#reply-text')).toBe('');
      expect(await page.evaluate(() => (document.getElementById('reply-photo') as HTMLInputElement).files?.length ?? 0)).toBe(0);

      const got = await agentLog.waitFor((e) => e.type === 'message' && e.conversationId === thread && (e.attachments?.length ?? 0) > 0, 20_000);
      if (got.type !== 'message') throw new Error('unreachable');
      expect(got.sender.identityId).toBe(CUSTOMER_IDENTITY);
      expect(got.class).toBe('support');
      expect(got.text).toBe('Here it is.');
      const [ref] = got.attachments ?? [];
      expect(ref).toMatchObject({ name: 'damaged-card.png', mime: 'image/png', size: png.length });
      const received = await agent.attachments.downloadBytes(ref!);
      expect(received.length).toBe(png.length);
      expect(sha256(received)).toBe(sha256(png));
      await page.screenshot({ path: join(shots, 'support-photo.png'), fullPage: true });
      expect(pageErrors).toEqual([]);
    } finally {
      await agent.close();
    }
  }, 90_000);

  it('shows the error code, and nothing of the file, when a reference does not match its blob', async () => {
    const png = noisePng(64, 64);
    const pdf = fakePdf(100_000);
    const [pngRef, pdfRef] = [await upload(png, 'image/png', 'tampered.png'), await upload(pdf, 'application/pdf', 'tampered.pdf')];
    const sent = await sender.send(CUSTOMER, `${BRAND}: documents.`, { class: 'statement', attachments: [wrongHash(pngRef), wrongHash(pdfRef)] });
    const message = card(sent.messageId);
    await message.waitFor({ timeout: 20_000 });
    const pngRow = row(message, 'tampered.png');
    const pdfRow = row(message, 'tampered.pdf');
    // The image is decrypted at once: every chunk authenticates, the whole blob's hash does not.
    const imageError = pngRow.locator('[data-role="attachment-error"]');
    await imageError.waitFor({ timeout: 20_000 });
    expect(await imageError.getAttribute('data-code')).toBe('attachment_hash_mismatch');
    expect(await imageError.textContent()).toContain('Could not open tampered.png (attachment_hash_mismatch)');
    expect(await pngRow.getAttribute('data-state')).toBe('error');
    // The PDF, when asked for.
    await pdfRow.locator('[data-role="attachment-download"]').click();
    const fileError = pdfRow.locator('[data-role="attachment-error"]');
    await fileError.waitFor({ timeout: 20_000 });
    expect(await fileError.getAttribute('data-code')).toBe('attachment_hash_mismatch');
    // Nothing of either file reached the page: no image, no link, no object URL.
    expect(await message.locator('img').count()).toBe(0);
    expect(await message.locator('[data-role="attachment-link"]').count()).toBe(0);
    expect(await message.locator('[href^="blob:"], [src^="blob:"]').count()).toBe(0);
    // A retry fails the same way (the page stays usable).
    await pdfRow.locator('[data-role="attachment-download"]').click();
    await expect.poll(() => pdfRow.locator('[data-role="attachment-error"]').getAttribute('data-code'), { timeout: 20_000 }).toBe('attachment_hash_mismatch');
    await page.screenshot({ path: join(shots, 'attachments-tampered.png'), fullPage: true });
    expect(await page.getAttribute('body', 'data-state')).toBe('ready');
    expect(pageErrors).toEqual([]);
  }, 60_000);
});

/** A copy of a real reference whose `sha256` differs in its first character. */
function wrongHash(ref: AttachmentRef): AttachmentRef {
  return { ...ref, sha256: (ref.sha256.startsWith('A') ? 'B' : 'A') + ref.sha256.slice(1) };
}

function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** A PDF header and trailer around random bytes (several 64 KiB chunks of the stream format). */
function fakePdf(size: number): Uint8Array {
  const head = Buffer.from('%PDF-1.4\n% statement\n');
  const tail = Buffer.from('\n%%EOF\n');
  return new Uint8Array(Buffer.concat([head, randomBytes(size - head.length - tail.length), tail]));
}

/** A valid RGB PNG of random pixels (incompressible: it spans several chunks of the stream format). */
function noisePng(width: number, height: number): Uint8Array {
  const rows = Buffer.alloc((width * 3 + 1) * height);
  const pixels = randomBytes(width * 3 * height);
  for (let y = 0; y < height; y++) pixels.copy(rows, y * (width * 3 + 1) + 1, y * width * 3, (y + 1) * width * 3);
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header.set([8, 2, 0, 0, 0], 8); // 8 bits per channel, RGB, deflate, no filter method, no interlace
  const signature = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  return new Uint8Array(Buffer.concat([signature, pngChunk('IHDR', header), pngChunk('IDAT', deflateSync(rows)), pngChunk('IEND', Buffer.alloc(0))]));
}

function pngChunk(type: string, data: Buffer): Buffer {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([length, body, crc]);
}

function crc32(bytes: Uint8Array): number {
  let crc = 0xffffffff;
  for (const byte of bytes) {
    crc ^= byte;
    for (let k = 0; k < 8; k++) crc = crc & 1 ? (crc >>> 1) ^ 0xedb88320 : crc >>> 1;
  }
  return (crc ^ 0xffffffff) >>> 0;
}
