/**
 * Log-key rotation end to end (docs/log-key-rotation.md), against a real server on loopback
 * that is restarted on the same address and database as an operator would:
 * `parley log rotate-key` → restart (both signatures, the announcement) → `--finish` →
 * restart (the new key alone). `parley log verify` and `parley audit monitor` pass across
 * the change with the same state files, following the announcement (pinned stays pinned);
 * the key log's attestations switch to the new key at the finish. The tamper tests: a
 * checkpoint by a key nobody announced — with a rogue "announcement" signed only by the new
 * key, one by an untrusted key, or another log's — and a swapped key file are
 * `unannounced_key_change` (ALERT, exit 1); a stored checkpoint by an unrelated key is
 * `tlog_key_mismatch` at start.
 */
import { copyFile, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fromBase64, utf8, verifyEd25519 } from '@parley/core';
import { attestationMessage, decodeKeyLogEntry } from '@parley/core/keylog';
import { formatCheckpoint, formatKeyRotation, generateSignerKey, openNote, parseSignerKey, parseVerifierKey, signKeyRotation, signNote, type LocalSigner } from '@parley/core/tlog';
import { PostgresDatabase, type ServerConfigInput } from '@parley/server';
import { DATABASE_URL, ENGINE, startTestServer, type TestServer } from '@parley/test-kit/server';
import { createBusiness, enroll, type Business } from '@parley/test-kit/sdk';
import { runAudit } from '../src/commands/audit.js';
import { runLog, type VerifyResult } from '../src/commands/log.js';
import type { MonitorRound } from '../src/commands/audit-monitor.js';

const KEYS_ORIGIN = 'rotation.test/logs/keys';
const AUDIT_ORIGIN = 'rotation.test/logs/audit';

let dir: string;
let keysDir: string;
let database: ServerConfigInput['database'];
let schema: string | undefined;
let t: TestServer | undefined;
let port = 0;
let bank: Business;
let subjects = 0;
/** The keys as the operator handed them out before the rotation (pinned by the monitors). */
let keys0: string;
let audit0: string;

async function start(): Promise<TestServer> {
  const server = await startTestServer({ database, port, keys: { dir: keysDir }, tlog: { origin: KEYS_ORIGIN, auditOrigin: AUDIT_ORIGIN } });
  port = Number(new URL(server.url).port);
  return server;
}
async function restart(): Promise<void> {
  await t?.server.stop();
  t = await start();
}

async function cli(argv: string[]): Promise<{ code: number; out: string[]; err: string[] }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runLog(argv, { out: (l) => out.push(l), err: (l) => err.push(l) });
  return { code, out, err };
}
async function verify(log: 'keys' | 'audit', state: string, ...extra: string[]): Promise<{ code: number; result: VerifyResult }> {
  const r = await cli(['verify', '--url', t!.url, '--log', log, '--state', join(dir, state), '--json', ...extra]);
  return { code: r.code, result: JSON.parse(r.out[0]!) as VerifyResult };
}
async function monitor(state: string, ...extra: string[]): Promise<{ code: number; round: MonitorRound; err: string[] }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runAudit(['monitor', '--url', t!.url, '--state', join(dir, state), '--json', ...extra], { out: (l) => out.push(l), err: (l) => err.push(l), readStdin: async () => new Uint8Array() });
  return { code, round: JSON.parse(out[0]!) as MonitorRound, err };
}
const pinnedMonitor = (state: string, ...extra: string[]) => monitor(state, '--log-key', keys0, '--log-key', audit0, ...extra);

/** Grows both logs: an enrolled device (a key-log entry, attested) and audit entries. */
async function grow(): Promise<void> {
  const device = await enroll(t!.url, bank, `c-${++subjects}`, 'customer');
  await device.close();
  const ids = await Promise.all([1, 2, 3].map((i) => t!.server.auditLog.appendNow(utf8(`{"rotation-test":${subjects * 10 + i}}`))));
  await Promise.all(ids.map((id) => t!.server.auditLog.waitSequenced(id)));
}

