/**
 * A browser device end to end in headless Chromium (issue 11): the page (its own
 * origin, allowed by the server's `allowedOrigins`) enrolls a customer device with
 * `IndexedDbKeyStore` + `browserRuntime`; a Sender (Node) sends it an OTP; the page
 * decrypts it. The tab is closed; a new tab in the same profile opens the device
 * from IndexedDB and decrypts the next message in the same conversation. A third
 * tab is refused while the second holds the device, and the device keeps working.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Sender } from '@parley/client';
import { createBusiness, enrollSender, type Business } from '@parley/test-kit/sdk';
import { startTestServer, type TestServer } from '@parley/test-kit/server';
import { skipWithoutChromium, startBrowserFixture, valueOf, type BrowserFixture } from '@parley/test-kit/browser';

const skip = skipWithoutChromium('browser device in Chromium');
const MARKER = 'PLAINTEXT-MARKER-3b9e41';

describe.skipIf(skip)('a browser device (IndexedDbKeyStore + browserRuntime) in headless Chromium', () => {
  let fx: BrowserFixture;
  let t: TestServer;
  let bank: Business;
  let sender: Sender;

  beforeAll(async () => {
    fx = await startBrowserFixture();
    t = await startTestServer({ allowedOrigins: [fx.origin] });
    bank = await createBusiness(t.url, 'browser-bank');
    sender = await enrollSender(t.url, bank);
    await sender.connect();
  }, 120_000);

  afterAll(async () => {
    await fx?.close();
    await sender?.close();
    await t?.stop();
  });

  it('enrolls, decrypts, survives closing the tab, and holds the device in one tab only', { timeout: 180_000 }, async () => {
    const context = await fx.browser.newContext();
    const first = await fx.openPage(context);
    const token = await bank.issue('alice', 'customer');
    const deviceId = valueOf(await first.evaluate(([url, tok]) => window.parley.enroll(url, tok, 'alice-phone'), [t.url, token] as const));

    const otp = await sender.send('alice', `Your code is 731904 ${MARKER}`, { class: 'otp' });
    expect(otp.customerDevices).toEqual([deviceId]);
    await expect.poll(() => first.evaluate(() => window.parley.messages()), { timeout: 30_000 }).toEqual([`Your code is 731904 ${MARKER}`]);

    // The tab goes away without closing anything; the same profile opens the device from IndexedDB.
    await first.close();
    const second = await fx.openPage(context);
    expect(valueOf(await second.evaluate((name) => window.parley.open(name), 'alice-phone'))).toBe(deviceId);
    const next = await sender.send('alice', `Next code 402211 ${MARKER}`, { class: 'otp' });
    expect(next.conversationId).toBe(otp.conversationId);
    await expect.poll(() => second.evaluate(() => window.parley.messages()), { timeout: 30_000 }).toContain(`Next code 402211 ${MARKER}`);

    // A third tab cannot open the device while the second holds it...
    const third = await fx.openPage(context);
    const refused = await third.evaluate((name) => window.parley.open(name), 'alice-phone');
    expect(refused).toMatchObject({ ok: false, code: 'key_store_in_use' });
    // ...and the second keeps working.
    await sender.send('alice', `Third 118833 ${MARKER}`, { class: 'alert' });
    await expect.poll(() => second.evaluate(() => window.parley.messages()), { timeout: 30_000 }).toContain(`Third 118833 ${MARKER}`);

    // Handing over: once the second tab closes the device, the third opens it.
    valueOf(await second.evaluate(() => window.parley.closeDevice()));
    expect(valueOf(await third.evaluate((name) => window.parley.open(name), 'alice-phone'))).toBe(deviceId);
    await sender.send('alice', `Fourth 550021 ${MARKER}`, { class: 'alert' });
    await expect.poll(() => third.evaluate(() => window.parley.messages()), { timeout: 30_000 }).toContain(`Fourth 550021 ${MARKER}`);
    valueOf(await third.evaluate(() => window.parley.closeDevice()));

    // The server never saw the plaintext.
    expect(t.logs.join('\n')).not.toContain(MARKER);
    await context.close();
  });

  it('a browser without a WebSocket is refused at enroll with runtime_missing, before any request', async () => {
    const page = await fx.openPage();
    const requests: string[] = [];
    page.on('request', (r) => requests.push(r.url()));
    const token = await bank.issue('bob', 'customer');
    const result = await page.evaluate(([url, tok]) => window.parley.enrollWithoutWebSocket(url, tok), [t.url, token] as const);
    expect(result).toMatchObject({ ok: false, code: 'runtime_missing', name: 'RuntimeMissingError' });
    expect(result.ok ? '' : result.message).toContain("...browserRuntime from '@parley/client/browser'");
    expect(requests.filter((u) => u.startsWith(t.url))).toEqual([]);
    await page.context().close();
  });
});
