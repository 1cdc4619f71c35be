/**
 * The demo's customer without the app: opens the SMS link in headless Chromium (Debian's
 * `chromium`, driven by playwright-core), asks for the code, types the code the bank's
 * second factor delivered, consents, and reads the message the page decrypted. Where no
 * Chromium is installed it says so and replays the page's requests over HTTP, decrypting
 * with the same file the page runs (`@parley/core/web-message`, the format's one definition).
 */
import { existsSync } from 'node:fs';
import { openWebMessage } from '@parley/core/web-message';
import type * as PlaywrightCore from 'playwright-core';

/**
 * What the web page decrypted, and how it was read.
 *
 * @example
 * if (reading.via === 'http-replay') console.log('no Chromium installed');
 */
export interface WebReading {
  readonly text: string;
  readonly via: 'chromium' | 'http-replay';
}

/**
 * The Chromium the demo drives (PARLEY_CHROMIUM, default `/usr/bin/chromium`).
 *
 * @example
 * existsSync(CHROMIUM_PATH)
 */
export const CHROMIUM_PATH = process.env['PARLEY_CHROMIUM'] ?? '/usr/bin/chromium';

/**
 * Opens the one-time link, gets the code from `code()`, consents and returns the decrypted text.
 *
 * @example
 * const reading = await readWebLink(link, () => secondFactor.nextCode(`${businessId}:c-1005`));
 */
export async function readWebLink(link: string, code: () => Promise<string>): Promise<WebReading> {
  if (existsSync(CHROMIUM_PATH)) {
    const playwright = await loadPlaywright();
    if (playwright) return { text: await readInChromium(playwright, link, code), via: 'chromium' };
    process.stderr.write('note: playwright-core is not installed, so the demo replays the web page\'s requests over HTTP instead of driving Chromium (npm install playwright-core to watch the page itself)\n');
  }
  return { text: await replayOverHttp(link, code), via: 'http-replay' };
}

type Playwright = typeof PlaywrightCore;

/**
 * Launches Debian's Chromium headless, as every demo step that drives a page does.
 *
 * @example
 * const browser = await launchHeadless((await loadPlaywright())!.chromium)
 */
export function launchHeadless(chromium: Playwright['chromium']): ReturnType<Playwright['chromium']['launch']> {
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

/**
 * playwright-core, an optional peer dependency of the CLI: undefined when it is not installed.
 *
 * @example
 * const playwright = await loadPlaywright(); if (!playwright) skip()
 */
export async function loadPlaywright(): Promise<Playwright | undefined> {
  try {
    return await import('playwright-core');
  } catch (error) {
    const { code, message } = error as { code?: unknown; message?: unknown };
    if (code === 'ERR_MODULE_NOT_FOUND' && String(message).includes("'playwright-core'")) return undefined;
    throw error;
  }
}

async function readInChromium({ chromium }: Playwright, link: string, code: () => Promise<string>): Promise<string> {
  const browser = await launchHeadless(chromium);
  try {
    const page = await browser.newPage();
    await page.goto(link);
    await page.waitForSelector('#request-code', { state: 'visible', timeout: 15_000 });
    await page.click('#request-code');
    await page.waitForSelector('#code', { state: 'visible' });
    await page.fill('#code', await code());
    await page.check('#consent');
    await page.click('#open');
    await page.waitForSelector('#result', { state: 'visible', timeout: 15_000 });
    return (await page.textContent('#message')) ?? '';
  } finally {
    await browser.close();
  }
}

async function replayOverHttp(link: string, code: () => Promise<string>): Promise<string> {
  const url = new URL(link);
  const token = url.pathname.split('/').pop() ?? '';
  const key = Buffer.from(url.hash.slice(1), 'base64url');
  const post = async (path: string, body: unknown) => {
    const res = await fetch(`${url.origin}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const json = (await res.json()) as Record<string, unknown>;
    if (!res.ok) throw new Error(`${path}: ${JSON.stringify(json['error'])}`);
    return json;
  };
  await post('/v1/web/challenge', { token });
  const opened = await post('/v1/web/open', { token, code: await code(), consent: true });
  return openWebMessage(Buffer.from(String(opened['ciphertext']), 'base64'), key);
}