const listed = async () => (await (await fetch(`${t!.url}/v1/logs`)).json()) as { logs: { name: string; verifierKey: string; verifierKeys: string[] }[] };
const signs = (key: string, note: string) => {
  try {
    openNote(note, [parseVerifierKey(key)]);
    return true;
  } catch {
    return false;
  }
};

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'parley-log-rotation-'));
  keysDir = join(dir, 'keys');
  if (ENGINE === 'postgres') {
    schema = `t_rotation_${Date.now().toString(36)}`;
    const admin = new PostgresDatabase({ connectionString: DATABASE_URL });
    await admin.exec(`CREATE SCHEMA ${schema}`);
    await admin.close();
    database = { kind: 'postgres', url: DATABASE_URL, schema };
  } else {
    database = { kind: 'pglite', dataDir: join(dir, 'data') };
  }
  t = await start();
  bank = await createBusiness(t.url, 'rotation-bank');
  keys0 = t.server.keyLog.verifierKey;
  audit0 = t.server.auditLog.verifierKey;
  await grow();
}, 120_000);

afterAll(async () => {
  await t?.server.stop();
  if (schema !== undefined) {
    const admin = new PostgresDatabase({ connectionString: DATABASE_URL });
    await admin.exec(`DROP SCHEMA ${schema} CASCADE`);
    await admin.close();
  }
  await rm(dir, { recursive: true, force: true });
});

