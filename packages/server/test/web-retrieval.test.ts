/**
 * The web retrieval page in a real browser (Debian's headless Chromium through
 * playwright-core): a customer without the app opens the SMS link, asks for a code sent to
 * the business's second factor, consents, and reads the message decrypted in the browser
 * with the key from the URL fragment. Reused and expired links are refused. Every request
 * the page made is checked: none carried the key.
 */
import { createServer, type Server } from 'node:http';
import { existsSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromium, type Browser, type Page } from 'playwright-core';
import { MemoryKeyStore, Sender } from '@parley/client';
import { smsDeliver } from '@parley/server';
import { nodeRuntime } from '@parley/client/node';
import { DEMO_BRAND, freePort, startLocalProviders, type LocalProviders } from '../../cli/src/demo/providers.js';
import { createBusiness, type Business } from '@parley/test-kit/sdk';
import { startTestServer, type TestServer } from '@parley/test-kit/server';

const CHROMIUM = process.env['PARLEY_CHROMIUM'] ?? '/usr/bin/chromium';
const available = existsSync(CHROMIUM);
if (!available) console.log(`web retrieval page: no Chromium at ${CHROMIUM}; browser test skipped (apt-get install chromium)`);

const MARKER = 'PLAINTEXT-MARKER-7d1c0e';

describe.skipIf(!available)('web retrieval page in headless Chromium', () => {
  let t: TestServer;
  let providers: LocalProviders;
  let bank: Business;
  let sender: Sender;
  let backend: Server;
  let browser: Browser;
  const codes: string[] = [];

  beforeAll(async () => {
    const port = await freePort();
    providers = await startLocalProviders({ publicUrl: `http://127.0.0.1:${port}`, timeoutMs: 2000 });
    backend = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        codes.push((JSON.parse(Buffer.concat(chunks).toString()) as { code: string }).code);
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((r) => backend.listen(0, '127.0.0.1', () => r()));
    t = await startTestServer({
      port,
      routing: {
        channels: providers.channels,
        businesses: {
          'web-bank': { brand: DEMO_BRAND, secondFactor: { url: `http://127.0.0.1:${(backend.address() as AddressInfo).port}/codes`, secret: 's3cret' } },
        },
      },
    });
    bank = await createBusiness(t.url, 'web-bank');
    sender = await Sender.enroll({ serverUrl: t.url, enrollmentToken: await bank.issue('sender', 'sender', { name: DEMO_BRAND }), store: new MemoryKeyStore(), keyPackageBatch: 5, ...nodeRuntime });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await sender?.close();
    await t?.stop();
    await providers?.close();
    await new Promise<void>((r) => (backend ? backend.close(() => r()) : r()));
  });

  async function linkFor(phone: string, text: string): Promise<string> {
    await sender.sendToWeb(`cust-${phone.slice(-4)}`, phone, text, { class: 'otp', deliver: smsDeliver(providers.businessSms, DEMO_BRAND) });
    await expect.poll(() => providers.twilio.inbox(phone).length).toBe(1);
    return providers.twilio.inbox(phone)[0]!.text.match(/https?:\/\/\S+/)![0];
  }

  async function open(link: string): Promise<{ page: Page; requests: string[] }> {
    const page = await browser.newPage();
    const requests: string[] = [];
    page.on('request', (r) => requests.push(`${r.method()} ${r.url()} ${r.postData() ?? ''}`));
    await page.goto(link);
    return { page, requests };
  }

  it('reads a one-time code: code to the second factor, consent, decryption in the browser', async () => {
    const text = `Example Bank: your code is 731904. ${MARKER}`;
    const link = await linkFor('+15550301001', text);
    const key = new URL(link).hash.slice(1);
    const { page, requests } = await open(link);
    await expect.poll(() => page.textContent('#brand')).toBe(DEMO_BRAND);
    expect(page.url()).not.toContain('#'); // the key left the address bar at once
    await page.click('#request-code');
    await expect.poll(() => codes.length).toBe(1);
    await page.waitForSelector('#code', { state: 'visible' });
    await page.fill('#code', codes[0]!);
    // No consent: refused, nothing shown.
    await page.click('#open');
    await expect.poll(() => page.textContent('#error')).toMatch(/tick the box/);
    await page.check('#consent');
    await page.click('#open');
    await page.waitForSelector('#result', { state: 'visible' });
    expect(await page.textContent('#message')).toBe(text);
    // The key never went over the wire: not in a URL, not in a body.
    expect(requests.length).toBeGreaterThan(3);
    expect(requests.some((r) => r.includes(key))).toBe(false);
    expect(t.logs.join('\n')).not.toContain(key);
    await page.close();

    // The same link again: used.
    const again = await open(link);
    await expect.poll(() => again.page.textContent('#error')).toMatch(/already used/);
    expect(await again.page.isVisible('#step-code')).toBe(false);
    await again.page.close();
  });

  it('refuses an expired link and a wrong code', async () => {
    const link = await linkFor('+15550301002', `Expiring ${MARKER}`);
    await t.server.db.query(`UPDATE retrieval_tokens SET expires_at = now() - interval '1 second' WHERE kind = 'web' AND used_at IS NULL`);
    const expired = await open(link);
    await expect.poll(() => expired.page.textContent('#error')).toMatch(/expired/);
    expect(await expired.page.isVisible('#step-code')).toBe(false);
    await expired.page.close();

    const link2 = await linkFor('+15550301003', `Wrong code ${MARKER}`);
    const { page } = await open(link2);
    await page.click('#request-code');
    await page.waitForSelector('#code', { state: 'visible' });
    const right = codes[codes.length - 1]!;
    await page.fill('#code', right === '000000' ? '000001' : '000000');
    await page.check('#consent');
    await page.click('#open');
    await expect.poll(() => page.textContent('#error')).toMatch(/Wrong or expired code/);
    expect(await page.isVisible('#result')).toBe(false);
    await page.fill('#code', right);
    await page.click('#open');
    await page.waitForSelector('#result', { state: 'visible' });
    expect(await page.textContent('#message')).toBe(`Wrong code ${MARKER}`);
    await page.close();
  });
});
