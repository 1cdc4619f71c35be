/**
 * What `parley demo` writes: the revealed evidence bundle (it holds Alice's plaintext) is
 * 0600 in a 0700 directory, the demo says where, and the device stores and the embedded
 * server's data are in 0700 directories — whatever the umask (the test runs the demo under
 * 022). The demo's "check it yourself" command carries both log keys and the VRF key, and
 * running it exactly as printed verifies the bundle with every check ✔.
 */
import { readdir, readFile, rm, stat } from 'node:fs/promises';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { runDemo } from '../src/commands/demo.js';
import { main } from '../src/main.js';

let dir: string;
let savedUmask: number;
const cleanup: string[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'parley-demo-files-'));
  savedUmask = process.umask(0o022); // a usual umask: the modes must not depend on it
});
afterAll(async () => {
  process.umask(savedUmask);
  for (const d of [dir, ...cleanup]) await rm(d, { recursive: true, force: true });
});

async function capture(fn: () => Promise<number>): Promise<{ code: number; out: string; err: string }> {
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
    return { code: await fn(), out, err };
  } finally {
    o.mockRestore();
    e.mockRestore();
  }
}

const mode = async (path: string) => (await stat(path)).mode & 0o777;

/** Every directory and file under `root`, with its mode. */
async function walk(root: string): Promise<{ path: string; dir: boolean; mode: number }[]> {
  const found = [{ path: root, dir: true, mode: await mode(root) }];
  for (const entry of await readdir(root, { withFileTypes: true })) {
    const path = join(root, entry.name);
    if (entry.isDirectory()) found.push(...(await walk(path)));
    else found.push({ path, dir: false, mode: await mode(path) });
  }
  return found;
}

/** Splits a printed shell command (words, 'single-quoted' strings, '\'' escapes). */
function shellWords(command: string): string[] {
  const words: string[] = [];
  for (const m of command.matchAll(/(?:'(?:[^']|'\\'')*'|[^\s'])+/g)) {
    words.push(m[0].replace(/'((?:[^']|'\\'')*)'/g, (_s, inner: string) => inner.replace(/'\\''/g, "'")));
  }
  return words;
}

describe('parley demo: files it writes', () => {
  it('with --data-dir: evidence 0600 in 0700, stores and server data in 0700 directories; the printed command verifies it', async () => {
    const r = await capture(() => runDemo(['--data-dir', dir]));
    expect(r.code, r.out.slice(-3000)).toBe(0);
    const saved = /Saved with Alice's revealed opening and plaintext to (\S+) \(mode 0600\)/.exec(r.out);
    expect(saved, r.out.slice(-2000)).not.toBeNull();
    const evidence = saved![1]!;
    expect(dirname(evidence)).toBe(join(dir, 'evidence'));
    expect(await readFile(evidence, 'utf8')).toContain('payment of EUR 1,250.00 to ACME GmbH');
    expect(await mode(evidence)).toBe(0o600);
    expect(await mode(dirname(evidence))).toBe(0o700);

    // The devices' encrypted stores: every directory 0700, every file 0600.
    const stores = await walk(join(dir, 'devices'));
    expect(stores.filter((f) => !f.dir).length).toBeGreaterThan(0);
    expect(stores.filter((f) => f.mode !== (f.dir ? 0o700 : 0o600)).map((f) => `${f.path} ${f.mode.toString(8)}`)).toEqual([]);
    expect(await mode(join(dir, 'server'))).toBe(0o700);
    // The bank gateway's database (PGlite files) sits in private directories too.
    expect(await mode(join(dir, 'gateway'))).toBe(0o700);

    // The command the demo prints, run word for word.
    const command = /Check it yourself: (parley audit verify .*)$/m.exec(r.out)![1]!;
    const argv = shellWords(command);
    expect(argv.slice(0, 4)).toEqual(['parley', 'audit', 'verify', evidence]);
    for (const flag of ['--log-key', '--key-log-key', '--vrf-key']) expect(argv[argv.indexOf(flag) + 1]).toMatch(/^\S{20,}$/);
    const umask = process.umask();
    const verified = await capture(() => main(argv.slice(1)));
    process.umask(umask);
    expect(verified.code, verified.out + verified.err).toBe(0);
    expect(verified.out).toMatch(/^✔ vrf-key — the pinned VRF key$/m);
    expect(verified.out).toMatch(/^✔ plaintext-matches-commitment/m);
    expect(verified.out.split('\n').filter((l) => l.length > 0 && !l.startsWith('✔'))).toEqual([]);
  }, 240_000);

  it('without --data-dir (--json): the evidence is kept in its own 0700 temporary directory, 0600, and the JSON names it', async () => {
    const r = await capture(() => runDemo(['--json']));
    expect(r.code).toBe(0);
    const result = JSON.parse(r.out) as { evidence: { path: string; verify: string } };
    const evidence = result.evidence.path;
    cleanup.push(dirname(evidence));
    expect(dirname(dirname(evidence))).toBe(tmpdir());
    expect(await mode(evidence)).toBe(0o600);
    expect(await mode(dirname(evidence))).toBe(0o700);
    expect(await readFile(evidence, 'utf8')).toContain('payment of EUR 1,250.00 to ACME GmbH');
    expect(shellWords(result.evidence.verify)).toEqual(expect.arrayContaining(['--log-key', '--key-log-key', '--vrf-key', evidence]));
  }, 240_000);
});
