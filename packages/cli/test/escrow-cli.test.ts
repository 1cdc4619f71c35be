/**
 * `parley escrow` end to end against a real server (PGlite by default, PostgreSQL with
 * PARLEY_TEST_ENGINE=postgres): officers make keys, the business registers a 2-of-3 escrow
 * key, the server restarts with a policy putting the `statement` class under escrow, the
 * SDK's Sender seals such messages to the key, and a request opens one only with two
 * officers' approvals — every step in the audit log, nothing secret in the database.
 */
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fromBase64, randomBytes, toBase64, toBase64Url, toHex, utf8, type EscrowRequestView } from '@parley/core';
import { commitmentHash, decodeAuditEntry, type AuditEntry } from '@parley/core/audit';
import {
  combineEscrowShares,
  createEscrowOfficer,
  generateHpkeKeyPair,
  openOfficerShare,
  parseEscrowKeyRecord,
  parseEscrowOfficerKeyFile,
  signEscrowApproval,
  type EscrowKeyRecord,
  type EscrowOfficerKeyFile,
} from '@parley/core/escrow';
import { MemoryKeyStore, type Device, type DeviceEvent, type Sender } from '@parley/client';
import { PostgresDatabase, type Database } from '@parley/server';
import { ADMIN_TOKEN, DATABASE_URL, ENGINE, api, startTestServer, type TestServer } from '@parley/test-kit/server';
import { createBusiness, enroll, enrollSender, EventLog, type Business } from '@parley/test-kit/sdk';
import { runEscrow } from '../src/commands/escrow.js';
import { runAudit } from '../src/commands/audit.js';
import { EscrowApi } from '../src/commands/escrow-api.js';
import { approveRequest, checkedRequest } from '../src/commands/escrow-open.js';

const SECRET = 'Statement 2026-11: balance EUR 48,151.62; transfer to IBAN DE02 1203 0000 0000 2020 51';
const PLAIN = 'Example Bank: your card ending 1234 was charged EUR 12.00';

let dir: string;
let database: { kind: 'pglite'; dataDir: string } | { kind: 'postgres'; url: string; schema: string };
let t: TestServer;
let bank: Business;
let sender: Sender;
let phone: Device;
let events: EventLog;
let keyId: string;
let officers: { file: string; pub: string; key: EscrowOfficerKeyFile }[];
let escrowed: string;
let plain: string;
let escrowedEvent: DeviceEvent | undefined;

interface Run {
  code: number;
  out: string[];
  err: string[];
}

async function escrow(argv: string[]): Promise<Run> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runEscrow(argv, { out: (l) => out.push(l), err: (l) => err.push(l) }, { PARLEY_ADMIN_TOKEN: ADMIN_TOKEN });
  return { code, out, err };
}

const server = () => ['--server', t.url];
const rejectsWith = async (p: Promise<unknown>, code: string) => expect(p).rejects.toMatchObject({ code });

async function request(messageId: string, name: string, reason = 'court order 4 O 123/26'): Promise<{ id: string; keyFile: string; view: EscrowRequestView }> {
  const keyFile = join(dir, `${name}.requester.json`);
  const r = await escrow(['request', ...server(), '--message', messageId, '--reason', reason, '--key-out', keyFile, '--json']);
  expect(r.code).toBe(0);
  const view = JSON.parse(r.out[0]!) as EscrowRequestView;
  return { id: view.request.requestId, keyFile, view };
}

const approve = (requestId: string, officer: number) => escrow(['approve', ...server(), '--request', requestId, '--officer-key', officers[officer]!.file, '--json']);

function policy(key: string, approvals: number) {
  return {
    businesses: {
      'escrow-bank': {
        brand: 'Escrow Bank',
        policies: { statement: { chain: [{ step: 'app' as const, timeoutMs: 30_000 }], otherwise: 'invite-to-app' as const, escrow: { key, approvals } } },
      },
    },
  };
}

