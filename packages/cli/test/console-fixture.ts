/**
 * What the operator console's Chromium test needs: the console built fresh from its sources
 * (apps/console/build.mjs) into a temporary directory, a server on loopback serving it
 * (`console.assetsDir`) with the demo's local delivery providers, the demo scenario run against
 * that server (so every view has real data), a customer with two devices of its own (one
 * active, one waiting for approval) that reported a decrypt failure and its verification
 * through `POST /v1/diagnostics`, and headless Chromium.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { Browser } from 'playwright-core';
import { launchChromium } from '@parley/test-kit/browser';
import { ADMIN_TOKEN, api, createBusiness, registerRawDevice, startTestServer, type RawDevice, type TestServer } from '@parley/test-kit/server';
import { demoRouting, freePort, startLocalProviders, startSecondFactorInbox, type LocalProviders, type SecondFactorInbox } from '../src/demo/providers.js';
import { runScenario } from '../src/demo/scenario.js';
import type { ScenarioResult } from '../src/demo/scenario-types.js';

/** apps/console in this checkout. */
export const CONSOLE_APP_DIR = fileURLToPath(new URL('../../../apps/console/', import.meta.url));

/** What the fixture's own customer reported through `POST /v1/diagnostics`. */
export const REPORTED = { sdkVersion: '9.8.7', platform: 'browser', reason: 'missed-epoch', count: 3 } as const;

export interface ConsoleFixture {
  readonly t: TestServer;
  readonly browser: Browser;
  readonly scenario: ScenarioResult;
  /** The evidence bundle (JSON text) the scenario wrote for its payment alert. */
  readonly evidencePath: string;
  /** A customer of the fixture's own business: its active device and one waiting for approval. */
  readonly customer: { readonly active: RawDevice; readonly pending: RawDevice | null };
  readonly dir: string;
  close(): Promise<void>;
}

/**
 * Builds the console, starts the server and providers, runs the demo scenario and launches Chromium.
 *
 * @example
 * const fx = await startConsoleFixture(); try { … } finally { await fx.close() }
 */
export async function startConsoleFixture(): Promise<ConsoleFixture> {
  const dir = await mkdtemp(join(tmpdir(), 'parley-console-'));
  const assetsDir = join(dir, 'console');
  await promisify(execFile)(process.execPath, [join(CONSOLE_APP_DIR, 'build.mjs'), '--outdir', assetsDir], { timeout: 120_000 });

  const port = await freePort();
  let providers: LocalProviders | undefined;
  let secondFactor: SecondFactorInbox | undefined;
  let t: TestServer | undefined;
  let browser: Browser | undefined;
  const close = async () => {
    await browser?.close().catch(() => undefined);
    await t?.stop();
    await providers?.close();
    await secondFactor?.close();
    await rm(dir, { recursive: true, force: true }).catch(() => undefined);
  };
  try {
    providers = await startLocalProviders({ publicUrl: `http://127.0.0.1:${port}`, rbmAutoDeliver: true });
    secondFactor = await startSecondFactorInbox();
    t = await startTestServer({ port, routing: { channels: providers.channels, defaultBusiness: demoRouting(secondFactor) }, console: { assetsDir } });

    const evidencePath = join(dir, 'alert.evidence.json');
    const scenario = await runScenario({
      serverUrl: t.url,
      adminToken: ADMIN_TOKEN,
      workDir: join(dir, 'scenario'),
      fastKeyStores: true,
      channels: { providers, secondFactor },
      evidencePath,
    });
    if (!scenario.ok) throw new Error(`demo scenario failed: ${scenario.steps.filter((s) => !s.ok).map((s) => `${s.name}: ${s.detail ?? ''}`).join('; ')}`);

    // A customer of our own, to revoke from the console and to report diagnostics.
    const shop = await createBusiness(t.url, 'console-shop');
    const active = await registerRawDevice(t.url, shop, 'console-carol');
    const pending = await registerRawDevice(t.url, shop, 'console-carol').catch(() => null);
    const report = await api(
      t.url,
      'POST',
      '/v1/diagnostics',
      { sdkVersion: REPORTED.sdkVersion, platform: REPORTED.platform, decryptFailures: [{ reason: REPORTED.reason, count: REPORTED.count }], verification: { state: 'verified', method: 'qr' } },
      active.token,
    );
    if (report.status !== 202) throw new Error(`diagnostics refused: ${report.status} ${JSON.stringify(report.body)}`);

    browser = await launchChromium();
    return { t, browser, scenario, evidencePath, customer: { active, pending }, dir, close };
  } catch (error) {
    await close();
    throw error;
  }
}