describe('a rotation of both log keys, followed by the monitors', () => {
  let keys1: string;
  let audit1: string;

  it('before: both logs verify under the pinned keys', async () => {
    expect(await verify('audit', 'pinned.json', '--key', audit0)).toMatchObject({ code: 0, result: { ok: true, pinned: true } });
    expect(await verify('keys', 'pinned.json', '--key', keys0)).toMatchObject({ code: 0, result: { ok: true, pinned: true } });
    expect(await verify('audit', 'tofu.json')).toMatchObject({ code: 0, result: { ok: true, pinned: false, trustOnFirstUse: true } });
    expect((await pinnedMonitor('monitor.json')).code).toBe(0);
    expect((await monitor('monitor-tofu.json')).code).toBe(0);
  }, 60_000);

  it('rotate-key: the next key is created once (0600); after a restart checkpoints carry both signatures and the announcement is served', async () => {
    const first = await cli(['rotate-key', '--key-dir', keysDir, '--log', 'audit', '--json']);
    expect(first.code).toBe(0);
    const started = JSON.parse(first.out[0]!) as { created: boolean; current: string; next: string };
    expect(started).toMatchObject({ created: true, current: audit0 });
    audit1 = started.next;
    expect((await stat(join(keysDir, 'tlog-audit.next.key'))).mode & 0o777).toBe(0o600);
    const again = await cli(['rotate-key', '--key-dir', keysDir, '--log', 'audit']);
    expect(again.code).toBe(0);
    expect(again.out[0]).toMatch(/already in progress; next key: /);
    const k = await cli(['rotate-key', '--key-dir', keysDir, '--log', 'keys', '--json']);
    keys1 = (JSON.parse(k.out[0]!) as { next: string }).next;
    await expect(cli(['rotate-key', '--key-dir', keysDir, '--log', 'nope'])).rejects.toMatchObject({ code: 'usage' }); // exit 2

    await restart();
    await grow();
    const logs = (await listed()).logs;
    expect(logs.map((l) => [l.name, l.verifierKey, l.verifierKeys])).toEqual([
      ['keys', keys0, [keys0, keys1]],
      ['audit', audit0, [audit0, audit1]],
    ]);
    for (const [name, old, next] of [['audit', audit0, audit1], ['keys', keys0, keys1]] as const) {
      const note = await (await fetch(`${t!.url}/logs/${name}/checkpoint`)).text();
      expect(signs(old, note) && signs(next, note)).toBe(true);
      const res = await fetch(`${t!.url}/logs/${name}/key-rotations`);
      expect(res.headers.get('content-type')).toBe('text/plain; charset=utf-8');
      const body = await res.text();
      expect(body.startsWith('parley.dev/tlog-key-rotation/v1\n')).toBe(true);
      expect(body).toContain(`\nold ${old}\nnew ${next}\n`);
    }
  }, 120_000);

  it('during the transition: nothing changes for a monitor that trusts the old key', async () => {
    const r = await verify('audit', 'pinned.json', '--key', audit0);
    expect(r).toMatchObject({ code: 0, result: { ok: true, pinned: true, verifierKey: audit0 } });
    expect(r.result.checks.find((c) => /rotation in progress/.test(c.detail))).toMatchObject({ ok: true });
    expect(r.result.checks.some((c) => c.warning === true && /next key/.test(c.detail))).toBe(false);
    expect((await verify('keys', 'pinned.json', '--key', keys0)).result).toMatchObject({ ok: true, verifierKey: keys0 });
    expect((await verify('audit', 'tofu.json')).result).toMatchObject({ ok: true, verifierKey: audit0 });
    const m = await pinnedMonitor('monitor.json');
    expect(m.code).toBe(0);
    expect(m.round.logs.map((l) => l.verifierKey)).toEqual([keys0, audit0]);
  }, 60_000);

  it('--finish: the new key signs alone after a restart; verify and monitor follow the announcement with the same state', async () => {
    const done = await cli(['rotate-key', '--key-dir', keysDir, '--log', 'audit', '--finish', '--json']);
    expect(done.code).toBe(0);
    const finished = JSON.parse(done.out[0]!) as { previous: string; current: string; retired: string };
    expect(finished).toMatchObject({ previous: audit0, current: audit1 });
    expect(parseSignerKey((await readFile(finished.retired, 'utf8')).trim()).verifierKey).toBe(audit0);
    expect((await cli(['rotate-key', '--key-dir', keysDir, '--log', 'keys', '--finish'])).code).toBe(0);
    expect((await cli(['rotate-key', '--key-dir', keysDir, '--log', 'keys', '--finish'])).code).toBe(1); // nothing left to finish

    await restart();
    await grow();
    expect((await listed()).logs.map((l) => [l.verifierKey, l.verifierKeys])).toEqual([
      [keys1, [keys1]],
      [audit1, [audit1]],
    ]);
    const note = await (await fetch(`${t!.url}/logs/audit/checkpoint`)).text();
    expect(signs(audit1, note)).toBe(true);
    expect(signs(audit0, note)).toBe(false);

    // The operator still passes the key it pinned before: followed, and still pinned.
    const text = await cli(['verify', '--url', t!.url, '--log', 'audit', '--state', join(dir, 'pinned.json'), '--key', audit0]);
    expect(text.code).toBe(0);
    const id = (k: string) => {
      const v = parseVerifierKey(k);
      return `${v.name}+${v.keyHash.toString(16).padStart(8, '0')}`;
    };
    expect(text.out).toContain(`✓ key: key rotated (announced by ${id(audit0)}): the checkpoint is signed by ${id(audit1)}; trust carries over (pinned)`);
    const again = await verify('audit', 'pinned.json', '--key', audit0);
    expect(again.result).toMatchObject({ ok: true, pinned: true, verifierKey: audit1, previousTreeSize: expect.any(Number) });
    expect((await verify('keys', 'pinned.json', '--key', keys0)).result).toMatchObject({ ok: true, pinned: true, verifierKey: keys1 });
    // Without --key, from the state: the followed key, still pinned; no new rotation.
    const fromState = await verify('audit', 'pinned.json');
    expect(fromState.result).toMatchObject({ ok: true, pinned: true, verifierKey: audit1 });
    expect(fromState.result.checks.some((c) => /key rotated/.test(c.detail))).toBe(false);
    const state = JSON.parse(await readFile(join(dir, 'pinned.json'), 'utf8')) as { logs: Record<string, { pinned: boolean; rotatedFrom?: string; urls: string[] }> };
    expect(state.logs[audit1]).toMatchObject({ pinned: true, rotatedFrom: audit0, urls: [t!.url] });
    expect(state.logs[audit0]).toMatchObject({ urls: [] });
    // Trust on first use stays not verified across the rotation.
    expect((await verify('audit', 'tofu.json')).result).toMatchObject({ ok: true, pinned: false, verifierKey: audit1 });

    await copyFile(join(dir, 'monitor.json'), join(dir, 'peer-behind.json')); // a peer that has not run since the rotation
    const m = await pinnedMonitor('monitor.json');
    expect(m.err).toEqual([]);
    expect(m.code).toBe(0);
    expect(m.round.logs.map((l) => [l.verifierKey, l.pinned])).toEqual([
      [keys1, true],
      [audit1, true],
    ]);
    expect((await monitor('monitor-tofu.json')).code).toBe(0);
    // A peer that has not run since the rotation is compared under the key it saw.
    const peered = await pinnedMonitor('monitor.json', '--peer', join(dir, 'peer-behind.json'));
    expect(peered.code).toBe(0);
    expect(peered.round.peers.map((p) => [p.log, p.ok])).toEqual([
      ['keys', true],
      ['audit', true],
    ]);
  }, 120_000);

  it('the key log attests entries with the old key before the finish and with the new key after it', async () => {
    const size = (await t!.server.keyLog.latestCheckpoint()).size;
    const entries = (await t!.server.keyLog.entries(0, size)).map((e) => decodeKeyLogEntry(e));
    const by = (key: string) => (e: (typeof entries)[number]) => verifyEd25519(parseVerifierKey(key).publicKey, attestationMessage(e), fromBase64(e.attestation));
    expect(entries.length).toBeGreaterThanOrEqual(3);
    expect(entries.every((e) => by(keys0)(e) !== by(keys1)(e))).toBe(true);
    const switched = entries.findIndex(by(keys1));
    expect(switched).toBeGreaterThan(0);
    expect(entries.slice(0, switched).every(by(keys0))).toBe(true);
    expect(entries.slice(switched).every(by(keys1))).toBe(true);
  });

  it('a restart after the finish opens both logs', async () => {
    await restart();
    expect(t!.server.auditLog.verifierKey).toBe(audit1);
    await grow();
    expect((await pinnedMonitor('monitor.json')).code).toBe(0);
  }, 60_000);
});

