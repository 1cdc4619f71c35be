/**
 * `parley log list | verify` against a real server: passes on an honest log (first use,
 * growth, pinned key, --key), and fails with a named reason when the server is made to
 * misbehave by rewriting its rows — a different tree of the same size (fork), a tree that
 * does not extend the verified one (fork), a smaller tree (rollback), a checkpoint under
 * another key, a tampered tile or entry, a changed key.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { randomBytes, toHex, utf8 } from '@parley/core';
import { emptyRoot, formatCheckpoint, generateSignerKey, openNote, parseCheckpoint, parseVerifierKey, signNote, storedHashCount } from '@parley/core/tlog';
import { loadLogSigner } from '../src/tlog/index.js';
import { runLog, verifyLog, type VerifyResult } from '../../cli/src/commands/log.js';
import { api, startTestServer, type TestServer } from '@parley/test-kit/server';

const ORIGIN = 'cli.test/logs/keys';
const REPO = fileURLToPath(new URL('../../../', import.meta.url));
const silent = pino({ level: 'silent' });
let t: TestServer;
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'parley-log-cli-'));
  t = await startTestServer({ keys: { dir: join(dir, 'keys') }, tlog: { origin: ORIGIN, batchSize: 64 } });
});
afterAll(async () => {
  await t?.stop();
  await rm(dir, { recursive: true, force: true });
});

function entry(tag: string, i: number): Uint8Array {
  return utf8(`{"${tag}":${i},"r":"${toHex(randomBytes(4))}"}`);
}

async function append(entries: readonly Uint8Array[]): Promise<void> {
  const log = t.server.keyLog;
  const ids = await t.server.db.transaction((tx) => log.appendMany(tx, entries.map((e) => ({ entry: e }))));
  log.kick();
  await Promise.all(ids.map((id) => log.waitSequenced(id)));
}

async function run(argv: string[]): Promise<{ code: number; out: string[]; err: string[] }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runLog(argv, { out: (l) => out.push(l), err: (l) => err.push(l) });
  return { code, out, err };
}

function verify(state: string, key?: string): Promise<VerifyResult> {
  return verifyLog({ url: t.url, stateFile: join(dir, state), ...(key === undefined ? {} : { key }) });
}

/** Runs the real `parley` binary. */
function spawnCli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(REPO, 'packages/cli/bin/parley.js'), ...args], { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** The operator's key file, for the misbehaving-server simulations. */
async function signer() {
  return loadLogSigner({ dir: join(dir, 'keys'), logName: 'keys', origin: ORIGIN, log: silent });
}

/** Replaces the whole log with a different history (same key): what a forking server serves. */
async function rewriteHistory(entries: readonly Uint8Array[]): Promise<void> {
  const empty = await signNote(formatCheckpoint({ origin: ORIGIN, treeSize: 0, rootHash: emptyRoot() }), [await signer()]);
  const ids = await t.server.db.transaction(async (tx) => {
    await tx.query('SELECT 1 FROM tlogs WHERE name = $1 FOR UPDATE', ['keys']); // keeps the server's sequencer out
    for (const table of ['tlog_entries', 'tlog_hashes', 'tlog_pending', 'tlog_checkpoints']) await tx.query(`DELETE FROM ${table} WHERE log = $1`, ['keys']);
    await tx.query('UPDATE tlogs SET tree_size = 0, root_hash = $2, checkpoint = $3 WHERE name = $1', ['keys', emptyRoot(), empty]);
    return t.server.keyLog.appendMany(tx, entries.map((e) => ({ entry: e })));
  });
  t.server.keyLog.kick();
  await Promise.all(ids.map((id) => t.server.keyLog.waitSequenced(id)));
}

/** Serves an older, smaller tree again, with the checkpoint the log signed for it back then. */
async function rollBackTo(size: number): Promise<void> {
  const [row] = await t.server.db.query<{ note: string }>('SELECT note FROM tlog_checkpoints WHERE log = $1 AND tree_size = $2 ORDER BY id DESC LIMIT 1', ['keys', String(size)]);
  const cp = parseCheckpoint(openNote(row!.note, [parseVerifierKey(t.server.keyLog.verifierKey)]).text);
  await t.server.db.transaction(async (tx) => {
    await tx.query('SELECT 1 FROM tlogs WHERE name = $1 FOR UPDATE', ['keys']);
    await tx.query('DELETE FROM tlog_entries WHERE log = $1 AND idx >= $2', ['keys', String(size)]);
    await tx.query('DELETE FROM tlog_hashes WHERE log = $1 AND idx >= $2', ['keys', String(storedHashCount(size))]);
    await tx.query('UPDATE tlogs SET tree_size = $2, root_hash = $3, checkpoint = $4 WHERE name = $1', ['keys', String(size), cp.rootHash, row!.note]);
  });
}

describe('parley log', () => {
  it('lists the logs (text and JSON)', async () => {
    const listing = (await api(t.url, 'GET', '/v1/logs')).body;
    const json = await run(['list', '--url', t.url, '--json']);
    expect(json.code).toBe(0);
    expect(JSON.parse(json.out[0]!)).toEqual({ ok: true, ...listing });
    const text = await run(['list', '--url', t.url]);
    expect(text.out).toEqual([
      `keys\t${ORIGIN}\t/logs/keys\t${t.server.keyLog.verifierKey}`,
      `audit\t${t.server.auditLog.origin}\t/logs/audit\t${t.server.auditLog.verifierKey}`,
    ]);
    await expect(run(['list'])).rejects.toMatchObject({ code: 'usage' }); // --url missing (main prints it, exit 2)
  }, 30_000);

  it('verifies an honest log on first use (trust on first use, said loudly), then as it grows', async () => {
    await append(Array.from({ length: 300 }, (_, i) => entry('a', i)));
    const first = await run(['verify', '--url', t.url, '--state', join(dir, 'a.json')]);
    expect(first.code).toBe(0);
    expect(first.out.join('\n')).toMatch(/TRUST ON FIRST USE/);
    expect(first.out.join('\n')).toMatch(/✓ tiles: 3 tiles and 2 entry bundles \(300 entries\) match the checkpoint root/);
    expect(first.out[first.out.length - 1]).toMatch(/^OK: log keys \(cli\.test\/logs\/keys\) verified at size 300/);
    expect(first.err.join('\n')).toMatch(/trust on first use/);
    const state = JSON.parse(await readFile(join(dir, 'a.json'), 'utf8'));
    expect(state.logs[t.server.keyLog.verifierKey]).toMatchObject({ origin: ORIGIN, verifierKey: t.server.keyLog.verifierKey, treeSize: 300, urls: [t.url], pinned: false });

    await append(Array.from({ length: 200 }, (_, i) => entry('b', i)));
    const grown = await verify('a.json');
    expect(grown).toMatchObject({ ok: true, treeSize: 500, previousTreeSize: 300, trustOnFirstUse: false, pinned: false });
    expect(grown.checks.map((c) => c.name)).toEqual(['key', 'signature', 'origin', 'size', 'tiles', 'consistency', 'state']);
    expect(grown.checks.find((c) => c.name === 'key')).toMatchObject({ warning: true, detail: expect.stringMatching(/NOT verified: taken from the server on first use/) });

    const withKey = await verify('with-key.json', t.server.keyLog.verifierKey);
    expect(withKey).toMatchObject({ ok: true, trustOnFirstUse: false, pinned: true, treeSize: 500 });
  }, 60_000);

  it('fails with bad_signature when the checkpoint is not signed by the given key', async () => {
    const other = generateSignerKey(ORIGIN).verifierKey;
    const r = await run(['verify', '--url', t.url, '--state', join(dir, 'other.json'), '--key', other]);
    expect(r.code).toBe(1);
    expect(r.out[r.out.length - 1]).toMatch(/^FAILED \(bad_signature\)/);
    const wrongName = generateSignerKey('elsewhere.test/logs/keys').verifierKey;
    expect(await verify('other.json', wrongName)).toMatchObject({ ok: false, failure: { reason: 'wrong_origin' } });
  }, 30_000);

  it('runs as the real binary and exits 0 on an honest log', async () => {
    const r = await spawnCli(['log', 'verify', '--url', t.url, '--state', join(dir, 'a.json'), '--json']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ ok: true, log: 'keys', origin: ORIGIN, treeSize: 500 });
  }, 60_000);

  it('detects a fork: another tree of the same size, then one that does not extend the verified tree', async () => {
    const before = await readFile(join(dir, 'a.json'), 'utf8');
    await rewriteHistory(Array.from({ length: 500 }, (_, i) => entry('forked', i)));
    const same = await verify('a.json');
    expect(same).toMatchObject({ ok: false, treeSize: 500, failure: { reason: 'fork' } });
    expect(await readFile(join(dir, 'a.json'), 'utf8')).toBe(before); // a failed verification stores nothing

    await append(Array.from({ length: 20 }, (_, i) => entry('forked-more', i)));
    const longer = await run(['verify', '--url', t.url, '--state', join(dir, 'a.json')]);
    expect(longer.code).toBe(1);
    expect(longer.out.join('\n')).toMatch(/✓ signature/); // correctly signed …
    expect(longer.out.join('\n')).toMatch(/✓ tiles/); // … and self-consistent …
    expect(longer.out[longer.out.length - 1]).toMatch(/^FAILED \(fork\): the tree of size 520 does not extend the tree of size 500/); // … but another history
  }, 60_000);

  it('detects a rollback to a smaller tree, also from the real binary', async () => {
    expect(await verify('b.json')).toMatchObject({ ok: true, treeSize: 520 });
    const [older] = await t.server.db.query<{ tree_size: string }>(
      'SELECT tree_size FROM tlog_checkpoints WHERE log = $1 AND tree_size > 0 AND tree_size < 520 ORDER BY tree_size DESC LIMIT 1',
      ['keys'],
    );
    await rollBackTo(Number(older!.tree_size));
    expect(await verify('b.json')).toMatchObject({ ok: false, failure: { reason: 'rollback' } });
    const r = await spawnCli(['log', 'verify', '--url', t.url, '--state', join(dir, 'b.json'), '--json']);
    expect(r.code).toBe(1);
    expect(JSON.parse(r.stdout)).toMatchObject({ ok: false, failure: { reason: 'rollback' } });
  }, 60_000);

  it('detects a tampered tile and a tampered entry', async () => {
    const db = t.server.db;
    const [leaf] = await db.query<{ hash: Uint8Array }>('SELECT hash FROM tlog_hashes WHERE log = $1 AND idx = 3', ['keys']);
    await db.query('UPDATE tlog_hashes SET hash = $2 WHERE log = $1 AND idx = 3', ['keys', randomBytes(32)]);
    expect(await verify('c.json')).toMatchObject({ ok: false, failure: { reason: 'bad_tile' } });
    await db.query('UPDATE tlog_hashes SET hash = $2 WHERE log = $1 AND idx = 3', ['keys', leaf!.hash]);

    const [row] = await db.query<{ entry: Uint8Array }>('SELECT entry FROM tlog_entries WHERE log = $1 AND idx = 300', ['keys']);
    await db.query('UPDATE tlog_entries SET entry = $2 WHERE log = $1 AND idx = 300', ['keys', utf8('{"tampered":true}')]);
    expect(await verify('c.json')).toMatchObject({ ok: false, failure: { reason: 'bad_entry_bundle' } });
    await db.query('UPDATE tlog_entries SET entry = $2 WHERE log = $1 AND idx = 300', ['keys', row!.entry]);
    expect(await verify('c.json')).toMatchObject({ ok: true });
  }, 60_000);

  it('takes another server with the same origin and its own key for another log (a new anchor, not verified), not for this one', async () => {
    // Another deployment left at the same origin: its own entry in the state, never "pinned".
    // (A changed key at the same URL is unannounced_key_change: cli/test/monitor-state.test.ts.)
    const other = await startTestServer({ tlog: { origin: ORIGIN } });
    try {
      const r = await verifyLog({ url: other.url, stateFile: join(dir, 'c.json') });
      expect(r).toMatchObject({ ok: true, trustOnFirstUse: true, pinned: false, verifierKey: other.server.keyLog.verifierKey });
      expect(r.checks.some((c) => c.warning === true && /verified before under another key/.test(c.detail))).toBe(true);
      expect(await verify('c.json')).toMatchObject({ ok: true, trustOnFirstUse: false, verifierKey: t.server.keyLog.verifierKey });
    } finally {
      await other.stop();
    }
  }, 60_000);
});
