/**
 * The monitors' trust-on-first-use state (`parley log verify`, `parley audit monitor`) is
 * keyed by log origin AND verifier key, with the URLs each log was verified at. Two
 * deployments left at the same origins (different keys), watched with one default state
 * file (~/.parley/log-state.json), are two logs — neither reported as the other's
 * `unannounced_key_change` — while a changed key at the same URL and origin, with no
 * announcement by the key verified there (docs/log-key-rotation.md), is `unannounced_key_change`.
 */
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runAudit } from '../src/commands/audit.js';
import { defaultStateFile, runLog, type VerifyResult } from '../src/commands/log.js';
import type { MonitorRound } from '../src/commands/audit-monitor.js';
import { startTestServer, type TestServer } from '@parley/test-kit/server';

/** The origins every deployment had by default: both servers keep them. */
const tlog = { origin: 'parley.localhost/logs/keys', auditOrigin: 'parley.localhost/logs/audit' };

let home: string;
let savedHome: string | undefined;
let a: TestServer | undefined;
let b: TestServer | undefined;

beforeAll(async () => {
  home = await mkdtemp(join(tmpdir(), 'parley-home-'));
  savedHome = process.env['HOME'];
  process.env['HOME'] = home; // the default state file lives under it
  [a, b] = await Promise.all([startTestServer({ tlog }), startTestServer({ tlog })]);
}, 120_000);
afterAll(async () => {
  await a?.stop();
  await b?.stop();
  if (savedHome === undefined) delete process.env['HOME'];
  else process.env['HOME'] = savedHome;
  await rm(home, { recursive: true, force: true });
});

async function logVerify(url: string, ...extra: string[]): Promise<{ code: number; result: VerifyResult }> {
  const out: string[] = [];
  const code = await runLog(['verify', '--url', url, '--json', ...extra], { out: (l) => out.push(l), err: () => {} });
  return { code, result: JSON.parse(out[0]!) as VerifyResult };
}

async function monitor(url: string): Promise<{ code: number; round: MonitorRound; err: string[] }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runAudit(['monitor', '--url', url, '--json'], { out: (l) => out.push(l), err: (l) => err.push(l), readStdin: async () => new Uint8Array() });
  return { code, round: JSON.parse(out[0]!) as MonitorRound, err };
}

describe('one default state file, two deployments with the same origins', () => {
  it('keeps them apart: each is its own trust anchor, neither is unannounced_key_change for the other', async () => {
    expect(defaultStateFile()).toBe(join(home, '.parley', 'log-state.json'));
    expect(a!.server.keyLog.verifierKey).not.toBe(b!.server.keyLog.verifierKey);

    expect(await logVerify(a!.url)).toMatchObject({ code: 0, result: { ok: true, trustOnFirstUse: true } });
    const second = await logVerify(b!.url);
    expect(second).toMatchObject({ code: 0, result: { ok: true, trustOnFirstUse: true, pinned: false, verifierKey: b!.server.keyLog.verifierKey } });
    // … reported as distinct: a new log with the same origin, not a change of A's key.
    expect(second.result.checks.find((c) => /verified before under another key/.test(c.detail))).toMatchObject({ warning: true });
    expect(await logVerify(a!.url)).toMatchObject({ code: 0, result: { ok: true, trustOnFirstUse: false, previousTreeSize: expect.any(Number) } });

    // The audit monitor, both logs of both deployments, same default state.
    for (const server of [a!, b!, a!]) {
      const m = await monitor(server.url);
      expect(m.err).toEqual([]);
      expect(m.code).toBe(0);
      expect(m.round.logs.map((l) => l.verifierKey)).toEqual([server.server.keyLog.verifierKey, server.server.auditLog.verifierKey]);
    }

    const state = JSON.parse(await readFile(defaultStateFile(), 'utf8')) as { version: number; logs: Record<string, { origin: string; urls: string[] }> };
    expect(state.version).toBe(2);
    expect((await stat(defaultStateFile())).mode & 0o777).toBe(0o600);
    expect((await stat(join(home, '.parley'))).mode & 0o777).toBe(0o700);
    expect(Object.keys(state.logs).sort()).toEqual(
      [a!.server.keyLog.verifierKey, a!.server.auditLog.verifierKey, b!.server.keyLog.verifierKey, b!.server.auditLog.verifierKey].sort(),
    );
    expect(state.logs[a!.server.keyLog.verifierKey]).toMatchObject({ origin: tlog.origin, urls: [a!.url] });
    expect(state.logs[b!.server.keyLog.verifierKey]).toMatchObject({ origin: tlog.origin, urls: [b!.url] });
  }, 60_000);

  it('reports unannounced_key_change when the server at the same URL now lists another key for the same origin', async () => {
    const port = Number(new URL(a!.url).port);
    const oldKey = a!.server.keyLog.verifierKey;
    await a!.stop();
    a = undefined;
    // The same address, the same origins, new keys (another server took its place).
    a = await startTestServer({ tlog, port });
    expect(a.url).toBe(`http://127.0.0.1:${port}`);
    expect(a.server.keyLog.verifierKey).not.toBe(oldKey);

    const changed = await logVerify(a.url);
    expect(changed).toMatchObject({ code: 1, result: { ok: false, failure: { reason: 'unannounced_key_change' } } });
    const m = await monitor(a.url);
    expect(m.code).toBe(1);
    expect(m.round.logs.map((l) => l.failure?.reason)).toEqual(['unannounced_key_change', 'unannounced_key_change']);
    expect(m.err.join('\n')).toMatch(/^ALERT: .*keys: unannounced_key_change; audit: unannounced_key_change/);

    // The other deployment is unaffected.
    expect((await logVerify(b!.url)).result).toMatchObject({ ok: true, trustOnFirstUse: false });
    // An operator who checked the new key out of band re-pins it with --key.
    const repinned = await logVerify(a.url, '--key', a.server.keyLog.verifierKey);
    expect(repinned.result).toMatchObject({ ok: true, pinned: true });
    expect(repinned.result.checks.some((c) => c.warning === true && /--key replaces it/.test(c.detail))).toBe(true);
    expect((await logVerify(a.url)).result).toMatchObject({ ok: true, pinned: true });
  }, 120_000);
});