async function auditEntry(index: number): Promise<AuditEntry> {
  const [row] = await t.server.db.query<{ entry: Uint8Array }>('SELECT entry FROM tlog_entries WHERE log = $1 AND idx = $2', ['audit', String(index)]);
  return decodeAuditEntry(new Uint8Array(row!.entry));
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'parley-escrow-cli-'));
  if (ENGINE === 'postgres') {
    const schema = `t_escrow_${toHex(randomBytes(6))}`;
    const admin = new PostgresDatabase({ connectionString: DATABASE_URL });
    await admin.exec(`CREATE SCHEMA ${schema}`);
    await admin.close();
    database = { kind: 'postgres', url: DATABASE_URL, schema };
  } else {
    database = { kind: 'pglite', dataDir: join(dir, 'db') };
  }
  const keys = { dir: join(dir, 'keys') };
  // First run: the business exists, its officers make their keys, and it registers the escrow key.
  const first = await startTestServer({ database, keys });
  bank = await createBusiness(first.url, 'escrow-bank');
  await createBusiness(first.url, 'other-bank');
  officers = [];
  for (const name of ['alice', 'bob', 'carol']) {
    const file = join(dir, `${name}.officer.json`);
    const printed: string[] = [];
    const made = await runEscrow(['officer-key', '--out', file, '--name', name], { out: (l) => printed.push(l), err: () => {} });
    expect(made).toBe(0);
    await writeFile(join(dir, `${name}.pub.json`), printed[0]!);
    officers.push({ file, pub: join(dir, `${name}.pub.json`), key: parseEscrowOfficerKeyFile(JSON.parse(await readFile(file, 'utf8'))) });
  }
  const out: string[] = [];
  const init = await runEscrow(
    ['init', '--server', first.url, '--business', 'escrow-bank', ...officers.flatMap((o) => ['--officer', o.pub]), '--approvals', '2', '--json'],
    { out: (l) => out.push(l), err: () => {} },
    { PARLEY_ADMIN_TOKEN: ADMIN_TOKEN },
  );
  expect(init).toBe(0);
  const registered = JSON.parse(out[0]!) as { keyId: string; audit: { index: number }; policy: unknown };
  keyId = registered.keyId;
  expect(registered.policy).toEqual({ escrow: { key: keyId, approvals: 2 } });
  await first.stop();

  // A policy whose approvals are not the key's threshold: the server refuses to start.
  await expect(startTestServer({ database, keys, routing: policy(keyId, 3) })).rejects.toMatchObject({ code: 'invalid_routing_policy' });

  // Second run: the `statement` class is under escrow with that key.
  t = await startTestServer({ database, keys, routing: policy(keyId, 2) });
  sender = await enrollSender(t.url, bank);
  phone = await enroll(t.url, bank, 'c-1', 'customer', new MemoryKeyStore());
  events = new EventLog(phone);
  await Promise.all([sender.connect(), phone.connect()]);
  escrowed = (await sender.send('c-1', SECRET, { class: 'statement' })).messageId;
  escrowedEvent = await events.waitFor((e: DeviceEvent) => e.type === 'message' && e.messageId === escrowed);
  plain = (await sender.send('c-1', PLAIN, { class: 'alert' })).messageId;
  await events.waitFor((e: DeviceEvent) => e.type === 'message' && e.messageId === plain);
}, 180_000);

afterAll(async () => {
  await sender?.close();
  await phone?.close();
  await t?.stop();
  if (database?.kind === 'postgres') {
    const admin = new PostgresDatabase({ connectionString: DATABASE_URL });
    await admin.exec(`DROP SCHEMA IF EXISTS ${database.schema} CASCADE`);
    await admin.close();
  }
  await rm(dir, { recursive: true, force: true });
});

