/**
 * Shared set-up of the Chromium tests: bundles browser-page.ts for the browser with
 * esbuild into a temporary directory, serves it from a static loopback HTTP
 * server (its own origin, not the Parley server's), and launches Debian's
 * headless Chromium through playwright-core as packages/server/test/web-retrieval.test.ts
 * does. Tests skip with a one-line note when Chromium is absent.
 */
import { existsSync } from 'node:fs';
import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { chromium, type Browser, type Page } from 'playwright-core';
import type { PageResult } from './browser-page.js';

export { fromWire, toWire, type Wire } from './browser-wire.js';

export const CHROMIUM = process.env['PARLEY_CHROMIUM'] ?? '/usr/bin/chromium';
export const chromiumAvailable = existsSync(CHROMIUM);

/** Debian's Chromium, headless, without the background traffic a test does not want. */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

const here = dirname(fileURLToPath(import.meta.url));

/** Logs the one-line skip note (once per file) and says whether to skip. */
export function skipWithoutChromium(suite: string): boolean {
  if (!chromiumAvailable) console.log(`${suite}: no Chromium at ${CHROMIUM}; browser test skipped (apt-get install chromium)`);
  return !chromiumAvailable;
}

export interface BrowserFixture {
  readonly browser: Browser;
  /** The page server's origin, e.g. `http://127.0.0.1:41234`. */
  readonly origin: string;
  /** A new tab in `context` (or a new context) showing the test page, ready. */
  openPage(context?: Awaited<ReturnType<Browser['newContext']>>): Promise<Page>;
  close(): Promise<void>;
}

/** Where the test page's `@parley/*` imports come from. */
export interface BrowserFixtureOptions {
  /**
   * A project with the packed packages installed (node_modules/@parley/*): the page is
   * bundled there from the packages' built files, as an app that installed them would be.
   * Default: this repository's TypeScript sources (the `parley-source` condition).
   */
  readonly installedIn?: string;
}

/** Bundles browser-page.ts, serves it, launches Chromium. */
export async function startBrowserFixture(options: BrowserFixtureOptions = {}): Promise<BrowserFixture> {
  const dir = await mkdtemp(join(tmpdir(), 'parley-browser-'));
  let entry = join(here, 'browser-page.ts');
  if (options.installedIn !== undefined) {
    // Resolved from the installed project: esbuild looks for @parley/* next to the entry.
    const pageDir = await mkdtemp(join(options.installedIn, 'parley-test-page-'));
    entry = join(pageDir, 'browser-page.ts');
    // The page and the modules it imports from this folder.
    for (const file of ['browser-page.ts', 'browser-wire.ts']) await copyFile(join(here, file), join(pageDir, file));
  }
  await build({
    entryPoints: [entry],
    outfile: join(dir, 'page.js'),
    bundle: true,
    platform: 'browser',
    format: 'esm',
    target: 'es2022',
    conditions: options.installedIn === undefined ? ['parley-source'] : [],
    sourcemap: 'inline',
    logLevel: 'silent',
  });
  await writeFile(join(dir, 'index.html'), '<!doctype html><meta charset="utf-8"><title>loading</title><script type="module" src="/page.js"></script>\n');
  const files: Record<string, { file: string; type: string }> = {
    '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
    '/page.js': { file: 'page.js', type: 'text/javascript; charset=utf-8' },
  };
  const server: Server = createServer((req, res) => {
    const entry = files[new URL(req.url ?? '/', 'http://x').pathname];
    if (!entry) return void res.writeHead(404).end();
    readFile(join(dir, entry.file)).then(
      (body) => res.writeHead(200, { 'content-type': entry.type, 'cache-control': 'no-store' }).end(body),
      () => res.writeHead(500).end(),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const browser = await launchChromium();
  return {
    browser,
    origin,
    async openPage(context) {
      const page = await (context ?? (await browser.newContext())).newPage();
      page.on('pageerror', (error) => console.log(`page error: ${error.stack ?? error.message}`));
      await page.goto(origin + '/');
      await page.waitForFunction(() => document.title === 'parley-test-page-ready', undefined, { timeout: 30_000 });
      return page;
    },
    async close() {
      await browser.close().catch(() => undefined);
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** The value of a page result, or a test failure naming the error. */
export function valueOf<T>(result: PageResult<T>): T {
  if (!result.ok) throw new Error(`page call failed: ${result.name} ${result.code}: ${result.message}`);
  return result.value;
}
