/**
 * `parley audit export | verify | monitor` against a real server (PGlite by default,
 * PostgreSQL in CI's second leg), and the tamper tests: every way an operator could
 * rewrite what it stored — a commitment row, a log entry, the order of entries, a
 * receipt's signature, a receipt replayed onto another message, a rolled-back or
 * forked log — is caught by `audit verify` or `audit monitor` with a named reason.
 */
import { chmod, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { fromBase64, randomBytes, toHex, utf8 } from '@parley/core';
import type { EvidenceBundle, EvidenceReport } from '@parley/core/audit';
import { emptyRoot, formatCheckpoint, openNote, parseCheckpoint, parseVerifierKey, signNote, storedHashCount } from '@parley/core/tlog';
import { FileKeyStore } from '@parley/client/node';
import type { DeviceEvent, Sender } from '@parley/client';
import { loadLogSigner } from '../../server/src/tlog/index.js';
import { ADMIN_TOKEN, startTestServer, type TestServer } from '@parley/test-kit/server';
import { createBusiness, enroll, enrollSender, EventLog, type Business } from '@parley/test-kit/sdk';
import { runAudit } from '../src/commands/audit.js';
import type { MonitorRound } from '../src/commands/audit-monitor.js';

const AUDIT_ORIGIN = 'audit-cli.test/logs/audit';
const PASSPHRASE = 'correct horse battery staple';
const silent = pino({ level: 'silent' });

let t: TestServer;
let dir: string;
let bank: Business;
let sender: Sender;
let phoneStoreDir: string;
let phoneId: string;
let auditKey: string;
let keyLogKey: string;
let vrfKey: string;
const texts = new Map<string, string>();
let m1: string;
let m2: string;

interface Run {
  code: number;
  out: string[];
  err: string[];
}

async function audit(argv: string[], env?: NodeJS.ProcessEnv): Promise<Run> {
  const out: string[] = [];
  const err: string[] = [];
  const saved = process.env['PARLEY_STORE_PASSPHRASE'];
  if (env?.['PARLEY_STORE_PASSPHRASE'] !== undefined) process.env['PARLEY_STORE_PASSPHRASE'] = env['PARLEY_STORE_PASSPHRASE'];
  try {
    const code = await runAudit(argv, { out: (l) => out.push(l), err: (l) => err.push(l), readStdin: async () => new Uint8Array() });
    return { code, out, err };
  } finally {
    if (saved === undefined) delete process.env['PARLEY_STORE_PASSPHRASE'];
    else process.env['PARLEY_STORE_PASSPHRASE'] = saved;
  }
}

/** Exports m's bundle as the operator through the CLI, then verifies it through the CLI. */
async function exportAndVerify(messageId: string, name: string): Promise<{ bundle: EvidenceBundle; report: EvidenceReport; code: number }> {
  const file = join(dir, `${name}.json`);
  const exported = await audit(['export', '--message', messageId, '--server', t.url, '--admin-token', ADMIN_TOKEN, '--out', file]);
  expect(exported.code).toBe(0);
  const verified = await audit(['verify', file, '--log-key', auditKey, '--log-key', keyLogKey, '--vrf-key', vrfKey, '--json']);
  return { bundle: JSON.parse(await readFile(file, 'utf8')) as EvidenceBundle, report: JSON.parse(verified.out[0]!) as EvidenceReport, code: verified.code };
}

const failedCodes = (report: EvidenceReport) => report.checks.filter((c) => !c.ok).map((c) => c.code);

async function monitor(state: string, extra: string[] = []): Promise<{ code: number; round: MonitorRound; err: string[] }> {
  const r = await audit(['monitor', '--url', t.url, '--state', join(dir, state), '--log-key', auditKey, '--log-key', keyLogKey, '--json', ...extra]);
  return { code: r.code, round: JSON.parse(r.out[0]!) as MonitorRound, err: r.err };
}

const auditFailure = (round: MonitorRound) => round.logs.find((l) => l.log === 'audit')!.failure?.reason;

/** Waits until the sender's view of the evidence holds `count` receipts. */
async function receipts(messageId: string, count: number): Promise<void> {
  for (let i = 0; i < 300; i++) {
    if ((await sender.device.exportEvidence(messageId)).receipts.length >= count) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('receipts did not arrive');
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'parley-audit-cli-'));
  t = await startTestServer({ keys: { dir: join(dir, 'keys') }, tlog: { auditOrigin: AUDIT_ORIGIN, batchSize: 64 } });
  const logs = (await (await fetch(`${t.url}/v1/logs`)).json()) as { logs: { name: string; verifierKey: string }[] };
  auditKey = logs.logs.find((l) => l.name === 'audit')!.verifierKey;
  keyLogKey = logs.logs.find((l) => l.name === 'keys')!.verifierKey;
  vrfKey = ((await (await fetch(`${t.url}/v1/keys`)).json()) as { vrfPublicKey: string }).vrfPublicKey;
  bank = await createBusiness(t.url, 'audit-cli-bank');
  sender = await enrollSender(t.url, bank);
  phoneStoreDir = join(dir, 'phone');
  const store = await FileKeyStore.open(phoneStoreDir, { passphrase: PASSPHRASE });
  const phone = await enroll(t.url, bank, 'c-1', 'customer', store);
  phoneId = phone.deviceId;
  const events = new EventLog(phone);
  await Promise.all([sender.connect(), phone.connect()]);
  for (const text of ['Example Bank: payment of EUR 1,250.00 to ACME GmbH approved.', 'Example Bank: your code is 481516.']) {
    const sent = await sender.send('c-1', text, { class: 'alert' });
    texts.set(sent.messageId, text);
    await events.waitFor((e: DeviceEvent) => e.type === 'message' && e.messageId === sent.messageId);
  }
  [m1, m2] = [...texts.keys()] as [string, string];
  await phone.markRead(m1);
  await receipts(m1, 2);
  await receipts(m2, 1);
  await phone.close();
  await store.close();
}, 120_000);