describe('escrowed sending', () => {
  it('officer key files are 0600 and the registration is in the audit log', async () => {
    for (const o of officers) expect((await stat(o.file)).mode & 0o777).toBe(0o600);
    const [row] = await t.server.db.query<{ record: string }>('SELECT record FROM escrow_keys WHERE key_id = $1', [keyId]);
    const record = parseEscrowKeyRecord(JSON.parse(row!.record));
    const hash = toBase64Url((await import('@parley/core/escrow')).escrowKeyRecordHash(record));
    const [logged] = await t.server.db.query<{ idx: string }>(`SELECT idx FROM tlog_entries WHERE log = 'audit' AND entry = $1`, [utf8(JSON.stringify({ key: hash, type: 'escrow-key', v: 1 }))]);
    expect(logged).toBeDefined();
  });

  it('a statement carries escrow in its signed commitment and the customer is told; an alert does not', async () => {
    expect(escrowedEvent).toMatchObject({ type: 'message', escrow: { keyId }, audit: { verified: true } });
    const plainEvent = events.events.find((e) => e.type === 'message' && e.messageId === plain);
    expect(plainEvent).toBeDefined();
    expect(plainEvent).not.toHaveProperty('escrow');
    const blobs = await t.server.db.query<{ message_id: string; key_id: string }>('SELECT message_id, key_id FROM escrow_blobs');
    expect(blobs).toEqual([{ message_id: escrowed, key_id: keyId }]);
  });

  it('the server refuses a statement without escrow, escrow on an alert, and another key', async () => {
    const conversationId = (await sender.conversationWith('c-1'))!;
    const recipient = 'escrow-bank:c-1';
    await rejectsWith(sender.device.send(conversationId, 'no escrow', { class: 'statement', audit: { recipient } }), 'escrow_required');
    const [row] = await t.server.db.query<{ record: string }>('SELECT record FROM escrow_keys WHERE key_id = $1', [keyId]);
    const target = { keyId, publicKey: fromBase64(parseEscrowKeyRecord(JSON.parse(row!.record)).publicKey) };
    await rejectsWith(sender.device.send(conversationId, 'escrow not allowed', { class: 'alert', audit: { recipient, escrow: target } }), 'escrow_not_allowed');
    // A second key of the same business, registered but not the class's.
    const other = await escrow(['init', ...server(), '--business', 'escrow-bank', '--officer', officers[0]!.pub, '--officer', officers[1]!.pub, '--approvals', '2', '--json']);
    const otherKey = (JSON.parse(other.out[0]!) as { keyId: string; businessId: string }).keyId;
    const [otherRow] = await t.server.db.query<{ record: string }>('SELECT record FROM escrow_keys WHERE key_id = $1', [otherKey]);
    const wrong = { keyId: otherKey, publicKey: fromBase64(parseEscrowKeyRecord(JSON.parse(otherRow!.record)).publicKey) };
    await rejectsWith(sender.device.send(conversationId, 'wrong key', { class: 'statement', audit: { recipient, escrow: wrong } }), 'escrow_wrong_key');
    // An oversize blob never passes the schema (1 MiB decoded at most).
    const huge = { idempotencyKey: 'escrow-huge-1', conversationId, message: toBase64(randomBytes(64)), escrow: 'A'.repeat(1_500_000) };
    await expect(sender.device.api.submit(huge)).rejects.toMatchObject({ status: 400 });
    // An over-long reason never passes the schema.
    const res = await api(t.url, 'POST', '/v1/escrow/requests', { messageId: escrowed, reason: 'x'.repeat(501), requesterKey: toBase64Url(randomBytes(32)) }, ADMIN_TOKEN);
    expect(res.status).toBe(400);
  });

  it('web messages too: a statement to a customer without the app carries its blob; without one it is refused', async () => {
    const deliver = async () => ({ ok: true as const, provider: 'test' });
    // The policy then blocks or invites (no SMS channel here): the escrow check came first and passed.
    const sent = await sender.sendToWeb('c-web', '+15550100999', SECRET, { class: 'statement', deliver });
    expect(sent.path).toBe('blocked');
    const body = { messageId: toBase64Url(randomBytes(16)), customerId: 'c-web-2', phone: '+15550100998', class: 'statement', ciphertext: toBase64(randomBytes(48)) };
    await rejectsWith(sender.device.api.webMessage(body), 'escrow_required');
    await rejectsWith(sender.device.api.webMessage({ ...body, class: 'alert', escrow: toBase64(randomBytes(80)) }), 'escrow_not_allowed');
  });

  it("a key record naming another business, or registered under another business's path, is refused", async () => {
    const made = await Promise.all(['x', 'y'].map((n) => createEscrowOfficer(n)));
    const { createEscrowKey } = await import('@parley/core/escrow');
    const record = await createEscrowKey({ businessId: 'escrow-bank', officers: made.map((m) => m.officer), threshold: 2 });
    const res = await api(t.url, 'POST', '/v1/admin/businesses/other-bank/escrow-keys', record, ADMIN_TOKEN);
    expect(res.status).toBe(403);
    expect(res.body.error.code).toBe('escrow_business_mismatch');
    const forged = await api(t.url, 'POST', '/v1/admin/businesses/escrow-bank/escrow-keys', { ...record, threshold: 1 }, ADMIN_TOKEN);
    expect(forged.status).toBe(400);
    const substituted = await api(t.url, 'POST', '/v1/admin/businesses/escrow-bank/escrow-keys', { ...record, publicKey: toBase64Url((await generateHpkeKeyPair()).publicKey) }, ADMIN_TOKEN);
    expect(substituted.body.error.code).toBe('invalid_escrow_key');
  });
});

