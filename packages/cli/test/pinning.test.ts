/**
 * A check that was not made must not look passed. Against a real server: half a pin is a
 * usage error (exit 2); a key taken from the server is shown as NOT verified (`!`, never
 * ✔/✓) and says so in --json — in `parley keys lookup`, `parley log verify` (also on the
 * runs after the first, from the state file) and `parley audit monitor`.
 * (`parley audit verify` without --vrf-key: audit-verify.test.ts; the demo's command:
 * demo-files.test.ts.)
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { main } from '../src/main.js';
import { runAudit } from '../src/commands/audit.js';
import { runLog } from '../src/commands/log.js';
import type { MonitorRound } from '../src/commands/audit-monitor.js';
import { ADMIN_TOKEN, startTestServer, type TestServer } from '@parley/test-kit/server';
import { createBusiness, enroll } from '@parley/test-kit/sdk';

let t: TestServer;
let dir: string;
let keyLogKey: string;
let auditKey: string;
let vrfKey: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'parley-pinning-'));
  t = await startTestServer();
  const logs = (await (await fetch(`${t.url}/v1/logs`)).json()) as { logs: { name: string; verifierKey: string }[] };
  keyLogKey = logs.logs.find((l) => l.name === 'keys')!.verifierKey;
  auditKey = logs.logs.find((l) => l.name === 'audit')!.verifierKey;
  vrfKey = ((await (await fetch(`${t.url}/v1/keys`)).json()) as { vrfPublicKey: string }).vrfPublicKey;
  const bank = await createBusiness(t.url, 'pin-bank');
  await (await enroll(t.url, bank, 'c-1', 'customer')).close();
}, 120_000);
afterAll(async () => {
  await t?.stop();
  await rm(dir, { recursive: true, force: true });
});

async function run(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const o = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    out += String(chunk);
    return true;
  });
  const e = vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
    err += String(chunk);
    return true;
  });
  try {
    return { code: await main(args), out, err };
  } finally {
    o.mockRestore();
    e.mockRestore();
  }
}

const passMarks = (text: string) => text.split('\n').filter((l) => /^\s*[✔✓]/.test(l));

describe('parley keys lookup', () => {
  const lookup = ['keys', 'lookup', 'pin-bank:c-1', '--url', '', '--admin-token', ADMIN_TOKEN];
  const args = (...extra: string[]) => lookup.map((a) => (a === '' ? t.url : a)).concat(extra);

  it.each([
    ['--log-key without --vrf-key', () => ['--log-key', keyLogKey]],
    ['--vrf-key without --log-key', () => ['--vrf-key', vrfKey]],
  ])('%s is a usage error (exit 2), nothing verified', async (_name, extra) => {
    const r = await run(args(...extra()));
    expect(r.code).toBe(2);
    expect(r.out).toBe('');
    expect(r.err).toMatch(/pass both --log-key and --vrf-key .*or neither/);
  });

  it('without keys: every check is marked NOT verified, never ✔, and --json says keysVerified: false', async () => {
    const r = await run(args());
    expect(r.code).toBe(0);
    expect(passMarks(r.out)).toEqual([]);
    expect(r.out).toMatch(/^! keys NOT verified/m);
    expect(r.out).toMatch(/^! VRF proof/m);
    const json = await run(args('--json'));
    expect(JSON.parse(json.out)).toMatchObject({ pinned: false, keysVerified: false });
  });

  it('with both keys: ✔, and keysVerified: true', async () => {
    const r = await run(args('--log-key', keyLogKey, '--vrf-key', vrfKey));
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^✔ keys: /m);
    expect(r.out).toMatch(/^✔ VRF proof/m);
    expect(r.out).not.toMatch(/^!/m);
    expect(JSON.parse((await run(args('--log-key', keyLogKey, '--vrf-key', vrfKey, '--json'))).out)).toMatchObject({ pinned: true, keysVerified: true });
  });
});

describe('parley log verify', () => {
  async function verify(state: string, ...extra: string[]) {
    const out: string[] = [];
    const err: string[] = [];
    const code = await runLog(['verify', '--url', t.url, '--state', join(dir, state), ...extra], { out: (l) => out.push(l), err: (l) => err.push(l) });
    return { code, out, err };
  }

  it('a key taken on first use stays NOT verified on later runs (!, pinned: false) until --key is given', async () => {
    const first = await verify('log.json');
    expect(first.code).toBe(0);
    expect(first.out.find((l) => l.includes(' key: '))).toMatch(/^! key: TRUST ON FIRST USE/);
    const again = await verify('log.json');
    expect(again.code).toBe(0);
    expect(again.out.find((l) => l.includes(' key: '))).toMatch(/^! key: verifier key NOT verified/);
    expect(again.out.at(-1)).toMatch(/NOT verified/);
    expect(again.err.join('\n')).toMatch(/trust on first use/);
    const json = await verify('log.json', '--json');
    expect(JSON.parse(json.out[0]!)).toMatchObject({ ok: true, trustOnFirstUse: false, pinned: false });

    expect((await verify('log.json', '--key', keyLogKey)).out.find((l) => l.includes(' key: '))).toMatch(/^✓ key: verifier key given with --key/);
    const pinned = await verify('log.json');
    expect(pinned.out.find((l) => l.includes(' key: '))).toMatch(/^✓ key: verifier key pinned in .*given with --key/);
    expect(pinned.err).toEqual([]);
    expect(JSON.parse((await verify('log.json', '--json')).out[0]!)).toMatchObject({ ok: true, pinned: true });
  }, 60_000);
});

describe('parley audit monitor', () => {
  async function monitor(state: string, ...extra: string[]) {
    const out: string[] = [];
    const err: string[] = [];
    const code = await runAudit(['monitor', '--url', t.url, '--state', join(dir, state), ...extra], { out: (l) => out.push(l), err: (l) => err.push(l), readStdin: async () => new Uint8Array() });
    return { code, out, err };
  }

  it('one --log-key of two is a usage error (exit 2)', async () => {
    for (const key of [keyLogKey, auditKey]) {
      const r = await monitor('half.json', '--log-key', key);
      expect(r.code).toBe(2);
      expect(r.err.join('\n')).toMatch(/pass --log-key twice .*or not at all/);
    }
  });

  it('without keys: both logs are consistent but marked NOT verified (!), pinned: false in --json', async () => {
    const r = await monitor('tofu.json');
    expect(r.code).toBe(0);
    expect(r.out.filter((l) => l.startsWith('✔'))).toEqual([]);
    expect(r.out.filter((l) => /^! (keys|audit) .*NOT verified/.test(l))).toHaveLength(2);
    const json = await monitor('tofu.json', '--json');
    const round = JSON.parse(json.out[0]!) as MonitorRound;
    expect(round.logs.map((l) => [l.log, l.ok, l.pinned])).toEqual([
      ['keys', true, false],
      ['audit', true, false],
    ]);
  });

  it('with both keys, in either order: ✔ for both logs', async () => {
    const r = await monitor('pinned.json', '--log-key', auditKey, '--log-key', keyLogKey);
    expect(r.code).toBe(0);
    expect(r.out.filter((l) => l.startsWith('✔'))).toHaveLength(2);
    expect(r.out.filter((l) => l.startsWith('!'))).toEqual([]);
  });
});