afterAll(async () => {
  await sender?.close();
  await t?.stop();
  await rm(dir, { recursive: true, force: true });
});

describe('parley audit export + verify', () => {
  it('exports as the operator and verifies offline: every check passes', async () => {
    const { report, code } = await exportAndVerify(m1, 'm1');
    expect(failedCodes(report)).toEqual([]);
    expect(code).toBe(0);
    expect(report.receipts.map((r) => r.status).sort()).toEqual(['delivered', 'read']);
    const text = await audit(['verify', join(dir, 'm1.json'), '--log-key', auditKey, '--key-log-key', keyLogKey, '--vrf-key', vrfKey]);
    expect(text.code).toBe(0);
    expect(text.out.join('\n')).toMatch(/✔ commitment-signature/);
    expect(text.out[text.out.length - 1]).toMatch(/^✔ verified: /);
  });

  it('exports from the customer’s device store with the opening revealed, and proves the text', async () => {
    const file = join(dir, 'revealed.json');
    await writeFile(file, 'an older, world-readable file', { mode: 0o644 });
    await chmod(file, 0o644);
    const exported = await audit(['export', '--message', m1, '--store', phoneStoreDir, '--reveal', '--server', t.url, '--out', file], { PARLEY_STORE_PASSPHRASE: PASSPHRASE });
    expect(exported.code).toBe(0);
    expect((await stat(file)).mode & 0o777).toBe(0o600); // it holds the plaintext
    expect(exported.err.join('\n')).toMatch(/opening revealed/);
    const bundle = JSON.parse(await readFile(file, 'utf8')) as EvidenceBundle;
    expect(bundle.plaintext).toBe(texts.get(m1));
    await writeFile(join(dir, 'plain.txt'), bundle.plaintext!);
    const opening = toHex(fromBase64(bundle.opening!));
    const ok = await audit(['verify', file, '--log-key', auditKey, '--log-key', keyLogKey, '--vrf-key', vrfKey, '--plaintext', join(dir, 'plain.txt'), '--opening', opening]);
    expect(ok.code).toBe(0);
    expect(ok.out.join('\n')).toMatch(/✔ plaintext-matches-commitment/);
    await writeFile(join(dir, 'lie.txt'), bundle.plaintext!.replace('1,250.00', '12,500.00'));
    const lie = await audit(['verify', file, '--log-key', auditKey, '--log-key', keyLogKey, '--vrf-key', vrfKey, '--plaintext', join(dir, 'lie.txt'), '--opening', opening, '--json']);
    expect(lie.code).toBe(1);
    expect(failedCodes(JSON.parse(lie.out[0]!) as EvidenceReport)).toEqual(['plaintext_mismatch']);
  });

  it('refuses bad usage with exit 2 and a wrong admin token with an error', async () => {
    expect((await audit(['export', '--server', t.url])).code).toBe(2);
    expect((await audit(['export', '--message', m1, '--server', t.url, '--reveal', '--admin-token', ADMIN_TOKEN])).code).toBe(2);
    expect((await audit(['export', '--message', m1, '--admin-token', ADMIN_TOKEN])).code).toBe(2);
    await expect(audit(['export', '--message', m1, '--server', t.url, '--admin-token', 'wrong'])).rejects.toMatchObject({ status: 401 });
    expect((await audit(['monitor'])).code).toBe(2);
    // A base64url id may begin with a dash: a value, not a flag (an unknown id, so 404).
    await expect(audit(['export', '--message', `${m1.startsWith("-") ? "_" : "-"}${m1.slice(1)}`, '--server', t.url, '--admin-token', ADMIN_TOKEN])).rejects.toMatchObject({ status: 404 });
  });
});