describe('parley escrow request | approve | open', () => {
  let main: { id: string; keyFile: string };

  it('M−1 approvals: the opening is refused; the same officer twice is refused', async () => {
    main = await request(escrowed, 'main');
    expect((await approve(main.id, 0)).code).toBe(0);
    await rejectsWith(escrow(['open', ...server(), '--request', main.id, '--key', main.keyFile]), 'escrow_not_enough_approvals');
    await rejectsWith(approve(main.id, 0), 'escrow_already_approved');
  });

  it('approvals for another request, replayed, forged or by a stranger are refused', async () => {
    const escrowApi = new EscrowApi(t.url, ADMIN_TOKEN);
    const second = await request(escrowed, 'second', 'internal audit 2026-12');
    // An approval made for the main request, replayed onto the second one.
    const forMain = await approveRequest(await checkedRequest(escrowApi, main.id), officers[1]!.key);
    await rejectsWith(escrowApi.approve(second.id, forMain), 'escrow_approval_mismatch');
    // A signature that is not the officer's.
    const forSecond = await approveRequest(await checkedRequest(escrowApi, second.id), officers[1]!.key);
    await rejectsWith(escrowApi.approve(second.id, { ...forSecond, signature: toBase64(randomBytes(64)) }), 'escrow_approval_signature_invalid');
    // Signed by the right officer's key but altered after signing.
    await rejectsWith(escrowApi.approve(second.id, { ...forSecond, approval: { ...forSecond.approval, approvedAt: new Date(0).toISOString() } }), 'escrow_approval_signature_invalid');
    // An officer of no key of this message.
    const stranger = await createEscrowOfficer('mallory');
    const strangerApproval = { ...forSecond.approval, officerId: stranger.officer.officerId };
    const signature = toBase64(signEscrowApproval(fromBase64(stranger.keyFile.signingPrivateKey), strangerApproval));
    await rejectsWith(escrowApi.approve(second.id, { ...forSecond, approval: strangerApproval, signature }), 'escrow_not_an_officer');
    // A request of another message: an approval of the main request does not count there either.
    const again = await escrowApi.approve(second.id, forSecond);
    expect(again).toMatchObject({ approvals: 1, threshold: 2 });
  });

  it('M approvals open it: the text matches the commitment, every step is in the audit log', async () => {
    const second = await approve(main.id, 2);
    expect(JSON.parse(second.out[0]!)).toMatchObject({ approvals: 2, threshold: 2 });
    const outFile = join(dir, 'opened.txt');
    const opened = await escrow(['open', ...server(), '--request', main.id, '--key', main.keyFile, '--out', outFile, '--json']);
    expect(opened.code).toBe(0);
    expect(await readFile(outFile, 'utf8')).toBe(SECRET);
    expect((await stat(outFile)).mode & 0o777).toBe(0o600);
    const summary = JSON.parse(opened.out[0]!) as { messageId: string; approvals: string[]; audit: { index: number } };
    expect(summary.messageId).toBe(escrowed);
    expect(summary.approvals.sort()).toEqual([officers[0]!.key.officer.officerId, officers[2]!.key.officer.officerId].sort());
    // Stdout too, and a repeat answers with the same recorded opening.
    const again = await escrow(['open', ...server(), '--request', main.id, '--key', main.keyFile]);
    expect(again.out).toEqual([SECRET]);

    const [row] = await t.server.db.query<{ commitment: string }>('SELECT commitment FROM audit_commitments WHERE message_id = $1', [escrowed]);
    const hash = toBase64Url(commitmentHash(JSON.parse(row!.commitment)));
    const openEntry = await auditEntry(summary.audit.index);
    expect(openEntry).toMatchObject({ type: 'escrow-open', commitment: hash });
    expect(openEntry.type === 'escrow-open' && openEntry.approvals).toHaveLength(2);

    const listed = await escrow(['list', ...server(), '--message', escrowed, '--json']);
    const views = (JSON.parse(listed.out[0]!) as { requests: EscrowRequestView[] }).requests;
    const view = views.find((v) => v.request.requestId === main.id)!;
    expect(view.status).toBe('opened');
    expect(view.audit.open).toBe(summary.audit.index);
    expect(await auditEntry(view.audit.request!)).toMatchObject({ type: 'escrow-request', commitment: hash, request: view.requestHash });
    for (const a of view.approvals) expect(await auditEntry(a.audit.index!)).toMatchObject({ type: 'escrow-approval', commitment: hash, approval: a.approvalHash });
    expect(openEntry.type === 'escrow-open' && [...openEntry.approvals].sort()).toEqual(view.approvals.map((a) => a.approvalHash).sort());
    // No approvals after the opening.
    await rejectsWith(approve(main.id, 1), 'escrow_already_opened');
    const text = await escrow(['list', ...server()]);
    expect(text.out.join('\n')).toMatch(new RegExp(`${main.id}\\s+opened\\s+2/2 approvals`));
  });

  it('nothing is released for an opening that is not in the audit log', async () => {
    const lone = await request(escrowed, 'lone');
    await approve(lone.id, 0);
    await approve(lone.id, 1);
    // A row that claims an opening the log does not hold (a rolled-back or tampered state).
    await t.server.db.query('UPDATE escrow_requests SET opened_at = now() WHERE request_id = $1', [lone.id]);
    await rejectsWith(escrow(['open', ...server(), '--request', lone.id, '--key', lone.keyFile]), 'escrow_open_unrecorded');
  }, 30_000);

  it('a message of a class without escrow cannot be requested or opened by anyone', async () => {
    await rejectsWith(escrow(['request', ...server(), '--message', plain, '--reason', 'curiosity', '--key-out', join(dir, 'plain.requester.json')]), 'escrow_not_escrowed');
    await rejectsWith(escrow(['open', ...server(), '--request', `esr_${toBase64Url(randomBytes(16))}`, '--key', main.keyFile]), 'unknown_escrow_request');
    const [row] = await t.server.db.query<{ n: number }>('SELECT count(*)::int AS n FROM escrow_requests WHERE message_id = $1', [plain]);
    expect(Number(row!.n)).toBe(0);
  });

  it('refuses bad usage with exit-2 errors and a wrong token with 401', async () => {
    await expect(escrow(['nope'])).rejects.toMatchObject({ code: 'usage' });
    await expect(escrow(['open', ...server(), '--request', 'not-an-id', '--key', main.keyFile])).rejects.toMatchObject({ code: 'usage' });
    await expect(escrow(['init', ...server(), '--business', 'escrow-bank', '--officer', officers[0]!.pub, '--approvals', '2'])).rejects.toMatchObject({ code: 'usage' });
    await expect(escrow(['request', ...server(), '--message', escrowed, '--reason', 'r', '--key-out', main.keyFile])).rejects.toMatchObject({ code: 'usage' });
    await expect(runEscrow(['list', ...server()], { out: () => {}, err: () => {} }, { PARLEY_ADMIN_TOKEN: 'wrong' })).rejects.toMatchObject({ status: 401 });
  });
});