describe('tamper tests: a key change nobody announced', () => {
  const rogue = (): LocalSigner => parseSignerKey(generateSignerKey(AUDIT_ORIGIN).signerKey);

  it('a checkpoint by an unannounced key is unannounced_key_change, also with rogue, untrusted or foreign announcements', async () => {
    const db = t!.server.db;
    const head = await t!.server.auditLog.latestCheckpoint();
    const r = rogue();
    const forged = await signNote(formatCheckpoint({ origin: AUDIT_ORIGIN, treeSize: head.size, rootHash: head.rootHash }), [r]);
    const current = t!.server.auditLog.verifierKey;
    const r2 = rogue();
    const keysNote = (await (await fetch(`${t!.url}/logs/keys/key-rotations`)).text()).trim() + '\n';
    const bogus = [
      // Signed only by the new key.
      await signNote(formatKeyRotation({ origin: AUDIT_ORIGIN, oldKey: current, newKey: r.verifierKey, startSize: head.size }), [r]),
      // Signed by both of its keys, but its old key is not trusted.
      await signKeyRotation({ origin: AUDIT_ORIGIN, oldKey: r2.verifierKey, newKey: r.verifierKey, startSize: head.size }, r2, r),
      // Another log's genuine announcement.
      keysNote,
    ];
    await db.query('UPDATE tlogs SET checkpoint = $2 WHERE name = $1', ['audit', forged]);
    try {
      for (const [i, note] of [undefined, ...bogus].entries()) {
        if (note !== undefined) await db.query('INSERT INTO tlog_key_rotations (log, old_key, new_key, start_size, note) VALUES ($1, $2, $3, 0, $4)', ['audit', `bogus-${i}`, `bogus-${i}`, note]);
        expect(await verify('audit', 'pinned.json')).toMatchObject({ code: 1, result: { ok: false, failure: { reason: 'unannounced_key_change' } } });
        // A first check under a key that does not sign it (nor announced one that does): a wrong key.
        expect(await verify('audit', `fresh-${i}.json`, '--key', audit0)).toMatchObject({ code: 1, result: { ok: false, failure: { reason: 'bad_signature' } } });
        const m = await pinnedMonitor('monitor.json');
        expect(m.code).toBe(1);
        expect(m.round.logs.find((l) => l.log === 'audit')!.failure?.reason).toBe('unannounced_key_change');
        expect(m.err.join('\n')).toMatch(/^ALERT: .*audit: unannounced_key_change/);
      }
    } finally {
      await db.query("DELETE FROM tlog_key_rotations WHERE log = 'audit' AND old_key LIKE 'bogus-%'");
      await db.query('UPDATE tlogs SET checkpoint = $2 WHERE name = $1', ['audit', head.note]);
    }
    expect((await verify('audit', 'pinned.json')).result).toMatchObject({ ok: true });
    expect((await pinnedMonitor('monitor.json')).code).toBe(0);
  }, 120_000);

  it('after the rotation, a checkpoint by the retired key alone is refused: unannounced_key_change', async () => {
    const retired = parseSignerKey((await readFile(join(keysDir, `tlog-audit.retired-${parseVerifierKey(audit0).keyHash.toString(16).padStart(8, '0')}.key`), 'utf8')).trim());
    const head = await t!.server.auditLog.latestCheckpoint();
    const byOld = await signNote(formatCheckpoint({ origin: AUDIT_ORIGIN, treeSize: head.size, rootHash: head.rootHash }), [retired]);
    await t!.server.db.query('UPDATE tlogs SET checkpoint = $2 WHERE name = $1', ['audit', byOld]);
    try {
      // Also for a monitor that keeps passing the key it pinned before the rotation.
      expect(await verify('audit', 'pinned.json', '--key', audit0)).toMatchObject({ code: 1, result: { ok: false, failure: { reason: 'unannounced_key_change' } } });
      expect((await pinnedMonitor('monitor.json')).round.logs.find((l) => l.log === 'audit')!.failure?.reason).toBe('unannounced_key_change');
    } finally {
      await t!.server.db.query('UPDATE tlogs SET checkpoint = $2 WHERE name = $1', ['audit', head.note]);
    }
    expect((await verify('audit', 'pinned.json', '--key', audit0)).result).toMatchObject({ ok: true, verifierKey: t!.server.auditLog.verifierKey });
  }, 60_000);

  it('a swapped key file (with the stored checkpoint re-signed) is unannounced_key_change; the real key then refuses to start: tlog_key_mismatch', async () => {
    const rogueKey = generateSignerKey(AUDIT_ORIGIN).signerKey;
    const r = parseSignerKey(rogueKey);
    const head = await t!.server.auditLog.latestCheckpoint();
    const forged = await signNote(formatCheckpoint({ origin: AUDIT_ORIGIN, treeSize: head.size, rootHash: head.rootHash }), [r]);
    await t!.server.db.query('UPDATE tlogs SET checkpoint = $2 WHERE name = $1', ['audit', forged]);
    const keyFile = join(keysDir, 'tlog-audit.key');
    const real = await readFile(keyFile, 'utf8');
    await t!.server.stop();
    t = undefined;
    await writeFile(keyFile, `${rogueKey}\n`, { mode: 0o600 });
    t = await start();
    expect(t.server.auditLog.verifierKey).toBe(r.verifierKey);
    expect(await verify('audit', 'pinned.json')).toMatchObject({ code: 1, result: { ok: false, failure: { reason: 'unannounced_key_change' } } });
    const m = await pinnedMonitor('monitor.json');
    expect(m.code).toBe(1);
    expect(m.err.join('\n')).toMatch(/^ALERT: .*audit: unannounced_key_change/);

    await t.server.stop();
    t = undefined;
    await writeFile(keyFile, real, { mode: 0o600 });
    await expect(start()).rejects.toMatchObject({ code: 'tlog_key_mismatch' });
  }, 120_000);
});