describe('tamper tests: audit verify names what an operator changed', () => {
  it('a changed commitment row: bad_commitment_signature and wrong_audit_entry', async () => {
    const [row] = await t.server.db.query<{ commitment: string }>('SELECT commitment FROM audit_commitments WHERE message_id = $1', [m1]);
    const changed = row!.commitment.replace('"class":"alert"', '"class":"otp"');
    expect(changed).not.toBe(row!.commitment);
    await t.server.db.query('UPDATE audit_commitments SET commitment = $2 WHERE message_id = $1', [m1, changed]);
    try {
      const { report, code } = await exportAndVerify(m1, 'tampered-commitment');
      expect(code).toBe(1);
      expect(failedCodes(report)).toEqual(expect.arrayContaining(['bad_commitment_signature', 'wrong_audit_entry']));
    } finally {
      await t.server.db.query('UPDATE audit_commitments SET commitment = $2 WHERE message_id = $1', [m1, row!.commitment]);
    }
  });

  it('a changed log entry: not_in_audit_log for the verifier, bad_entry_bundle for the monitor', async () => {
    expect((await monitor('honest.json')).code).toBe(0);
    const { bundle } = await exportAndVerify(m1, 'before-entry');
    const idx = String(bundle.audit.index);
    const [row] = await t.server.db.query<{ entry: Uint8Array }>('SELECT entry FROM tlog_entries WHERE log = $1 AND idx = $2', ['audit', idx]);
    const other = (await exportAndVerify(m2, 'm2')).bundle.audit.entry;
    await t.server.db.query('UPDATE tlog_entries SET entry = $3 WHERE log = $1 AND idx = $2', ['audit', idx, fromBase64(other)]);
    try {
      const { report, code } = await exportAndVerify(m1, 'tampered-entry');
      expect(code).toBe(1);
      expect(failedCodes(report)).toEqual(expect.arrayContaining(['wrong_audit_entry']));
      const watched = await monitor('honest.json');
      expect(watched.code).toBe(1);
      expect(auditFailure(watched.round)).toBe('bad_entry_bundle');
      expect(watched.err.join('\n')).toMatch(/^ALERT: .*audit: bad_entry_bundle/);
    } finally {
      await t.server.db.query('UPDATE tlog_entries SET entry = $3 WHERE log = $1 AND idx = $2', ['audit', idx, row!.entry]);
    }
    expect((await monitor('honest.json')).code).toBe(0);
  });

  it('a deleted and a reordered log entry: bad_entry_bundle', async () => {
    const rows = await t.server.db.query<{ idx: string; entry: Uint8Array; label: Uint8Array | null; pending_id: string }>(
      'SELECT idx, entry, label, pending_id FROM tlog_entries WHERE log = $1 AND idx IN (0, 1) ORDER BY idx',
      ['audit'],
    );
    const [a, b] = rows as [(typeof rows)[0], (typeof rows)[0]];
    await t.server.db.query('DELETE FROM tlog_entries WHERE log = $1 AND idx = 1', ['audit']);
    try {
      expect(auditFailure((await monitor('honest.json')).round)).toBe('bad_entry_bundle');
    } finally {
      await t.server.db.query('INSERT INTO tlog_entries (log, idx, entry, label, pending_id) VALUES ($1, $2, $3, $4, $5)', ['audit', b.idx, b.entry, b.label, b.pending_id]);
    }
    expect((await monitor('honest.json')).code).toBe(0);
    // Swap the contents of entries 0 and 1.
    const put = (x: typeof a, y: typeof a) => t.server.db.query('UPDATE tlog_entries SET entry = $3, label = $4 WHERE log = $1 AND idx = $2', ['audit', x.idx, y.entry, y.label]);
    await put(a, b);
    await put(b, a);
    try {
      const watched = await monitor('honest.json');
      expect(watched.code).toBe(1);
      expect(auditFailure(watched.round)).toBe('bad_entry_bundle');
    } finally {
      await t.server.db.query('UPDATE tlog_entries SET entry = $3, label = $4 WHERE log = $1 AND idx = $2', ['audit', a.idx, a.entry, a.label]);
      await t.server.db.query('UPDATE tlog_entries SET entry = $3, label = $4 WHERE log = $1 AND idx = $2', ['audit', b.idx, b.entry, b.label]);
    }
    expect((await monitor('honest.json')).code).toBe(0);
  });

  it('a forged receipt signature: receipt_bad_signature', async () => {
    const [row] = await t.server.db.query<{ signature: Uint8Array }>('SELECT signature FROM audit_receipts WHERE message_id = $1 AND device_id = $2 AND status = $3', [m1, phoneId, 'delivered']);
    await t.server.db.query('UPDATE audit_receipts SET signature = $4 WHERE message_id = $1 AND device_id = $2 AND status = $3', [m1, phoneId, 'delivered', randomBytes(64)]);
    try {
      const { report, code } = await exportAndVerify(m1, 'forged-receipt');
      expect(code).toBe(1);
      expect(failedCodes(report)).toEqual(['receipt_bad_signature']);
    } finally {
      await t.server.db.query('UPDATE audit_receipts SET signature = $4 WHERE message_id = $1 AND device_id = $2 AND status = $3', [m1, phoneId, 'delivered', row!.signature]);
    }
    expect((await exportAndVerify(m1, 'restored')).code).toBe(0);
  });

  it('a receipt replayed onto another message: receipt_for_other_message', async () => {
    type ReceiptRow = { receipt: string; signature: Uint8Array };
    const select = 'SELECT receipt, signature FROM audit_receipts WHERE message_id = $1 AND device_id = $2 AND status = $3';
    const [first] = await t.server.db.query<ReceiptRow>(select, [m1, phoneId, 'delivered']);
    const [second] = await t.server.db.query<ReceiptRow>(select, [m2, phoneId, 'delivered']);
    const update = 'UPDATE audit_receipts SET receipt = $4, signature = $5 WHERE message_id = $1 AND device_id = $2 AND status = $3';
    await t.server.db.query(update, [m2, phoneId, 'delivered', first!.receipt, first!.signature]);
    try {
      const { report, code } = await exportAndVerify(m2, 'replayed-receipt');
      expect(code).toBe(1);
      expect(failedCodes(report)).toEqual(expect.arrayContaining(['receipt_for_other_message']));
    } finally {
      await t.server.db.query(update, [m2, phoneId, 'delivered', second!.receipt, second!.signature]);
    }
  });
});