describe('the audit log stays verifiable', () => {
  it('parley audit monitor checks the log with the escrow entries in it', async () => {
    const logs = (await (await fetch(`${t.url}/v1/logs`)).json()) as { logs: { name: string; verifierKey: string }[] };
    const keys = logs.logs.flatMap((l) => ['--log-key', l.verifierKey]);
    const out: string[] = [];
    const code = await runAudit(['monitor', '--url', t.url, '--state', join(dir, 'monitor.json'), ...keys, '--json'], {
      out: (l) => out.push(l),
      err: () => {},
      readStdin: async () => new Uint8Array(),
    });
    expect(code).toBe(0);
  });
});

describe('privacy', () => {
  it('no table holds the plaintext, the escrow private key, a share, or an officer or requester private key in clear', async () => {
    const [row] = await t.server.db.query<{ record: string }>('SELECT record FROM escrow_keys WHERE key_id = $1', [keyId]);
    const record: EscrowKeyRecord = parseEscrowKeyRecord(JSON.parse(row!.record));
    const shares = await Promise.all(officers.map((o) => openOfficerShare(record, o.key.officer.officerId, fromBase64(o.key.encryptionPrivateKey))));
    const escrowKey = await combineEscrowShares(shares.slice(0, 2), fromBase64(record.publicKey));
    const requester = JSON.parse(await readFile(main_keyFile(), 'utf8')) as { privateKey: string };
    const needles: { what: string; bytes: Uint8Array }[] = [
      { what: 'plaintext', bytes: utf8(SECRET) },
      { what: 'escrow private key', bytes: escrowKey },
      ...shares.map((s, i) => ({ what: `share ${i}`, bytes: s })),
      ...officers.flatMap((o) => [
        { what: `${o.key.officer.name} signing key`, bytes: fromBase64(o.key.signingPrivateKey) },
        { what: `${o.key.officer.name} encryption key`, bytes: fromBase64(o.key.encryptionPrivateKey) },
      ]),
      { what: 'requester key', bytes: fromBase64(requester.privateKey) },
    ];
    const found = await scan(t.server.db, needles);
    expect(found).toEqual([]);
    expect(t.logs.filter((l) => needles.some((n) => [toBase64(n.bytes), toBase64Url(n.bytes), toHex(n.bytes)].some((f) => l.includes(f)) || l.includes(SECRET)))).toEqual([]);
  });
});

function main_keyFile(): string {
  return join(dir, 'main.requester.json');
}

async function scan(db: Database, needles: readonly { what: string; bytes: Uint8Array }[]): Promise<string[]> {
  const tables = await db.query<{ table_name: string }>("SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'");
  const found: string[] = [];
  for (const { table_name } of tables) {
    const rows = await db.query<Record<string, unknown>>(`SELECT * FROM ${table_name}`);
    for (const row of rows) {
      for (const value of Object.values(row)) {
        for (const n of needles) {
          const forms = [toHex(n.bytes), toBase64(n.bytes), toBase64Url(n.bytes), new TextDecoder().decode(n.bytes)];
          if (value instanceof Uint8Array) {
            if (Buffer.from(value).indexOf(Buffer.from(n.bytes)) >= 0) found.push(`${n.what} as bytes in ${table_name}`);
          } else if (value !== null && value !== undefined) {
            const text = typeof value === 'string' ? value : JSON.stringify(value);
            if (forms.some((f) => f.length >= 16 && text.includes(f))) found.push(`${n.what} in ${table_name}`);
          }
        }
      }
    }
  }
  return found;
}
