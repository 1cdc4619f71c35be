/**
 * `parley gateway` as a newcomer uses it (README § Use the gateway): init against a running
 * server, an API key, a gateway process, one curl-like call, then the events feed; plus the
 * webhook secret rotation and the usage errors (exit 2).
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { main } from '../src/main.js';
import { ADMIN_TOKEN, startTestServer, type TestServer } from '@parley/test-kit/server';

const BIN = new URL('../bin/parley.js', import.meta.url).pathname;
let t: TestServer;
let dir: string;
beforeAll(async () => {
  t = await startTestServer();
  dir = await mkdtemp(join(tmpdir(), 'parley-gateway-cli-'));
});
afterAll(async () => {
  await t?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function run(args: string[], env: Record<string, string> = {}): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const saved = { ...process.env };
  Object.assign(process.env, env);
  const o = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => ((out += String(chunk)), true));
  const e = vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => ((err += String(chunk)), true));
  try {
    return { code: await main(args), out, err };
  } finally {
    o.mockRestore();
    e.mockRestore();
    process.env = saved;
  }
}

describe('parley gateway', () => {
  it('init → keys create → run → one call → the events feed', async () => {
    const dataDir = join(dir, 'gw');
    const init = await run(['gateway', 'init', '--server', t.url, '--business', 'cli-bank', '--name', 'CLI Bank', '--data-dir', dataDir, '--json'], { PARLEY_ADMIN_TOKEN: ADMIN_TOKEN });
    expect(init.code, init.err).toBe(0);
    const initJson = JSON.parse(init.out) as { businessId: string; attached: boolean; webhookSecret: string; keyFileCreated: boolean };
    expect(initJson).toMatchObject({ businessId: 'cli-bank', attached: false, keyFileCreated: true });
    expect(initJson.webhookSecret).toMatch(/^whsec_/);
    expect((await stat(join(dataDir, 'gateway.key'))).mode & 0o077).toBe(0);
    // A second init on the same database refuses.
    const again = await run(['gateway', 'init', '--server', t.url, '--business', 'cli-bank', '--data-dir', dataDir], { PARLEY_ADMIN_TOKEN: ADMIN_TOKEN });
    expect(again.code).toBe(1);
    expect(again.err).toContain('already');

    const created = await run(['gateway', 'keys', 'create', '--label', 'payments', '--data-dir', dataDir, '--json']);
    expect(created.code).toBe(0);
    const { key, id } = JSON.parse(created.out) as { key: string; id: string };
    expect(key).toMatch(/^pgw_/);
    const listed = await run(['gateway', 'keys', 'list', '--data-dir', dataDir, '--json']);
    expect(JSON.parse(listed.out).keys).toEqual([expect.objectContaining({ id, label: 'payments', revokedAt: null })]);
    expect(listed.out).not.toContain(key);

    const rotated = await run(['gateway', 'secrets', 'rotate', '--data-dir', dataDir, '--json']);
    expect(JSON.parse(rotated.out).secret).toMatch(/^whsec_/);
    const secrets = await run(['gateway', 'secrets', 'list', '--data-dir', dataDir, '--json']);
    expect(JSON.parse(secrets.out).secrets).toHaveLength(2);
    expect(secrets.out).not.toContain(initJson.webhookSecret.slice(6, 20));

    // The gateway process (PGlite: one process owns the data directory).
    const child = spawn(process.execPath, [BIN, 'gateway', '--data-dir', dataDir, '--port', '0', '--log-level', 'warn'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    try {
      const url = await new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(out)), 60_000);
        child.stdout.on('data', () => {
          const m = /listening on (http:\/\/\S+)/.exec(out);
          if (m) {
            clearTimeout(timer);
            resolve(m[1]!);
          }
        });
        child.once('exit', (code) => reject(new Error(`exited ${code}: ${out}`)));
      });
      const headers = { 'content-type': 'application/json', authorization: `Bearer ${key}` };
      const sent = await fetch(`${url}/v1/messages`, { method: 'POST', headers, body: JSON.stringify({ to: 'c-404', class: 'otp', body: 'Your code is 1' }) });
      expect(sent.status).toBe(202);
      const { id: messageId } = (await sent.json()) as { id: string };
      let types: string[] = [];
      for (let i = 0; i < 200 && !types.includes('message.failed'); i++) {
        await new Promise((r) => setTimeout(r, 100));
        const feed = (await (await fetch(`${url}/v1/events?after=0&messageId=${messageId}`, { headers })).json()) as { events: { event: { type: string; data: { reason?: string } } }[] };
        types = feed.events.map((e) => e.event.type);
      }
      // A customer the server does not know, without a phone: failed with the reason.
      expect(types).toEqual(['message.queued', 'message.failed']);
      const revoked = await run(['gateway', 'keys', 'revoke', id, '--data-dir', join(dir, 'nowhere')]);
      expect(revoked.code).toBe(1);
      // A second process on the instance's PGlite directory is refused before it opens the database.
      const meanwhile = await run(['gateway', 'keys', 'list', '--data-dir', dataDir, '--json']);
      expect(meanwhile.code).toBe(1);
      // Under --json the error is JSON on stdout (docs/cli.md).
      expect(JSON.parse(meanwhile.out)).toEqual({ ok: false, error: { code: 'data_dir_locked', message: expect.any(String) } });
    } finally {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    }
    expect(out).toContain('parley gateway stopped');
  }, 180_000);

  it('refuses bad usage with exit code 2', async () => {
    expect((await run(['gateway', 'init', '--business', 'x'])).code).toBe(2);
    expect((await run(['gateway', 'init', '--server', 'ftp://x', '--business', 'x'], { PARLEY_ADMIN_TOKEN: 't' })).code).toBe(2);
    expect((await run(['gateway', 'frobnicate'])).code).toBe(2);
    expect((await run(['gateway', 'keys', 'create', '--data-dir', join(dir, 'u')])).code).toBe(2);
    expect((await run(['gateway', '--database-url', 'postgres://x/y'])).code).toBe(2);
    expect((await run(['gateway', '--data-dir', join(dir, 'u2'), '--webhook-url', 'not a url'])).code).toBe(2);
  });
});
