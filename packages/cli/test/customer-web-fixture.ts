/**
 * What the customer web app's Chromium tests share: the app built fresh from its sources and
 * served on its own origin, a server on loopback that allows that origin, a business with its
 * sending service connected, and headless Chromium.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { MemoryKeyStore, Sender } from '@parley/client';
import { nodeRuntime } from '@parley/client/node';
import { launchChromium } from '@parley/test-kit/browser';
import { createBusiness, type Business } from '@parley/test-kit/sdk';
import { startTestServer, type TestServer } from '@parley/test-kit/server';
import { CUSTOMER_WEB_DIR, buildCustomerWeb, serveCustomerWeb, type CustomerWebServer } from '../src/demo/customer-web.js';

export interface CustomerWebFixture {
  readonly t: TestServer;
  readonly app: CustomerWebServer;
  readonly bank: Business;
  readonly sender: Sender;
  readonly browser: Browser;
  /** A private temporary directory (the app's build, screenshots); removed by `close`. */
  readonly dir: string;
  close(): Promise<void>;
}

/**
 * @example
 * const fx = await startCustomerWebFixture('web-app-bank', 'Example Bank')
 */
export async function startCustomerWebFixture(businessId: string, brand: string): Promise<CustomerWebFixture> {
  const dir = await mkdtemp(join(tmpdir(), `parley-${businessId}-`));
  // Built fresh from the sources (never a stale dist/).
  const built = await buildCustomerWeb(CUSTOMER_WEB_DIR, join(dir, 'dist'));
  if ('reason' in built) throw new Error(built.reason);
  const app = await serveCustomerWeb(built.dist);
  const t = await startTestServer({ allowedOrigins: [app.origin] });
  app.allowServer(t.url);
  const bank = await createBusiness(t.url, businessId);
  const sender = await Sender.enroll({ serverUrl: t.url, enrollmentToken: await bank.issue('notifications', 'sender', { name: brand }), store: new MemoryKeyStore(), keyPackageBatch: 5, ...nodeRuntime });
  await sender.connect();
  const browser = await launchChromium();
  return {
    t,
    app,
    bank,
    sender,
    browser,
    dir,
    close: async () => {
      await browser.close().catch(() => undefined);
      await sender.close().catch(() => undefined);
      await t.stop();
      await app.close();
      await rm(dir, { recursive: true, force: true }).catch(() => undefined);
    },
  };
}