describe('tamper tests: audit monitor catches a rollback and a fork, also through gossip', () => {
  /** The operator's audit-log signer, to play a server that signs what it should not. */
  const signer = () => loadLogSigner({ dir: join(dir, 'keys'), logName: 'audit', origin: AUDIT_ORIGIN, log: silent });

  it('a rolled-back audit log: rollback', async () => {
    const first = await monitor('rollback.json');
    expect(first.code).toBe(0);
    const size = first.round.logs.find((l) => l.log === 'audit')!.treeSize!;
    const [row] = await t.server.db.query<{ note: string; tree_size: string }>(
      'SELECT note, tree_size FROM tlog_checkpoints WHERE log = $1 AND tree_size > 0 AND tree_size < $2 ORDER BY tree_size DESC, id DESC LIMIT 1',
      ['audit', String(size)],
    );
    const older = Number(row!.tree_size);
    const cp = parseCheckpoint(openNote(row!.note, [parseVerifierKey(auditKey)]).text);
    await t.server.db.transaction(async (tx) => {
      await tx.query('SELECT 1 FROM tlogs WHERE name = $1 FOR UPDATE', ['audit']);
      await tx.query('DELETE FROM tlog_entries WHERE log = $1 AND idx >= $2', ['audit', String(older)]);
      await tx.query('DELETE FROM tlog_hashes WHERE log = $1 AND idx >= $2', ['audit', String(storedHashCount(older))]);
      await tx.query('UPDATE tlogs SET tree_size = $2, root_hash = $3, checkpoint = $4 WHERE name = $1', ['audit', String(older), cp.rootHash, row!.note]);
    });
    const watched = await monitor('rollback.json');
    expect(watched.code).toBe(1);
    expect(auditFailure(watched.round)).toBe('rollback');
    expect(watched.err.join('\n')).toMatch(/ALERT: .*audit: rollback/);
  });

  it('a rewritten audit history: fork for the monitor that saw the old one, and for a fresh monitor through gossip', async () => {
    // Monitor A has verified the (rolled-back, still honest-looking) current tree.
    expect((await monitor('a.json')).code).toBe(0);
    const sizeA = JSON.parse(await readFile(join(dir, 'a.json'), 'utf8')).logs[auditKey].treeSize as number;
    // The operator signs a different history that is longer than A's tree.
    const empty = await signNote(formatCheckpoint({ origin: AUDIT_ORIGIN, treeSize: 0, rootHash: emptyRoot() }), [await signer()]);
    const log = t.server.auditLog;
    const ids = await t.server.db.transaction(async (tx) => {
      await tx.query('SELECT 1 FROM tlogs WHERE name = $1 FOR UPDATE', ['audit']);
      for (const table of ['tlog_entries', 'tlog_hashes', 'tlog_pending', 'tlog_checkpoints']) await tx.query(`DELETE FROM ${table} WHERE log = $1`, ['audit']);
      await tx.query('UPDATE tlogs SET tree_size = 0, root_hash = $2, checkpoint = $3 WHERE name = $1', ['audit', emptyRoot(), empty]);
      return log.appendMany(tx, Array.from({ length: sizeA + 3 }, (_, i) => ({ entry: utf8(`{"forged":${i}}`) })));
    });
    log.kick();
    await Promise.all(ids.map((id) => log.waitSequenced(id)));

    const a = await monitor('a.json');
    expect(a.code).toBe(1);
    expect(auditFailure(a.round)).toBe('fork');
    // Monitor B only ever saw the forged history: alone it cannot tell …
    expect((await monitor('b.json')).code).toBe(0);
    // … but comparing with A's state (gossip) exposes the split view.
    const b = await monitor('b.json', ['--peer', join(dir, 'a.json')]);
    expect(b.code).toBe(1);
    expect(b.round.peers.find((p) => p.log === 'audit')).toMatchObject({ ok: false, reason: 'fork' });
    expect(b.err.join('\n')).toMatch(/ALERT: .*audit vs .*a\.json: fork/);
  });
});
