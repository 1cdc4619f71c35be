/**
 * `parley audit verify` on real bundles built from the core primitives (no server, no
 * network): exit codes, output, key matching, stdin, reveals.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { generateIdentityKeyPair, toBase64, toHex, utf8 } from '@parley/core';
import { main } from '../src/main.js';
import { runAudit, type AuditIo } from '../src/commands/audit.js';
import { assemble, honestScenario, receiptFor, type Scenario } from '@parley/test-kit/evidence';

let dir: string;
let s: Scenario;
let good: string;
let forged: string;
let fetchSpy: ReturnType<typeof vi.fn>;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'parley-audit-'));
  s = honestScenario();
  const bundle = await assemble(s);
  good = join(dir, 'bundle.json');
  await writeFile(good, JSON.stringify(bundle, null, 2));
  const bad = structuredClone(bundle);
  bad.receipts[1]!.signature = receiptFor(s.commitment, s.customer.identityId, s.tablet, 'delivered', undefined, generateIdentityKeyPair().privateKey).signature;
  forged = join(dir, 'forged.json');
  await writeFile(forged, JSON.stringify(bad));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

// Offline means offline: any network use fails the test.
beforeEach(() => {
  fetchSpy = vi.fn(() => Promise.reject(new Error('network used')));
  vi.stubGlobal('fetch', fetchSpy);
});
afterEach(() => {
  expect(fetchSpy).not.toHaveBeenCalled();
  vi.unstubAllGlobals();
});

function keys(): string[] {
  return ['--log-key', s.world.auditLogKey, '--key-log-key', s.world.keyLogKey, '--vrf-key', toBase64(s.world.vrfPublicKey)];
}

function memoryIo(stdin: Uint8Array = new Uint8Array()): AuditIo & { lines: string[]; errors: string[] } {
  const lines: string[] = [];
  const errors: string[] = [];
  return { lines, errors, out: (l) => lines.push(l), err: (l) => errors.push(l), readStdin: () => Promise.resolve(stdin) };
}

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

describe('parley audit verify', () => {
  it('passes an honest bundle: every check ✔ and a one-line summary', async () => {
    const { code, out } = await run(['audit', 'verify', good, ...keys()]);
    expect(code).toBe(0);
    expect(out).not.toContain('✘');
    expect(out).toContain('✔ bundle-format');
    expect(out).toContain(`✔ identity:${s.customer.identityId}`);
    expect(out).toContain(`✔ receipt:${s.tablet.deviceId}:delivered`);
    expect(out).toContain(
      `✔ verified: ${s.bank.identityId} sent an otp message to ${s.customer.identityId} at ${s.commitment.createdAt}; delivered to 2 devices, read on 1`,
    );
  });

  it('fails a forged receipt with exit code 1, naming the check and its code', async () => {
    const { code, out } = await run(['audit', 'verify', forged, ...keys()]);
    expect(code).toBe(1);
    expect(out).toContain(`✘ receipt:${s.tablet.deviceId}:delivered [receipt_bad_signature]`);
    expect(out).toMatch(/NOT verified \(1 of \d+ checks failed\); the bundle claims: .* delivered to 1 device, read on 1/);
  });

  it('--json prints the report', async () => {
    const { code, out } = await run(['audit', 'verify', good, ...keys(), '--json']);
    expect(code).toBe(0);
    const report = JSON.parse(out);
    expect(report.ok).toBe(true);
    expect(report.message.sender).toBe(s.bank.identityId);
    const failed = await run(['audit', 'verify', forged, ...keys(), '--json']);
    expect(failed.code).toBe(1);
    expect(JSON.parse(failed.out).checks.filter((c: { ok: boolean }) => !c.ok)).toEqual([
      expect.objectContaining({ code: 'receipt_bad_signature' }),
    ]);
  });

  it('matches two --log-key values to their logs by origin, in any order', async () => {
    for (const order of [
      [s.world.keyLogKey, s.world.auditLogKey],
      [s.world.auditLogKey, s.world.keyLogKey],
    ]) {
      const { code } = await run(['audit', 'verify', good, '--log-key', order[0]!, '--log-key', order[1]!, '--vrf-key', toBase64(s.world.vrfPublicKey)]);
      expect(code).toBe(0);
    }
  });

  it('refuses to run without --vrf-key (no ✔ for a check against the bundle’s own key), and reports a garbage bundle', async () => {
    const io = memoryIo();
    expect(await runAudit(['verify', good, '--log-key', s.world.auditLogKey, '--key-log-key', s.world.keyLogKey], io)).toBe(2);
    expect(io.lines).toEqual([]);
    expect(io.errors.join('\n')).toMatch(/pass --vrf-key/);
    expect(await runAudit(['verify', good, '--log-key', s.world.auditLogKey, '--log-key', s.world.keyLogKey], io)).toBe(2);
    expect(await runAudit(['verify', good, ...keys()], io)).toBe(0);
    expect(io.lines.find((l) => l.includes('vrf-key'))).toMatch(/^✔ vrf-key — the pinned VRF key$/);
    const garbage = join(dir, 'garbage.json');
    await writeFile(garbage, '{"v":1,');
    const { code, out } = await run(['audit', 'verify', garbage, ...keys()]);
    expect(code).toBe(1);
    expect(out).toContain('✘ bundle-format [invalid_json]');
  });

  it('reads the bundle from stdin with -', async () => {
    const io = memoryIo(new Uint8Array(await readFile(good)));
    expect(await runAudit(['verify', '-', ...keys()], io)).toBe(0);
    expect(io.lines.at(-1)).toMatch(/^✔ verified/);
  });

  it('checks a revealed plaintext against the commitment', async () => {
    const plaintextFile = join(dir, 'plaintext.txt');
    await writeFile(plaintextFile, s.plaintext);
    const ok = await run(['audit', 'verify', good, ...keys(), '--plaintext', plaintextFile, '--opening', toHex(s.opening)]);
    expect(ok.code).toBe(0);
    expect(ok.out).toContain('✔ plaintext-matches-commitment');
    await writeFile(plaintextFile, `${s.plaintext}\n`);
    const bad = await run(['audit', 'verify', good, ...keys(), '--plaintext', plaintextFile, '--opening', toHex(s.opening)]);
    expect(bad.code).toBe(1);
    expect(bad.out).toContain('✘ plaintext-matches-commitment [plaintext_mismatch]');
    const io = memoryIo(utf8(s.plaintext));
    expect(await runAudit(['verify', good, ...keys(), '--plaintext', '-', '--opening', toHex(s.opening)], io)).toBe(0);
  });

  it.each([
    ['no file', ['audit', 'verify']],
    ['no keys', ['audit', 'verify', 'x.json']],
    ['one --log-key alone', ['audit', 'verify', 'x.json', '--log-key', 'a+00000000+AAAA']],
    ['an unknown flag', ['audit', 'verify', 'x.json', '--log-key', 'a', '--log-key', 'b', '--frobnicate']],
    ['--plaintext without --opening', ['audit', 'verify', 'x.json', '--log-key', 'a', '--log-key', 'b', '--plaintext', 'p.txt']],
    ['an unknown subcommand', ['audit', 'frobnicate']],
    ['no subcommand', ['audit']],
  ])('exits 2 for usage errors: %s', async (_name, args) => {
    const { code, err } = await run(args);
    expect(code).toBe(2);
    expect(err).toContain('parley audit');
  });

  it('exits 2 for an unreadable file, a malformed key or opening', async () => {
    expect((await run(['audit', 'verify', join(dir, 'missing.json'), ...keys()])).code).toBe(2);
    const badKey = await run(['audit', 'verify', good, '--log-key', 'PRIVATE+KEY+secret', '--key-log-key', s.world.keyLogKey, '--vrf-key', toBase64(s.world.vrfPublicKey)]);
    expect(badKey.code).toBe(2);
    expect(badKey.err).not.toContain('secret');
    expect((await run(['audit', 'verify', good, ...keys(), '--plaintext', good, '--opening', 'abcd'])).code).toBe(2);
  });
});
