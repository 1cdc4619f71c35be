/**
 * `/metrics` is not public, and senders cannot mint label values:
 * - on the main port it needs `Authorization: Bearer <metrics token or admin token>`;
 * - with a separate listener it is served only there (no token; a private address) and
 *   not on the public port; `parley serve --metrics-listen / --metrics-token-file` set both;
 * - a message class the policy configuration does not name is labelled `other`.
 * Real servers on loopback, real SDK devices, Twilio as an emulator.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Device, MemoryKeyStore, Sender } from '@parley/client';
import { smsDeliver } from '@parley/server';
import { nodeRuntime } from '@parley/client/node';
import { freePort as freeProviderPort, startLocalProviders, type LocalProviders } from '../../../cli/src/demo/providers.js';
import { createBusiness, EventLog } from '@parley/test-kit/sdk';
import { BIN, cleanup, freePort, tempDir } from '../cluster/cluster-helpers.js';
import { ADMIN_TOKEN, startTestServer, type TestServer } from '@parley/test-kit/server';

const METRICS_TOKEN = 'metrics-token-5f0c2a9d7e1b4c63';
const RANDOM_CLASS = 'zzz-random-123';
let t: TestServer;
let providers: LocalProviders;
const children: ChildProcess[] = [];

const get = (url: string, token?: string) => fetch(`${url}/metrics`, token ? { headers: { authorization: `Bearer ${token}` } } : {});

beforeAll(async () => {
  const port = await freeProviderPort();
  providers = await startLocalProviders({ publicUrl: `http://127.0.0.1:${port}`, timeoutMs: 1000 });
  t = await startTestServer({
    port,
    metrics: { token: METRICS_TOKEN },
    routing: {
      channels: providers.channels,
      tickMs: 50,
      businesses: { 'metrics-bank': { brand: 'Metrics Bank', policies: { notice: { chain: [{ step: 'app', timeoutMs: 60_000 }], otherwise: 'block' } } } },
    },
  });
}, 120_000);

afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await t?.stop();
  await providers?.close();
  await cleanup();
});

describe('metrics access', () => {
  it('main port: 401 without a token or with a wrong one; 200 with the metrics token or the admin token', async () => {
    const none = await get(t.url);
    expect(none.status).toBe(401);
    expect(((await none.json()) as { error: { code: string } }).error.code).toBe('metrics_token_invalid');
    expect((await get(t.url, 'not-the-token')).status).toBe(401);
    expect((await get(t.url, `${METRICS_TOKEN}x`)).status).toBe(401);
    const byMetrics = await get(t.url, METRICS_TOKEN);
    expect(byMetrics.status).toBe(200);
    expect(await byMetrics.text()).toContain('parley_process_');
    expect((await get(t.url, ADMIN_TOKEN)).status).toBe(200);
    // A token is never echoed in an answer or a log line.
    expect(t.logs.join('\n')).not.toContain(METRICS_TOKEN);
  });

  it(`a sender-chosen class (${RANDOM_CLASS}) is labelled "other"; configured classes keep their name`, async () => {
    const bank = await createBusiness(t.url, 'metrics-bank');
    const sender = await Sender.enroll({ serverUrl: t.url, enrollmentToken: await bank.issue('sender', 'sender', { name: 'Metrics Bank' }), store: new MemoryKeyStore(), keyPackageBatch: 5, ...nodeRuntime });
    const device = await Device.enroll({ serverUrl: t.url, enrollmentToken: await bank.issue('mo', 'customer', { phone: '+15550701001' }), store: new MemoryKeyStore(), keyPackageBatch: 5, ...nodeRuntime });
    const log = new EventLog(device);
    try {
      await device.connect();
      // An end-to-end message with a random class: delivered to the app (deliveries, latency, routes).
      const random = await sender.send('mo', 'Hello.', { class: RANDOM_CLASS });
      await log.waitFor((e) => e.type === 'message' && e.messageId === random.messageId);
      await expect.poll(async () => (await sender.route(random.messageId)).state, { timeout: 10_000 }).toBe('delivered');
      const configured = await sender.send('mo', 'A notice.', { class: 'notice' });
      await expect.poll(async () => (await sender.route(configured.messageId)).state, { timeout: 10_000 }).toBe('delivered');
      // A web message with another random class: the fallback policy decides (routes, policy blocks / warnings).
      await sender.sendToWeb('no-app', '+15550701002', 'Hello.', { class: `${RANDOM_CLASS}-web`, deliver: smsDeliver(providers.businessSms) });

      const text = await (await get(t.url, METRICS_TOKEN)).text();
      expect(text).not.toContain('zzz-random');
      expect(text).toMatch(/parley_deliveries_total\{[^}]*class="other"[^}]*\} 1/);
      expect(text).toMatch(/parley_deliveries_total\{[^}]*class="notice"[^}]*\} 1/);
      expect(text).toMatch(/parley_routes_total\{[^}]*class="other"[^}]*outcome="delivered"/);
      expect(text).toMatch(/parley_delivery_seconds_count\{[^}]*class="other"/);
      // Every class label value is a configured class or `other`.
      const known = new Set(['otp', 'alert', 'support', 'statement', 'notice', 'other']);
      const values = [...text.matchAll(/[{,]class="([^"]*)"/g)].map((m) => m[1]!);
      expect(values.length).toBeGreaterThan(0);
      expect(values.filter((v) => !known.has(v))).toEqual([]);
    } finally {
      await device.close();
      await sender.close();
    }
  });

  it('a separate listener serves /metrics without a token; the main port does not serve it at all', async () => {
    const s = await startTestServer({ metrics: { token: METRICS_TOKEN, listen: { host: '127.0.0.1', port: 0 } } });
    try {
      expect(s.server.metricsUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      expect(s.server.metricsUrl).not.toBe(s.url);
      const res = await get(s.server.metricsUrl!);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toContain('text/plain');
      expect(await res.text()).toContain('parley_process_');
      expect((await fetch(`${s.server.metricsUrl}/healthz`)).status).toBe(404);
      for (const token of [undefined, METRICS_TOKEN, ADMIN_TOKEN]) expect((await get(s.url, token)).status).toBe(404);
    } finally {
      await s.stop();
    }
  });

  it('parley serve: --metrics-listen HOST:PORT moves it off the main port; --metrics-token-file guards it there', async () => {
    const dir = tempDir('parley-metrics-');
    await writeFile(join(dir, 'metrics.token'), `${METRICS_TOKEN}\n`, { mode: 0o600 });
    const metricsPort = await freePort();
    const listened = await serve(['--data-dir', join(dir, 'a'), '--metrics-listen', `127.0.0.1:${metricsPort}`]);
    expect(listened.output()).toContain(`metrics on http://127.0.0.1:${metricsPort}/metrics`);
    expect((await get(`http://127.0.0.1:${metricsPort}`)).status).toBe(200);
    expect((await get(listened.url, ADMIN_TOKEN)).status).toBe(404);
    await stop(listened.child);

    const guarded = await serve(['--data-dir', join(dir, 'b'), '--metrics-token-file', join(dir, 'metrics.token')]);
    expect((await get(guarded.url)).status).toBe(401);
    expect((await get(guarded.url, METRICS_TOKEN)).status).toBe(200);
    expect(guarded.output()).not.toContain(METRICS_TOKEN);
    await stop(guarded.child);
  }, 240_000);
});

async function serve(args: readonly string[]): Promise<{ child: ChildProcess; url: string; output(): string }> {
  const child = spawn(process.execPath, [BIN, 'serve', '--port', '0', '--admin-token', ADMIN_TOKEN, '--log-level', 'warn', ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: process.env });
  children.push(child);
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start: ${out}`)), 60_000);
    const check = () => {
      const m = /listening on (http:\/\/\S+)/.exec(out);
      // The metrics line follows the listening line: wait for the whole start-up output.
      if (m && out.includes('"msg":"transparency logs"')) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    };
    child.stdout!.on('data', check);
    child.once('exit', (code) => reject(new Error(`server exited ${code}: ${out}`)));
  });
  return { child, url, output: () => out };
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await exited;
}
