/**
 * The demo's customer web app step: serves apps/customer-web/dist from a loopback static
 * server (its origin is one of the demo server's `allowedOrigins`), opens the bank's
 * enrollment link for a demo customer in headless Chromium, has the bank's Sender send a
 * one-time code, and checks that the page shows it as "Encrypted · Verified: <brand>".
 * Without Chromium or playwright-core the step says so and is skipped.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { Sender } from '@parley/client';
import { otpCode } from './delivery-paths.js';
import type { Transcript } from './transcript.js';
import { CHROMIUM_PATH, launchHeadless, loadPlaywright } from './web-reader.js';

/**
 * apps/customer-web in this checkout (from src/demo or dist/demo alike).
 *
 * @example
 * await buildCustomerWeb(CUSTOMER_WEB_DIR, '/tmp/customer-web')
 */
export const CUSTOMER_WEB_DIR = fileURLToPath(new URL('../../../../apps/customer-web/', import.meta.url));

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json',
  '.txt': 'text/plain; charset=utf-8',
};

/**
 * Builds the app (`node apps/customer-web/build.mjs --outdir <outDir>`); the reason when it cannot.
 *
 * @example
 * const built = await buildCustomerWeb(CUSTOMER_WEB_DIR, '/tmp/customer-web')
 */
export async function buildCustomerWeb(appDir: string, outDir: string): Promise<{ dist: string } | { reason: string }> {
  const script = join(appDir, 'build.mjs');
  if (!existsSync(script)) return { reason: `no customer web app at ${appDir} (run the demo from a source checkout)` };
  try {
    await promisify(execFile)(process.execPath, [script, '--outdir', outDir], { timeout: 120_000 });
  } catch (error) {
    return { reason: `building the customer web app failed (node ${script}): ${(error as Error).message.split('\n')[0]}` };
  }
  return { dist: outDir };
}

/**
 * The app as the CLI package ships it: `npm run build` builds it into packages/cli/dist/customer-web
 * (next to dist/demo/), so an installed `parley demo` serves it without the source checkout.
 */
const PACKAGED_DIR = fileURLToPath(new URL('../customer-web/', import.meta.url));

/**
 * The app's built files: the copy shipped with the CLI, else apps/customer-web/dist of this
 * checkout, building it first when it is missing.
 *
 * @example
 * const built = await ensureCustomerWebBuilt(); if ('reason' in built) console.log(built.reason)
 */
export async function ensureCustomerWebBuilt(appDir = CUSTOMER_WEB_DIR): Promise<{ dist: string } | { reason: string }> {
  if (appDir === CUSTOMER_WEB_DIR && existsSync(join(PACKAGED_DIR, 'app.js')) && existsSync(join(PACKAGED_DIR, 'index.html'))) {
    return { dist: PACKAGED_DIR };
  }
  const dist = join(appDir, 'dist');
  if (existsSync(join(dist, 'app.js')) && existsSync(join(dist, 'index.html'))) return { dist };
  return buildCustomerWeb(appDir, dist);
}

/**
 * A running static server for the app.
 *
 * @example
 * const app = await serveCustomerWeb(dist, [server.url]); console.log(app.url); await app.close()
 */
export interface CustomerWebServer {
  /** `http://127.0.0.1:<port>`: pass it to the Parley server's `allowedOrigins`. */
  readonly origin: string;
  /** The app's page. */
  readonly url: string;
  /** Adds a Parley server the page may connect to (Content-Security-Policy `connect-src`). */
  allowServer(serverUrl: string): void;
  close(): Promise<void>;
}

/**
 * Serves the files of `dist` (flat: index.html, app.js, styles.css, maps) on loopback, with a
 * strict Content-Security-Policy: scripts and styles from the app's origin only, images from it
 * and from the page's own decrypted Blobs, network access to the allowed Parley servers only.
 *
 * @example
 * const app = await serveCustomerWeb('/path/to/apps/customer-web/dist')
 */
export async function serveCustomerWeb(dist: string, serverUrls: readonly string[] = []): Promise<CustomerWebServer> {
  const connect = new Set<string>();
  const allowServer = (serverUrl: string) => {
    const u = new URL(serverUrl);
    connect.add(u.origin).add(`${u.protocol === 'https:' ? 'wss:' : 'ws:'}//${u.host}`);
  };
  serverUrls.forEach(allowServer);
  const server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://app').pathname;
    const name = path === '/' ? 'index.html' : path.slice(1);
    if (req.method !== 'GET' || !/^[A-Za-z0-9_.-]+$/.test(name) || name.startsWith('.')) {
      res.writeHead(404).end();
      return;
    }
    readFile(join(dist, name)).then(
      (body) => {
        res.writeHead(200, {
          'content-type': CONTENT_TYPES[extname(name)] ?? 'application/octet-stream',
          'cache-control': 'no-store',
          'x-content-type-options': 'nosniff',
          'referrer-policy': 'no-referrer',
          'content-security-policy': [
            "default-src 'none'",
            "script-src 'self' 'wasm-unsafe-eval'",
            "style-src 'self'",
            // Received images, decrypted in the page into Blobs (apps/customer-web/src/attachments.ts).
            "img-src 'self' blob:",
            `connect-src ${[...connect].join(' ') || "'none'"}`,
            "base-uri 'none'",
            "form-action 'none'",
            "frame-ancestors 'none'",
          ].join('; '),
        });
        res.end(body);
      },
      () => res.writeHead(404).end(),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    origin,
    url: `${origin}/index.html`,
    allowServer,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/**
 * The link the bank sends a customer: the app's page with the single-use token and the server in the fragment.
 *
 * @example
 * enrollmentLink('https://bank.example/secure/index.html', 'https://parley.bank.example', token)
 */
export function enrollmentLink(appUrl: string, serverUrl: string, token: string): string {
  return `${appUrl}#${new URLSearchParams({ enroll: token, server: serverUrl }).toString()}`;
}

/**
 * What the customer-web step needs from the scenario.
 *
 * @example
 * const o: CustomerWebStepOptions = { transcript, appUrl, serverUrl, sender, brand: 'Example Bank', customer, timeoutMs: 20_000 }
 */
export interface CustomerWebStepOptions {
  readonly transcript: Transcript;
  readonly appUrl: string;
  readonly serverUrl: string;
  readonly sender: Sender;
  /** The bank's brand, as its sender's enrollment token names it. */
  readonly brand: string;
  /** The demo customer's subject and a fresh enrollment token for it. */
  readonly customer: { readonly subject: string; readonly token: () => Promise<string> };
  readonly timeoutMs: number;
}

/**
 * Runs the step: enroll the customer's browser from the link, send it a one-time code, check the page.
 *
 * @example
 * await runCustomerWebStep({ transcript, appUrl, serverUrl, sender, brand: 'Example Bank', customer, timeoutMs: 20_000 })
 */
export async function runCustomerWebStep(o: CustomerWebStepOptions): Promise<void> {
  o.transcript.step(`customer web app served at ${o.appUrl} (open it in a browser while the demo runs)`, true);
  if (!existsSync(CHROMIUM_PATH)) {
    o.transcript.step('customer web app in headless Chromium', true, `skipped: no Chromium at ${CHROMIUM_PATH}`);
    return;
  }
  const playwright = await loadPlaywright();
  if (!playwright) {
    o.transcript.step('customer web app in headless Chromium', true, 'skipped: playwright-core is not installed (npm install playwright-core)');
    return;
  }
  const browser = await launchHeadless(playwright.chromium);
  try {
    const page = await browser.newPage();
    await page.goto(enrollmentLink(o.appUrl, o.serverUrl, await o.customer.token()));
    await page.waitForSelector('body[data-state="ready"]', { timeout: o.timeoutMs });
    const linkGone = !page.url().includes('enroll=');
    o.transcript.step(`the customer opens the bank's enrollment link: the browser enrolls its own device (keys in IndexedDB) and removes the link from the address bar`, linkGone);
    const code = otpCode();
    const sent = await o.sender.send(o.customer.subject, `${o.brand}: your code is ${code}. It expires in 5 minutes.`, { class: 'otp' });
    const card = page.locator(`[data-message-id="${sent.messageId}"]`);
    await card.locator('[data-role="otp-code"]').waitFor({ timeout: o.timeoutMs });
    const shown = (await card.locator('[data-role="otp-code"]').textContent()) ?? '';
    const badge = (await card.locator('[data-role="sender"]').textContent()) ?? '';
    o.transcript.step(`the web app shows the one-time code big, as "${badge}"`, shown === code && badge === `Encrypted · Verified: ${o.brand}`);
  } finally {
    await browser.close();
  }
}
